"""`ardoise wipe DEVICE...`: erase whole disks, verify, report (CLI contract in DESIGN.md).

Exit codes: 0 every disk erased (verified); 1 some disk failed, or was erased with
`--verify none` (status "unverified": nothing read back, not certified as erased); 2 bad
input, or a path that does not exist or is not a block device; 3 refused for safety,
nothing written (a partition, an ineligible disk: boot medium, mounted, in swap, external
without --allow-external; or the typed confirmation was not given); 130/143 interrupted by
SIGINT/SIGTERM (every disk being worked on is certified INCOMPLETE before the exit).
When one target is refused no disk is touched and no certificate is issued; a dry run
writes nothing at all.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance import delivery
from appliance.commands.checks import require_block_device
from appliance.commands.wipe_display import Display
from appliance.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Refused, UsageError
from appliance.i18n import _, format_number, format_rate, format_size, ngettext, tr
from appliance.interrupt import Stopper
from appliance.output import emit_json, say, warn
from appliance.verdict import not_verified, status_word
from appliance.words import level_word, percent, verify_mode_word, verify_result_word
from erasure.discovery import NotAWholeDisk, resolve
from erasure.disk import Disk
from erasure.erase import METHOD_NAMES, Outcome, erase_disk, methods_for
from erasure.methods.base import EraseContext, Progress
from erasure.pattern import PATTERNS
from erasure.text import Msg
from erasure.verify import MODES

LEVELS = ("clear", "purge")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """'8M', '8MiB', '4096', '64k' -> bytes (binary units; block sizes are powers of two)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(_("bad size {text!r}: use a number with K, M or G")
                                         .format(text=text))
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(_("expected a whole number of at least 1, got {text!r}")
                                         .format(text=text))
    return value


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("wipe", parents=[common], help=_("erase whole disks and verify"))
    p.add_argument("devices", nargs="+", metavar="DEVICE", help=_("whole-disk device path"))
    p.add_argument("--level", choices=LEVELS, default="clear", help=_("NIST level"))
    p.add_argument("--method", default="auto", metavar="auto|METHOD",
                   help=_("erase method (default: the plan for the level)"))
    p.add_argument("--pattern", choices=PATTERNS, default=None,
                   help=_("overwrite pattern (default: zero)"))
    p.add_argument("--verify", choices=MODES, default="sample",
                   help=_("read-back verification (default: sample)"))
    p.add_argument("--passes", type=_positive, default=None, help=_("overwrite passes (default 1)"))
    p.add_argument("--block-size", type=parse_size, default=None, metavar="SIZE",
                   help=_("I/O size, e.g. 8M (default 8 MiB)"))
    p.add_argument("--queue-depth", type=_positive, default=None, metavar="N",
                   help=_("I/Os in flight per disk (default 4)"))
    p.add_argument("--dry-run", action="store_true", help=_("show the plan only"))
    p.add_argument("--yes", action="store_true", help=_("do not ask for confirmation"))
    p.add_argument("--allow-external", action="store_true",
                   help=_("allow USB and removable disks"))
    p.add_argument("--remove-hpa", action="store_true",
                   help=_("remove a host protected area first, to erase the hidden sectors"))
    p.set_defaults(func=run)


def check_options(args: argparse.Namespace) -> None:
    """Reject bad or conflicting options (exit 2) before any disk is looked at."""
    if args.method != "auto" and args.method not in METHOD_NAMES:
        raise UsageError(_("unknown method {method}; use auto or one of: {names}").format(
            method=args.method, names=", ".join(METHOD_NAMES)))
    if args.method == "overwrite" and args.level == "purge":
        raise UsageError(_("--method overwrite reaches clear, not purge"))
    firmware = args.method not in ("auto", "overwrite")
    if firmware and args.pattern is not None:
        raise UsageError(_("--pattern applies to the overwrite method only"))
    if firmware and args.passes is not None:
        raise UsageError(_("--passes applies to the overwrite method only"))
    if args.block_size is not None and (args.block_size % 4096 or
                                        not 64 * 1024 <= args.block_size <= 256 * 1024**2):
        raise UsageError(_("--block-size must be a multiple of 4 KiB between 64 KiB and 256 MiB"))
    if args.queue_depth is not None and args.queue_depth > 64:
        raise UsageError(_("--queue-depth must be between 1 and 64"))


