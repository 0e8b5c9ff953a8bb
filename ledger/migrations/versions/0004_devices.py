"""Device records (ardoise.device/1): one signed intake record per machine and id.

Revision ID: 0004_devices
Revises: 0003_qc
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_devices"
down_revision = "0003_qc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.String(40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host_serial", sa.String(200), nullable=False, server_default=""),
        sa.Column("host_product", sa.String(200), nullable=False, server_default=""),
        sa.Column("batch", sa.String(200), nullable=False, server_default=""),
        sa.Column("donor", sa.String(200), nullable=False, server_default=""),
    )
    op.create_index("ix_devices_host_serial", "devices", ["host_serial"])
    op.create_index("ix_devices_batch", "devices", ["batch"])


def downgrade() -> None:
    op.drop_table("devices")
