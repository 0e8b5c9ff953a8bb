"""`ardoise device [--json] [--config F] [--ledger URL]`: this machine's intake record.

Collects the facts (appliance.device), signs them with the appliance key and keeps the
record (ardoise.device/1) in DATA/devices/pending, durable before anything is printed.
With a ledger (--ledger, else the config's ledger.url, else $ARDOISE_LEDGER) it is sent
at once; offline it stays pending and `ardoise spool flush` sends it later (exit 1 then:
a network step failed, the record is safe). --json prints the signed record; otherwise a
summary for the technician.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from appliance import device
from appliance.commands.checks import write_error
from appliance.errors import EXIT_FAILED, EXIT_OK, UsageError
from appliance.i18n import N_, _, format_number, format_size, set_language, tr
from appliance.intake import GRADES, MAX_NOTES, MAX_TAG, MISSING_PARTS, Intake
from appliance.output import emit_json, say, warn

REASONS = {
    "no_tpm": N_("no TPM visible (none, or switched off in the firmware setup)"),
    "tpm_not_2_0": N_("the TPM is not version 2.0"),
    "no_uefi": N_("the machine did not boot in UEFI mode"),
    "no_secure_boot": N_("the firmware has no Secure Boot"),
    "secure_boot_unknown": N_("Secure Boot support could not be read"),
    "ram_below_4gb": N_("less than 4 GB of memory"),
    "ram_unknown": N_("the memory size could not be read"),
    "storage_below_64gb": N_("no internal drive of 64 GB or more"),
    "no_internal_drive": N_("no internal drive found"),
    "cpu_below_2_cores": N_("fewer than 2 processor cores"),
    "cpu_below_1ghz": N_("processor slower than 1 GHz"),
    "cpu_not_supported": N_("processor not on Microsoft's supported list"),
    "cpu_unlisted": N_("processor family not settled by the supported-processor table"),
}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("device", parents=[common],
                       help=_("record this machine (specs, health, Windows 11) and sign it"))
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help=_("ardoise.yaml (default: ardoise.config= or DATA/ardoise.yaml)"))
    p.add_argument("--ledger", default=None, metavar="URL",
                   help=_("ledger address (default: the config's ledger.url)"))
    p.add_argument("--operator", default=None, metavar="NAME",
                   help=_("who took the machine in (default: the config's operator)"))
    p.add_argument("--grade", choices=list(GRADES), default=None,
                   help=_("cosmetic grade, A (like new) to D (damaged)"))
    p.add_argument("--missing", action="append", choices=list(MISSING_PARTS), default=[],
                   metavar="PART", help=_("a missing part (repeatable): {parts}").format(
                       parts=", ".join(MISSING_PARTS)))
    p.add_argument("--asset-tag", default=None, metavar="TAG", help=_("the asset tag"))
    p.add_argument("--notes", default=None, metavar="TEXT", help=_("free notes"))
    p.set_defaults(func=run)


def intake_from(args: argparse.Namespace) -> Intake | None:
    """The technician's answers given on the command line; None when none was given (the
    unattended record)."""
    given = (args.operator, args.grade, args.missing, args.asset_tag, args.notes)
    if not any(given):
        return None
    intake = Intake.clean(args.operator or "", args.grade, args.missing, args.asset_tag or "",
                          args.notes or "")
    if intake.problems():
        raise UsageError(_("asset tag or notes too long (at most {tag} and {notes} "
                           "characters)").format(tag=MAX_TAG, notes=MAX_NOTES))
    return intake


def run(args: argparse.Namespace) -> int:
    from appliance.commands.run import load_config
    from appliance.jobs import cert_context

    config = load_config(args.config, args.data)
    if config.language and not (args.lang or getattr(args, "top_lang", None)):
        set_language(config.language)
    data_dir = config.data or args.data
    facts = device.collect()
    record = device.build_record(facts, cert_context(config), intake=intake_from(args))
    try:
        signed, path = device.issue(record, data_dir)
    except OSError as exc:
        raise write_error(Path(data_dir), exc) from None
    if args.json:
        emit_json(signed)
    else:
        for line in summary(signed):
            say(line)
        say(_("Device record {id} signed and kept in {path}").format(id=signed["id"],
                                                                    path=path))
    ledger = args.ledger or config.ledger.url or os.environ.get("ARDOISE_LEDGER")
    if not ledger:
        return EXIT_OK
    return deliver(Path(data_dir), ledger, config.ledger.ca_file, signed["id"])


def deliver(data_dir: Path, ledger: str, ca: Path | None, record_id: str) -> int:
    """Send the pending device records now; what the ledger said goes to stderr (stdout may
    carry the JSON record)."""
    from appliance.commands.spool import check_url, error_text
    from appliance.device_uplink import flush

    check_url(ledger)
    report = flush(data_dir, ledger, ca=str(ca) if ca else None)
    if record_id in report.sent + report.duplicates:
        warn(_("Device record delivered to the ledger {url}").format(url=ledger))
    elif record_id in report.conflicts:
        warn(_("{id}: conflict: the ledger has another device record with this id").format(
            id=record_id))
    elif record_id in report.rejected:
        warn(_("{id}: rejected: {reason}").format(id=record_id,
                                                  reason=report.rejected[record_id]))
    else:
        warn(_("Device record kept on the stick, not delivered ({error}); "
               "`ardoise spool flush` sends it later").format(
                   error=error_text(report.error or "")))
    return EXIT_OK if report.pending == 0 else EXIT_FAILED


def _yes_no(value: bool | None) -> str:
    return _("unknown") if value is None else (_("yes") if value else _("no"))


def summary(record: dict[str, Any]) -> list[str]:
    """The lines a technician reads, in the session's language."""
    host, cpu, mem = record["host"], record["cpu"], record["memory"]
    lines = [_("Machine: {maker} {product} (serial {serial})").format(
        maker=host["manufacturer"] or "?", product=host["product"] or "?",
        serial=host["serial"] or "?")]
    lines.append(_("Processor: {model}, {cores} cores, {threads} threads").format(
        model=cpu["model"] or "?", cores=cpu["cores"] or "?", threads=cpu["threads"] or "?"))
    total = mem["installed_bytes"] or mem["total_bytes"]
    gib = format_number(total / (1 << 30)) if total else "?"  # memory is sold in binary GB
    if mem["modules"]:
        lines.append(_("Memory: {gib} GiB, modules: {count}").format(gib=gib,
                                                                     count=len(mem["modules"])))
    else:
        lines.append(_("Memory: {gib} GiB (the firmware lists no modules)").format(gib=gib))
    for d in record["storage"]:
        lines.append(_("Drive {name}: {model}, {size}, {hours} hours powered on").format(
            name=d["name"], model=d["model"] or "?",
            size=format_size(d["size_bytes"]) if d["size_bytes"] else "?",
            hours=d["power_on_hours"] if d["power_on_hours"] is not None else "?"))
    if not record["battery"]:
        lines.append(_("Battery: none"))
    for b in record["battery"]:
        health = format_number(b["health_percent"]) if b["health_percent"] is not None else "?"
        lines.append(_("Battery {name}: health {health}%, {cycles} cycles").format(
            name=b["name"], health=health,
            cycles=b["cycle_count"] if b["cycle_count"] is not None else "?"))
    for s in record["display"]:
        lines.append(_("Screen: {maker} {name}, {width}x{height}").format(
            maker=s["manufacturer"] or "?", name=s["name"] or "", width=s["native_width"] or "?",
            height=s["native_height"] or "?"))
    tpm = record["tpm"]
    lines.append(_("TPM: {state}").format(state=tpm["version"] or _("present"))
                 if tpm["present"] else _("TPM: none"))
    lines.append(_("Secure Boot: {state}").format(state=_yes_no(record["secure_boot"]["enabled"])))
    if (intake := record.get("intake")) is not None:
        missing = ", ".join(tr(MISSING_PARTS[p]) for p in intake["missing"]) or _("nothing")
        lines.append(_("Grade: {grade}; missing: {missing}; asset tag: {tag}").format(
            grade=intake["grade"] or "?", missing=missing, tag=intake["asset_tag"] or "?"))
    w = record["windows11"]
    verdict = {True: _("eligible"), False: _("not eligible"), None: _("cannot tell")}[w["eligible"]]
    lines.append(_("Windows 11: {verdict}").format(verdict=verdict))
    for code in w["reasons"]:
        lines.append("  - " + tr(REASONS[code]))
    for code in w["unsure"]:
        lines.append("  ? " + tr(REASONS[code]))
    return lines
