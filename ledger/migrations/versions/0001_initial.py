"""Initial schema: appliances, tokens, certificates (log leaves), tree heads, keys, machines.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "appliances",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("enrolled_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
    )
    op.create_table(
        "certificates",
        sa.Column("leaf_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.String(40), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        *[sa.Column(name, sa.String(size), nullable=False, server_default="")
          for name, size in (("host_serial", 200), ("media_model", 200), ("media_serial", 200),
                             ("batch", 200), ("donor", 200), ("status", 32), ("method", 64),
                             ("nist_level", 16), ("verification", 32))],
    )
    for col in ("host_serial", "media_serial", "media_model", "batch", "donor", "issued_at"):
        op.create_index(f"ix_certificates_{col}", "certificates", [col])
    op.create_table(
        "tree_heads",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ledger_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("private_key_pem", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "machines",
        sa.Column("key_id", sa.String(64), primary_key=True),
        *[sa.Column(name, sa.String(size), nullable=False, server_default="")
          for name, size in (("host_serial", 200), ("host_product", 200), ("host_maker", 200),
                             ("mac", 64), ("batch", 200), ("journal", 64))],
        sa.Column("jobs", sa.Text, nullable=False, server_default="[]"),
        sa.Column("sent_at", sa.String(40), nullable=False, server_default=""),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("heartbeats", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for name in ("machines", "ledger_keys", "tree_heads", "certificates", "tokens", "appliances"):
        op.drop_table(name)
