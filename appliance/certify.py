"""Build, sign and spool the certificate for one disk.

    from appliance import certify, inventory
    host = inventory.collect()
    context = certify.CertContext(organisation="OPEQ", location="Québec", operator="A. Tremblay",
                                  batch="B-2026-11", donor="Acme", destination="reuse")
    document = certify.build_certificate(outcome=outcome, host=host, context=context,
                                         image=image_result_or_None)
    path = certify.issue(document, data_dir, journal=journal, job_id=job)   # signed, in the spool

`outcome` is an `erasure.erase.Outcome` or any dict/object with the same names (the
`ardoise wipe --json` result shape works too): disk, level|plan.level, method, status,
errors, result (EraseResult) and verify (mode, result, bytes_checked, sample_share),
started_at/ended_at (datetime or RFC 3339). `image` is None or a dict with name, version,
manifest_hash, root_hash (or manifest_root_hash), readback_hash (or readback_root_hash),
verified, bytes_written, status, errors (appliance.imaging's ImageResult fits).

Success is never claimed without verification evidence: an outcome that says "erased"
without a passing sample/full read-back is certified "unverified" (nothing read back) or
"failed" (the read-back failed), with the reason. Statuses: erased | unverified | failed |
refused | incomplete (`STATUSES`; "unverified" is new this round, the others stay valid).

The signing key lives on the data partition (DATA/keys/appliance.key), never in the image.
`ardoise keygen` makes it; `issue()` makes one on first use if it is missing (an appliance
must never erase a disk without leaving a signed record), and logs that it did.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance import __version__
from appliance.certificate import (
    SCHEMA_ID,
    SCHEMA_PATH,
    CertificateError,
    key_id,
    load_private_pem,
    load_public_pem,
    private_pem,
    public_pem,
    sign,
    validate,
)
from appliance.inventory import Host
from appliance.journal import JobRecord, Journal
from appliance.record_fields import VERIFY_METHODS, standard_fields, technique_of
from appliance.spool import Spool, write_atomic

log = logging.getLogger(__name__)

KEY_NAME = "appliance.key"
PUB_NAME = "appliance.pub.pem"
STATUSES = ("erased", "unverified", "failed", "refused", "incomplete")
METHODS = frozenset(json.loads(SCHEMA_PATH.read_text())["$defs"]["method"]["enum"])
BUILD_INFO = Path("/etc/ardoise/build-info")  # written by the image build: BUILD_ID=...


class KeyExists(Exception):
    pass


# ---------------------------------------------------------------- keys


def keys_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "keys"


def generate_key(out_dir: Path | str, force: bool = False) -> tuple[Path, Path]:
    """appliance.key (PKCS8 PEM, 0600) + appliance.pub.pem in `out_dir`.

    Raises KeyExists rather than overwrite a key unless `force`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path, pub_path = out / KEY_NAME, out / PUB_NAME
    if key_path.exists() and not force:
        raise KeyExists(str(key_path))
    key = Ed25519PrivateKey.generate()
    write_atomic(pub_path, public_pem(key.public_key()), mode=0o644)
    write_atomic(key_path, private_pem(key), mode=0o600)
    os.chmod(key_path, 0o600)
    return key_path, pub_path


_KEY_LOCK = threading.Lock()


