"""SCSI/SAS SANITIZE through sg_sanitize (sg3_utils), polled with sg_requests.

`sg_sanitize --quick --early` starts the operation with IMMED set and returns; progress
comes from REQUEST SENSE (`sg_requests --progress`), which reports "Progress indication:
N%" while the drive sanitizes and plain sense (no progress) once it is done.
"""

from __future__ import annotations

import re
import time

from erasure import firmware
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult

START_TIMEOUT_S = 120.0
POLL_TIMEOUT_S = 30.0
SANITIZE_POLL_S = 10.0
SANITIZE_TIMEOUT_S = 24 * 3600.0
OPTIONS = {"crypto": "--crypto", "block": "--block", "overwrite": "--overwrite"}


def scsi_sanitize(disk: Disk) -> dict[str, bool] | None:
    value = disk.extra.get("scsi_sanitize")
    return value if isinstance(value, dict) else None


def parse_progress(text: str) -> float | None:
    m = re.search(r"Progress indication:\s*([\d.]+)\s*%", text)
    return float(m.group(1)) / 100 if m else None


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
            argv.append("--zero")
        if firmware.command([*argv, disk.path], START_TIMEOUT_S, result) is None:
            return result
        timeout = float(ctx.options.get("sanitize_timeout", SANITIZE_TIMEOUT_S))
        scratch = EraseResult(self.name, "failed", self.technique)

        def check() -> tuple[bool, float | None, str]:
            res = firmware.command(["sg_requests", "--progress", disk.path], POLL_TIMEOUT_S,
                                   scratch)
            if res is None:
                return False, None, "unreadable"
            fraction = parse_progress(res.stdout + res.stderr)
            return fraction is None, fraction, "running" if fraction is not None else "done"

        polled = firmware.poll(check, timeout, SANITIZE_POLL_S, ctx, disk, clock, self.name)
        return firmware.sanitize_ended(result, polled, timeout, start)


for _action in ("crypto", "block", "overwrite"):
    register(ScsiSanitize(_action))
