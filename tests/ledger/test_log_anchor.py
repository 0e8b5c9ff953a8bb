"""A log its own database cannot rewrite: the signing key lives in a file outside the
database, and `verify-log --since CHECKPOINT` checks the log against a tree head kept
elsewhere. The attacks run on a copy of a real ledger's database, with the served API."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from appliance.certificate import key_id, public_pem
from ledger.app import asgi, create_app
from ledger.cli import main
from ledger.db import make_engine, upgrade
from ledger.merkle import Tree
from ledger.store import Ledger
from ledger.treehead import LogKey
from tests.ledger.certs import certificate


def _fill(db: Path, key_file: Path, appliance: Ed25519PrivateKey, n: int) -> dict[str, Any]:
    """A ledger on `db` with `n` certificates; returns the checkpoint an operator keeps."""
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    ledger = Ledger(engine, key_file)
    ledger.enroll("rack-01", public_pem(appliance.public_key()))
    with TestClient(asgi(create_app(ledger))) as client:  # type: ignore[arg-type]
        for i in range(n):
            assert client.post("/api/v1/certificates",
                               json=certificate(appliance, i)).status_code == 201
        checkpoint: dict[str, Any] = client.get("/api/v1/log/root").json()
    engine.dispose()
    return checkpoint


def _resign_truncated(db: Path, keep: int, signer: Ledger | Ed25519PrivateKey) -> None:
    """What an attacker with write access to the database does: drop the entries from
    `keep` on, then replace every tree head by one signed with `signer` for what is left."""
    key = signer if isinstance(signer, Ed25519PrivateKey) else signer.log_key.private_key
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM certificates WHERE leaf_index >= :k"), {"k": keep})
        conn.execute(sa.text("DELETE FROM tree_heads"))
        leaves = [bytes(r[0]) for r in conn.execute(sa.text(
            "SELECT leaf_hash FROM certificates ORDER BY leaf_index"))]
        tree = Tree()
        for size in range(len(leaves) + 1):
            if size:
                tree.append(leaves[size - 1])
            head = LogKey(key).sign_head(size, tree.root(), 1_900_000_000_000 + size)
            conn.execute(sa.text("INSERT INTO tree_heads (tree_size, root_hash, timestamp, "
                                 "signature) VALUES (:s, :r, :t, :g)"),
                         {"s": head.tree_size, "r": head.root_hash, "t": head.timestamp,
                          "g": head.signature})
    engine.dispose()


def _verify(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code = main(["verify-log", "--db", f"sqlite:///{db}", "--json", *extra])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == (0 if report["ok"] else 1)
    return report


def test_the_key_is_a_0600_file_and_the_database_holds_no_private_key(tmp_path: Path) -> None:
    db, key_file = tmp_path / "ledger.db", tmp_path / "log-key.pem"
    _fill(db, key_file, Ed25519PrivateKey.generate(), 2)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT private_key_pem, public_key_pem FROM ledger_keys"))
        assert [(r[0], bool(r[1])) for r in rows] == [(None, True)]
    assert b"PRIVATE KEY" not in db.read_bytes()


def test_an_older_ledgers_key_moves_out_of_the_database(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    old = Ledger(engine)  # key in the database, as before
    kid = old.log_key.key_id
    moved = Ledger(engine, tmp_path / "key.pem")
    assert moved.log_key.key_id == kid
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_keys "
                                    "WHERE private_key_pem IS NOT NULL")).scalar_one() == 0


def test_truncation_is_caught_only_with_a_kept_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, key_file = tmp_path / "ledger.db", tmp_path / "log-key.pem"
    appliance = Ed25519PrivateKey.generate()
    checkpoint = _fill(db, key_file, appliance, 6)
    kept = tmp_path / "checkpoint.json"
    kept.write_text(json.dumps(checkpoint))
    assert _verify(db, capsys, "--log-key", str(key_file), "--since", str(kept))["ok"]
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)
    engine = make_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:  # drop the two newest entries and every head above them
        conn.execute(sa.text("DELETE FROM certificates WHERE leaf_index >= 4"))
        conn.execute(sa.text("DELETE FROM tree_heads WHERE tree_size > 4"))
    engine.dispose()
    alone = _verify(copy, capsys, "--log-key", str(key_file))
    assert alone["ok"]  # what is left is self-consistent: the database alone cannot tell
    report = _verify(copy, capsys, "--log-key", str(key_file), "--since", str(kept))
    assert not report["ok"]
    assert any("fewer than the 6 of the kept checkpoint" in p for p in report["problems"])


def test_resigning_with_another_key_is_caught_by_the_key_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, key_file = tmp_path / "ledger.db", tmp_path / "log-key.pem"
    checkpoint = _fill(db, key_file, Ed25519PrivateKey.generate(), 5)
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)
    forger = Ed25519PrivateKey.generate()
    _resign_truncated(copy, 3, forger)
    engine = make_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:  # and name the forger's key as the log's
        conn.execute(sa.text("UPDATE ledger_keys SET key_id = :k, public_key_pem = :p"),
                     {"k": key_id(forger.public_key()),
                      "p": public_pem(forger.public_key()).decode()})
    engine.dispose()
    moved_away = tmp_path / "elsewhere.pem"  # verify-log must not find the key by default
    key_file.rename(moved_away)
    assert _verify(copy, capsys)["ok"]  # trusting the database's own key: fooled
    report = _verify(copy, capsys, "--log-key", str(moved_away))
    assert not report["ok"]
    assert any("signature does not verify" in p for p in report["problems"])
    kept = tmp_path / "checkpoint.json"
    kept.write_text(json.dumps(checkpoint))
    report = _verify(copy, capsys, "--since", str(kept))
    assert any("not signed by this log's key" in p for p in report["problems"])


def test_rewriting_under_the_checkpoint_is_caught(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The key kept in the database (an older ledger): the attacker re-signs with it, and
    only the kept checkpoint tells."""
    db = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    ledger = Ledger(engine)
    appliance = Ed25519PrivateKey.generate()
    ledger.enroll("rack-01", public_pem(appliance.public_key()))
    with TestClient(asgi(create_app(ledger))) as client:  # type: ignore[arg-type]
        for i in range(5):
            assert client.post("/api/v1/certificates",
                               json=certificate(appliance, i)).status_code == 201
        kept = tmp_path / "checkpoint.json"
        kept.write_text(json.dumps(client.get("/api/v1/log/root").json()))
    stolen = ledger.log_key.private_key
    engine.dispose()
    with make_engine(f"sqlite:///{db}").begin() as conn:  # renumber: swap leaves 1 and 3
        conn.execute(sa.text("UPDATE certificates SET leaf_index = -1 WHERE leaf_index = 1"))
        conn.execute(sa.text("UPDATE certificates SET leaf_index = 1 WHERE leaf_index = 3"))
        conn.execute(sa.text("UPDATE certificates SET leaf_index = 3 WHERE leaf_index = -1"))
    _resign_truncated(db, 5, stolen)  # keeps all five, re-signs every head
    assert _verify(db, capsys)["ok"]  # re-signed with the key it holds: fooled
    report = _verify(db, capsys, "--since", str(kept))
    assert not report["ok"] and report["key_in_database"]
    assert any("differ from the kept checkpoint" in p for p in report["problems"])


