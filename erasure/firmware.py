"""What every firmware erase adapter shares: running a drive command with its timeout,
polling a long operation to completion with an injectable clock, writing the marker
blocks a crypto erase's read-back checks are gone, and the tools' versions.

Progress while the drive works: a polled operation (sanitize) reports the drive's own
progress; a command that blocks until the drive is done (NVMe Format, ATA SECURITY ERASE,
eMMC erase, PSID revert) is run by `command_waiting`, which reports the elapsed time every
tick and, when the drive gave a time estimate, a fraction of it, capped below 100% until
the command returns. Either way the events are phase "wait" (see Progress.basis).

The clock comes from `ctx.options["clock"]` (an object with `now()` and `sleep(s)`), so
tests run a 2-hour sanitize timeout in microseconds; `ctx.options["wait_tick"]` sets the
seconds between two reports of a blocking command.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from erasure import runner
from erasure import verify as readback
from erasure.disk import Disk
from erasure.methods.base import EraseContext, EraseResult, Progress
from erasure.pattern import Pattern, new_key
from erasure.text import Msg

CRYPTO_SAMPLES = 256
CRYPTO_SAMPLE_BYTES = 4096
WAIT_TICK_S = 1.0  # seconds between two reports while a blocking drive command runs
ESTIMATE_CAP = 0.99  # an estimate never shows the work as done: only the drive says so


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def clock_of(ctx: EraseContext) -> Clock:
    clock = ctx.options.get("clock")
    return clock if clock is not None else SystemClock()


def tail(result: runner.Result) -> str:
    lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return lines[-1].strip() if lines else f"exit status {result.returncode}"


def command(argv: Sequence[str], timeout: float, result: EraseResult,
            input: str | None = None, secret: str | None = None) -> runner.Result | None:
    """Run one drive command; on any failure record why in `result` and return None.

    `secret` (a password, a PSID) is masked in what the result records.
    """
    try:
        res = runner.run(list(argv), timeout=timeout, check=False, input=input)
    except runner.CommandNotFound:
        result.errors.append(Msg("{tool} is not installed", tool=argv[0]))
        return None
    except runner.CommandTimeout as exc:
        result.errors.append(Msg("{tool} did not finish within {seconds} s", tool=argv[0],
                                 seconds=int(exc.timeout)))
        return None
    shown = [("***" if secret and a == secret else a) for a in argv]
    result.details.setdefault("commands", []).append(
        {"argv": shown, "returncode": res.returncode})
    if res.returncode != 0:
        result.errors.append(Msg("{tool} failed: {reason}", tool=argv[0], reason=tail(res)))
        return None
    return res


# How each tool tells its version (read in each tool's source): the argv, the stream it
# prints on, and the pattern of the text recorded. Exit status is not relied on where the
# tool exits non-zero after printing (sedutil-cli's usage exits 0x88).
#   nvme-cli nvme.c version_cmd(): stdout "nvme version 2.3 (git 2.3)\nlibnvme version ...", 0
#   hdparm.c main() case 'V': stdout "hdparm v9.65\n", exit 0
#   sg3_utils sg_*.c case 'V': stderr "sg_sanitize: version: 1.17 20211114\n", exit 0
#   mmc-utils has no version option: the Debian package version (dpkg-query) names it
#   sedutil DtaUsage.cpp usage(): stdout "sedutil v1.20.0 Copyright ...", exit 0x88
#   smartmontools smartctl --version: stdout "smartctl 7.4 2023-08-01 r5530 [...] ...", 0
_VERSION_QUERY: dict[str, tuple[list[str], str, str, str]] = {
    "nvme": (["nvme", "version"], "stdout", r"^(nvme version \S+(?: \(git [^)]*\))?)", "{0}"),
    "hdparm": (["hdparm", "-V"], "stdout", r"^(hdparm v\S+)", "{0}"),
    "sg_sanitize": (["sg_sanitize", "--version"], "stderr", r"^sg_sanitize: version: (.+)$",
                    "sg_sanitize {0}"),
    "sg_requests": (["sg_requests", "--version"], "stderr", r"^sg_requests: version: (.+)$",
                    "sg_requests {0}"),
    "mmc": (["dpkg-query", "-W", "-f=${Version}", "mmc-utils"], "stdout", r"^(\S+)$",
            "mmc-utils {0}"),
    "sedutil-cli": (["sedutil-cli", "--help"], "stdout", r"^sedutil (v\S+)", "sedutil-cli {0}"),
    "smartctl": (["smartctl", "--version"], "stdout", r"^(smartctl \S+ \S+ r\d+)", "{0}"),
}
VERSION_TIMEOUT_S = 10.0


@functools.cache
def tool_version(name: str) -> str | None:
    """The version of the tool `name` (argv[0] of a drive command), read once per process;
    None when the tool is unknown, missing, or says nothing we recognise."""
    query = _VERSION_QUERY.get(name)
    if query is None:
        return None
    argv, stream, pattern, shown = query
    try:
        res = runner.run(argv, timeout=VERSION_TIMEOUT_S, check=False)
    except Exception:  # noqa: BLE001 - a version lookup never stops an erase or its record
        return None
    found = re.search(pattern, res.stdout if stream == "stdout" else res.stderr, re.M)
    return shown.format(found.group(1).strip()) if found else None


def record_tool_version(result: EraseResult) -> None:
    """details["tool_version"]: the version of the tool that ran the result's first drive
    command (no command, no version)."""
    commands = result.details.get("commands") or []
    if commands and "tool_version" not in result.details:
        result.details["tool_version"] = tool_version(str(commands[0]["argv"][0]))


def waiting(disk: Disk, what: str, elapsed: float, estimate: float | None = None) -> Progress:
    """A "wait" event for a drive command that reports no progress of its own."""
    if estimate and estimate > 0:
        fraction = min(elapsed / estimate, ESTIMATE_CAP)
        eta = estimate - elapsed if elapsed < estimate else None
        basis = "estimate"
    else:
        fraction, eta, basis = 0.0, None, "none"
    return Progress(disk.path, "wait", int(fraction * disk.size_bytes), disk.size_bytes,
                    eta_seconds=eta, elapsed_seconds=max(elapsed, 0.0), basis=basis,
                    message=Msg("{what}: waiting for the drive", what=what))


def command_waiting(argv: Sequence[str], timeout: float, result: EraseResult, ctx: EraseContext,
                    disk: Disk, what: str, estimate: float | None = None,
                    secret: str | None = None) -> runner.Result | None:
    """`command()` for a drive command that blocks until the drive is done: one "wait"
    event at once, then one per tick until the command returns (see `waiting`)."""
    clock = clock_of(ctx)
    tick = float(ctx.options.get("wait_tick", WAIT_TICK_S))
    start = clock.now()
    stop = threading.Event()
    result.details["estimate_seconds"] = int(estimate) if estimate else None

    def report() -> None:
        ctx.emit(waiting(disk, what, clock.now() - start, estimate))

    def ticker() -> None:
        while not stop.wait(tick):
            report()

    report()
    thread = threading.Thread(target=ticker, name=f"wait {disk.path}", daemon=True)
    thread.start()
    try:
        return command(argv, timeout, result, secret=secret)
    finally:
        stop.set()
        thread.join()


@dataclass
class PollOutcome:
    done: bool
    timed_out: bool = False
    cancelled: bool = False
    last: Any = None
    polls: int = 0


def poll(check: Callable[[], tuple[bool, float | None, Any]], timeout: float, interval: float,
         ctx: EraseContext, disk: Disk, clock: Clock, what: str) -> PollOutcome:
    """Call `check()` -> (done, fraction or None, status) until done, timeout or cancel.

    Between polls a "wait" event carries the drive's own progress (basis "drive", with a
    time left from the pace seen since the first poll) or, without it, the elapsed time."""
    start = clock.now()
    out = PollOutcome(False)
    first: float | None = None  # the drive's fraction at the first poll (may be resumed)
    while True:
        done, fraction, out.last = check()
        out.polls += 1
        elapsed = clock.now() - start
        if done:
            out.done = True
            return out
        if ctx.cancel.is_set():
            out.cancelled = True
            return out
        if elapsed >= timeout:
            out.timed_out = True
            return out
        if fraction is None:
            ctx.emit(waiting(disk, what, elapsed))
        else:
            message = Msg("{what}: waiting for the drive", what=what)
            fraction = min(max(fraction, 0.0), 1.0)
            first = fraction if first is None else first
            eta = None
            if elapsed > 0 and fraction > first:
                eta = (1.0 - fraction) * elapsed / (fraction - first)
            ctx.emit(Progress(disk.path, "wait", int(fraction * disk.size_bytes),
                              disk.size_bytes, eta_seconds=eta, message=message,
                              elapsed_seconds=elapsed, basis="drive"))
        clock.sleep(min(interval, max(0.0, timeout - elapsed)) or interval)


def crypto_sample_grid(disk: Disk) -> tuple[list[int], int]:
    """(offsets, length) of the CRYPTO_SAMPLES blocks a crypto erase is checked at."""
    align = max(4096, disk.logical_block_size)
    length = max(CRYPTO_SAMPLE_BYTES, align)
    return readback.sample_offsets(disk.size_bytes, length, count=CRYPTO_SAMPLES,
                                   align=align), length


def take_before_samples(disk: Disk, result: EraseResult, ctx: EraseContext) -> bool:
    """Before a crypto erase: write a per-run random marker block at each sample offset
    (O_DIRECT, fsync) so the read-back proves the erase even on a drive that was blank
    before; journaled first (ctx.journal), as every destructive step is."""
    offsets, length = crypto_sample_grid(disk)
    key = new_key()
    if ctx.journal is not None:
        ctx.journal("crypto-markers", {"path": disk.path, "count": len(offsets),
                                       "length": length})
    try:
        readback.write_markers(disk.path, offsets, length, Pattern("random", key))
    except OSError as exc:
        result.errors.append(Msg("cannot write the verification markers to {path} before the "
                                 "erase: {error}", path=disk.path,
                                 error=exc.strerror or str(exc)))
        return False
    result.details.update(expect="markers", sample_offsets=offsets, sample_length=length,
                          marker_key=key, markers_written=len(offsets),
                          readback=Msg("crypto erase: {n} marker blocks of {size} bytes "
                                       "written before the erase must all be gone afterwards",
                                       n=len(offsets), size=length))
    return True


def expect_fill(result: EraseResult, expect: str, why: str) -> None:
    """Block erase / format: the read-back expects a uniform fill."""
    result.details.update(expect=expect, readback=Msg(why))


CRYPTO_CONDITION = Msg("cryptographic erase is a Purge only if the drive encrypted all "
                       "user data with the erased key from the start (NIST SP 800-88 "
                       "Rev. 2, 3.2.5); this cannot be checked from the host")


def sanitize_ended(result: EraseResult, polled: PollOutcome, timeout: float, start: float,
                   drive_failed: bool = False) -> EraseResult:
    """Record how a polled sanitize ended (ATA, NVMe, SCSI alike): erased, failed by the
    drive's own report, cancelled while the drive goes on (incomplete), or timed out."""
    result.details["polls"] = polled.polls
    result.seconds = time.monotonic() - start
    if polled.done and not drive_failed:
        result.status = "erased"
    elif polled.done:
        result.errors.append(Msg("the drive reports that the sanitize operation failed"))
    elif polled.cancelled:
        result.status = "incomplete"
        result.errors.append(Msg("cancelled while the drive sanitizes (it goes on by itself)"))
    else:
        result.errors.append(Msg("sanitize did not complete within {seconds} s (last status "
                                 "{status})", seconds=int(timeout), status=polled.last))
    return result
