"""Alembic environment: runs against the connection the ledger passes in (or -x db=URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ledger.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
else:
    from ledger.db import normalise_url

    url = normalise_url(context.get_x_argument(as_dictionary=True).get("db"))
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata,
                          render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
