"""`ardoise run --config FILE [--unattended] [--json]`: the whole journey, headless.

Every eligible disk (or only the ones named with --device) is erased, verified, imaged
and certified in parallel. Interactive use asks for a typed confirmation naming the
count of disks (or --yes); --unattended needs `unattended.enabled: true` in the config
and shows a countdown that any key cancels. Exit codes per the CLI contract: SIGINT or
SIGTERM during the work stops every disk, certifies it INCOMPLETE at once and exits 130
or 143. Excluded disks get no certificate (nothing is done to them): the JSON document
lists them under "excluded" with the reason.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Any

from appliance import delivery, jobs, preflight, rack, unattended, wifi
from appliance.battery import read_state as read_battery
from appliance.commands.checks import require_block_device
from appliance.config import Config, ConfigError, load_from, locate
from appliance.errors import EXIT_FAILED, EXIT_OK, Refused, UsageError
from appliance.i18n import _, format_number, format_size, ngettext, set_language, tr
from appliance.interrupt import Stopper
from appliance.journal import JournalError
from appliance.output import emit_json, warn
from appliance.verdict import not_verified, status_word
from appliance.words import level_word, percent, step_word
from erasure.hidden import find_hidden
from erasure.text import Msg


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common],
                       help=_("erase, verify, image and certify every eligible disk"))
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help=_("ardoise.yaml (default: ardoise.config= or DATA/ardoise.yaml)"))
    p.add_argument("--unattended", action="store_true",
                   help=_("no confirmation: a countdown any key cancels (config must allow it)"))
    p.add_argument("--device", action="append", default=[], metavar="DEV",
                   help=_("only this disk (repeatable)"))
    p.add_argument("--yes", action="store_true", help=_("skip the typed confirmation"))
    p.set_defaults(func=run)


def load_config(explicit: Path | None, data_dir: Path) -> Config:
    from appliance.cli import kernel_cmdline_value

    try:
        return load_from(locate(explicit, data_dir, kernel_cmdline_value("ardoise.config")))
    except ConfigError as exc:
        raise UsageError(_("bad config, nothing was touched: {error}").format(error=exc)) from exc


def run(args: argparse.Namespace) -> int:
    for path in args.device:  # a missing path is a usage error (2), before anything else
        require_block_device(path)
    config = load_config(args.config, args.data)
    if config.language and not (args.lang or getattr(args, "top_lang", None)):
        set_language(config.language)
    data_dir = config.data or args.data
    if args.unattended and (reason := unattended.refusal(config)):
        raise Refused(reason)
    battery = read_battery()
    if reason := battery.refusal(config.battery.min_percent):
        raise Refused(reason)
    rack_session = _open_rack(config, data_dir)  # netbooted: enrolled, mirrored, or refused
    for path in jobs.recover_unfinished(data_dir, config):
        warn(_("interrupted job reported INCOMPLETE: {path}").format(path=path))
    try:
        targets = jobs.discover_targets(config, args.device or None)
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    selected = [t for t in targets if t.selected]
    hidden = find_hidden()  # drives the firmware hides are never erased: say so
    for h in hidden:
        warn(_("HIDDEN: {what}").format(what=tr(h.describe())))
    for t in targets:
        line = f"{t.disk.path:14} {format_size(t.disk.size_bytes):>10} {t.disk.model} [{t.disk.serial or '-'}]"
        warn(f"{line}  {t.method} ({level_word(t.level)})" if t.selected
             else f"{line}  " + _("excluded: {reason}").format(reason=tr(t.reason)))
    if args.device and len(selected) < len(args.device):
        raise Refused(_("some named disks cannot be erased: nothing was touched"))
    if not selected:
        reason = (Msg("no disk to erase: every disk found is excluded (the reasons are above)")
                  if targets else Msg("no disk to erase: no disk was found (connect the disks "
                                      "to erase; USB disks need erase.allow_external: true)"))
        warn("ardoise: " + tr(reason))
        if rack_session is not None:
            rack_session.close()
        if args.json:
            emit_json({"results": [], "cancelled": False, "reason": str(reason),
                       "excluded": _excluded(targets)})
        return EXIT_FAILED
    _preflight(config, data_dir, selected, rack_session, args.json)
    if args.unattended:
        if not countdown(config.unattended.countdown_seconds):
            raise Refused(_("cancelled by a key press: nothing was touched"))
    elif not args.yes:
        confirm(len(selected))

    cancel = threading.Event()
    # SIGINT/SIGTERM from here on: every disk stops at a safe point, is certified INCOMPLETE
    # at once, and the exit status is 130/143 (no power action, one delivery attempt)
    with Stopper(cancel, _("cancelling: every disk stops at a safe point and is reported "
                           "INCOMPLETE")) as stop:
        uplink = unattended.make_uplink(config, data_dir) if rack_session is None else None
        if rack_session is None:  # the configured Wi-Fi, in the background (appliance.wifi)
            wifi.start_configured(config.wifi, then=uplink.wake if uplink else None)
        names: dict[str, str] = {}
        sink = _printer(names) if rack_session is None else rack_session.sink(_printer(names))
        try:
            run_ = jobs.Run(config, data_dir, targets, sink, cancel,
                            journal=rack_session.journal if rack_session is not None else None)
        except jobs.RunBusy as exc:
            raise Refused(str(exc)) from exc
        except (OSError, JournalError) as exc:
            raise Refused(_("cannot keep the journal, nothing was touched: {error}").format(
                error=exc)) from exc
        names.update({job.job_id: job.disk.path for job in run_.jobs})
        heartbeat = None
        if uplink is not None:
            heartbeat = unattended.Heartbeat(
                uplink, lambda: unattended.heartbeat_document(data_dir, run_.host, config.batch,
                                                              run_.status()),
                config.ledger.heartbeat_seconds).start()
        run_.start()
        while run_.alive():
            time.sleep(0.2)
        results = run_.wait()
        if heartbeat is not None:
            heartbeat.stop()
        pending = None
        if uplink is not None:
            pending = unattended.deliver(uplink, 300 if args.unattended else 10, cancel)
        if rack_session is not None:
            _print_verdicts(results)  # on screen while the certificates are delivered
            # returns once every certificate is at the ledger (after one try if interrupted)
            pending = rack_session.finish(cancel)
            rack_session.close()
    summary = delivery.summarize(data_dir, [r.certificate_id for r in results],
                                 config.ledger.url, _last_error(uplink, rack_session))
    if args.json:
        emit_json({"results": [r.to_json() for r in results], "cancelled": cancel.is_set(),
                   "interrupted": stop.name, "excluded": _excluded(targets),
                   "pending_certificates": pending, "hidden": [h.to_json() for h in hidden],
                   "delivery": summary.to_json()})
    elif rack_session is None:
        _print_verdicts(results)
    delivery.print_summary(summary, warn)
    if stop.interrupted:
        return stop.exit_code
    code = EXIT_OK if results and all(r.passed for r in results) else EXIT_FAILED
    if not summary.ok:
        code = EXIT_FAILED  # a certificate the ledger refused is a problem to fix
    if hidden:
        warn(_("Not every drive was erased: the firmware hides some (see HIDDEN above)."))
        code = EXIT_FAILED
    if args.unattended and summary.ok:  # a rejected certificate stays on screen
        unattended.power_action(config.unattended.after)
    return code


def _preflight(config: Config, data_dir: Path, selected: list[jobs.Target],
               rack_session: rack.RackSession | None, as_json: bool) -> None:
    """The image and the ledger, checked before the confirmation: a problem refuses the run
    (exit 2) before any journal, certificate or byte is written."""
    result = preflight.check(config, data_dir, selected, ledger=rack_session is None)
    preflight.print_checks(result, warn)
    if not result.blocked:
        return
    if rack_session is not None:
        rack_session.close()
    if as_json:
        emit_json({"results": [], "cancelled": False, "preflight": result.to_json()})
    raise UsageError(ngettext("{n} problem must be fixed before erasing: nothing was touched",
                              "{n} problems must be fixed before erasing: nothing was touched",
                              len(result.problems)).format(n=len(result.problems)))


def _last_error(uplink: Any, rack_session: rack.RackSession | None) -> str | None:
    link = uplink if uplink is not None else getattr(rack_session, "uplink", None)
    try:
        return link.state().last_error if link is not None else None
    except Exception:
        return None


def _print_verdicts(results: list[jobs.JobResult]) -> None:
    for r in results:
        verdict = _("PASS") if r.passed else _("FAIL")
        warn(f"{verdict}  {r.path} {r.model} [{r.serial}]  {status_word(r.erase_status)}  "
             f"{r.certificate_id or '-'}")
        if r.erase_status == "unverified":
            warn("  " + not_verified())


def _excluded(targets: list[jobs.Target]) -> list[dict[str, object]]:
    """The disks left alone (no job, no certificate), for the JSON document."""
    return [{"path": t.disk.path, "id": t.disk.id, "model": t.disk.model,
             "serial": t.disk.serial, "size_bytes": t.disk.size_bytes, "status": "refused",
             "reason": str(t.reason), "certificate": None} for t in targets if not t.selected]


def _open_rack(config: Config, data_dir: Path) -> rack.RackSession | None:
    """Rack mode (config from the network): key made, enrolled at the ledger, or Refused."""
    if not rack.wanted(config):
        return None
    try:
        return rack.open_session(config, data_dir)
    except rack.RackError as exc:
        raise Refused(_("rack mode refused, nothing was touched: {reason}").format(
            reason=exc)) from exc


def _printer(names: dict[str, str]) -> jobs.EventSink:
    """People lines on stderr, one per step, progress every few seconds."""
    last: dict[str, float] = {}

    def sink(event: jobs.Event) -> None:
        if isinstance(event, jobs.RunFinished | jobs.JobFinished):
            return
        who = names.get(event.job_id, event.job_id)
        if isinstance(event, jobs.StepStarted):
            warn(f"{who}: {step_word(event.step)}")
        elif isinstance(event, jobs.LogLine):
            warn(f"{who}: {event.text}")
        elif isinstance(event, jobs.StepProgress):
            now = time.monotonic()
            if now - last.get(event.job_id, 0.0) >= 5 or event.fraction >= 1:
                last[event.job_id] = now
                if event.waiting and event.basis != "drive":
                    warn(_("{who}: {step}, waiting for the drive, {seconds} s").format(
                        who=who, step=step_word(event.step),
                        seconds=format_number(event.elapsed_seconds or 0, 0)))
                else:
                    warn(f"{who}: {step_word(event.step)} {percent(event.fraction)}")
    return sink


def confirm(count: int) -> None:
    word = _("ERASE")
    expected = f"{word} {count}"
    warn(_("This erases {n} disk(s) for good. Type '{expected}' to go on:").format(
        n=count, expected=expected))
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip() != expected:
        raise Refused(_("not confirmed: nothing was touched"))


def countdown(seconds: int) -> bool:
    """Count down on stderr; False when a key is pressed (on a terminal)."""
    fd = sys.stdin.fileno() if sys.stdin and sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    try:
        if fd is not None:
            tty.setcbreak(fd)
        for left in range(seconds, 0, -1):
            warn(_("Unattended erasure starts in {n} s: press any key to cancel.").format(n=left))
            if fd is not None:
                ready, _w, _x = select.select([fd], [], [], 1.0)
                if ready:
                    os.read(fd, 64)
                    return False
            else:
                time.sleep(1.0)
        return True
    finally:
        if fd is not None and saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
