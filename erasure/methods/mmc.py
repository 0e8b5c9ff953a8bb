"""eMMC erase through mmc-utils: SANITIZE (eMMC 4.5+) or ERASE (CMD38) of the whole range.

These reach Clear only: NIST SP 800-88 gives no software Purge for eMMC/SD media.
"""

from __future__ import annotations

import time

from erasure import firmware
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult
from erasure.text import Msg

TIMEOUT_S = 3600.0


def mmc_caps(disk: Disk) -> dict[str, object] | None:
    value = disk.extra.get("mmc")
    return value if isinstance(value, dict) else None


class MmcSanitize:
    name = "mmc-sanitize"
    family = "mmc"
    technique = "block erase"

    def supported(self, disk: Disk) -> bool:
        caps = mmc_caps(disk)
        return caps is not None and bool(caps.get("sanitize"))

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique, tool="mmc sanitize")
        start = time.monotonic()
        firmware.expect_fill(result, "zero-or-ones", "eMMC sanitize: erased blocks read back "
                             "as zeros or ones (ERASED_MEM_CONT)")
        res = firmware.command_waiting(["mmc", "sanitize", disk.path],
                                       float(ctx.options.get("mmc_timeout", TIMEOUT_S)), result,
                                       ctx, disk, self.name)
        result.seconds = time.monotonic() - start
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
        last = disk.size_bytes // 512 - 1
        if last < 0:
            result.errors.append(Msg("unknown size: cannot erase"))
            return result
        firmware.expect_fill(result, "zero-or-ones", "eMMC erase: erased blocks read back as "
                             "zeros or ones (ERASED_MEM_CONT)")
        res = firmware.command_waiting(["mmc", "erase", kind, "0", str(last), disk.path],
                                       float(ctx.options.get("mmc_timeout", TIMEOUT_S)), result,
                                       ctx, disk, self.name)
        result.seconds = time.monotonic() - start
        if res is not None:
            result.details["erase_type"] = kind
            result.status = "erased"
        return result


register(MmcSanitize())
register(MmcErase())