def load_key(data_dir: Path | str, create: bool = True) -> Ed25519PrivateKey:
    """The appliance signing key; made on first use when `create` (and logged).

    Jobs certify in parallel (threads, or two consoles' processes): creation happens under
    a thread lock and an flock on keys/.lock, so every certificate is signed by the one key
    that stays on the data partition."""
    import fcntl

    path = keys_dir(data_dir) / KEY_NAME
    if not path.exists():
        if not create:
            raise CertificateError(f"no appliance key at {path} (run: ardoise keygen)")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _KEY_LOCK, open(path.parent / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                log.warning("no appliance key at %s: generating one", path)
                generate_key(path.parent)
    return load_private_pem(path.read_bytes())


def public_keys(paths: list[Path]) -> list[Ed25519PublicKey]:
    """The Ed25519 public keys among `paths` (unreadable or other files skipped)."""
    keys = []
    for p in paths:
        try:
            keys.append(load_public_pem(Path(p).read_bytes()))
        except (OSError, ValueError, CertificateError):
            continue
    return keys


def trusted_keys(data_dir: Path | str) -> list[Ed25519PublicKey]:
    """Keys `ardoise cert verify` accepts by default: this appliance's, DATA/keys/trusted/*.pem."""
    keys = keys_dir(data_dir)
    return public_keys([keys / PUB_NAME, *sorted((keys / "trusted").glob("*.pem"))])


# ---------------------------------------------------------------- context


def image_build_id(path: Path = BUILD_INFO) -> str | None:
    """The build id the image embeds, so a certificate names the exact image that ran."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith("BUILD_ID="):
                return line.split("=", 1)[1].strip().strip('"') or None
    except OSError:
        pass
    return None


@dataclass
class CertContext:
    """Site facts for the certificate (from the config and the image)."""

    organisation: str | None = None
    location: str | None = None
    operator: str | None = None
    contact: str | None = None
    batch: str | None = None
    donor: str | None = None
    destination: str | None = None  # NIST "post-sanitization destination": reuse, recycle...
    appliance_version: str = __version__
    image_build: str | None = None
    hostname: str | None = None


# ---------------------------------------------------------------- building


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """First present, non-None attribute or key among `names` (dotted paths allowed)."""
    for name in names:
        value = obj
        for part in name.split("."):
            if value is None:
                break
            value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is not None:
            return value
    return default


def _plain(obj: Any) -> Any:
    """A dict of a record: dataclasses whole (their to_json may leave fields out)."""
    if obj is None or isinstance(obj, dict):
        return obj
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if hasattr(obj, "to_json"):
        return obj.to_json()
    return vars(obj)


def rfc3339(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond // 1000:03d}Z"
                                                    if value.microsecond else "Z")


def media_type(disk: dict[str, Any]) -> str:
    if disk.get("transport") in ("nvme", "mmc") or disk.get("rotational") is False:
        return "flash"
    if disk.get("rotational") is True:
        return "magnetic"
    return "unknown"


def media_section(disk_obj: Any) -> dict[str, Any]:
    disk = _plain(disk_obj) or {}
    hpa = disk.get("hpa")
    dco = (disk.get("extra") or {}).get("dco") or disk.get("dco")
    return {
        "path": disk.get("path"),
        "id": str(disk.get("id") or disk.get("path") or "unknown"),
        "model": disk.get("model") or None,
        "serial": disk.get("serial") or None,
        "wwn": disk.get("wwn") or None,
        "firmware": disk.get("firmware") or None,
        "type": media_type(disk),
        "transport": str(disk.get("transport") or "unknown"),
        "size_bytes": int(disk.get("size_bytes") or 0),
        "logical_block_size": int(disk.get("logical_block_size") or 0),
        "rotational": disk.get("rotational"),
        "removable": bool(disk.get("removable", False)),
        "hpa": None if not hpa else {
            "current_max_sectors": int(hpa["current_max_sectors"]),
            "native_max_sectors": int(hpa["native_max_sectors"]),
            "enabled": int(hpa["native_max_sectors"]) > int(hpa["current_max_sectors"]),
        },
        "dco": None if not dco else {
            "present": bool(dco.get("present", True)),
            "real_max_sectors": dco.get("real_max_sectors"),
            "restricted": dco.get("restricted"),
        },
    }


def _verification(outcome: Any) -> dict[str, Any]:
    verify = _plain(_get(outcome, "verify", "verification")) or {}
    mode = verify.get("mode") or "none"
    result = verify.get("result") or "not-done"
    if result not in ("pass", "fail", "not-done"):
        passed = verify.get("passed")
        result = "not-done" if passed is None else ("pass" if passed else "fail")
    share = verify.get("sample_share", verify.get("share"))
    return {
        "mode": mode,
        "sample_share": None if share is None else float(share),
        "result": result,
        "bytes_checked": int(verify.get("bytes_checked") or 0),
        "errors": [str(e) for e in verify.get("errors") or []] + _mismatch_notes(verify),
        "method": verify.get("method") if verify.get("method") in VERIFY_METHODS else None,
        "subsections": int(verify["subsections"]) if verify.get("subsections") else None,
    }


def _mismatch_notes(verify: dict[str, Any]) -> list[str]:
    notes = []
    if verify.get("mismatches"):
        notes.append("data left at offsets " + ", ".join(str(o) for o in
                                                         verify["mismatches"][:5]))
    if verify.get("read_errors"):
        notes.append("unreadable at offsets " + ", ".join(str(o) for o in
                                                         verify["read_errors"][:5]))
    return notes


def _when(outcome: Any, *names: str) -> Any:
    """A time from the outcome; a zero/unset wall-clock value counts as absent."""
    for name in names:
        value = _get(outcome, name)
        if value is None or (isinstance(value, (int, float)) and value <= 0):
            continue
        return value
    return None


def _sanitization(outcome: Any, verification: dict[str, Any]) -> dict[str, Any]:
    result = _get(outcome, "erase", "result")
    errors = [str(e) for e in (_get(outcome, "errors") or [])]
    for e in _get(result, "errors") or []:
        if str(e) not in errors:
            errors.append(str(e))
    method = _get(outcome, "method", "erase.method")
    if method == "auto":  # the request, not a method that ran
        method = None
    if method is not None and method not in METHODS:
        errors.append(f"unknown method {method}")
        method = None
    status = str(_get(outcome, "status", "erase.status", default="incomplete"))
    if status == "erased" and not (verification["result"] == "pass"
                                   and verification["mode"] in ("sample", "full")
                                   and verification["bytes_checked"] > 0):
        status = "failed" if verification["result"] == "fail" else "unverified"
    if status == "unverified":
        note = "no verification evidence: erasure not certified as complete"
        if note not in errors:
            errors.append(note)
    if status not in STATUSES:
        errors.append(f"unknown status {status}")
        status = "incomplete"
    started = _when(outcome, "started", "started_at")
    ended = _when(outcome, "finished", "ended_at", "finished_at")
    seconds = _get(outcome, "seconds", "erase.seconds")
    seconds = None if seconds is None else round(float(seconds), 3)
    if started is None or ended is None:
        seconds = seconds or None
    if started is None and ended is not None and seconds is not None:
        ended_dt = datetime.fromisoformat(str(rfc3339(ended)).replace("Z", "+00:00"))
        started = ended_dt - timedelta(seconds=seconds)
    bytes_written = int(_get(outcome, "bytes_written", "erase.bytes_written", default=0))
    attempts = _get(outcome, "attempts") or ([result] if result is not None else [])
    io_errors = [_plain(e) for a in attempts for e in (_get(a, "io_errors") or [])]
    if not attempts and isinstance(outcome, dict):
        io_errors = list(outcome.get("io_errors") or [])
    details = _get(result, "details") or {}
    tried = _get(outcome, "methods_tried", "tried") or ([method] if method else [])
    return {
        "level": str(_get(outcome, "level", "plan.level", default="purge")),
        "method": method,
        "technique": technique_of(_get(outcome, "disk"), method, result),
        # the pattern is ours to choose only when we overwrite
        "pattern": (_get(outcome, "pattern") or details.get("pattern") or None)
        if _get(result, "technique") in (None, "overwrite") else None,
        "passes": _get(outcome, "passes") or details.get("passes"),
        "tool": _get(result, "tool") or _get(outcome, "tool") or None,
        "started_at": rfc3339(started),
        "ended_at": rfc3339(ended),
        "seconds": seconds,
        "bytes_written": bytes_written,
        "throughput_bytes_per_s": int(bytes_written / seconds) if seconds and bytes_written
        else None,
        "status": status,
        "methods_tried": [str(m) for m in tried if m in METHODS],
        "errors": errors,
        "io_errors": [{"offset": int(e["offset"]), "length": int(e["length"]),
                       "error": str(e["error"])} for e in io_errors],
        **standard_fields(details),
    }


def _image(image: Any) -> dict[str, Any] | None:
    """The image section, from appliance.imaging's ImageResult or a dict of the same names."""
    data = _plain(image)
    if not data:
        return None
    status = data.get("status")
    return {
        "name": str(data.get("name") or ""),
        "version": data.get("version"),
        "status": status if status in ("imaged", "failed", "refused") else None,
        "manifest_hash": data.get("manifest_hash"),
        "root_hash": data.get("root_hash") or data.get("manifest_root_hash"),
        "readback_hash": data.get("readback_hash") or data.get("readback_root_hash"),
        "verified": bool(data.get("verified", False)),
        "bytes_written": data.get("bytes_written"),
        "errors": [str(e) for e in data.get("errors") or []],
    }


def build_certificate(*, outcome: Any, host: Host | dict[str, Any] | None,
                      context: CertContext | None = None, image: Any = None,
                      job_id: str | None = None, key_id_hex: str | None = None,
                      cert_id: str | None = None, issued_at: Any = None) -> dict[str, Any]:
    """The unsigned ardoise.certificate/1 document for one disk (schema-valid once signed).

    `key_id_hex` defaults to a placeholder that `issue()`/`certificate.sign` replace.
    """
    context = context or CertContext()
    host_json = host.to_json() if isinstance(host, Host) else Host.from_json(host or {}).to_json()
    verification = _verification(outcome)
    sanitization = _sanitization(outcome, verification)
    return {
        "schema": SCHEMA_ID,
        "id": cert_id or str(uuid.uuid4()),
        "issued_at": rfc3339(issued_at or datetime.now(UTC)),
        "appliance": {"key_id": key_id_hex or "0" * 64, "version": context.appliance_version,
                      "image_build": context.image_build or image_build_id(),
                      "hostname": context.hostname},
        "organisation": context.organisation,
        "location": context.location,
        "operator": context.operator,
        "contact": context.contact,
        "batch": context.batch,
        "donor": context.donor,
        "job_id": job_id or _get(outcome, "job_id"),
        "host": host_json,
        "media": media_section(_get(outcome, "disk", default={})),
        "sanitization": sanitization,
        "verification": verification,
        "image": _image(image),
        "destination": context.destination,
    }


def sign_document(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Set the appliance key id, sign, and check the result against the schema."""
    body = dict(document)
    body["appliance"] = {**body["appliance"], "key_id": key_id(key.public_key())}
    signed = sign(body, key)
    validate(signed)
    return signed


def issue(document: dict[str, Any], data_dir: Path | str, *, journal: Journal | None = None,
          job_id: str | None = None, spool: Spool | None = None) -> Path:
    """Sign with DATA/keys/appliance.key and put in DATA/spool/pending. Returns its path.

    With a journal, the job goes "certified" (before signing) then "spooled" (once durable).
    """
    if journal is not None and job_id is not None:
        journal.transition(job_id, "certified", certificate_id=document["id"],
                           status=document["sanitization"]["status"])
    signed = sign_document(document, load_key(data_dir))
    path = (spool or Spool(data_dir)).put(signed)
    if journal is not None and job_id is not None:
        journal.transition(job_id, "spooled", certificate_id=signed["id"])
    return path


# ---------------------------------------------------------------- interrupted jobs


def outcome_from_journal(job: JobRecord) -> dict[str, Any]:
    """What an interrupted job's journal tells about it, shaped like an Outcome."""
    details = job.details
    reached = job.state
    method = details.get("method")
    return {
        "disk": job.disk,
        "level": details.get("level", "purge"),
        "method": method if method in METHODS else None,  # never the request "auto"
        "methods_tried": [e["method"] for e in job.history if e.get("method") in METHODS],
        "pattern": details.get("pattern"),
        "status": "incomplete",
        "errors": [f"interrupted while {reached} (journal {job.job_id}, last update "
                   f"{job.updated_at})"],
        "started_at": job.started_at("erasing"),
        "ended_at": job.updated_at,
        "verify": {"mode": details.get("verify_mode") or details.get("verify") or "none",
                   "result": "not-done",
                   "bytes_checked": 0},
    }


def incomplete_certificates(journal: Journal, data_dir: Path | str, *,
                            host: Host | None = None, context: CertContext | None = None,
                            spool: Spool | None = None) -> list[Path]:
    """At start-up: a signed INCOMPLETE certificate for every interrupted job, then close it.

    A job interrupted between "certified" and "spooled" whose certificate did reach the
    spool is closed without a second certificate. Returns the certificate paths; the
    disks (`journal.unfinished()` before the call) are to be offered again. Secrets (the
    ATA password) are dropped on close, so unlock the drive BEFORE calling this.
    """
    spool = spool or Spool(data_dir)
    done: list[Path] = []
    unfinished = journal.unfinished()
    if unfinished and host is None:
        from appliance import inventory

        host = inventory.collect()
    for job in unfinished:
        cert_id = job.certificate_id
        if job.state in ("certified", "spooled") and cert_id and spool.contains(cert_id):
            journal.close(job.job_id, cert_id, "certificate spooled before the interruption")
            continue
        document = build_certificate(outcome=outcome_from_journal(job), host=host,
                                     context=context, job_id=job.job_id)
        path = issue(document, data_dir, spool=spool)
        journal.close(job.job_id, document["id"], f"interrupted while {job.state}")
        done.append(path)
    return done
