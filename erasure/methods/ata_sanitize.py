"""ATA SANITIZE through hdparm 9.65: crypto scramble, block erase, overwrite.

`hdparm --sanitize-*` starts the operation in the background ("Operation started in
background"); it is polled with `hdparm --sanitize-status` until the drive reports
success, a failure (hdparm exits EIO with the drive's reason on stderr: the operation
failed at once, see erasure.parse_ata.parse_sanitize_status), or the timeout passes.

Overwrite: without `--sanitize-overwrite-passes` the drive runs 16 passes (ACS: a pass
count of 0 means 16); hdparm 9.65 accepts 0..7 there, so 1..7 and 16 passes (0) are
possible, `ctx.options["overwrite_passes"]` (default 1) chooses.

The drive does not say which sanitize action is running: the action is journaled
(`ctx.journal("ata-sanitize", ...)`) before it starts, and a sanitize found in progress is
waited for only when `ctx.options["journaled_sanitize_action"]` names this same action.
"""

from __future__ import annotations

import time

from erasure import firmware
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.ata_common import (
    CONSERVATIVE_MB_S,
    PROBE_TIMEOUT,
    busy,
    refuse_usb,
    remove_hpa,
    sanitize_status,
    through_usb,
)
from erasure.methods.base import EraseContext, EraseResult
from erasure.text import Msg

SANITIZE_POLL_S = 10.0
MIN_TIMEOUT_S = 3600.0
OPTIONS = {"crypto": ["--sanitize-crypto-scramble"],
           "block": ["--sanitize-block-erase"],
           "overwrite": ["--sanitize-overwrite", "hex:00000000"]}


def hdparm_passes(passes: int) -> int | None:
    """hdparm's --sanitize-overwrite-passes value for `passes` (None: hdparm cannot ask it)."""
    if 1 <= passes <= 7:
        return passes
    return 0 if passes == 16 else None


class AtaSanitize:
    family = "ata"

    def __init__(self, action: str):
        self.action = action
        self.name = f"ata-sanitize-{action}"
        self.technique = "cryptographic erase" if action == "crypto" else (
            "overwrite" if action == "overwrite" else "block erase")

    def supported(self, disk: Disk) -> bool:
        return not through_usb(disk) and disk.ata_sanitize is not None and bool(
            getattr(disk.ata_sanitize, self.action))

    def timeout(self, disk: Disk, ctx: EraseContext, passes: int) -> tuple[float, str]:
        """(seconds, basis): hdparm gives no sanitize time, so capacity at a conservative
        rate x passes, unless the config sets `sanitize_timeout`."""
        if ctx.options.get("sanitize_timeout"):
            return float(ctx.options["sanitize_timeout"]), "config"
        seconds = disk.size_bytes / (CONSERVATIVE_MB_S * 1e6) * passes
        return max(MIN_TIMEOUT_S, seconds * ctx.timeout_margin + 1800.0), "capacity"

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool="hdparm " + OPTIONS[self.action][0])
        start = time.monotonic()
        try:
            return self._run(disk, ctx, result, start)
        finally:
            result.seconds = time.monotonic() - start

    def _run(self, disk: Disk, ctx: EraseContext, result: EraseResult,
             start: float) -> EraseResult:
        result.details["resumed_in_progress"] = False
        if refuse_usb(disk, result):
            return result
        passes = 1
        argv = ["hdparm", "--yes-i-know-what-i-am-doing", *OPTIONS[self.action], disk.path]
        if self.action == "overwrite":
            passes = int(ctx.options.get("overwrite_passes", 1))
            count = hdparm_passes(passes)
            if count is None:
                result.errors.append(Msg("hdparm can ask the drive for 1 to 7 or 16 sanitize "
                                         "overwrite passes, not {n}: change "
                                         "erase.overwrite_passes", n=passes))
                return result
            result.details["overwrite_passes"] = passes
            argv[2:2] = ["--sanitize-overwrite-passes", str(count)]
        journaled = ctx.options.get("journaled_sanitize_action")
        status = busy(disk, result, self.name, self.action, journaled)
        if status is None:
            return result
        resumed = status.in_progress
        result.details["resumed_in_progress"] = resumed
        result.details["action_ran"] = self.action
        if self.action == "crypto":
            result.details["condition"] = firmware.CRYPTO_CONDITION
        if resumed:
            firmware.expect_fill(result, "zero-or-ones", "a sanitize found in progress was "
                                 "waited for: erased media reads back uniform")
        elif not remove_hpa(disk, ctx, result):
            return result
        elif self.action == "crypto":
            if not firmware.take_before_samples(disk, result, ctx):
                return result
        elif self.action == "block":
            firmware.expect_fill(result, "zero-or-ones", "sanitize block erase: erased cells "
                                 "read back as zeros or ones")
        else:
            firmware.expect_fill(result, "zero", "sanitize overwrite with pattern 00000000")
        timeout, basis = self.timeout(disk, ctx, passes)
        result.details.update(timeout_seconds=int(timeout), timeout_basis=basis,
                              estimate_seconds=None)
        if ctx.journal is not None:  # this job's own record, resumed or not
            ctx.journal("ata-sanitize", {"action": self.action, "path": disk.path,
                                         "serial": disk.serial, "wwn": disk.wwn})
        if not resumed and firmware.command(argv, PROBE_TIMEOUT, result) is None:
            if ctx.journal is not None:
                ctx.journal("ata-sanitize", {})  # the drive did not start it
            return result
        reason: dict[str, str | None] = {"text": None}

        def check() -> tuple[bool, float | None, str]:
            now = sanitize_status(disk)
            if now.state in ("failed", "unsupported"):
                reason["text"] = now.reason
                return True, None, "failed"
            return now.state == "done", now.fraction, now.state

        clock = firmware.clock_of(ctx)
        polled = firmware.poll(check, timeout, SANITIZE_POLL_S, ctx, disk, clock, self.name)
        firmware.sanitize_ended(result, polled, timeout, start,
                                drive_failed=polled.last != "done")
        if reason["text"]:
            result.errors.append(Msg("the drive's reason: {reason}", reason=reason["text"]))
        if not polled.done:
            result.details["drive_busy"] = True
        elif ctx.journal is not None:
            ctx.journal("ata-sanitize", {})  # ended: nothing left to resume
        return result


for _action in ("crypto", "block", "overwrite"):
    register(AtaSanitize(_action))
