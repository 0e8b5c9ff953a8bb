"""ATA firmware erase through hdparm: SECURITY ERASE UNIT (normal/enhanced) and SANITIZE.

Security erase: the drive must not be frozen (the BIOS usually freezes it at boot; the
standard remedy is a suspend/resume cycle, `rtcwake -m mem -s 5`, then a new probe).
A temporary user password is handed to `ctx.journal("ata-password", ...)` (the appliance
fsyncs it) before SECURITY SET PASSWORD, so an interrupted erase can be resumed: a drive
found locked is unlocked with `ctx.options["journaled_password"]` and erased again.
hdparm may exit 0 when the drive rejected SET PASSWORD, so the state is read again after
each step instead of trusting the exit status.

Sanitize: `hdparm --sanitize-*` starts the operation in the background; it is polled with
`hdparm --sanitize-status` until it succeeds, fails, or the timeout passes.
"""

from __future__ import annotations

import re
import secrets
import time

from erasure import firmware, probe
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult
from erasure.parse_ata import AtaIdentify, parse_hdparm_identify
from erasure.text import Msg

PROBE_TIMEOUT = 30.0
FROZEN_REMEDY = "rtcwake -m mem -s 5"
UNKNOWN_ESTIMATE_MB_S = 40  # for a drive that gives no erase time: a slow HDD
SANITIZE_POLL_S = 10.0
SANITIZE_TIMEOUT_S = 24 * 3600.0


def identify(disk: Disk, result: EraseResult) -> AtaIdentify | None:
    res = firmware.command(["hdparm", "-I", disk.path], PROBE_TIMEOUT, result)
    if res is None:
        return None
    info = parse_hdparm_identify(res.stdout)
    if not info.identified:
        result.errors.append(Msg("{path}: no ATA IDENTIFY data (a USB bridge may hide the "
                                 "drive)", path=disk.path))
        return None
    return info


def remove_hpa(disk: Disk, ctx: EraseContext, result: EraseResult) -> bool:
    """Restore the native max address first when the config allows it (True: go on)."""
    if disk.hpa is None or not disk.hpa.enabled:
        return True
    result.details["hpa"] = {"current_max_sectors": disk.hpa.current_max_sectors,
                             "native_max_sectors": disk.hpa.native_max_sectors}
    if not ctx.options.get("remove_hpa"):
        result.details["hpa_removed"] = False
        return True
    error = probe.remove_hpa(disk)
    if error:
        result.errors.append(error)
        return False
    result.details["hpa_removed"] = True
    return True


class AtaSecurityErase:
    family = "ata"

    def __init__(self, enhanced: bool):
        self.enhanced = enhanced
        self.name = "ata-secure-erase-enhanced" if enhanced else "ata-secure-erase"
        self.technique = "block erase"

    def supported(self, disk: Disk) -> bool:
        sec = disk.ata_security
        return sec is not None and sec.supported and (sec.enhanced_erase or not self.enhanced)

    def estimate(self, info: AtaIdentify) -> float | None:
        """The drive's own "time required" for this erase, in seconds (None: not given)."""
        sec = info.security
        minutes = None
        if sec is not None:
            minutes = sec.enhanced_erase_minutes if self.enhanced else sec.erase_minutes
        return minutes * 60.0 if minutes else None

    def timeout(self, disk: Disk, info: AtaIdentify, ctx: EraseContext) -> float:
        seconds = self.estimate(info) or disk.size_bytes / (UNKNOWN_ESTIMATE_MB_S * 1e6)
        return max(600.0, seconds * ctx.timeout_margin + 300.0)

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool="hdparm --security-erase" + ("-enhanced" if self.enhanced else ""))
        start = time.monotonic()
        try:
            self._run(disk, ctx, result)
        finally:
            result.seconds = time.monotonic() - start
        return result

    def _run(self, disk: Disk, ctx: EraseContext, result: EraseResult) -> None:
        info = identify(disk, result)
        if info is None:
            return
        sec = info.security
        if sec is None or not sec.supported:
            result.errors.append(Msg("the drive does not offer the ATA security feature set"))
            return
        if self.enhanced and not sec.enhanced_erase:
            result.errors.append(Msg("the drive does not support ENHANCED SECURITY ERASE"))
            return
        if sec.frozen:
            result.details["remedy"] = FROZEN_REMEDY
            result.errors.append(Msg("the drive is frozen: ATA security erase is refused until it "
                                     "is unfrozen. Suspend and resume the machine ({remedy}), "
                                     "then probe the drive again", remedy=FROZEN_REMEDY))
            return
        password = ctx.options.get("journaled_password")
        if sec.locked:
            if not password:
                result.errors.append(Msg("the drive is locked by a password that was not recorded "
                                         "by Ardoise: it cannot be unlocked here"))
                return
            if firmware.command(["hdparm", "--user-master", "u", "--security-unlock", password,
                                 disk.path], PROBE_TIMEOUT, result, secret=password) is None:
                return
            info = identify(disk, result)
            if info is None or info.security is None or info.security.locked:
                result.errors.append(Msg("the journaled password did not unlock the drive"))
                return
            result.details["unlocked_with_journaled_password"] = True
            sec = info.security
        elif sec.enabled:
            if not password:
                result.errors.append(Msg("ATA security is already enabled with an unknown "
                                         "password: refusing"))
                return
        else:
            if not remove_hpa(disk, ctx, result):
                return
            if ctx.journal is None:
                result.errors.append(Msg("no journal to record the temporary ATA password: "
                                         "refusing (an interruption would leave the drive "
                                         "locked)"))
                return
            password = "ardoise-" + secrets.token_hex(8)
            ctx.journal("ata-password", {"path": disk.path, "serial": disk.serial,
                                         "password": password})
            if firmware.command(["hdparm", "--user-master", "u", "--security-set-pass",
                                 password, disk.path], PROBE_TIMEOUT, result,
                                secret=password) is None:
                return
            info = identify(disk, result)
            if info is None or info.security is None or not info.security.enabled:
                result.errors.append(Msg("the drive did not accept SECURITY SET PASSWORD "
                                         "(security is still not enabled)"))
                return
        if self.enhanced:
            if not firmware.take_before_samples(disk, result, ctx):
                return
        else:
            firmware.expect_fill(result, "zero-or-ones",
                                 "security erase (normal): the drive writes zeros or ones")
        timeout = self.timeout(disk, info, ctx)
        result.details["timeout_seconds"] = int(timeout)
        option = "--security-erase-enhanced" if self.enhanced else "--security-erase"
        # SECURITY ERASE UNIT blocks until done: the bar follows the drive's estimate
        if firmware.command_waiting(["hdparm", "--user-master", "u", option, password,
                                     disk.path], timeout, result, ctx, disk, self.name,
                                    estimate=self.estimate(info), secret=password) is None:
            return
        after = identify(disk, result)
        if after is None or after.security is None:
            return
        if after.security.enabled:
            firmware.command(["hdparm", "--user-master", "u", "--security-disable", password,
                              disk.path], PROBE_TIMEOUT, result, secret=password)
            result.errors.append(Msg("security was still enabled after the erase"))
            return
        result.status = "erased"


