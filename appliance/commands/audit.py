"""`ardoise audit DEVICE [--manifest M] [--certificate FILE|ID] [--operator NAME] [--json]`

Reads every byte of the disk (read-only, O_DIRECT) and checks that nothing recoverable is
left: the image's chunks equal the image (BLAKE3), the rest holds the erase pattern when
one is known, and no sector starts with a file-system structure or a file header. Issues
a signed `ardoise.validation/1` record into DATA/validations/pending.

Progress goes to stderr (JSON lines with --json); the record, or a summary, to stdout.
Exit codes: 0 pass; 1 fail; 2 bad input (no such device, unreadable or mismatched
certificate or manifest); 3 refused: the device is the boot medium, mounted or in use
(reading a disk in use gives a false picture).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from appliance.errors import EXIT_FAILED, EXIT_OK, Refused, UsageError
from appliance.i18n import _, format_rate, format_size, tr
from appliance.output import emit_json, say, warn
from erasure.methods.base import Progress


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", parents=[common],
                       help=_("read a whole disk and check that nothing is recoverable"))
    p.add_argument("device", metavar="DEVICE")
    p.add_argument("--manifest", default=None, metavar="M",
                   help=_("manifest of the image written on the disk (path or URL)"))
    p.add_argument("--certificate", default=None, metavar="FILE|ID",
                   help=_("the disk's certificate (a file, or an id in the spool)"))
    p.add_argument("--operator", default=None, metavar="NAME",
                   help=_("the person validating (not the one who erased)"))
    p.add_argument("--trust", type=Path, action="append", default=[], metavar="PUBKEY.pem",
                   help=_("publisher key for the manifest (default: DATA/keys/trusted/*.pem)"))
    p.add_argument("--ledger", default=None, metavar="URL",
                   help=_("send the validation record to this ledger (default: $ARDOISE_LEDGER)"))
    p.set_defaults(func=run)


class _Lines:
    """Progress on stderr: a line every 10% for people, a JSON line per second with --json."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.step = -1
        self.last = -1.0
        self.lock = threading.Lock()

    def __call__(self, event: Progress) -> None:
        with self.lock:
            if self.as_json:
                elapsed = event.elapsed_seconds or 0.0
                if elapsed - self.last < 1.0 and event.done_bytes < event.total_bytes:
                    return
                self.last = elapsed
                line = json.dumps({"event": "progress", "path": event.path,
                                   "done_bytes": event.done_bytes,
                                   "total_bytes": event.total_bytes,
                                   "rate_bytes_per_s": int(event.rate_bytes_per_s)})
                print(line, file=sys.stderr, flush=True)
                return
            step = int(event.fraction * 10)
            if step <= self.step:
                return
            self.step = step
        warn(_("{path}: reading {percent}% ({rate})").format(
            path=event.path, percent=step * 10, rate=format_rate(event.rate_bytes_per_s)))


def _disk(path: str) -> Any:
    from appliance.commands.image import _block_device
    from erasure.discovery import NotAWholeDisk, resolve

    _block_device(path)
    try:
        disk = resolve(path, allow_external=True)
    except NotAWholeDisk as exc:
        raise UsageError(tr(exc.args[0])) from None
    if not disk.eligible:
        reason = tr(disk.excluded_reason) if disk.excluded_reason else _("boot medium")
        raise Refused(_("refused: {reason}; a disk in use cannot be audited").format(
            reason=reason))
    return disk


def _certificate(value: str | None, data: Path) -> tuple[dict[str, Any] | None, str]:
    """The certificate (a file or a spool id) and whether its signature verified."""
    from appliance.certificate import CertificateError, key_id, load, verify
    from appliance.certify import trusted_keys
    from appliance.spool import Spool, SpoolError

    if value is None:
        return None, "none"
    path = Path(value)
    if path.is_file():
        try:
            doc = load(path)
        except CertificateError as exc:
            raise UsageError(str(exc)) from None
    else:
        try:
            doc = Spool(data).load(value)
        except (FileNotFoundError, SpoolError, OSError, ValueError):
            raise UsageError(_("{value}: no such certificate file or id in the spool").format(
                value=value)) from None
    keys = trusted_keys(data)
    wanted = (doc.get("signature") or {}).get("key_id")
    if not any(key_id(k) == wanted for k in keys):
        return doc, "unknown-key"
    try:
        verify(doc, keys)
    except CertificateError as exc:
        raise UsageError(_("the certificate does not verify: {error}").format(error=exc)) \
            from None
    return doc, "verified"


