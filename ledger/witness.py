"""Witnesses: the ledger submits each new checkpoint to tlog-witness `add-checkpoint`
endpoints (c2sp.org/tlog-witness) and attaches the cosignatures it gets back to the
checkpoint it serves, so a receipt can show that independent parties saw the same tree.

Configured as `URL=VKEY` pairs (`ardoise-ledger serve --witness`, or
$ARDOISE_LEDGER_WITNESSES separated by spaces). For each witness the ledger remembers the
size the witness last cosigned (a 409 answer tells it), sends a consistency proof from that
size, and keeps only cosignatures that verify with the witness's key. A witness that
refuses (403, 404, 422) is logged: a 422 on a consistent log is the witness's alarm.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

from appliance.tlog import (
    TlogError,
    Verifier,
    b64,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    verify_cosignature,
)
from ledger.tlog import CheckpointLog

log = logging.getLogger("ledger.witness")
ENV_WITNESSES = "ARDOISE_LEDGER_WITNESSES"
TIMEOUT = (5.0, 20.0)


def parse_witnesses(text: str) -> list[tuple[str, Verifier]]:
    """'URL=VKEY URL=VKEY' → [(url, verifier)]; ValueError on a malformed pair."""
    out = []
    for item in text.split():
        url, sep, vkey = item.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise ValueError(f"a witness is URL=VKEY, not {item[:60]!r}")
        try:
            out.append((url.rstrip("/"), parse_vkey(vkey)))
        except TlogError as exc:
            raise ValueError(f"witness {url}: {exc}") from None
    return out


@dataclass
class Witness:
    url: str
    key: Verifier
    old_size: int = 0  # the size this witness last cosigned (0: never)
    last_error: str | None = None


@dataclass
class Witnessing:
    """Submit the latest checkpoint to every witness; run in a thread by the app."""

    log: CheckpointLog
    witnesses: list[Witness]
    session: Any = field(default_factory=requests.Session)
    interval: float = 2.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def submit_all(self) -> None:
        note = self.log.note()
        size = parse_checkpoint(note.text).size
        for witness in self.witnesses:
            if size and witness.old_size < size:
                self.submit(witness, note.encode(), size)

    def submit(self, witness: Witness, checkpoint: str, size: int, retry: bool = True) -> None:
        ledger = self.log.ledger
        proof = ledger.tree.consistency_proof(witness.old_size, size) \
            if 0 < witness.old_size < size else []
        body = f"old {witness.old_size}\n" + "".join(b64(h) + "\n" for h in proof) + "\n" + \
            checkpoint
        try:
            response = self.session.post(witness.url + "/add-checkpoint", data=body.encode(),
                                         timeout=TIMEOUT)
        except requests.RequestException as exc:
            witness.last_error = f"{type(exc).__name__}"
            return
        if response.status_code == 409 and retry:
            text = response.text.strip()
            if text.isdigit() and int(text) <= size:
                witness.old_size = int(text)
                self.submit(witness, checkpoint, size, retry=False)
                return
        if response.status_code != 200:
            witness.last_error = f"HTTP {response.status_code}"
            log.warning("witness refused the checkpoint", extra={"fields": {
                "witness": witness.key.name, "status": response.status_code, "size": size,
                "answer": response.text[:200]}})
            return
        self._keep(witness, checkpoint, response.text, size)

    def _keep(self, witness: Witness, checkpoint: str, answer: str, size: int) -> None:
        try:
            note = parse_note(checkpoint.rstrip("\n") + "\n" + answer)
            if verify_cosignature(note, witness.key) is None:
                raise TlogError("no cosignature from this witness in its answer")
        except TlogError as exc:
            witness.last_error = str(exc)
            log.warning("witness answer not kept", extra={"fields": {
                "witness": witness.key.name, "error": str(exc)}})
            return
        for sig in note.signatures:
            if (sig.name, sig.key_id) == (witness.key.name, witness.key.key_id):
                self.log.add_cosignature(size, sig)
        witness.old_size = size
        witness.last_error = None

    def start(self) -> Witnessing:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.submit_all()
                except Exception:  # a witness must never stop the ledger
                    log.exception("witness submission failed")

        self._thread = threading.Thread(target=loop, name="witnesses", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
