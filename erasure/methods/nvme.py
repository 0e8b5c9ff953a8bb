"""NVMe firmware erase through nvme-cli: Format NVM (SES=1 user data, SES=2 crypto) and
Sanitize (block erase, crypto erase, overwrite).

- FNA bit 0/1: a format (or its secure erase) applies to every namespace of the
  controller; Sanitize always does. When the controller has several namespaces, the
  caller must say that all of them are targets (`ctx.options["all_namespaces_targeted"]`),
  otherwise the method refuses rather than erase a namespace nobody selected.
- Sanitize runs in the background and survives a reset: the status log is read first, a
  sanitize found in progress (e.g. after a reboot) is waited for instead of restarted,
  and the log is polled until it reports completion, failure, or the timeout passes.
"""

from __future__ import annotations

import re
import time

from erasure import firmware
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult
from erasure.parse_nvme import (
    SANITIZE_COMPLETED,
    SANITIZE_COMPLETED_NO_DEALLOC,
    SANITIZE_FAILED,
    SANITIZE_IN_PROGRESS,
    SanitizeStatus,
    parse_sanitize_log,
)
from erasure.text import Msg

FORMAT_TIMEOUT_S = 3600.0
LOG_TIMEOUT_S = 30.0
SANITIZE_POLL_S = 10.0
SANITIZE_TIMEOUT_S = 4 * 3600.0
SANACT = {"block": 2, "overwrite": 3, "crypto": 4}


def controller_of(path: str) -> str:
    """/dev/nvme0n1 -> /dev/nvme0 (the admin commands go to the controller)."""
    m = re.match(r"^(/dev/nvme\d+)n\d+$", path)
    return m.group(1) if m else path


def namespaces_guard(disk: Disk, ctx: EraseContext, result: EraseResult, what: str) -> bool:
    caps = disk.nvme
    count = caps.namespaces if caps else 1
    result.details["namespaces"] = count
    if count > 1 and not ctx.options.get("all_namespaces_targeted"):
        result.errors.append(Msg("{what} erases all {n} namespaces of this controller: every "
                                 "namespace must be a target", what=what, n=count))
        return False
    return True


class NvmeFormat:
    family = "nvme"

    def __init__(self, crypto: bool):
        self.crypto = crypto
        self.ses = 2 if crypto else 1
        self.name = "nvme-format-crypto" if crypto else "nvme-format-user"
        self.technique = "cryptographic erase" if crypto else "block erase"

    def supported(self, disk: Disk) -> bool:
        caps = disk.nvme
        return caps is not None and caps.format and (caps.crypto_erase or not self.crypto)

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool=f"nvme format --ses={self.ses}")
        start = time.monotonic()
        caps = disk.nvme
        if caps is None or not self.supported(disk):
            result.errors.append(Msg("the drive does not support {method}", method=self.name))
            return result
        all_ns = bool(caps.fna & 0x3)
        result.details["format_applies_to_all_namespaces"] = all_ns
        if all_ns and not namespaces_guard(disk, ctx, result, Msg("Format NVM")):
            return result
        if self.crypto:
            result.details["condition"] = firmware.CRYPTO_CONDITION
            if not firmware.take_before_samples(disk, result, ctx):
                return result
        else:
            firmware.expect_fill(result, "zero-or-ones", "format with user data erase: the "
                                 "namespace reads back as zeros or ones")
        timeout = float(ctx.options.get("format_timeout", FORMAT_TIMEOUT_S))
        # Format NVM reports no progress and the drive gives no time estimate: the wait
        # reports the elapsed time until the command returns
        res = firmware.command_waiting(["nvme", "format", disk.path, f"--ses={self.ses}",
                                        f"--lbaf={caps.lbaf_in_use}", "--force"], timeout,
                                       result, ctx, disk, self.name)
        result.seconds = time.monotonic() - start
        if res is None:
            return result
        result.details["output"] = res.stdout.strip()
        result.status = "erased"
        return result


def read_log(ctrl: str, result: EraseResult) -> SanitizeStatus | None:
    res = firmware.command(["nvme", "sanitize-log", ctrl, "-o", "json"], LOG_TIMEOUT_S, result)
    if res is None:
        return None
    try:
        return parse_sanitize_log(res.stdout)
    except ValueError as exc:
        result.errors.append(Msg("unreadable sanitize log: {error}", error=str(exc)))
        return None


class NvmeSanitize:
    family = "nvme"

    def __init__(self, action: str):
        self.action = action
        self.name = f"nvme-sanitize-{action}"
        self.technique = {"crypto": "cryptographic erase", "block": "block erase",
                          "overwrite": "overwrite"}[action]

    def supported(self, disk: Disk) -> bool:
        return disk.nvme is not None and bool(getattr(disk.nvme.sanitize, self.action))

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool=f"nvme sanitize --sanact={SANACT[self.action]}")
        start = time.monotonic()
        clock = firmware.clock_of(ctx)
        ctrl = controller_of(disk.path)
        if not namespaces_guard(disk, ctx, result, Msg("Sanitize")):
            return result
        before = read_log(ctrl, result)
        if before is None:
            return result
        resumed = before.in_progress
        result.details["resumed_in_progress"] = resumed
        if self.action == "crypto":
            result.details["condition"] = firmware.CRYPTO_CONDITION
        if resumed:
            # data is already unreadable while sanitizing: no before-samples to compare
            firmware.expect_fill(result, "zero-or-ones", "a sanitize found in progress was "
                                 "waited for: erased media reads back uniform")
        elif self.action == "crypto":
            if not firmware.take_before_samples(disk, result, ctx):
                return result
        elif self.action == "block":
            firmware.expect_fill(result, "zero-or-ones", "sanitize block erase: erased media "
                                 "reads back as zeros or ones")
        else:
            firmware.expect_fill(result, "zero", "sanitize overwrite with pattern 0")
        if not resumed:
            argv = ["nvme", "sanitize", ctrl, f"--sanact={SANACT[self.action]}"]
            if self.action == "overwrite":
                argv.append("--ovrpat=0")
            if firmware.command(argv, LOG_TIMEOUT_S, result) is None:
                return result
        timeout = float(ctx.options.get("sanitize_timeout", SANITIZE_TIMEOUT_S))
        scratch = EraseResult(self.name, "failed", self.technique)

        def check() -> tuple[bool, float | None, int | None]:
            status = read_log(ctrl, scratch)
            if status is None:
                return False, None, None
            done = status.status in (SANITIZE_COMPLETED, SANITIZE_COMPLETED_NO_DEALLOC,
                                     SANITIZE_FAILED)
            fraction = status.fraction if status.status == SANITIZE_IN_PROGRESS else None
            return done, fraction, status.status

        polled = firmware.poll(check, timeout, SANITIZE_POLL_S, ctx, disk, clock, self.name)
        if polled.done and polled.last == SANITIZE_COMPLETED_NO_DEALLOC:
            result.details["no_deallocate"] = True
        return firmware.sanitize_ended(result, polled, timeout, start,
                                       drive_failed=polled.last == SANITIZE_FAILED)


register(NvmeFormat(crypto=False))
register(NvmeFormat(crypto=True))
for _action in ("crypto", "block", "overwrite"):
    register(NvmeSanitize(_action))
