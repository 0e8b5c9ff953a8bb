"""SCSI/SAS SANITIZE through sg_sanitize (sg3_utils), polled with sg_requests.

`sg_sanitize --quick --early` starts the operation with IMMED set and returns. The state
comes from REQUEST SENSE decoded by `sg_requests DEVICE` (see parse_scsi.SenseReport):
NOT READY / sanitize in progress with a progress field while the drive works, NO SENSE
once it is done, MEDIUM ERROR / SANITIZE COMMAND FAILED after a failure. `sg_requests
--progress`, and the poll loop sg_sanitize runs itself without --early, cannot tell
"done" from "failed": both stop at the first sense without a progress field (no
progress line, exit 0).

Timeout: `ctx.options["sanitize_timeout"]` when set (basis "config"), else the capacity
at a conservative rate times the overwrite passes, never under two hours (basis
"capacity"); SCSI reports no time estimate for SANITIZE. Overwrite passes come from
`ctx.options["overwrite_passes"]` (sg_sanitize --count=OC: default 1, 1..31).
"""

from __future__ import annotations

import time

from erasure import firmware, runner
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult
from erasure.parse_scsi import parse_sg_requests, sanitize_state
from erasure.text import Msg

START_TIMEOUT_S = 120.0
POLL_TIMEOUT_S = 30.0
SANITIZE_POLL_S = 10.0
MIN_TIMEOUT_S = 2 * 3600
RATE_BYTES_S = 50 * 10**6  # a slow SAS HDD's inner tracks, with margin
MAX_PASSES = 31  # sg_sanitize --count range (5-bit OVERWRITE COUNT, SBC-4)
OPTIONS = {"crypto": "--crypto", "block": "--block", "overwrite": "--overwrite"}
SG_LIB_CAT_NOT_READY = 2  # sg_lib.h: the command ended in CHECK CONDITION, NOT READY
SG_LIB_CAT_MEDIUM_HARD = 3  # sg_lib.h: REQUEST SENSE itself failed with MEDIUM/HARDWARE ERROR


def scsi_sanitize(disk: Disk) -> dict[str, bool] | None:
    value = disk.extra.get("scsi_sanitize")
    return value if isinstance(value, dict) else None


def sanitize_timeout(disk: Disk, ctx: EraseContext, passes: int) -> tuple[int, str]:
    """(seconds, basis) for the whole sanitize, see the module docstring."""
    if ctx.options.get("sanitize_timeout") is not None:
        return int(ctx.options["sanitize_timeout"]), "config"
    seconds = disk.size_bytes * passes / RATE_BYTES_S * ctx.timeout_margin
    return max(MIN_TIMEOUT_S, int(seconds)), "capacity"


def overwrite_passes(ctx: EraseContext) -> int | None:
    """The passes asked (default 1), None when sg_sanitize cannot take that many."""
    passes = int(ctx.options.get("overwrite_passes", 1))
    return passes if 1 <= passes <= MAX_PASSES else None


def read_state(path: str) -> tuple[str, float | None, str]:
    """(running | done | failed | retry | unreadable, fraction, the drive's words)."""
    try:
        res = runner.run(["sg_requests", path], timeout=POLL_TIMEOUT_S, check=False)
    except (runner.CommandNotFound, runner.CommandTimeout) as exc:
        return "unreadable", None, str(exc)
    sense = parse_sg_requests(res.stdout + "\n" + res.stderr)
    if sense is None:
        if res.returncode == SG_LIB_CAT_MEDIUM_HARD:
            return "failed", None, firmware.tail(res)
        return "unreadable", None, firmware.tail(res)
    return sanitize_state(sense), sense.progress, sense.reason


class ScsiSanitize:
    family = "scsi"

    def __init__(self, action: str):
        self.action = action
        self.name = f"scsi-sanitize-{action}"
        self.technique = {"crypto": "cryptographic erase", "block": "block erase",
                          "overwrite": "overwrite"}[action]

    def supported(self, disk: Disk) -> bool:
        caps = scsi_sanitize(disk)
        return caps is not None and bool(caps.get(self.action))

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool=f"sg_sanitize {OPTIONS[self.action]}")
        start = time.monotonic()
        clock = firmware.clock_of(ctx)
        passes = overwrite_passes(ctx) if self.action == "overwrite" else 1
        if passes is None:
            result.errors.append(Msg("SCSI SANITIZE overwrites 1 to {n} times: set "
                                     "erase.overwrite_passes within that range", n=MAX_PASSES))
            return result
        if self.action == "crypto":
            result.details["condition"] = firmware.CRYPTO_CONDITION
            if not firmware.take_before_samples(disk, result, ctx):
                return result
        elif self.action == "block":
            firmware.expect_fill(result, "zero-or-ones", "sanitize block erase: erased media "
                                 "reads back as zeros or ones")
        else:
            firmware.expect_fill(result, "zero", "sanitize overwrite with a zero pattern")
        argv = ["sg_sanitize", OPTIONS[self.action], "--quick", "--early"]
        if self.action == "overwrite":
            argv += ["--zero", f"--count={passes}"]
            result.details["overwrite_passes"] = passes
        timeout, basis = sanitize_timeout(disk, ctx, passes)
        result.details.update(timeout_seconds=timeout, timeout_basis=basis,
                              estimate_seconds=None)
        if firmware.command([*argv, disk.path], START_TIMEOUT_S, result) is None:
            # refused while a sanitize runs (NOT READY, sanitize in progress): the drive is
            # busy and no other method may start now
            ran = result.details.get("commands", [])
            if ran and ran[-1]["returncode"] == SG_LIB_CAT_NOT_READY and \
                    read_state(disk.path)[0] == "running":
                result.details["drive_busy"] = True
                result.errors.append(Msg("the drive is already sanitizing: wait for it to "
                                         "finish, then erase it again"))
            return result
        reason: list[str] = []

        def check() -> tuple[bool, float | None, str]:
            state, fraction, words = read_state(disk.path)
            if state == "failed":
                reason.append(words)
            return state in ("done", "failed"), fraction, state

        polled = firmware.poll(check, timeout, SANITIZE_POLL_S, ctx, disk, clock, self.name)
        firmware.sanitize_ended(result, polled, timeout, start, drive_failed=bool(reason))
        if reason:
            result.errors.append(Msg("the drive reports: {reason}", reason=reason[-1]))
        if not polled.done:
            result.details["drive_busy"] = True
        return result


for _action in ("crypto", "block", "overwrite"):
    register(ScsiSanitize(_action))
