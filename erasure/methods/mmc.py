"""eMMC erase through mmc-utils: ERASE of the whole user area then SANITIZE, or ERASE alone.

Why both steps: SANITIZE (eMMC 4.5+, EXT_CSD[165] SANITIZE_START) purges only the
*unmapped* user address space (JESD84-B51 6.6.11); data still mapped stays. A legacy
ERASE (CMD35/36/38, argument 0) of every sector first unmaps the whole user area and
makes it read back as ERASED_MEM_CONT (6.6.9); a DISCARD would leave part of the old
data mapped and readable (6.6.12), so it is not used.

mmc-utils facts (mmc_cmds.c): `mmc erase <type> <start> <end> <device>` with type
legacy|discard|secure-erase|secure-trim1|secure-trim2|trim; start/end are CMD35/36
arguments (512-byte sectors on a high-capacity card); it prints "Executing <Type> from
0x%08x to 0x%08x" then " <Type> Succeed!" or " <Type> Failed!" and returns the error,
giving the ERASE itself 300*255*255 ms. `mmc sanitize <device> [timeout_in_ms]` takes a
timeout since mmc-utils 2022-10-15 (commit 34577b2); without it the kernel's
MMC_SANITIZE_TIMEOUT_MS (240 s) applies and a longer sanitize is aborted with HPI (the
command then fails: never a false success). An older mmc-utils answers the timeout with
"Usage: mmc sanitize </path/to/mmcblkX>" (exit 1); we then run it without one.

Level (kept equal to erasure.plan.level_of for mmc-*): erase + sanitize and erase alone
are Clear. NIST SP 800-88 Rev. 1 (Table A-8, flash memory) gives eMMC no software Purge,
and we found no IEEE 2883-2022 text at hand that names eMMC SANITIZE a Purge; until a
reading of IEEE 2883's eMMC row says otherwise, a Purge of eMMC means destroying it.
Timeouts: `ctx.options["mmc_timeout"]` (basis "config"), else the capacity at a
conservative eMMC rate, never under an hour (basis "capacity"); the runner waits a
margin longer than the timeout mmc-utils gives the kernel.
"""

from __future__ import annotations

import time

from erasure import firmware
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult
from erasure.text import Msg

MIN_TIMEOUT_S = 3600
RATE_BYTES_S = 10 * 10**6  # a slow eMMC erasing or sanitizing, with margin
ERASE_TOOL_TIMEOUT_S = 300 * 255 * 255 / 1000  # mmc_cmds.c erase(): cmd_timeout_ms
RUNNER_MARGIN_S = 120
OLD_SANITIZE_USAGE = "Usage: mmc sanitize </path/to/mmcblkX>\n"
BYTE_ADDRESSED_MAX = 2 * 1024**3  # JESD84: densities up to 2 GB use byte addresses
TIMED_OUT = "{tool} did not finish within {seconds} s"  # erasure.firmware.command's words


def busy_if_timed_out(result: EraseResult) -> None:
    """The runner gave up while the kernel still waits on the card: the card is busy."""
    if any(getattr(e, "template", None) == TIMED_OUT for e in result.errors):
        result.details["drive_busy"] = True


def mmc_caps(disk: Disk) -> dict[str, object] | None:
    value = disk.extra.get("mmc")
    return value if isinstance(value, dict) else None


def mmc_timeout(disk: Disk, ctx: EraseContext) -> tuple[int, str]:
    if ctx.options.get("mmc_timeout") is not None:
        return int(ctx.options["mmc_timeout"]), "config"
    return max(MIN_TIMEOUT_S, int(disk.size_bytes / RATE_BYTES_S * ctx.timeout_margin)), \
        "capacity"


def erase_all(kind: str, disk: Disk, ctx: EraseContext, result: EraseResult, what: str) -> bool:
    """`mmc erase KIND 0 LAST DEVICE` over the whole user area; False (reason recorded) on
    failure, including the " ... Failed!" line of an mmc-utils that exits 0 anyway."""
    last = disk.size_bytes // 512 - 1
    if last < 0:
        result.errors.append(Msg("unknown size: cannot erase"))
        return False
    if disk.size_bytes <= BYTE_ADDRESSED_MAX:
        result.errors.append(Msg("an eMMC of 2 GB or less takes byte addresses: mmc erase "
                                 "is not used on it"))
        return False
    res = firmware.command_waiting(["mmc", "erase", kind, "0", str(last), disk.path],
                                   ERASE_TOOL_TIMEOUT_S + RUNNER_MARGIN_S, result, ctx, disk,
                                   what)
    if res is None:
        return False
    if "Succeed!" not in res.stdout:
        result.errors.append(Msg("mmc erase did not report success: {reason}",
                                 reason=firmware.tail(res)))
        return False
    result.details["erase_type"] = kind
    return True


class MmcSanitize:
    name = "mmc-sanitize"
    family = "mmc"
    technique = "block erase"

    def supported(self, disk: Disk) -> bool:
        caps = mmc_caps(disk)
        return caps is not None and bool(caps.get("sanitize"))

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool="mmc erase legacy + mmc sanitize")
        start = time.monotonic()
        timeout, basis = mmc_timeout(disk, ctx)
        result.details.update(timeout_seconds=timeout, timeout_basis=basis,
                              estimate_seconds=None)
        firmware.expect_fill(result, "zero-or-ones", "eMMC erase then sanitize: erased "
                             "blocks read back as zeros or ones (ERASED_MEM_CONT)")
        if not erase_all("legacy", disk, ctx, result, self.name):
            result.seconds = time.monotonic() - start
            busy_if_timed_out(result)
            return result
        argv = ["mmc", "sanitize", disk.path, str(timeout * 1000)]
        probe = EraseResult(self.name, "failed", self.technique)
        res = firmware.command_waiting(argv, timeout + RUNNER_MARGIN_S, probe, ctx, disk,
                                       self.name)
        result.details.setdefault("commands", []).extend(probe.details.get("commands", []))
        if res is None and probe.errors and probe.errors[-1].endswith(
                OLD_SANITIZE_USAGE.strip()):
            # mmc-utils before 2022-10-15: no timeout argument, the kernel's 240 s applies
            result.details["sanitize_timeout_ms"] = None
            res = firmware.command_waiting(argv[:3], timeout + RUNNER_MARGIN_S, result, ctx,
                                           disk, self.name)
        else:
            result.details["sanitize_timeout_ms"] = timeout * 1000
            result.errors.extend(probe.errors)
        result.details["estimate_seconds"] = None
        result.seconds = time.monotonic() - start
        busy_if_timed_out(result)
        if res is not None:
            result.status = "erased"
        return result


class MmcErase:
    name = "mmc-erase"
    family = "mmc"
    technique = "block erase"

    def supported(self, disk: Disk) -> bool:
        caps = mmc_caps(disk)
        return caps is not None and caps.get("card_type") == "MMC"

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique, tool="mmc erase")
        start = time.monotonic()
        caps = mmc_caps(disk) or {}
        kind = "secure-erase" if caps.get("secure_erase") else "legacy"
        result.details.update(timeout_seconds=int(ERASE_TOOL_TIMEOUT_S), timeout_basis="config",
                              estimate_seconds=None)
        firmware.expect_fill(result, "zero-or-ones", "eMMC erase: erased blocks read back as "
                             "zeros or ones (ERASED_MEM_CONT)")
        ok = erase_all(kind, disk, ctx, result, self.name)
        result.seconds = time.monotonic() - start
        busy_if_timed_out(result)
        if ok:
            result.status = "erased"
        return result


register(MmcSanitize())
register(MmcErase())
