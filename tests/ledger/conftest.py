"""Ledger fixtures: every database test runs on SQLite and on the real PostgreSQL that
`make test` starts (tests/tools/start-postgres.sh). PostgreSQL tests are skipped only when
ARDOISE_SKIP_PG=1; an unreachable server otherwise fails them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from appliance.certificate import public_pem
from ledger.app import asgi, create_app
from ledger.db import make_engine, upgrade
from ledger.store import Ledger
from tests.ledger.certs import certificate

PG_URL = os.environ.get("ARDOISE_TEST_PG",
                        "postgresql+psycopg://postgres@127.0.0.1:55432/ardoise_test")


def _pg_database() -> tuple[str, Callable[[], None]]:
    if os.environ.get("ARDOISE_SKIP_PG") == "1":
        pytest.skip("ARDOISE_SKIP_PG=1")
    name = "ardoise_t_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    return PG_URL.rsplit("/", 1)[0] + "/" + name, drop


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "ledger.db")
        return
    url, drop = _pg_database()
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return Ledger(engine)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def enrolled(ledger: Ledger, key: Ed25519PrivateKey) -> str:
    kid, _new = ledger.enroll("rack-07", public_pem(key.public_key()))
    return kid


@pytest.fixture
def token(ledger: Ledger) -> str:
    return ledger.create_token("admin", "tests")


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    app = create_app(ledger, lost_after=60)
    with TestClient(asgi(app)) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def submit(client: TestClient, key: Ed25519PrivateKey, enrolled: str
           ) -> Callable[..., tuple[dict[str, Any], Any]]:
    def _submit(n: int = 0, **kw: Any) -> tuple[dict[str, Any], Any]:
        doc = certificate(key, n, **kw)
        return doc, client.post("/api/v1/certificates", json=doc)

    return _submit


def log_state(engine: Engine) -> tuple[int, int, bytes]:
    """(stored certificates, tree heads, newest root): what bad input must not change."""
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM certificates")).scalar_one()
        heads = conn.execute(sa.text("SELECT count(*) FROM tree_heads")).scalar_one()
        root = conn.execute(sa.text(
            "SELECT root_hash FROM tree_heads ORDER BY tree_size DESC LIMIT 1")).scalar_one()
    return int(n), int(heads), bytes(root)