def _manifest(location: str | None, trust: list[Path], data: Path) -> tuple[Any, str]:
    from appliance.imaging.manifest import (
        ManifestError,
        default_trust,
        load_trusted_keys,
        parse_bytes,
        verify,
    )
    from appliance.imaging.sources import SourceError, open_source

    if location is None:
        return None, "none"
    try:
        source = open_source(location)
        try:
            m = parse_bytes(source.manifest_bytes())
        finally:
            source.close()
        paths = list(trust) or default_trust(data)
        if not paths:
            return m, "not-checked"
        verify(m, load_trusted_keys(paths))
    except (ManifestError, SourceError) as exc:
        raise UsageError(tr(exc.message)) from None
    return m, "verified"


def run(args: argparse.Namespace) -> int:
    from appliance import audit
    from erasure import scan

    data = Path(args.data)
    disk = _disk(args.device)
    certificate, cert_sig = _certificate(args.certificate, data)
    manifest, manifest_sig = _manifest(args.manifest, args.trust, data)
    try:
        plan = audit.prepare(disk, manifest=manifest, manifest_signature=manifest_sig,
                             certificate=certificate, certificate_signature=cert_sig)
    except audit.AuditInputError as exc:
        raise UsageError(tr(exc.message)) from None
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(
            path=disk.path, error=exc.strerror or exc)) from None
    try:
        result = scan.scan(disk.path, plan.regions, progress=_Lines(args.json))
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(
            path=disk.path, error=exc.strerror or exc)) from None
    record = audit.build_record(plan, result, operator=args.operator)
    signed, path = audit.issue(record, data)
    delivery = _deliver(args, data)
    if args.json:
        emit_json({**signed, "path": str(path), "delivery": delivery})
    else:
        _summary(signed, plan, path)
        if delivery is not None:
            say(_delivery_line(delivery))
    if delivery is not None and (delivery.get("error") or signed["id"] in delivery["rejected"]
                                 or signed["id"] in delivery["conflicts"]):
        return EXIT_FAILED
    return EXIT_OK if signed["result"] == "pass" else EXIT_FAILED


def _deliver(args: argparse.Namespace, data: Path) -> dict[str, Any] | None:
    """Send pending validation records when a ledger is named; None when none is."""
    import os

    from appliance import audit

    ledger = args.ledger or os.environ.get("ARDOISE_LEDGER")
    if not ledger:
        return None
    ca = data / "keys" / "ledger-ca.pem"
    report = audit.deliver(data, ledger, ca if ca.exists() else None)
    return {"ledger": ledger, **report.to_json()}


def _delivery_line(d: dict[str, Any]) -> str:
    if d.get("error"):
        return _("not sent to {ledger} (kept, sent next time): {error}").format(
            ledger=d["ledger"], error=d["error"])
    if d.get("rejected"):
        return "; ".join(_("{id}: rejected: {reason}").format(id=k, reason=v)
                         for k, v in d["rejected"].items())
    return _("sent to {ledger}").format(ledger=d["ledger"])


def _summary(record: dict[str, Any], plan: Any, path: Path) -> None:
    cov = record["coverage"]
    word = _("PASS") if record["result"] == "pass" else _("FAIL")
    say(_("{path}: {word}: {read} of {size} read at {rate}").format(
        path=plan.disk.path, word=word, read=format_size(cov["bytes_read"]),
        size=format_size(cov["size_bytes"]), rate=format_rate(record["throughput_bytes_per_s"])))
    say("  " + _("image: {image}; erase pattern: {pattern}; searched for signatures: {searched}")
        .format(image=format_size(cov["image_bytes"]),
                pattern=format_size(cov["pattern_bytes"]) if plan.pattern else
                _("no pattern to compare"),
                searched=format_size(cov["searched_bytes"])))
    for note in plan.notes:
        say("  " + tr(note))
    kinds = {"signature": _("signature"), "image-mismatch": _("differs from the image"),
             "pattern-mismatch": _("not the erase pattern"), "read-error": _("unreadable")}
    for f in record["findings"][:20]:
        say("  " + _("offset {offset}: {kind} ({what})").format(
            kind=kinds.get(f["kind"], f["kind"]), offset=f["offset"], what=f["what"]))
    more = record["findings_total"] - min(20, len(record["findings"]))
    if more > 0:
        say("  " + _("and {count} more").format(count=more))
    say(_("validation record {id}: {path}").format(id=record["id"], path=path))
