"""The spool: atomic, idempotent, pending → sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import certify
from appliance.cli import main
from appliance.spool import Spool, SpoolError
from tests.unit import certsample


@pytest.fixture
def signed(tmp_path: Path) -> dict:
    return certify.sign_document(certsample.document(), certify.load_key(tmp_path))


def test_put_pending_sent(tmp_path: Path, signed: dict) -> None:
    spool = Spool(tmp_path)
    path = spool.put(signed)
    assert path == tmp_path / "spool" / "pending" / f"{signed['id']}.json"
    assert json.loads(path.read_bytes()) == signed
    assert spool.pending() == [signed["id"]] and spool.sent() == []
    spool.mark_sent(signed["id"])
    assert spool.pending() == [] and spool.sent() == [signed["id"]]
    assert spool.load(signed["id"]) == signed
    spool.mark_sent(signed["id"])  # idempotent
    assert spool.counts() == {"pending": 0, "sent": 1}


def test_put_is_idempotent_and_refuses_other_content(tmp_path: Path, signed: dict) -> None:
    spool = Spool(tmp_path)
    first = spool.put(signed)
    assert spool.put(signed) == first
    spool.mark_sent(signed["id"])
    assert spool.put(signed).parent.name == "sent"  # never back to pending
    other = dict(signed, operator="someone else")
    with pytest.raises(SpoolError, match="other content"):
        spool.put(other)
    assert spool.counts() == {"pending": 0, "sent": 1}


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "a/b", ".hidden"])
def test_ids_cannot_escape_the_spool(tmp_path: Path, signed: dict, bad: str) -> None:
    with pytest.raises(SpoolError):
        Spool(tmp_path).put(dict(signed, id=bad))


def test_restart_drops_temporary_files_and_settles_copies(tmp_path: Path, signed: dict) -> None:
    spool = Spool(tmp_path)
    spool.put(signed)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)  # a writer that is gone: its pid names the torn file
    (spool.tmp_dir / f".{signed['id']}.json.{proc.pid}.tmp").write_bytes(b'{"torn": ')
    # a file another thread of this process is writing right now stays
    (spool.tmp_dir / f".other.json.{os.getpid()}.tmp").write_bytes(b'{"half": ')
    # a certificate present in both places (sent/ wins)
    os.link(spool.pending_dir / f"{signed['id']}.json", spool.sent_dir / f"{signed['id']}.json")
    spool = Spool(tmp_path)
    assert [p.name for p in spool.tmp_dir.iterdir()] == [f".other.json.{os.getpid()}.tmp"]
    assert spool.pending() == [] and spool.sent() == [signed["id"]]


def test_notes_and_list_cli(tmp_path: Path, signed: dict, capsys) -> None:
    spool = Spool(tmp_path)
    spool.put(signed)
    spool.note(signed["id"], {"status": "conflict", "http": 409, "reason": "different content"})
    assert main(["spool", "list", "--data", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pending"] == 1 and out["sent"] == 0
    assert out["certificates"][0]["note"]["status"] == "conflict"
    assert main(["spool", "list", "--data", str(tmp_path)]) == 0
    assert "conflict" in capsys.readouterr().out
    spool.mark_sent(signed["id"])
    assert spool.get_note(signed["id"]) is None


def test_flush_without_a_ledger_is_a_usage_error(tmp_path: Path) -> None:
    os.environ.pop("ARDOISE_LEDGER", None)
    assert main(["spool", "flush", "--data", str(tmp_path)]) == 2
