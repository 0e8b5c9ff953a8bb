"""`ardoise cert show|verify|pdf FILE...`: read, check and print certificates.

verify checks the schema and the Ed25519 signature against the trusted keys: --pubkey
PEM, else DATA/keys/appliance.pub.pem and DATA/keys/trusted/*.pem. Exit 0 when every file
verifies, 1 when one does not, 2 when a file cannot be read.

show and pdf verify first, against the same keys: a certificate that does not verify
(edited, unknown key, not the schema) is refused with exit 1 and one sentence. With
--force it is printed anyway, under an INVALID banner (at the top of `show`, on every page
of the PDF), and the exit status stays 1: an invalid record is never a success.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance import pdf
from appliance.certificate import (
    CertificateError,
    key_id,
    load,
    schema_errors,
    verify,
    verify_signature,
)
from appliance.certify import keys_dir, public_keys, trusted_keys
from appliance.commands.checks import json_head
from appliance.errors import EXIT_FAILED, EXIT_OK, UsageError
from appliance.i18n import _, format_datetime, format_size, ngettext
from appliance.langpref import follow_config
from appliance.output import emit_json, say, warn
from appliance.words import (
    image_outcome,
    level_word,
    method_word,
    status_word,
    verify_mode_word,
    verify_result_word,
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("cert", parents=[common], help=_("show, verify or print certificates"))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    show = actions.add_parser("show", parents=[common], help=_("summarise a certificate"))
    show.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _trust_options(show)
    show.set_defaults(func=run_show)
    ver = actions.add_parser("verify", parents=[common],
                             help=_("check a certificate's signature and schema"))
    ver.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _pubkey_option(ver)
    ver.add_argument("--proof", type=Path, default=None, metavar="PROOF",
                     help=_("its receipt (.tlog-proof): check, offline, that the ledger's "
                            "log holds this exact certificate"))
    ver.add_argument("--log-key", default=None, metavar="VKEY",
                     help=_("the ledger log's verifier key (text or file; default: the one "
                            "this stick kept)"))
    ver.add_argument("--witness", action="append", default=[], metavar="VKEY",
                     help=_("a witness's verifier key (repeatable)"))
    ver.add_argument("--witnesses", type=int, default=0, metavar="K",
                     help=_("cosignatures required among the --witness keys (default 0)"))
    ver.set_defaults(func=run_verify)
    out = actions.add_parser("pdf", parents=[common],
                             help=_("print certificates to PDF, one page per disk"))
    out.add_argument("files", nargs="+", type=Path, metavar="FILE")
    out.add_argument("--out", type=Path, default=None, metavar="F",
                     help=_("PDF file to write (default: next to the first certificate)"))
    out.add_argument("--ledger", default=None, metavar="URL",
                     help=_("ledger address for the QR code"))
    _trust_options(out)
    out.set_defaults(func=run_pdf)


def _pubkey_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pubkey", type=Path, action="append", default=[], metavar="PEM",
                   help=_("trust this public key (repeatable)"))


def _trust_options(p: argparse.ArgumentParser) -> None:
    _pubkey_option(p)
    p.add_argument("--force", action="store_true",
                   help=_("print a certificate that does not verify, marked INVALID"))


def _keys(args: argparse.Namespace) -> list[Any]:
    if not args.pubkey:
        return trusted_keys(args.data)
    keys = public_keys(args.pubkey)
    if len(keys) != len(args.pubkey):
        raise UsageError(_("cannot read an Ed25519 public key from {paths}").format(
            paths=", ".join(str(p) for p in args.pubkey)))
    return keys


def problem(doc: dict[str, Any], keys: list[Any], data: Path | None) -> str | None:
    """Why this certificate cannot be trusted (a phrase for people), or None when it
    verifies against one of `keys`."""
    errors = schema_errors(doc)
    if errors:
        return _("it is not a valid ardoise.certificate/1 record ({detail})").format(
            detail=errors[0])
    wanted = doc["signature"]["key_id"]
    key = next((k for k in keys if key_id(k) == wanted), None)
    if key is None:
        where = keys_dir(data) / "trusted" if data else "DATA/keys/trusted"
        return _("it is signed by key {key} which this computer does not trust (give its "
                 "public key with --pubkey PEM or copy it into {where})").format(
            key=wanted[:16], where=where)
    try:
        verify_signature(doc, key)
    except CertificateError:
        return _("its signature does not match its content: it was changed after signing")
    return None


def _checked(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str | None]]:
    """The documents and, for each, why it is invalid (None when it verifies). Without
    --force the first invalid one ends the command (exit 1)."""
    follow_config(args)
    docs = [_load(f) for f in args.files]
    keys = _keys(args)
    problems = [problem(doc, keys, args.data) for doc in docs]
    for path, why in zip(args.files, problems, strict=True):
        if why is None:
            continue
        if not args.force:
            raise Invalid(_("{file} is not a valid certificate: {why}; not printed (add "
                            "--force to print it marked INVALID)").format(file=path, why=why))
        warn("ardoise: " + _("{file} is not a valid certificate: {why}; printed marked "
                             "INVALID").format(file=path, why=why))
    return docs, problems


class Invalid(Exception):
    """A certificate that does not verify: exit 1 with one sentence."""

    exit_code = EXIT_FAILED


def _load(path: Path) -> dict[str, Any]:
    """A certificate file, or exit 2 with one sentence (missing, unreadable, not JSON)."""
    json_head(path, _("{path}: no such file"),
              _("{path} is not a certificate: give a .json file from the spool "
                "(ardoise spool list)"))
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
    try:
        docs, problems = _checked(args)
    except Invalid as exc:
        warn(f"ardoise: {exc}")
        return exc.exit_code
    code = EXIT_OK if all(p is None for p in problems) else EXIT_FAILED
    if args.json:
        emit_json(docs[0] if len(docs) == 1 else {"certificates": docs})
        return code
    for doc, why in zip(docs, problems, strict=True):
        if why is not None:
            say("*** " + _("INVALID CERTIFICATE: do not rely on this record") + " ***")
            say("*** " + why + " ***")
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
            status=status_word(san.get("status")), level=level_word(san.get("level")),
            method=method_word(san.get("method"))))
        say("  " + _("Verification: {result} ({mode}, {checked} checked)").format(
            result=verify_result_word(ver.get("result")), mode=verify_mode_word(ver.get("mode")),
            checked=format_size(ver.get("bytes_checked") or 0)))
        for err in san.get("errors") or []:
            say("  " + _("Error: {error}").format(error=err))
        image = doc.get("image")
        label, reason, _tone = image_outcome(image)
        if image:
            label = "{label} ({name} {version})".format(
                label=label, name=image.get("name"), version=image.get("version") or "")
        say("  " + (label if not reason else f"{label}: {reason}"))
        say("  " + _("Signed by key {key_id}").format(
            key_id=(doc.get("signature") or {}).get("key_id", "-")))
    return code


def run_verify(args: argparse.Namespace) -> int:
    follow_config(args)
    keys = _keys(args)
    results: list[dict[str, Any]] = []
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
        if args.proof is not None:
            receipt = receipt_for(doc, args)
            results[-1]["receipt"] = receipt.to_json()
            if not receipt.ok:
                results[-1]["valid"] = False
                results[-1]["error"] = "; ".join(str(p) for p in receipt.problems)
    ok = all(r["valid"] for r in results)
    if args.json:
        emit_json({"valid": ok, "results": results})
    else:
        for r in results:
            if r["valid"]:
                say(_("{file}: valid, signed by {key_id}").format(file=r["file"],
                                                                  key_id=r["key_id"]))
                if "receipt" in r:
                    say("  " + _("in the ledger's log: entry {index} of {size}, "
                                 "{n} witness cosignature(s)").format(
                        index=r["receipt"]["index"], size=r["receipt"]["tree_size"],
                        n=len(r["receipt"]["witnesses"])))
            else:
                say(_("{file}: INVALID: {error}").format(file=r["file"], error=r["error"]))
    return EXIT_OK if ok else EXIT_FAILED


def _vkey_text(value: str) -> str:
    path = Path(value)
    try:
        return path.read_text().strip() if path.is_file() else value
    except OSError as exc:
        raise UsageError(_("{path}: {error}").format(path=value, error=exc.strerror)) from None


def receipt_for(doc: dict[str, Any], args: argparse.Namespace) -> Any:
    """The offline receipt check of `cert verify --proof` (appliance.receipts)."""
    from appliance.receipts import check_receipt
    from appliance.tlog import TlogError, parse_vkey

    if args.witnesses > len(args.witness) or args.witnesses < 0:
        raise UsageError(_("--witnesses K needs at least K --witness keys"))
    kept = args.data / "ledger" / "log.vkey" if args.data else None
    text = _vkey_text(args.log_key) if args.log_key else (
        kept.read_text().strip() if kept is not None and kept.is_file() else None)
    if not text:
        raise UsageError(_("give the ledger log's key with --log-key VKEY (GET "
                           "/api/v1/log/vkey on the ledger)"))
    try:
        log_key = parse_vkey(text)
        witnesses = [parse_vkey(_vkey_text(w)) for w in args.witness]
        proof = args.proof.read_text(encoding="utf-8")
    except TlogError as exc:
        raise UsageError(_("not a verifier key: {error}").format(error=exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(_("{path}: cannot read the receipt ({error})").format(
            path=args.proof, error=getattr(exc, "strerror", None) or exc)) from None
    return check_receipt(doc, proof, log_key, witnesses, args.witnesses)


def run_pdf(args: argparse.Namespace) -> int:
    try:
        docs, problems = _checked(args)
    except Invalid as exc:
        warn(f"ardoise: {exc}")
        return exc.exit_code
    out = args.out or args.files[0].with_suffix(".pdf")
    ledger = args.ledger or os.environ.get("ARDOISE_LEDGER")
    try:
        from appliance.pdf_receipt import beside

        pdf.render(docs, out, ledger_url=ledger, invalid=problems,
                   receipts=[beside(f) for f in args.files])
    except (KeyError, TypeError) as exc:
        raise UsageError(_("not an ardoise.certificate/1 document: {field}").format(
            field=exc)) from exc
    if args.json:
        emit_json({"pdf": str(out), "pages": len(docs)})
    else:
        say(ngettext("Wrote {path} ({n} page)", "Wrote {path} ({n} pages)", len(docs)).format(
            path=out, n=len(docs)))
    return EXIT_OK if all(p is None for p in problems) else EXIT_FAILED
