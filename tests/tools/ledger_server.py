"""A small real HTTP server speaking the ledger's delivery protocol, for uplink tests.

POST /api/v1/certificates: verifies the Ed25519 signature with the enrolled public keys
(the schema is the real ledger's business and is checked on the appliance side),
stores the certificate durably (append + fsync to STORE/accepted.jsonl) and answers
201 new, 200 identical duplicate, 409 same id with different content, 400 bad signature.
POST /api/v1/heartbeats: 202. GET /healthz: 200.

Chaos (--chaos SEED): some requests get a 500 before storing, hang past the client's
timeout, or are stored and then answered 500 or not answered at all (the reply lost on
the way back: the hard case for exactly-once delivery).

    python -m tests.tools.ledger_server --port 0 --store DIR --pubkey KEY.pem [--chaos 7]
prints "PORT <n>" on stdout once listening.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from appliance.certificate import (
    CertificateError,
    canonical,
    key_id,
    load_public_pem,
    verify_signature,
)

LOG_NAME = "accepted.jsonl"


class Store:
    """Accepted certificates: an append-only, fsync'd log reloaded on start."""

    def __init__(self, directory: Path):
        self.path = directory / LOG_NAME
        directory.mkdir(parents=True, exist_ok=True)
        self.by_id: dict[str, bytes] = {}
        self.lock = threading.Lock()
        if self.path.exists():
            for line in self.path.read_bytes().splitlines():
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue  # a line torn by a kill -9: its certificate was never acknowledged
                self.by_id[doc["id"]] = canonical(doc)

    def add(self, doc: dict[str, Any]) -> int:
        body = canonical(doc)
        with self.lock:
            existing = self.by_id.get(doc["id"])
            if existing is not None:
                return 200 if existing == body else 409
            with self.path.open("ab") as fh:
                fh.write(body + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.by_id[doc["id"]] = body
            return 201


def read_log(directory: Path) -> list[dict[str, Any]]:
    """Every whole line of the log (for the tests' final count)."""
    out = []
    path = directory / LOG_NAME
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def make_handler(store: Store, keys: list[Any], chaos: random.Random | None,
                 hang_seconds: float) -> type[BaseHTTPRequestHandler]:
    by_id = {key_id(k): k for k in keys}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            # status, headers and body in one write: no Nagle/delayed-ACK stall
            head = (f"HTTP/1.1 {code} {self.responses.get(code, ('',))[0]}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
            self.wfile.write(head.encode() + data)

        def do_GET(self) -> None:
            if self.path in ("/healthz", "/api/v1/healthz"):
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"detail": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/api/v1/heartbeats":
                self._reply(202, {"status": "accepted"})
                return
            if self.path != "/api/v1/certificates":
                self._reply(404, {"detail": "not found"})
                return
            roll = chaos.random() if chaos else 1.0
            if roll < 0.02:
                self._reply(500, {"detail": "chaos: failing before storing"})
                return
            if roll < 0.03:
                time.sleep(hang_seconds)  # past the client's timeout
            try:
                doc = json.loads(raw)
                key = by_id.get(str((doc.get("signature") or {}).get("key_id")))
                if key is None:
                    raise CertificateError("signed by an unknown key")
                verify_signature(doc, key)
            except (ValueError, AttributeError, CertificateError) as exc:
                self._reply(400, {"detail": f"rejected: {exc}"})
                return
            code = store.add(doc)
            if roll < 0.05:
                self._reply(500, {"detail": "chaos: stored, but the answer is an error"})
                return
            if roll < 0.06:
                self.close_connection = True  # stored, reply lost on the way back
                return
            self._reply(code, {"id": doc["id"], "status": {201: "created", 200: "duplicate",
                                                            409: "conflict"}[code]})

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--pubkey", type=Path, action="append", required=True)
    ap.add_argument("--chaos", type=int, default=None, help="seed; no chaos without it")
    ap.add_argument("--hang", type=float, default=2.0)
    args = ap.parse_args(argv)
    keys = [load_public_pem(p.read_bytes()) for p in args.pubkey]
    chaos = random.Random(args.chaos) if args.chaos is not None else None
    server = ThreadingHTTPServer(("127.0.0.1", args.port),
                                 make_handler(Store(args.store), keys, chaos, args.hang))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
