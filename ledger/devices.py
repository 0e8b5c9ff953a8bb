"""Device records (`ardoise.device/1`) received from appliances.

The same checks as certificates (ledger.intake, ledger.validation): size and depth, JSON
Schema (appliance.certificate.device_schema_errors), issued_at not in the future, RFC 8785
canonical form, an Ed25519 signature by an enrolled key that is not revoked, and
appliance.key_id naming that key. Idempotent by id: 201 stored, 200 the identical record
again, 409 another record under the same id. Records are kept whole (their signed bytes),
in their own table: they are not leaves of the certificate log.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, DateTime, Index, LargeBinary, String, Table, select
from sqlalchemy.exc import IntegrityError

from appliance.certificate import device_schema_errors
from ledger import tables as t
from ledger.canonical import has_nul
from ledger.intake import canonical_pair, check_issued_at, verify_signed
from ledger.store import Ledger, NotFound, utcnow
from ledger.validation import Rejected, parse_object

devices = Table(
    "devices", t.metadata,
    Column("id", String(64), primary_key=True),
    Column("entry_hash", LargeBinary(32), nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("host_serial", String(200), nullable=False, server_default=""),
    Column("host_product", String(200), nullable=False, server_default=""),
    Column("batch", String(200), nullable=False, server_default=""),
    Column("donor", String(200), nullable=False, server_default=""),
    Index("ix_devices_host_serial", "host_serial"),
    Index("ix_devices_batch", "batch"),
)


@dataclass
class Stored:
    status: int  # 201 | 200 | 409
    id: str


def _text(value: Any) -> str:
    return str(value)[:200] if isinstance(value, str) else ""


def check(ledger: Ledger, body: bytes) -> tuple[dict[str, Any], bytes, str]:
    """The record, its signed RFC 8785 bytes and its key id; Rejected otherwise."""
    doc = parse_object(body)
    if has_nul(doc):
        raise Rejected(422, "nul", "strings may not contain U+0000")
    problems = device_schema_errors(doc)
    if problems:
        code = "wrong_schema_version" if problems[0].startswith("schema:") else "schema"
        raise Rejected(422, code, f"device record does not match its schema: {problems[0]}"
                       [:500])
    if str(uuid.UUID(doc["id"])) != doc["id"]:
        raise Rejected(422, "bad_id", "id is not a UUID in its 8-4-4-4-12 form")
    check_issued_at(doc)
    entry, unsigned_bytes = canonical_pair(doc)
    kid = verify_signed(ledger, doc, unsigned_bytes)
    if doc["appliance"]["key_id"] != kid:
        raise Rejected(422, "key_mismatch", "appliance.key_id differs from the signing key")
    if not ledger.is_active(kid):
        raise Rejected(403, "key_not_allowed", "the signing key is unknown or revoked")
    return doc, entry, kid


def store(ledger: Ledger, body: bytes) -> Stored:
    doc, entry, kid = check(ledger, body)
    digest = hashlib.sha256(entry).digest()
    row = {"id": doc["id"], "entry_hash": digest, "entry": entry, "key_id": kid,
           "issued_at": doc["issued_at"], "received_at": utcnow(),
           "host_serial": _text(doc["host"].get("serial")),
           "host_product": _text(doc["host"].get("product")),
           "batch": _text(doc.get("batch")), "donor": _text(doc.get("donor"))}
    for _attempt in range(2):  # a concurrent insert of the same id: read it back once
        try:
            with ledger.writer.begin() as conn:
                known = conn.execute(select(devices.c.entry_hash)
                                     .where(devices.c.id == doc["id"])).scalar()
                if known is not None:
                    return Stored(200 if bytes(known) == digest else 409, doc["id"])
                conn.execute(devices.insert(), [row])
            return Stored(201, doc["id"])
        except IntegrityError:
            continue
    return Stored(409, doc["id"])


def get(ledger: Ledger, record_id: str) -> bytes:
    """The stored signed record's bytes; NotFound when the ledger has none by that id."""
    with ledger.engine.connect() as conn:
        entry = conn.execute(select(devices.c.entry).where(devices.c.id == record_id)).scalar()
    if entry is None:
        raise NotFound(record_id)
    return bytes(entry)
