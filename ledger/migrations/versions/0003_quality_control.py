"""Quality control: the validation sample of each batch and the validation records received.

Revision ID: 0003_qc
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_qc"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "qc_samples",
        sa.Column("certificate_id", sa.String(64), primary_key=True),
        sa.Column("batch", sa.String(200), nullable=False),
        sa.Column("selected_at", TZ, nullable=False),
    )
    op.create_index("ix_qc_samples_batch", "qc_samples", ["batch"])
    op.create_table(
        "validations",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("certificate_id", sa.String(64), nullable=False),
        sa.Column("batch", sa.String(200), nullable=False, server_default=""),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("issued_at", sa.String(40), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_validations_certificate_id", "validations", ["certificate_id"])
    op.create_index("ix_validations_batch", "validations", ["batch"])


def downgrade() -> None:
    op.drop_table("validations")
    op.drop_table("qc_samples")
