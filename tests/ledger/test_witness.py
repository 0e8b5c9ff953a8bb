"""The ledger and a witness over real HTTP on 127.0.0.1. The witness here is written in this
file from c2sp.org/tlog-witness, c2sp.org/signed-note and RFC 9162 alone (its own parsing,
key IDs and consistency check: it shares no code with appliance.tlog), so the ledger's
checkpoints, consistency proofs and cosignature handling are checked against a second
implementation of the same specifications."""

from __future__ import annotations

import base64
import hashlib
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi.testclient import TestClient

from appliance.certificate import public_pem
from appliance.receipts import check_receipt
from appliance.tlog import COSIGNATURE, parse_vkey, verifier_of
from ledger.app import asgi, create_app
from ledger.db import make_engine, upgrade
from ledger.store import Ledger
from tests.ledger.certs import certificate

DASH = "\u2014"


def _kid(name: str, kind: int, raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw).digest()[:4]


def _node(a: bytes, b: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + a + b).digest()


def _consistent(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, as the witness's own code."""
    if m == n:
        return not proof and old == new
    path = ([old] if m & (m - 1) == 0 else []) + proof
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old and sr == new


class SpecWitness:
    """A tlog-witness: one trusted log (origin + Ed25519 key), its latest cosigned tree."""

    def __init__(self, origin: str, log_key: Ed25519PublicKey) -> None:
        self.name = "witness.test/w1"
        self.key = Ed25519PrivateKey.generate()
        self.origin = origin
        self.log_key = log_key
        self.log_raw = log_key.public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        self.size, self.root = 0, b""
        self.refusals: list[int] = []

    def add_checkpoint(self, body: str) -> tuple[int, str]:
        head, _, note = body.partition("\n\n")
        lines = head.split("\n")
        if not lines[0].startswith("old "):
            return 400, "no old line\n"
        old = int(lines[0][4:])
        proof = [base64.b64decode(x) for x in lines[1:] if x]
        text, _, sigs = note.rstrip("\n").rpartition("\n\n")
        text += "\n"
        origin, size_line, root_line = text.split("\n")[:3]
        if origin != self.origin:
            return 404, "unknown origin\n"
        want = _kid(origin, 1, self.log_raw)
        good = False
        for line in sigs.split("\n"):
            _dash, name, value = line.split(" ")
            raw = base64.b64decode(value)
            if name == origin and raw[:4] == want:
                try:
                    self.log_key.verify(raw[4:], text.encode())
                    good = True
                except Exception:
                    return 403, "bad log signature\n"
        if not good:
            return 403, "not signed by the log\n"
        size, root = int(size_line), base64.b64decode(root_line)
        if old > size:
            return 400, "old > size\n"
        if old != self.size:
            return 409, f"{self.size}\n"
        if (old == 0 and proof) or (old and not _consistent(old, size, self.root, root, proof)):
            self.refusals.append(size)
            return 422, "inconsistent\n"
        self.size, self.root = size, root
        stamp = int(time.time())
        message = f"cosignature/v1\ntime {stamp}\n{text}".encode()
        raw_key = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)
        sig = _kid(self.name, 4, raw_key) + struct.pack(">Q", stamp) + self.key.sign(message)
        return 200, f"{DASH} {self.name} {base64.b64encode(sig).decode()}\n"


@pytest.fixture
def witness_url() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            status, answer = state["witness"].add_checkpoint(body)
            data = answer.encode()
            self.send_response(status)
            self.send_header("content-type", "text/x.tlog.size" if status == 409
                             else "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()


def _ledger(tmp_path: Path, name: str, key_file: Path, appliance: Ed25519PrivateKey) -> Ledger:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine)
    ledger = Ledger(engine, key_file)
    ledger.enroll("stick", public_pem(appliance.public_key()))
    return ledger


def _wait(predicate: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_witness_cosigns_and_refuses_a_rewritten_log(
        tmp_path: Path, witness_url: tuple[str, dict[str, Any]]) -> None:
    url, state = witness_url
    appliance = Ed25519PrivateKey.generate()
    key_file = tmp_path / "log.pem"
    ledger = _ledger(tmp_path, "a.db", key_file, appliance)
    origin = "ledger.test/log"
    state["witness"] = witness = SpecWitness(origin, ledger.log_key.public_key)
    wvkey = verifier_of(witness.name, witness.key.public_key(), COSIGNATURE)
    app = create_app(ledger, origin=origin, witnesses=f"{url}={wvkey.encode()}")
    with TestClient(asgi(app)) as client:  # type: ignore[arg-type]
        docs = [certificate(appliance, i) for i in range(5)]
        for doc in docs[:3]:
            assert client.post("/api/v1/certificates", json=doc).status_code == 201
        assert _wait(lambda: witness.size == 3)
        for doc in docs[3:]:
            assert client.post("/api/v1/certificates", json=doc).status_code == 201
        assert _wait(lambda: witness.size == 5)  # the second time with a consistency proof
        assert _wait(lambda: witness.name in client.get("/checkpoint").text)
        vkey = parse_vkey(client.get("/api/v1/log/vkey").text)
        receipt = client.get(f"/api/v1/certificates/{docs[4]['id']}/tlog-proof").text
    check = check_receipt(docs[4], receipt, vkey, [wvkey], required=1)
    assert check.ok and check.witnesses == [witness.name]
    # The same log key over another database: a history that does not extend what the
    # witness cosigned. It must refuse (422) and cosign nothing.
    forked = _ledger(tmp_path, "b.db", key_file, appliance)
    app = create_app(forked, origin=origin, witnesses=f"{url}={wvkey.encode()}")
    with TestClient(asgi(app)) as client:  # type: ignore[arg-type]
        for i in range(50, 57):
            assert client.post("/api/v1/certificates",
                               json=certificate(appliance, i)).status_code == 201
        assert _wait(lambda: witness.refusals)
        assert witness.name not in client.get("/checkpoint").text
    assert witness.size == 5


def test_a_malformed_witness_setting_is_a_usage_error(tmp_path: Path) -> None:
    from ledger.cli import main

    assert main(["serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", "1",
                 "--witness", "not-a-url"]) == 2
