"""Quality control (R2v3 Appendix B, NIST SP 800-88 Rev. 2 validation): which devices of a
batch are to be validated, and the validation records an independent person sends.

    qc = QualityControl(ledger, share=0.05)
    qc.sample("B-2026-11")           # tops the batch's sample up to its share: ids
    qc.accept(body)                  # a signed ardoise.validation/1 (raises Rejected)
    qc.status("B-2026-11")           # coverage and results of the batch

The sample is drawn with the operating system's CSPRNG (`secrets`), after the certificates
are logged, among the batch's certificates of logically sanitized devices (status
"erased"): at least `share` of them, and at least one. Whoever erased cannot know in
advance which disks will be drawn. A sample only grows: when more certificates of the
batch arrive, the next call draws from the new ones too until the share is met again.

A validation is accepted only when it is signed by an enrolled appliance key other than
the one that signed the certificate, names an operator other than the certificate's (the
operator named at the start of the erasing technician's session), and is about the same
disk (serial and size).
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Column, DateTime, Index, LargeBinary, String, Table, select

import appliance.certificate
from ledger import tables as t
from ledger.intake import canonical_pair, verify_signed
from ledger.store import Ledger, NotFound, utcnow
from ledger.validation import Rejected, parse_object

SCHEMA_ID = "ardoise.validation/1"
SCHEMA_PATH = Path(appliance.certificate.__file__).parent / "validation.schema.json"
DEFAULT_SHARE = 0.05
SANITIZED = ("erased",)

qc_samples = Table(
    "qc_samples", t.metadata,
    Column("certificate_id", String(64), primary_key=True),
    Column("batch", String(200), nullable=False),
    Column("selected_at", DateTime(timezone=True), nullable=False),
    Index("ix_qc_samples_batch", "batch"),
)

validations = Table(
    "validations", t.metadata,
    Column("id", String(128), primary_key=True),
    Column("certificate_id", String(64), nullable=False),
    Column("batch", String(200), nullable=False, server_default=""),
    Column("key_id", String(64), nullable=False),
    Column("operator", String(200), nullable=False),
    Column("result", String(8), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Index("ix_validations_certificate_id", "certificate_id"),
    Index("ix_validations_batch", "batch"),
)


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def schema_errors(doc: dict[str, Any]) -> list[str]:
    if doc.get("schema") != SCHEMA_ID:
        return [f"schema: not {SCHEMA_ID}"]
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message}"
            for e in errors]


def _same_person(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").split()).casefold() == " ".join((b or "").split()).casefold()


def required(count: int, share: float) -> int:
    """How many of `count` sanitized devices the sample needs: the share, at least one."""
    return 0 if count == 0 else min(count, max(1, math.ceil(count * share - 1e-9)))


@dataclass
class BatchQC:
    batch: str
    share: float
    sanitized: int  # certificates of logically sanitized devices in the batch
    required: int
    sampled: list[str] = field(default_factory=list)
    validated: list[str] = field(default_factory=list)  # sampled or not, with a validation
    passed: int = 0
    failed: int = 0
    pending: list[str] = field(default_factory=list)  # sampled, no validation yet

    @property
    def coverage(self) -> float:
        return len(self.validated) / self.sanitized if self.sanitized else 0.0

    @property
    def flagged(self) -> bool:
        return self.failed > 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": round(self.coverage, 4), "flagged": self.flagged}


class QualityControl:
    def __init__(self, ledger: Ledger, share: float = DEFAULT_SHARE) -> None:
        if not 0 < share <= 1:
            raise ValueError("the validation share must be in (0, 1]")
        self.ledger = ledger
        self.share = share

    def _sanitized(self, conn: Any, batch: str) -> list[str]:
        c = t.certificates.c
        return [r.id for r in conn.execute(select(c.id).where(
            c.batch == batch, c.status.in_(SANITIZED)).order_by(c.leaf_index))]

    def sample(self, batch: str) -> list[str]:
        """The batch's sample, drawn up to its share first if certificates came since."""
        with self.ledger.writer.begin() as conn:
            ids = self._sanitized(conn, batch)
            chosen = [r.certificate_id for r in conn.execute(
                select(qc_samples.c.certificate_id).where(qc_samples.c.batch == batch))]
            missing = required(len(ids), self.share) - len(chosen)
            if missing > 0:
                left = sorted(set(ids) - set(chosen))
                drawn = secrets.SystemRandom().sample(left, missing)
                now = utcnow()
                conn.execute(qc_samples.insert(), [
                    {"certificate_id": cid, "batch": batch, "selected_at": now}
                    for cid in drawn])
                chosen += drawn
        return sorted(chosen)

    def accept(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Check and store a validation: (201 new | 200 identical duplicate, summary)."""
        doc = parse_object(body)
        errors = schema_errors(doc)
        if errors:
            raise Rejected(422, "schema", "; ".join(errors[:5]))
        entry, unsigned_bytes = canonical_pair(doc)
        kid = verify_signed(self.ledger, doc, unsigned_bytes)
        if not self.ledger.is_active(kid):
            raise Rejected(403, "key_not_allowed", "the signing key is revoked")
        ref = doc["certificate"] or {}
        if not ref.get("id"):
            raise Rejected(422, "no_certificate", "the validation names no certificate")
        try:
            row = self.ledger.get(str(ref["id"]))
        except NotFound:
            raise Rejected(404, "unknown_certificate", "no certificate with this id is "
                                                      "logged") from None
        cert = orjson.loads(row.entry)
        if kid == row.key_id:
            raise Rejected(403, "not_independent", "signed by the appliance key that "
                                                  "erased the disk")
        operator = (doc.get("validator") or {}).get("operator")
        if not operator or not operator.strip():
            raise Rejected(422, "no_operator", "the validation names no operator")
        if _same_person(operator, cert.get("operator")):
            raise Rejected(403, "not_independent", "the validator is the operator who "
                                                  "erased the disk")
        media, cmedia = doc.get("media") or {}, cert.get("media") or {}
        if (cmedia.get("serial") and media.get("serial") != cmedia.get("serial")) or \
                media.get("size_bytes") != cmedia.get("size_bytes"):
            raise Rejected(422, "other_disk", "the validation is about another disk than "
                                              "the certificate")
        with self.ledger.writer.begin() as conn:
            known = conn.execute(select(validations.c.entry).where(
                validations.c.id == doc["id"])).first()
            if known is not None:
                if bytes(known.entry) != entry:
                    raise Rejected(409, "conflict", "a different validation with this id is "
                                                    "stored")
                status = 200
            else:
                conn.execute(validations.insert().values(
                    id=doc["id"], certificate_id=row.id, batch=row.batch, key_id=kid,
                    operator=operator.strip()[:200], result=doc["result"],
                    issued_at=doc["issued_at"], received_at=utcnow(), entry=entry))
                status = 201
        return status, {"id": doc["id"], "certificate_id": row.id, "batch": row.batch,
                        "result": doc["result"],
                        "status": "created" if status == 201 else "duplicate"}

    def status(self, batch: str) -> BatchQC:
        """Coverage and results of the batch (drawing its sample up to the share first)."""
        sampled = self.sample(batch)
        with self.ledger.engine.connect() as conn:
            ids = set(self._sanitized(conn, batch))
            rows = conn.execute(select(validations.c.certificate_id, validations.c.result)
                                .where(validations.c.batch == batch)
                                .order_by(validations.c.received_at)).all()
        latest = {r.certificate_id: r.result for r in rows}  # the newest counts
        qc = BatchQC(batch, self.share, len(ids), required(len(ids), self.share), sampled)
        qc.validated = sorted(cid for cid in latest if cid in ids)
        qc.passed = sum(latest[c] == "pass" for c in qc.validated)
        qc.failed = sum(latest[c] == "fail" for c in qc.validated)
        qc.pending = [c for c in sampled if c not in latest]
        return qc

    def validations_of(self, certificate_id: str) -> list[dict[str, Any]]:
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(select(validations.c.entry).where(
                validations.c.certificate_id == certificate_id)
                .order_by(validations.c.received_at)).all()
        return [orjson.loads(r.entry) for r in rows]

