"""`ardoise-ledger verify-log` recomputes the log: a row edited in the database is caught."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.cli import main
from ledger.store import Ledger


def _edit_column(conn: Connection) -> None:
    conn.execute(sa.text("UPDATE certificates SET media_serial = 'OTHER' WHERE leaf_index = 2"))


def _edit_entry(conn: Connection) -> None:
    entry = conn.execute(sa.text("SELECT entry FROM certificates WHERE leaf_index = 3")).scalar_one()
    doc = orjson.loads(bytes(entry))
    doc["sanitization"]["status"] = "erased"
    doc["verification"]["result"] = "pass"
    conn.execute(sa.text("UPDATE certificates SET entry = :e WHERE leaf_index = 3"),
                 {"e": orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)})


def _edit_entry_and_leaf(conn: Connection) -> None:
    import hashlib

    entry = conn.execute(sa.text("SELECT entry FROM certificates WHERE leaf_index = 1")).scalar_one()
    new = bytes(entry).replace(b'"Fondation L', b'"Fondation M')
    conn.execute(sa.text("UPDATE certificates SET entry = :e, leaf_hash = :h "
                         "WHERE leaf_index = 1"),
                 {"e": new, "h": hashlib.sha256(b"\x00" + new).digest()})


def _delete_row(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM certificates WHERE leaf_index = 4"))


def _drop_last(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM certificates WHERE leaf_index = 5"))


def _edit_head(conn: Connection) -> None:
    conn.execute(sa.text("UPDATE tree_heads SET root_hash = :r WHERE tree_size = 3"),
                 {"r": b"\x11" * 32})


EDITS: dict[str, Callable[[Connection], None]] = {
    "indexed column": _edit_column,
    "entry": _edit_entry,
    "entry and its leaf hash": _edit_entry_and_leaf,
    "deleted row": _delete_row,
    "dropped newest row": _drop_last,
    "tree head": _edit_head,
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_direct_edit_is_detected(edit: str, db_url: str, submit: Any, ledger: Ledger,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(6):
        assert submit(n, status="failed" if n == 3 else "erased")[1].status_code == 201
    assert main(["verify-log", "--db", db_url, "--json"]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok == {"ok": True, "tree_size": 6, "heads_checked": 7, "problems": [],
                  "since": None, "key_in_database": True, "log_key_file": None}
    with ledger.engine.begin() as conn:
        EDITS[edit](conn)
    assert main(["verify-log", "--db", db_url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["problems"], report
    assert main(["verify-log", "--db", db_url]) == 1
    assert "does NOT verify" in capsys.readouterr().out
