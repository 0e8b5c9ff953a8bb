"""Database URLs, engines (SQLite WAL or PostgreSQL via psycopg) and schema upgrades."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

DEFAULT_DB = "ardoise-ledger.db"
MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_OPTION = "ledger_write"


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions take SQLite's write lock when they begin."""
    return engine.execution_options(**{WRITE_OPTION: True})


def normalise_url(url: str | None) -> str:
    """A file path or URL → an SQLAlchemy URL (SQLite file by default, psycopg 3 for PostgreSQL)."""
    if not url:
        url = DEFAULT_DB
    if "://" not in url:
        return "sqlite:///" + str(Path(url).expanduser().absolute())
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=8, max_overflow=8)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions begin in _begin below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Appends take the write lock up front, so processes sharing the file queue on
            # busy_timeout instead of failing to upgrade a read lock.
            immediate = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def alembic_config() -> Config:
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
