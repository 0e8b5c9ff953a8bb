"""Independent validation of an erased (and imaged) disk: the `ardoise.validation/1` record.

    plan = audit.prepare(disk, data_dir, manifest=m, certificate=doc)   # what each byte must hold
    result = scan.scan(disk.path, plan.regions, progress=...)            # erasure/scan.py
    record = audit.build_record(plan, result, operator="B. Gagnon")
    path = audit.issue(record, data_dir)                                 # signed, DATA/validations/pending

What is expected where comes from the image manifest (its chunks: the image's bytes, BLAKE3
per chunk; its must-zero ranges) and the disk's certificate (the erase pattern): zeros
after a zero overwrite; after a random overwrite the stream's key is not kept (erasure
never stores it), and a firmware erase leaves what the drive chose, so there is "no pattern
to compare" and the audit rests on the signature search alone. On a disk larger than the
image, the GPT the image's post-write steps relocated (primary header changed, backup at
the end of the disk) is recognised from the primary header and not counted as data.

Records are signed with the appliance key like certificates and kept in their own spool,
DATA/validations/{pending,sent}, so the certificate uplink never sends one as a
certificate.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.certificate import CertificateError, key_id, sign
from appliance.certify import load_key, media_section, rfc3339
from appliance.imaging.gpt import gpt_header_ok
from appliance.imaging.manifest import Manifest
from appliance.spool import Spool
from erasure import blockdev
from erasure.disk import Disk
from erasure.scan import ANY, IMAGE, TABLE, ZERO, Region, ScanResult
from erasure.signatures import SIGNATURES
from erasure.text import Msg

SCHEMA_ID = "ardoise.validation/1"
SCHEMA_PATH = Path(__file__).parent / "validation.schema.json"
METHOD = "ardoise-audit"
NO_PATTERN = "no pattern to compare"
MAX_RECORDED = 100  # findings written into the record; findings_total has them all


class AuditInputError(Exception):
    """The certificate, the manifest and the disk do not go together (exit 2)."""

    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


@dataclass
class Plan:
    disk: Disk
    size: int
    regions: list[Region]
    pattern: str | None  # "zero" when a pattern is compared, else None
    notes: list[Msg] = field(default_factory=list)
    certificate: dict[str, Any] | None = None
    certificate_signature: str = "none"  # verified | unknown-key | none
    manifest: Manifest | None = None
    manifest_signature: str = "none"  # verified | not-checked | none


def expected_pattern(certificate: dict[str, Any] | None) -> tuple[str | None, Msg | None]:
    """("zero", None) when the certificate says the disk was overwritten with zeros; else
    (None, the reason there is no pattern to compare)."""
    if certificate is None:
        return None, Msg("no pattern to compare: no certificate names the erase pattern")
    san = certificate.get("sanitization") or {}
    technique, pattern = san.get("technique"), san.get("pattern")
    if technique in (None, "overwrite") and pattern == "zero":
        return "zero", None
    if pattern == "random":
        return None, Msg("no pattern to compare: the random stream's key is not kept after "
                         "the erase")
    return None, Msg("no pattern to compare: {method} leaves what the drive chose",
                     method=str(san.get("method") or "the erase"))


def check_identity(disk: Disk, certificate: dict[str, Any]) -> None:
    """The certificate must be this disk's: same serial (or id when neither has a serial)
    and same size."""
    media = certificate.get("media") or {}
    serial = media.get("serial")
    if serial and disk.serial and serial != disk.serial:
        raise AuditInputError(Msg("the certificate is for the disk with serial {cert}, this "
                                  "one has serial {disk}", cert=serial, disk=disk.serial))
    if not serial and not disk.serial and media.get("id") and media["id"] != disk.id:
        raise AuditInputError(Msg("the certificate is for disk {cert}, this is {disk}",
                                  cert=media["id"], disk=disk.id))
    size = media.get("size_bytes")
    if size and size != disk.size_bytes:
        raise AuditInputError(Msg("the certificate is for a disk of {cert} bytes, this one "
                                  "holds {disk}", cert=size, disk=disk.size_bytes))


def check_image(certificate: dict[str, Any] | None, manifest: Manifest | None) -> None:
    image = (certificate or {}).get("image") or None
    if image and image.get("status") == "imaged" and manifest is None:
        raise AuditInputError(Msg("the certificate says image {name} was written: give its "
                                  "manifest with --manifest", name=str(image.get("name"))))
    if image and manifest is not None and image.get("root_hash") not in (None,
                                                                          manifest.root_hash):
        raise AuditInputError(Msg("the manifest is not the image the certificate names "
                                  "({name}, root hash {root})", name=str(image.get("name")),
                                  root=str(image.get("root_hash"))[:16]))


def backup_gpt(path: str, size: int, lbs: int, image_bytes: int) -> tuple[int, int] | None:
    """(offset, length) of the backup GPT (entries + header) at the end of the disk, when
    the primary header on the disk is valid and points there, past the image."""
    length = max(4096, 2 * lbs)
    fd = blockdev.open_device(path, write=False, exclusive=False)
    buf = blockdev.AlignedBuffer(length)
    try:
        blockdev.pread_into(fd, buf.view[:length], 0)
        header = bytes(buf.view[lbs:2 * lbs])
    except OSError:
        return None
    finally:
        buf.close()
        os.close(fd)
    if not gpt_header_ok(header):
        return None
    alternate = int(struct.unpack_from("<Q", header, 32)[0])
    count, entry_size = struct.unpack_from("<II", header, 80)
    array = -(-count * entry_size // lbs) * lbs
    start = alternate * lbs - array
    if (alternate + 1) * lbs != size or start < image_bytes or array > 4 * blockdev.MiB:
        return None
    return start, size - start


def plan_regions(size: int, manifest: Manifest | None, pattern: str | None,
                 table: tuple[int, int] | None = None) -> list[Region]:
    """Every byte of [0, size) in one region, in disk order."""
    rest = ZERO if pattern == "zero" else ANY
    special: list[Region] = []
    if manifest is not None:
        larger = size > manifest.image_bytes
        special += [Region(c.disk_offset, c.length, IMAGE, c.blake3, f"chunk {c.index}",
                           adjustable=larger and c.role == "partition-table")
                    for c in manifest.chunks]
        special += [Region(z.disk_offset, z.length, ZERO, label="must-zero")
                    for z in manifest.must_zero]
    if table is not None:
        special.append(Region(table[0], table[1], TABLE, label="backup GPT"))
    out: list[Region] = []
    pos = 0
    for r in sorted(special, key=lambda r: r.offset):
        if r.offset > pos:
            out.append(Region(pos, r.offset - pos, rest))
        out.append(r)
        pos = r.offset + r.length
    if pos < size:
        out.append(Region(pos, size - pos, rest))
    return out


def prepare(disk: Disk, *, manifest: Manifest | None = None,
            manifest_signature: str = "none", certificate: dict[str, Any] | None = None,
            certificate_signature: str = "none") -> Plan:
    """What each byte of the disk must hold, from the manifest and the certificate."""
    if certificate is not None:
        check_identity(disk, certificate)
    check_image(certificate, manifest)
    size = disk.size_bytes
    if manifest is not None and manifest.image_bytes > size:
        raise AuditInputError(Msg("{path} holds {size} bytes, the image has {need}",
                                  path=disk.path, size=size, need=manifest.image_bytes))
    pattern, why = expected_pattern(certificate)
    table = None
    if manifest is not None and manifest.partition_table == "gpt" and size > manifest.image_bytes:
        table = backup_gpt(disk.path, size, disk.logical_block_size or 512,
                           manifest.image_bytes)
    plan = Plan(disk, size, plan_regions(size, manifest, pattern, table), pattern,
                certificate=certificate, certificate_signature=certificate_signature,
                manifest=manifest, manifest_signature=manifest_signature)
    if why is not None:
        plan.notes.append(why)
    if table is not None:
        plan.notes.append(Msg("backup GPT of the image at offset {offset} ({length} bytes)",
                              offset=table[0], length=table[1]))
    return plan


def result_of(scan: ScanResult) -> str:
    return "fail" if scan.failures or scan.error or scan.cancelled else "pass"


def build_record(plan: Plan, scan: ScanResult, *, operator: str | None = None,
                 organisation: str | None = None, record_id: str | None = None,
                 issued_at: Any = None) -> dict[str, Any]:
    """The unsigned ardoise.validation/1 document (schema-valid once signed)."""
    cert = plan.certificate or {}
    m = plan.manifest
    notes = [str(n) for n in plan.notes]
    notes += [f"{f.what} at offset {f.offset} rewritten by the image's post-write steps"
              for f in scan.findings if f.kind == "table-adjusted"]
    if scan.error:
        notes.append(f"the read stopped: {scan.error}")
    if scan.cancelled:
        notes.append("cancelled before the end of the disk")
    failures = scan.failures
    return {
        "schema": SCHEMA_ID,
        "id": record_id or str(uuid.uuid4()),
        "issued_at": rfc3339(issued_at or datetime.now(UTC)),
        "appliance": {"key_id": "0" * 64, "version": __version__,
                      "hostname": socket.gethostname() or None},
        "validator": {"operator": operator, "organisation": organisation},
        "certificate": None if plan.certificate is None else {
            "id": cert.get("id"),
            "key_id": (cert.get("signature") or {}).get("key_id"),
            "operator": cert.get("operator"),
            "batch": cert.get("batch"),
            "signature": plan.certificate_signature,
        },
        "media": media_section(plan.disk),
        "method": {
            "name": METHOD,
            "version": __version__,
            "read": "full",
            "direct_io": True,
            "pattern": plan.pattern,
            "pattern_compared": plan.pattern is not None,
            "signatures": sorted({s.name for s in SIGNATURES}),
            "signature_source": "testdisk/photorec src/file_*.c (header checks)",
            "image": None if m is None else {
                "name": m.name, "version": m.version, "root_hash": m.root_hash,
                "manifest_hash": m.manifest_hash or None, "signature": plan.manifest_signature,
            },
        },
        "coverage": {
            "size_bytes": plan.size,
            "bytes_read": scan.bytes_read,
            "share": round(scan.bytes_read / plan.size, 6) if plan.size else 0.0,
            "image_bytes": scan.image_bytes,
            "pattern_bytes": scan.zero_bytes,
            "no_pattern_bytes": scan.any_bytes,
            "table_bytes": scan.table_bytes,
            "searched_bytes": scan.searched_bytes,
            "nonzero_bytes": scan.nonzero_bytes,
        },
        "seconds": round(scan.seconds, 3),
        "throughput_bytes_per_s": int(scan.rate),
        "result": result_of(scan),
        "findings": [f.to_json() for f in failures[:MAX_RECORDED]],
        "findings_total": sum(n for k, n in scan.counts.items() if k != "table-adjusted"),
        "notes": notes,
    }


def validate(document: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise CertificateError("; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message}"
            for e in errors[:5]))


VALIDATIONS = "/api/v1/validations"


def deliver(data_dir: Path | str, ledger_url: str, ca: str | Path | None = None) -> Any:
    """Send the pending validation records to the ledger once (appliance.uplink's rules:
    201/200 moved to sent/, 409 and other 4xx kept with the ledger's reason, the rest
    retried on the next call). Returns the uplink's FlushReport."""
    from appliance.uplink import CERTIFICATES, Uplink

    class _Validations(Uplink):
        def _post(self, path: str, body: bytes) -> Any:
            return super()._post(VALIDATIONS if path == CERTIFICATES else path, body)

    return _Validations(spool(data_dir), ledger_url, ca=ca, check_link=False).flush_once()


def spool(data_dir: Path | str) -> Spool:
    return Spool(data_dir, directory=Path(data_dir) / "validations")


def issue(record: dict[str, Any], data_dir: Path | str) -> tuple[dict[str, Any], Path]:
    """Sign with the appliance key, check the schema, put in DATA/validations/pending."""
    key = load_key(data_dir)
    body = dict(record)
    body["appliance"] = {**body["appliance"], "key_id": key_id(key.public_key())}
    signed = sign(body, key)
    validate(signed)
    return signed, spool(data_dir).put(signed)
