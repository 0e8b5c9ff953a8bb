"""`ardoise spool list|flush`: certificates waiting for the ledger, and sending them now.

The ledger address: --ledger, else $ARDOISE_LEDGER, else the config's ledger.url (--config
FILE, else ardoise.config= or DATA/ardoise.yaml), else the last one the uplink used on this
data partition. TLS is verified against the config's ledger.ca_file, else
DATA/keys/ledger-ca.pem when it exists, else the system's CA store; the config's ledger.pin
and ledger.proxy apply (appliance.ledgertls). `flush` exits 0 when the spool is empty afterwards, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance import device_uplink
from appliance.errors import EXIT_FAILED, EXIT_OK, UsageError
from appliance.i18n import _, ngettext, set_language, tr
from appliance.langpref import follow_config
from appliance.output import emit_json, say
from appliance.spool import Spool
from appliance.uplink import Uplink, saved_state

CA_FILE = "keys/ledger-ca.pem"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("spool", parents=[common], help=_("certificates waiting for the ledger"))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    lst = actions.add_parser("list", parents=[common], help=_("list spooled certificates"))
    lst.set_defaults(func=run_list)
    flush = actions.add_parser("flush", parents=[common],
                               help=_("send pending certificates to the ledger now"))
    flush.add_argument("--ledger", default=None, metavar="URL", help=_("ledger address"))
    flush.add_argument("--config", type=Path, default=None, metavar="FILE",
                       help=_("ardoise.yaml (its ledger: url, ca_file, pin, proxy)"))
    flush.set_defaults(func=run_flush)


def run_list(args: argparse.Namespace) -> int:
    follow_config(args)
    spool = Spool(args.data)
    entries = spool.list()
    counts = spool.counts()
    uplink = saved_state(spool)
    if args.json:
        emit_json({"pending": counts["pending"], "sent": counts["sent"],
                   "certificates": [e.to_json() for e in entries], "uplink": uplink})
        return EXIT_OK
    say(_("{pending} pending, {sent} sent").format(**counts))
    for e in entries:
        if e.state != "pending":
            continue
        note = ""
        if e.note:
            note = "  " + (_("conflict: the ledger has another certificate with this id")
                           if e.note.get("status") == "conflict"
                           else _("rejected: {reason}").format(reason=e.note.get("reason")))
        say(f"  {e.id}{note}")
    if uplink:
        say(_("Last delivery: {when}").format(when=uplink.get("last_success_at") or "-"))
        if uplink.get("last_error"):
            say(_("Last error: {error}").format(error=uplink["last_error"]))
    return EXIT_OK


def run_flush(args: argparse.Namespace) -> int:
    from appliance.commands.run import load_config
    from appliance.ledgertls import ledger_session

    config = load_config(getattr(args, "config", None), args.data)
    if config.language and not (args.lang or getattr(args, "top_lang", None)):
        set_language(config.language)
    spool = Spool(args.data)
    ledger = args.ledger or os.environ.get("ARDOISE_LEDGER") or config.ledger.url or \
        (saved_state(spool) or {}).get("ledger")
    if not ledger:
        raise UsageError(_("no ledger address: use --ledger URL"))
    check_url(ledger)
    ca = config.ledger.ca_file or args.data / CA_FILE
    uplink = Uplink(spool, ledger, ca=ca if ca.exists() else None,
                    session=ledger_session(config.ledger))
    try:
        report = uplink.flush_once()
    finally:
        uplink.session.close()
    result: dict[str, Any] = {"ledger": ledger, **report.to_json()}
    devices = None
    if device_uplink.pending(args.data):  # device records (ardoise device) ride along
        devices = device_uplink.flush(args.data, ledger, ca=ca if ca.exists() else None)
        result["devices"] = devices.to_json()
    if args.json:
        emit_json(result)
    else:
        say(ngettext("{n} certificate delivered", "{n} certificates delivered",
                     report.delivered).format(n=report.delivered))
        for cert_id in report.conflicts:
            say(_("{id}: conflict: the ledger has another certificate with this id").format(
                id=cert_id))
        for cert_id, reason in report.rejected.items():
            say(_("{id}: rejected: {reason}").format(id=cert_id, reason=reason))
        if report.error:
            say(_("Stopped: {error}").format(error=error_text(report.error)))
        say(ngettext("{n} certificate still pending", "{n} certificates still pending",
                     report.pending).format(n=report.pending))
        if devices is not None:
            say(ngettext("{n} device record delivered, {left} still pending",
                         "{n} device records delivered, {left} still pending",
                         devices.delivered).format(n=devices.delivered, left=devices.pending))
    left = report.pending + (devices.pending if devices is not None else 0)
    return EXIT_OK if left == 0 else EXIT_FAILED


def check_url(url: str) -> None:
    """A ledger address that cannot work is a usage error (exit 2), not a network failure."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(_("{url} is not a ledger address: use http://HOST:PORT or "
                           "https://HOST").format(url=url))


def error_text(error: str) -> str:
    """The uplink's reason in the reader's language ("HTTP 503: ..." keeps its status)."""
    head, sep, rest = error.partition(": ")
    if sep and head.startswith("HTTP "):
        return f"{head}: {tr(rest)}"
    return tr(error)
