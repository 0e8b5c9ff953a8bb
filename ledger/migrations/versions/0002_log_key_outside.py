"""The log's private key leaves the database: ledger_keys keeps the public key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_keys") as batch:
        batch.add_column(sa.Column("public_key_pem", sa.Text, nullable=True))
        batch.alter_column("private_key_pem", existing_type=sa.Text, nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("ledger_keys") as batch:
        batch.drop_column("public_key_pem")
