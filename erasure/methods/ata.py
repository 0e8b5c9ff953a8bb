"""ATA firmware erase through hdparm 9.65: SECURITY ERASE UNIT (normal/enhanced); the
SANITIZE methods are in erasure.methods.ata_sanitize (registered from here).

Security erase: the drive must not be frozen (the BIOS usually freezes it at boot; the
standard remedy is a suspend/resume cycle, `rtcwake -m mem -s 5`, then a new probe).
A temporary user password is handed to `ctx.journal("ata-password", ...)` (the appliance
fsyncs it) before SECURITY SET PASSWORD, so an interrupted erase can be resumed: a drive
found locked is unlocked with `ctx.options["journaled_password"]` and erased again.
The journal must outlive a power cycle: without `ctx.options["password_journal_persistent"]`
(set by the appliance: not in RAM, not read-only) no password is ever set.
hdparm may exit 0 when the drive rejected SET PASSWORD, so the state is read again after
each step instead of trusting the exit status. After any failure once a password may be
set, SECURITY DISABLE PASSWORD is sent and the state read again (details
"password_cleared"): a password left set locks the drive at the next power cycle.
hdparm prints the password on stdout: it is masked in every error and detail.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from erasure import firmware
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.ata_common import (
    CONSERVATIVE_MB_S,
    PROBE_TIMEOUT,
    busy,
    identify,
    refuse_usb,
    remove_hpa,
    through_usb,
)
from erasure.methods.base import EraseContext, EraseResult
from erasure.parse_ata import AtaIdentify, hdparm_erase_timeout
from erasure.text import Msg

FROZEN_REMEDY = "rtcwake -m mem -s 5"
UNKNOWN_ESTIMATE_MB_S = CONSERVATIVE_MB_S  # for a drive that gives no erase time
GRACE_S = 300.0  # past hdparm's own SG_IO timeout, so hdparm reports the timeout itself


def scrub(value: Any, secret: str) -> Any:
    """`value` with every occurrence of `secret` in its strings replaced by ***."""
    if isinstance(value, str):
        return value.replace(secret, "***") if secret in value else value
    if isinstance(value, list):
        return [scrub(v, secret) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, secret) for k, v in value.items()}
    return value


class AtaSecurityErase:
    family = "ata"

    def __init__(self, enhanced: bool):
        self.enhanced = enhanced
        self.name = "ata-secure-erase-enhanced" if enhanced else "ata-secure-erase"
        self.technique = "block erase"

    def supported(self, disk: Disk) -> bool:
        sec = disk.ata_security
        return not through_usb(disk) and sec is not None and sec.supported and (
            sec.enhanced_erase or not self.enhanced)

    def estimate(self, info: AtaIdentify) -> float | None:
        """The drive's own "time required" for this erase, in seconds (None: not given)."""
        sec = info.security
        minutes = None
        if sec is not None:
            minutes = sec.enhanced_erase_minutes if self.enhanced else sec.erase_minutes
        return minutes * 60.0 if minutes else None

    def timeout(self, disk: Disk, info: AtaIdentify, ctx: EraseContext) -> tuple[float, str]:
        """(seconds, basis): past both hdparm's own timeout for this command (from the
        drive's estimate, or capacity) and the estimate x margin."""
        estimate = self.estimate(info)
        sectors = info.sectors or disk.size_bytes // max(disk.logical_block_size, 512)
        minutes = int(estimate // 60) if estimate else None
        hdparm_own = float(hdparm_erase_timeout(minutes, sectors))
        if estimate:
            return max(hdparm_own, estimate * ctx.timeout_margin) + GRACE_S, "drive-estimate"
        by_capacity = disk.size_bytes / (UNKNOWN_ESTIMATE_MB_S * 1e6) * ctx.timeout_margin
        return max(hdparm_own, by_capacity) + GRACE_S, "capacity"

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool="hdparm --security-erase" + ("-enhanced" if self.enhanced else ""))
        start = time.monotonic()
        state: dict[str, Any] = {"password": None, "set": False}
        try:
            try:
                self._run(disk, ctx, result, state)
            finally:  # whatever went wrong, a password the drive may hold is removed
                if result.status != "erased" and state["set"]:
                    self._clear_password(disk, ctx, result, state["password"])
        finally:
            result.seconds = time.monotonic() - start
            for pw in {state["password"], ctx.options.get("journaled_password")} - {None}:
                result.errors = scrub(result.errors, pw)
                result.details = scrub(result.details, pw)
        return result

    def _clear_password(self, disk: Disk, ctx: EraseContext, result: EraseResult,
                        password: str) -> None:
        """SECURITY DISABLE PASSWORD after a failure, then read the state again."""
        scratch = EraseResult(self.name, "failed", self.technique)
        before = identify(disk, scratch)
        if before is not None and before.security is not None and not before.security.enabled:
            result.details["password_cleared"] = True  # none was set
            if ctx.journal is not None:
                ctx.journal("ata-password", {})
            return
        firmware.command(["hdparm", "--user-master", "u", "--security-disable", password,
                          disk.path], PROBE_TIMEOUT, result, secret=password)
        after = identify(disk, scratch)
        cleared = after is not None and after.security is not None and (
            not after.security.enabled)
        result.details["password_cleared"] = cleared
        if cleared:
            if ctx.journal is not None:
                ctx.journal("ata-password", {})  # nothing left to unlock
            return
        result.errors.append(Msg("the temporary ATA password could not be removed: the drive "
                                 "will lock at its next power cycle. The journal keeps the "
                                 "password; run Ardoise on this drive again to unlock and "
                                 "erase it"))

    def _run(self, disk: Disk, ctx: EraseContext, result: EraseResult,
             state: dict[str, Any]) -> None:
        result.details["resumed_in_progress"] = False
        if refuse_usb(disk, result):
            return
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
        if not sec.locked and busy(disk, result, self.name, None, None) is None:
            return
        password = ctx.options.get("journaled_password")
        if sec.locked:
            if not password:
                result.errors.append(Msg("the drive is locked by a password that was not recorded "
                                         "by Ardoise: it cannot be unlocked here"))
                return
            state["password"] = password
            if firmware.command(["hdparm", "--user-master", "u", "--security-unlock", password,
                                 disk.path], PROBE_TIMEOUT, result, secret=password) is None:
                return
            info = identify(disk, result)
            if info is None or info.security is None or info.security.locked:
                result.errors.append(Msg("the journaled password did not unlock the drive"))
                return
            state["set"] = True
            result.details["unlocked_with_journaled_password"] = True
            sec = info.security
            if busy(disk, result, self.name, None, None) is None:
                return
        elif sec.enabled:
            if not password:
                result.errors.append(Msg("ATA security is already enabled with an unknown "
                                         "password: refusing"))
                return
            state.update(password=password, set=True)
        else:
            if not remove_hpa(disk, ctx, result):
                return
            if ctx.options.get("password_journal_persistent") is not True:
                result.errors.append(Msg("the journal that would keep the temporary ATA "
                                         "password is not on persistent storage (RAM or a "
                                         "read-only stick): ATA security erase is refused, a "
                                         "power cut would leave the drive locked"))
                return
            if ctx.journal is None:
                result.errors.append(Msg("no journal to record the temporary ATA password: "
                                         "refusing (an interruption would leave the drive "
                                         "locked)"))
                return
            password = "ardoise-" + secrets.token_hex(8)
            state["password"] = password
            ctx.journal("ata-password", {"path": disk.path, "serial": disk.serial,
                                         "wwn": disk.wwn, "disk_id": disk.id,
                                         "password": password})
            state["set"] = True  # from here on the drive may hold it (hdparm may exit 0 or not)
            if firmware.command(["hdparm", "--user-master", "u", "--security-set-pass",
                                 password, disk.path], PROBE_TIMEOUT, result,
                                secret=password) is None:
                return
            info = identify(disk, result)
            if info is None or info.security is None or not info.security.enabled:
                result.errors.append(Msg("the drive did not accept SECURITY SET PASSWORD "
                                         "(security is still not enabled)"))
                return
        self._erase(disk, ctx, result, info, password)

    def _erase(self, disk: Disk, ctx: EraseContext, result: EraseResult, info: AtaIdentify,
               password: str) -> None:
        if self.enhanced:
            if not firmware.take_before_samples(disk, result, ctx):
                return
        else:
            firmware.expect_fill(result, "zero-or-ones",
                                 "security erase (normal): the drive writes zeros or ones")
        timeout, basis = self.timeout(disk, info, ctx)
        estimate = self.estimate(info)
        result.details.update(timeout_seconds=int(timeout), timeout_basis=basis,
                              estimate_seconds=int(estimate) if estimate else None)
        option = "--security-erase-enhanced" if self.enhanced else "--security-erase"
        # SECURITY ERASE UNIT blocks until done: the bar follows the drive's estimate
        if firmware.command_waiting(["hdparm", "--user-master", "u", option, password,
                                     disk.path], timeout, result, ctx, disk, self.name,
                                    estimate=estimate, secret=password) is None:
            if not any(option in c["argv"] for c in result.details.get("commands", [])):
                result.details["drive_busy"] = True  # timed out: the drive may still erase
            return
        after = identify(disk, result)
        if after is None or after.security is None:
            return
        if after.security.enabled:
            result.errors.append(Msg("security was still enabled after the erase"))
            return
        result.details["password_cleared"] = True  # a successful erase disables it
        if ctx.journal is not None:
            ctx.journal("ata-password", {})
        result.status = "erased"


register(AtaSecurityErase(enhanced=False))
register(AtaSecurityErase(enhanced=True))

from erasure.methods import ata_sanitize as _ata_sanitize  # noqa: E402,F401  (registers)