SANITIZE_OPTIONS = {"crypto": ["--sanitize-crypto-scramble"],
                    "block": ["--sanitize-block-erase"],
                    "overwrite": ["--sanitize-overwrite", "hex:00000000"]}


def parse_sanitize_status(text: str) -> tuple[str, float | None]:
    """(state, fraction) from `hdparm --sanitize-status`: state is running|done|failed|idle."""
    m = re.search(r"Progress:\s*0x([0-9a-fA-F]+)", text)
    fraction = int(m.group(1), 16) / 65536 if m else None
    if "In Process" in text:
        return "running", fraction
    if "Operation Failed" in text or "completed unsuccessfully" in text:
        return "failed", fraction
    if "succeeded" in text or "Completed Without Error" in text:
        return "done", 1.0
    return "idle", fraction


class AtaSanitize:
    family = "ata"

    def __init__(self, action: str):
        self.action = action
        self.name = f"ata-sanitize-{action}"
        self.technique = "cryptographic erase" if action == "crypto" else (
            "overwrite" if action == "overwrite" else "block erase")

    def supported(self, disk: Disk) -> bool:
        return disk.ata_sanitize is not None and bool(getattr(disk.ata_sanitize, self.action))

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool="hdparm " + SANITIZE_OPTIONS[self.action][0])
        start = time.monotonic()
        clock = firmware.clock_of(ctx)
        status = firmware.command(["hdparm", "--sanitize-status", disk.path], PROBE_TIMEOUT,
                                  EraseResult(self.name, "failed", self.technique))
        resumed = status is not None and parse_sanitize_status(status.stdout)[0] == "running"
        result.details["resumed_in_progress"] = resumed
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
        argv = ["hdparm", "--yes-i-know-what-i-am-doing", *SANITIZE_OPTIONS[self.action], disk.path]
        if not resumed and firmware.command(argv, PROBE_TIMEOUT, result) is None:
            return result
        timeout = float(ctx.options.get("sanitize_timeout", SANITIZE_TIMEOUT_S))

        def check() -> tuple[bool, float | None, str]:
            res = firmware.command(["hdparm", "--sanitize-status", disk.path], PROBE_TIMEOUT,
                                   EraseResult(self.name, "failed", self.technique))
            if res is None:
                return False, None, "unreadable"
            state, fraction = parse_sanitize_status(res.stdout)
            return state in ("done", "failed"), fraction, state

        polled = firmware.poll(check, timeout, SANITIZE_POLL_S, ctx, disk, clock, self.name)
        return firmware.sanitize_ended(result, polled, timeout, start,
                                       drive_failed=polled.last != "done")


register(AtaSecurityErase(enhanced=False))
register(AtaSecurityErase(enhanced=True))
for _action in ("crypto", "block", "overwrite"):
    register(AtaSanitize(_action))