def find_disks(paths: list[str], allow_external: bool) -> list[Disk]:
    """Whole disks for the paths; exit 2 for missing/non-block paths, 3 for partitions."""
    disks: list[Disk] = []
    for path in paths:
        require_block_device(path)
        try:
            disk = resolve(path, allow_external=allow_external)
        except NotAWholeDisk as exc:
            raise Refused(_("refused: {reason}").format(reason=tr(exc.args[0]))) from None
        if any(d.path == disk.path for d in disks):
            raise UsageError(_("{path} is named twice").format(path=disk.path))
        disks.append(disk)
    return disks


def probe(disks: list[Disk]) -> None:
    """Fill each eligible drive's capabilities (firmware methods, HPA) before planning (read
    only). A probe that fails leaves overwrite as the only method, and says so."""
    from erasure.probe import probe_device

    for disk in disks:
        if not disk.eligible:
            continue
        try:
            probe_device(disk)
        except Exception as exc:
            warn(_("ardoise: {path}: probe failed ({error}): firmware methods unknown")
                 .format(path=disk.path, error=exc))
            continue
        if disk.hpa is not None and disk.hpa.enabled:
            warn(_("ardoise: {path}: a host protected area hides {n} sectors "
                   "(--remove-hpa erases them)").format(
                path=disk.path, n=disk.hpa.native_max_sectors - disk.hpa.current_max_sectors))


def restore_native_max(disks: list[Disk]) -> None:
    """--remove-hpa, after the confirmation: give the hidden sectors back so the whole
    native capacity is erased."""
    from erasure.probe import remove_hpa

    for disk in disks:
        if disk.hpa is not None and disk.hpa.enabled:
            problem = remove_hpa(disk)
            if problem:
                warn(_("ardoise: {path}: {reason}").format(path=disk.path, reason=tr(problem)))


class Recorder:
    """Journal and certificates for one `ardoise wipe` run: every step is journaled before
    it starts (an interruption is reported INCOMPLETE at the next start), and every disk
    that was worked on, erased or not, gets one signed certificate in the spool. A disk
    nothing was done to (cancelled before its first method started) gets none: its
    journal entry is closed."""

    def __init__(self, data_dir: Path, changed: set[str] | None = None):
        from appliance import certify as cert
        from appliance.journal import Journal

        self.data_dir = data_dir
        self.changed = changed or set()  # disks changed before erasing (HPA removed)
        self.cert = cert
        self.journal = Journal(data_dir)
        for path in cert.incomplete_certificates(self.journal, data_dir):
            warn(_("ardoise: an interrupted job was recorded as INCOMPLETE: {path}")
                 .format(path=path))
        self._host: Any = None
        self.jobs: dict[str, str] = {}

    def host(self) -> Any:
        if self._host is None:
            from appliance import inventory

            self._host = inventory.collect()
        return self._host

    def start(self, disk: Disk, args: argparse.Namespace, ctx: EraseContext) -> None:
        job_id = self.journal.start(disk)
        self.jobs[disk.path] = job_id
        self.journal.transition(job_id, "planned", level=args.level, method=args.method)
        self.journal.transition(job_id, "erasing", level=args.level, method=args.method,
                                pattern=ctx.pattern, verify=args.verify)
        ctx.journal = lambda event, details: self.journal.record(job_id, event, details or None)
        ctx.options.update(self.journal.erase_options(disk))

    def progress(self, disk: Disk, sink: Callable[[Progress], None]) -> Callable[[Progress], None]:
        state = {"step": "erasing"}
        lock = threading.Lock()

        def forward(event: Progress) -> None:
            if event.phase == "verify" and state["step"] != "verifying":
                with lock:
                    if state["step"] != "verifying":
                        self.journal.transition(self.jobs[disk.path], "verifying")
                        state["step"] = "verifying"
            sink(event)

        return forward

    def untouched(self, outcome: Outcome) -> bool:
        return (outcome.status in ("refused", "incomplete") and not outcome.attempts
                and outcome.disk.path not in self.changed)

    def certify(self, outcome: Outcome) -> str | None:
        """Issue the disk's certificate into the spool; returns its path (None: none)."""
        job_id = self.jobs.get(outcome.disk.path)
        if self.untouched(outcome):
            outcome.errors.append(Msg("stopped before anything was written: this disk is "
                                      "untouched, no certificate"))
            if job_id:
                self.journal.close(job_id, None, "untouched: " + outcome.status)
            return None
        try:
            document = self.cert.build_certificate(outcome=outcome, host=self.host(),
                                                   job_id=job_id)
            path = self.cert.issue(document, self.data_dir, journal=self.journal if job_id
                                   else None, job_id=job_id)
        except Exception as exc:  # the erase result stands; say loudly that no record exists
            warn(_("ardoise: certificate not issued for {path}: {error}").format(
                path=outcome.disk.path, error=exc))
            return None
        return str(path)