def test_a_bad_checkpoint_file_is_a_usage_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ledger.db"
    _fill(db, tmp_path / "k.pem", Ed25519PrivateKey.generate(), 1)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["verify-log", "--db", f"sqlite:///{db}", "--since", str(bad)]) == 2
    assert "checkpoint" in capsys.readouterr().err
    bad.write_text('{"tree_size": "x"}')
    assert main(["verify-log", "--db", f"sqlite:///{db}", "--since", str(bad)]) == 2


@pytest.mark.postgres
def test_pg_dump_and_restore_keep_a_verifiable_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The documented backup (README, "Ledger: backup and restore"): pg_dump -Fc, then
    pg_restore into an empty database; verify-log passes on the copy with the key file and
    the checkpoint kept at backup time."""
    import subprocess

    from tests.ledger.conftest import _pg_database

    source, drop_source = _pg_database()
    target, drop_target = _pg_database()
    try:
        engine = make_engine(source)
        upgrade(engine)
        key_file = tmp_path / "log-key.pem"
        ledger = Ledger(engine, key_file)
        appliance = Ed25519PrivateKey.generate()
        ledger.enroll("rack-01", public_pem(appliance.public_key()))
        with TestClient(asgi(create_app(ledger))) as client:  # type: ignore[arg-type]
            for i in range(4):
                assert client.post("/api/v1/certificates",
                                   json=certificate(appliance, i)).status_code == 201
            kept = tmp_path / "checkpoint.json"
            kept.write_text(json.dumps(client.get("/api/v1/log/root").json()))
        engine.dispose()
        libpq = [u.replace("postgresql+psycopg://", "postgresql://") for u in (source, target)]
        dump = tmp_path / "ledger.dump"
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), libpq[0]], check=True, timeout=120)
        subprocess.run(["pg_restore", "--no-owner", "-d", libpq[1], str(dump)], check=True,
                       timeout=120)
        assert main(["verify-log", "--db", target, "--log-key", str(key_file),
                     "--since", str(kept), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] and report["tree_size"] == 4 and report["since"] == 4
    finally:
        drop_source()
        drop_target()
