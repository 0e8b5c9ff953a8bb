"""`ardoise cert show|verify|pdf FILE...`: read, check and print certificates.

verify checks the schema and the Ed25519 signature against the trusted keys: --pubkey
PEM, else DATA/keys/appliance.pub.pem and DATA/keys/trusted/*.pem. Exit 0 when every file
verifies, 1 when one does not, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance import pdf
from appliance.certificate import CertificateError, key_id, load, verify
from appliance.certify import public_keys, trusted_keys
from appliance.errors import EXIT_FAILED, EXIT_OK, UsageError, os_reason
from appliance.i18n import _, format_datetime, format_size, ngettext, tr
from appliance.output import emit_json, looks_like_json, say


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("cert", parents=[common], help=_("show, verify or print certificates"))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    show = actions.add_parser("show", parents=[common], help=_("summarise a certificate"))
    show.add_argument("files", nargs="+", type=Path, metavar="FILE")
    show.set_defaults(func=run_show)
    ver = actions.add_parser("verify", parents=[common],
                             help=_("check a certificate's signature and schema"))
    ver.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ver.add_argument("--pubkey", type=Path, action="append", default=[], metavar="PEM",
                     help=_("trust this public key (repeatable)"))
    ver.set_defaults(func=run_verify)
    out = actions.add_parser("pdf", parents=[common],
                             help=_("print certificates to PDF, one page per disk"))
    out.add_argument("files", nargs="+", type=Path, metavar="FILE")
    out.add_argument("--out", type=Path, default=None, metavar="F",
                     help=_("PDF file to write (default: next to the first certificate)"))
    out.add_argument("--ledger", default=None, metavar="URL",
                     help=_("ledger address for the QR code"))
    out.set_defaults(func=run_pdf)


def _load(path: Path) -> dict[str, Any]:
    """A certificate file, or exit 2 with one sentence (missing, unreadable, not JSON)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise UsageError(_("{path}: no such file").format(path=path)) from None
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(
            path=path, error=tr(os_reason(exc)))) from None
    if not looks_like_json(head):
        raise UsageError(_("{path} is not a certificate: give a .json file from the spool "
                           "(ardoise spool list)").format(path=path))
    try:
        doc = load(path)
    except CertificateError as exc:
        raise UsageError(_("{path} is not a certificate (not valid JSON): give a .json file "
                           "from the spool").format(path=path)) from exc
    if doc.get("schema") != "ardoise.certificate/1":
        raise UsageError(_("{path} is not an ardoise certificate (no \"schema\": "
                           "\"ardoise.certificate/1\")").format(path=path))
    return doc


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return format_datetime(datetime.fromisoformat(value.replace("Z", "+00:00"))) + " UTC"


def run_show(args: argparse.Namespace) -> int:
    docs = [_load(f) for f in args.files]
    if args.json:
        emit_json(docs[0] if len(docs) == 1 else {"certificates": docs})
        return EXIT_OK
    for doc in docs:
        san, ver, media, host = (doc.get("sanitization", {}), doc.get("verification", {}),
                                 doc.get("media", {}), doc.get("host", {}))
        say(_("Certificate {id}").format(id=doc.get("id")))
        say("  " + _("Issued: {when}").format(when=_when(doc.get("issued_at"))))
        say("  " + _("Organisation: {org}, {location}; operator {operator}; batch {batch}")
            .format(org=doc.get("organisation") or "-", location=doc.get("location") or "-",
                    operator=doc.get("operator") or "-", batch=doc.get("batch") or "-"))
        say("  " + _("Computer: {maker} {product}, serial {serial}").format(
            maker=host.get("manufacturer") or "-", product=host.get("product") or "-",
            serial=host.get("serial") or "-"))
        say("  " + _("Disk: {model}, serial {serial}, {size}, {transport}").format(
            model=media.get("model") or "-", serial=media.get("serial") or "-",
            size=format_size(media.get("size_bytes") or 0), transport=media.get("transport")))
        say("  " + _("Sanitization: {status} ({level}, {method})").format(
            status=san.get("status"), level=san.get("level"), method=san.get("method") or "-"))
        say("  " + _("Verification: {result} ({mode}, {checked} checked)").format(
            result=ver.get("result"), mode=ver.get("mode"),
            checked=format_size(ver.get("bytes_checked") or 0)))
        for err in san.get("errors") or []:
            say("  " + _("Error: {error}").format(error=err))
        image = doc.get("image")
        if image:
            say("  " + _("Image: {name} {version}, verified: {verified}").format(
                name=image.get("name"), version=image.get("version") or "",
                verified=_("yes") if image.get("verified") else _("no")))
        say("  " + _("Signed by key {key_id}").format(
            key_id=(doc.get("signature") or {}).get("key_id", "-")))
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    if args.pubkey:
        keys = public_keys(args.pubkey)
        if len(keys) != len(args.pubkey):
            raise UsageError(_("cannot read an Ed25519 public key from {paths}").format(
                paths=", ".join(str(p) for p in args.pubkey)))
    else:
        keys = trusted_keys(args.data)
    results = []
    for path in args.files:
        doc = _load(path)
        try:
            key = verify(doc, keys)
            results.append({"file": str(path), "id": doc.get("id"), "valid": True,
                            "key_id": key_id(key), "error": None})
        except CertificateError as exc:
            results.append({"file": str(path), "id": doc.get("id"), "valid": False,
                            "key_id": (doc.get("signature") or {}).get("key_id"),
                            "error": str(exc)})
    ok = all(r["valid"] for r in results)
    if args.json:
        emit_json({"valid": ok, "results": results})
    else:
        for r in results:
            if r["valid"]:
                say(_("{file}: valid, signed by {key_id}").format(file=r["file"],
                                                                  key_id=r["key_id"]))
            else:
                say(_("{file}: INVALID: {error}").format(file=r["file"], error=r["error"]))
    return EXIT_OK if ok else EXIT_FAILED


def run_pdf(args: argparse.Namespace) -> int:
    docs = [_load(f) for f in args.files]
    out = args.out or args.files[0].with_suffix(".pdf")
    ledger = args.ledger or os.environ.get("ARDOISE_LEDGER")
    try:
        pdf.render(docs, out, ledger_url=ledger)
    except (KeyError, TypeError) as exc:
        raise UsageError(_("not an ardoise.certificate/1 document: {field}").format(
            field=exc)) from exc
    if args.json:
        emit_json({"pdf": str(out), "pages": len(docs)})
    else:
        say(ngettext("Wrote {path} ({n} page)", "Wrote {path} ({n} pages)", len(docs)).format(
            path=out, n=len(docs)))
    return EXIT_OK
