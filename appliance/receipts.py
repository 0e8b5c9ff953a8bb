"""Receipts: a tlog-proof@v1 bundle beside each delivered certificate, and a checkpoint the
appliance remembers so the ledger cannot show it one history today and another tomorrow.

After delivery the uplink fetches `/api/v1/certificates/ID/tlog-proof` and keeps it as
`spool/sent/ID.tlog-proof`. Before a receipt is kept its checkpoint must be signed by the
log's key (the vkey from the config, else the one first fetched from /api/v1/log/vkey and
kept in DATA/ledger/log.vkey), prove the certificate's inclusion, and be consistent with the
last checkpoint seen (DATA/ledger/checkpoint): a newer one is accepted only with a
consistency proof that verifies. Two checkpoints that cannot both be right (a split view)
are kept as evidence in DATA/ledger/split-view-*.txt and reported as an alarm.

`check_receipt` is what `ardoise cert verify FILE --proof PROOF` runs, offline.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.certificate import canonical
from appliance.i18n import Msg
from appliance.spool import Spool, write_atomic
from appliance.tlog import (
    Checkpoint,
    Proof,
    TlogError,
    Verifier,
    leaf_hash,
    parse_checkpoint,
    parse_note,
    parse_proof,
    parse_vkey,
    root_from_inclusion,
    verify_consistency,
    verify_cosignature,
    verify_note,
)

log = logging.getLogger(__name__)
SUFFIX = ".tlog-proof"


@dataclass
class ReceiptCheck:
    """The offline verdict on one certificate and its receipt."""

    index: int | None = None
    tree_size: int | None = None
    witnesses: list[str] = field(default_factory=list)  # names whose cosignature verified
    problems: list[Msg] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "index": self.index, "tree_size": self.tree_size,
                "witnesses": self.witnesses, "problems": [str(p) for p in self.problems]}


def check_receipt(document: dict[str, Any], proof_text: str, log_key: Verifier,
                  witnesses: list[Verifier] = (), required: int = 0) -> ReceiptCheck:  # type: ignore[assignment]
    """Inclusion of `document` (its RFC 8785 bytes) under a checkpoint signed by `log_key`
    and cosigned by at least `required` of `witnesses`. The certificate's own signature is
    checked by the caller (appliance.certificate.verify_signature)."""
    out = ReceiptCheck()
    try:
        proof = parse_proof(proof_text)
        checkpoint = proof.checkpoint
    except TlogError as exc:
        out.problems.append(Msg("the receipt is not a tlog-proof: {error}", error=str(exc)))
        return out
    out.index, out.tree_size = proof.index, checkpoint.size
    try:
        if checkpoint.origin != log_key.name or not verify_note(proof.note, log_key):
            out.problems.append(Msg("the receipt's checkpoint is not signed by the log key "
                                    "{name}", name=log_key.name))
    except TlogError as exc:
        out.problems.append(Msg("the receipt's checkpoint: {error}", error=str(exc)))
    try:
        root = root_from_inclusion(proof.index, checkpoint.size,
                                   leaf_hash(canonical(document)), proof.path)
        if root != checkpoint.root:
            out.problems.append(Msg("the certificate is not the entry {index} of this log "
                                    "(edited, or a proof for another tree)", index=proof.index))
    except TlogError as exc:
        out.problems.append(Msg("the inclusion proof does not verify: {error}", error=str(exc)))
    for witness in witnesses:
        try:
            if verify_cosignature(proof.note, witness) is not None:
                out.witnesses.append(witness.name)
        except TlogError as exc:
            out.problems.append(Msg("witness {name}: {error}", name=witness.name,
                                    error=str(exc)))
    if len(out.witnesses) < required:
        out.problems.append(Msg("{n} of the required {k} witness cosignatures verify",
                                n=len(out.witnesses), k=required))
    return out


class SplitView(Exception):
    """The ledger showed two checkpoints that cannot both be right."""


class Receipts:
    """The appliance's side: fetch, check and keep receipts; remember the last checkpoint."""

    def __init__(self, spool: Spool, data_dir: Path, get: Any, vkey: str | None = None):
        self.spool = spool
        self.dir = Path(data_dir) / "ledger"
        self.get = get  # get(path) -> (status, text): the uplink's HTTP GET on the ledger
        self.configured = parse_vkey(vkey) if vkey else None

    def path(self, cert_id: str) -> Path:
        return self.spool.sent_dir / f"{cert_id}{SUFFIX}"

    def log_key(self) -> Verifier:
        if self.configured is not None:
            return self.configured
        kept = self.dir / "log.vkey"
        if kept.exists():
            return parse_vkey(kept.read_text())
        status, text = self.get("/api/v1/log/vkey")
        if status != 200:
            raise TlogError(f"the ledger gave no log key (HTTP {status})")
        verifier = parse_vkey(text)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(kept, (verifier.encode() + "\n").encode())  # trusted from first use
        return verifier

    def last(self) -> Checkpoint | None:
        """The last checkpoint accepted (kept as the signed note it came in)."""
        try:
            return parse_checkpoint(parse_note((self.dir / "checkpoint").read_text()).text)
        except (FileNotFoundError, TlogError):
            return None

    def accept(self, checkpoint: Checkpoint, note_text: str) -> None:  # the signed note
        """Remember `checkpoint` if it extends the last one; SplitView if it cannot."""
        last = self.last()
        if last is not None and last.origin == checkpoint.origin:
            if checkpoint.size < last.size:
                return  # an older view: consistent or not, the newer one stands
            if checkpoint.size == last.size:
                if checkpoint.root != last.root:
                    self._alarm(last, checkpoint, "same size, different roots")
                return
            if last.size > 0:
                status, text = self.get(f"/api/v1/log/consistency?first={last.size}"
                                        f"&second={checkpoint.size}")
                proof = [bytes.fromhex(h) for h in json.loads(text).get("proof", [])] \
                    if status == 200 else []
                if status != 200 or not verify_consistency(last.size, checkpoint.size,
                                                           last.root, checkpoint.root, proof):
                    self._alarm(last, checkpoint, "no valid consistency proof")
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.dir / "checkpoint", note_text.encode("utf-8"))

    def _alarm(self, old: Checkpoint, new: Checkpoint, why: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        evidence = self.dir / f"split-view-{int(time.time())}.txt"
        write_atomic(evidence, f"{why}\n\n{old.text()}\n{new.text()}".encode())
        raise SplitView(Msg("the ledger showed two histories that cannot both be true "
                            "({why}): evidence kept in {path}", why=why, path=str(evidence)))

    def fetch(self, cert_id: str) -> ReceiptCheck:
        """Fetch, check and keep the receipt of a delivered certificate."""
        status, text = self.get(f"/api/v1/certificates/{cert_id}/tlog-proof")
        if status != 200:
            return ReceiptCheck(problems=[Msg("no receipt from the ledger (HTTP {code})",
                                              code=status)])
        check = check_receipt(self.spool.load(cert_id), text, self.log_key())
        if check.ok:
            proof: Proof = parse_proof(text)
            self.accept(proof.checkpoint, proof.note.encode())
            write_atomic(self.path(cert_id), text.encode("utf-8"))
        return check