def result_json(outcome: Outcome, certificate: str | None) -> dict[str, Any]:
    data = outcome.to_json()
    data["certificate"] = certificate
    return data


def run(args: argparse.Namespace) -> int:
    check_options(args)
    disks = find_disks(args.devices, args.allow_external)
    probe(disks)
    pattern = args.pattern or "zero"
    refused = [d for d in disks if not d.eligible]
    if refused:
        return _refuse(args, disks, refused, pattern)
    if args.dry_run:
        return _dry_run(args, disks)
    if not args.yes:
        _confirm(disks)
    options: dict[str, Any] = {}
    if args.block_size:
        options["block_size"] = args.block_size
    if args.queue_depth:
        options["queue_depth"] = args.queue_depth
    if args.passes:  # a firmware overwrite (sanitize) planned by auto gets them too
        options["overwrite_passes"] = args.passes
    # from here on the disks are worked on: SIGINT/SIGTERM stop the work, the disks are
    # certified INCOMPLETE at once, and the exit status is 130/143
    with Stopper(message=_("ardoise: interrupted: stopping; the disks are NOT erased, and "
                           "every disk being worked on gets an INCOMPLETE certificate")) as stop:
        changed = {d.path for d in disks if args.remove_hpa and d.hpa and d.hpa.enabled}
        if args.remove_hpa:
            restore_native_max(disks)
        recorder = Recorder(args.data, changed)
        outcomes = _erase_all(args, disks, pattern, options, recorder, stop.cancel)
        results = [(o, recorder.certify(o)) for o in outcomes]
    # an interrupted wipe exits at once: its certificates wait on the stick
    summary = None if stop.interrupted else _deliver(args.data, [c for _o, c in results])
    if args.json:
        emit_json({"results": [result_json(o, c) for o, c in results],
                   "interrupted": stop.name,
                   "delivery": summary.to_json() if summary is not None else None})
        for outcome, _cert in results:
            if outcome.status == "unverified":
                warn(f"{outcome.disk.path}: {not_verified()}")
    else:
        for outcome, _cert in results:
            _report(outcome)
    if stop.interrupted or summary is None:
        return stop.exit_code
    delivery.print_summary(summary, warn)
    if not summary.ok:  # a certificate the ledger refused is a problem to fix
        return EXIT_FAILED
    return EXIT_OK if all(o.status == "erased" for o in outcomes) else EXIT_FAILED


def _deliver(data_dir: Path, certificates: list[str | None]) -> delivery.DeliverySummary:
    """Send this session's certificates once (the ledger of DATA/ardoise.yaml,
    $ARDOISE_LEDGER or the last one used) and say where each one is."""
    return delivery.deliver_now(data_dir, [Path(c).stem for c in certificates if c])


def _refuse(args: argparse.Namespace, disks: list[Disk], refused: list[Disk], pattern: str) -> int:
    """Nothing was done to any disk: no journal, no key, no certificate; the refusal is in
    the output (status "refused", certificate null) and on stderr."""
    entries = []
    for d in disks:
        if d in refused:
            outcome = erase_disk(d, args.level, args.method, pattern, args.verify)  # refuses
        else:
            now = time.time()
            outcome = Outcome(d, args.level, None, None, pattern, "refused",
                              errors=[Msg("not started: another target was refused")],
                              started=now, finished=now)
        entries.append(result_json(outcome, None))
    if args.json:
        document: dict[str, Any] = {"results": entries}
        if args.dry_run:
            document["dry_run"] = True
        emit_json(document)
    for d in refused:
        warn(_("ardoise: refused {path}: {reason}").format(path=d.path,
                                                           reason=tr(d.excluded_reason)))
    warn(_("ardoise: nothing was written"))
    return EXIT_REFUSED


