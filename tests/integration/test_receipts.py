"""Receipts end to end over real HTTP on 127.0.0.1: the appliance's uplink delivers to a
real ledger, keeps a tlog-proof beside each sent certificate, checks it offline with
`ardoise cert verify --proof`, and raises a split-view alarm when a ledger holding the
same log key shows a history that does not extend the one it saw."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from appliance.certificate import public_pem
from appliance.certify import load_key
from appliance.receipts import check_receipt
from appliance.spool import Spool
from appliance.tlog import parse_vkey
from appliance.uplink import Uplink
from ledger.app import asgi, create_app
from ledger.db import make_engine, upgrade
from ledger.store import Ledger
from tests.ledger.certs import certificate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(db: Path, key_file: Path, appliance_pem: bytes) -> Iterator[str]:
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    ledger = Ledger(engine, key_file)
    ledger.enroll("stick-01", appliance_pem)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(asgi(create_app(ledger, origin="ledger.test/log")),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


def _spool_certs(data: Path, n: int, start: int = 0) -> list[str]:
    key = load_key(data)
    spool = Spool(data)
    ids = []
    for i in range(start, start + n):
        doc = certificate(key, i)
        spool.put(doc)
        ids.append(doc["id"])
    return ids


def test_delivered_certificates_get_receipts_that_verify_offline(tmp_path: Path) -> None:
    from appliance.cli import main

    data = tmp_path / "stick"
    ids = _spool_certs(data, 3)
    pem = public_pem(load_key(data).public_key())
    with serve(tmp_path / "l.db", tmp_path / "log.pem", pem) as url:
        report = Uplink(Spool(data), url, check_link=False).flush_once()
        vkey = (data / "ledger" / "log.vkey").read_text().strip()
    assert sorted(report.sent) == sorted(ids) and sorted(report.receipts) == sorted(ids)
    assert parse_vkey(vkey).name == "ledger.test/log"
    for cert_id in ids:
        proof = data / "spool" / "sent" / f"{cert_id}.tlog-proof"
        doc = json.loads((data / "spool" / "sent" / f"{cert_id}.json").read_text())
        assert check_receipt(doc, proof.read_text(), parse_vkey(vkey)).ok
    # offline, with the command a donor runs
    cert = data / "spool" / "sent" / f"{ids[0]}.json"
    proof = data / "spool" / "sent" / f"{ids[0]}.tlog-proof"
    assert main(["cert", "verify", str(cert), "--proof", str(proof), "--log-key", vkey,
                 "--data", str(data)]) == 0
    edited = tmp_path / "edited.json"
    doc = json.loads(cert.read_text())
    doc["media"]["serial"] = "NOT-THE-SAME"
    edited.write_text(json.dumps(doc))
    assert main(["cert", "verify", str(edited), "--proof", str(proof), "--log-key", vkey,
                 "--data", str(data)]) == 1
    # the PDF carries the receipt and says how to check it
    import subprocess

    out = tmp_path / "cert.pdf"
    assert main(["cert", "pdf", str(cert), "--out", str(out), "--data", str(data)]) == 0
    text = " ".join(subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                                   check=True, timeout=60).stdout.split())
    assert "Receipt: entry" in text and "of the 3 in the log ledger.test/log" in text
    assert f"--proof {ids[0]}.tlog-proof" in text


def test_a_forked_history_under_the_same_key_raises_a_split_view_alarm(tmp_path: Path) -> None:
    data = tmp_path / "stick"
    _spool_certs(data, 2)
    pem = public_pem(load_key(data).public_key())
    key_file = tmp_path / "log.pem"
    with serve(tmp_path / "a.db", key_file, pem) as url:
        assert len(Uplink(Spool(data), url, check_link=False).flush_once().receipts) == 2
    # The same log key now serves another database: two certificates the appliance never
    # sent, then the new one. Its checkpoint cannot extend the one the appliance kept.
    other = tmp_path / "other-stick"
    with serve(tmp_path / "b.db", key_file, pem) as url:
        forked = Spool(other)
        key = load_key(data)
        for i in (50, 51):
            forked.put(certificate(key, i))
        Uplink(forked, url, check_link=False, receipts=False).flush_once()
        _spool_certs(data, 1, start=2)
        report = Uplink(Spool(data), url, check_link=False).flush_once()
    assert report.split_view and "two histories" in report.split_view
    assert list((data / "ledger").glob("split-view-*.txt"))
    assert len(report.sent) == 1 and not report.receipts  # delivered, but no receipt trusted


@pytest.mark.parametrize("status", [404, 0])
def test_a_missing_receipt_never_undoes_a_delivery(tmp_path: Path, status: int) -> None:
    data = tmp_path / "stick"
    ids = _spool_certs(data, 1)
    pem = public_pem(load_key(data).public_key())
    with serve(tmp_path / "l.db", tmp_path / "log.pem", pem) as url:
        uplink = Uplink(Spool(data), url, check_link=False)
        assert uplink.receipts is not None
        uplink.receipts.get = lambda path: (status, "")  # type: ignore[method-assign]
        report = uplink.flush_once()
    assert report.sent == ids and ids[0] in report.receipt_problems
    assert Spool(data).sent() == ids