def _dry_run(args: argparse.Namespace, disks: list[Disk]) -> int:
    """The plan only: nothing is written anywhere (no journal, key, spool or data folder)."""
    entries = []
    for d in disks:
        plan, order, errors = methods_for(d, args.level, args.method)
        entries.append({"path": d.path, "id": d.id, "serial": d.serial, "level": args.level,
                        "status": "planned" if order else "failed", "methods": order,
                        "verify": args.verify, "certificate": None,
                        "plan": {"level": plan.level, "reachable": plan.reachable,
                                 "methods": plan.methods,
                                 "reasons": [str(r) for r in plan.reasons]},
                        "errors": [str(e) for e in errors]})
        if not args.json:
            if order:
                say(_("{path}: would erase with {methods} ({level}), then verify: {verify}")
                    .format(path=d.path, methods=", ".join(order), level=level_word(args.level),
                            verify=verify_mode_word(args.verify)))
                if args.verify == "none":
                    say("  " + _("without verification the disk would be NOT VERIFIED, "
                                 "not certified as erased"))
            else:
                say(_("{path}: cannot erase: {reason}").format(
                    path=d.path, reason="; ".join(tr(e) for e in errors)))
    if args.json:
        emit_json({"dry_run": True, "results": entries})
    else:
        say(_("dry run: nothing was written"))
    return EXIT_OK if all(e["methods"] for e in entries) else EXIT_FAILED


def _confirm(disks: list[Disk]) -> None:
    n = len(disks)
    for d in disks:
        warn(f"  {d.path:14} {format_size(d.size_bytes):>10}  {d.model} [{d.serial or '-'}]")
    phrase = f"{_('ERASE')} {n}"
    warn(ngettext("Every byte of this disk will be destroyed. Type {phrase} to go on:",
                  "Every byte of these {n} disks will be destroyed. Type {phrase} to go on:",
                  n).format(n=n, phrase=phrase))
    sys.stderr.flush()
    answer = sys.stdin.readline().strip()
    if answer not in (phrase, f"ERASE {n}"):
        raise Refused(_("not confirmed: nothing was written"))


def _erase_all(args: argparse.Namespace, disks: list[Disk], pattern: str,
               options: dict[str, Any], recorder: Recorder,
               cancel: threading.Event) -> list[Outcome]:
    """Every disk in its own thread, joined to the end: `cancel` (set by SIGINT/SIGTERM)
    makes each stop at a safe point with an INCOMPLETE outcome, never a missing one."""
    outcomes: dict[str, Outcome] = {}
    with Display(disks, quiet=args.json) as display:
        def job(disk: Disk, sink: Callable[[Progress], None]) -> None:
            ctx = EraseContext(pattern=pattern, passes=args.passes or 1,
                               progress=recorder.progress(disk, sink),
                               cancel=cancel, options=dict(options))
            try:
                recorder.start(disk, args, ctx)
                outcomes[disk.path] = erase_disk(disk, args.level, args.method, pattern,
                                                 args.verify, ctx)
            except Exception as exc:  # never lose a disk's result: it is FAILED, and says why
                outcomes[disk.path] = Outcome(disk, args.level, None, None, pattern, "failed",
                                              errors=[str(exc)])

        threads = [threading.Thread(target=job, args=(d, display.update), name=d.path,
                                    daemon=True) for d in disks]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    return [outcomes.get(d.path) or Outcome(d, args.level, None, None, pattern, "incomplete",
                                            errors=[Msg("cancelled")]) for d in disks]


def _report(o: Outcome) -> None:
    status = status_word(o.status)
    rate = o.bytes_written / o.erase.seconds if o.erase and o.erase.seconds else 0.0
    say(_("{path}: {status} — {method}, {written} written in {seconds} s ({rate})").format(
        path=o.disk.path, status=status, method=o.method or "-",
        written=format_size(o.bytes_written), seconds=format_number(o.seconds, 1),
        rate=format_rate(rate)))
    v = o.verify
    if v.result == "not-done":
        say("  " + _("verification: not done"))
    else:
        say("  " + _("verification ({mode}): {result}, {checked} read ({share} of the disk)")
            .format(mode=verify_mode_word(v.mode), result=verify_result_word(v.result),
                    checked=format_size(v.bytes_checked), share=percent(v.sample_share)))
    if o.status == "unverified":
        say("  " + not_verified())
    for error in o.errors:
        say("  " + tr(error))
