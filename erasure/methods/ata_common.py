"""What the ATA adapters (security erase, sanitize) share: IDENTIFY, the HPA, the USB
bridge refusal and reading `hdparm --sanitize-status` before and during an operation.

USB-SATA bridges: ATA security and sanitize commands are refused through them (the
kernel.org ATA Secure Erase page: bridges reject the pass-through or brick the drive in
the middle of an erase); the planner then falls back to an overwrite.
"""

from __future__ import annotations

from erasure import firmware, probe, runner
from erasure.disk import Disk
from erasure.methods.base import EraseContext, EraseResult
from erasure.parse_ata import (
    AtaIdentify,
    SanitizeStatus,
    parse_hdparm_identify,
    parse_sanitize_status,
)
from erasure.text import Msg

PROBE_TIMEOUT = 30.0
# a rate every drive sustains (a slow 2.5" HDD): sizes timeouts without a drive estimate
CONSERVATIVE_MB_S = 40


def through_usb(disk: Disk) -> bool:
    return disk.transport == "usb"


def refuse_usb(disk: Disk, result: EraseResult) -> bool:
    """True (and an error) when the drive sits behind a USB bridge."""
    if not through_usb(disk):
        return False
    result.details["usb_bridge"] = True
    result.errors.append(Msg("{path} is behind a USB bridge: ATA security and sanitize "
                             "commands are not sent through USB bridges (they reject them or "
                             "leave the drive unusable); overwrite it, or connect it to a "
                             "SATA port", path=disk.path))
    return True


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


def sanitize_status(disk: Disk, record: EraseResult | None = None) -> SanitizeStatus:
    """`hdparm --sanitize-status`, whatever its exit code (a failed sanitize exits EIO)."""
    argv = ["hdparm", "--sanitize-status", disk.path]
    try:
        res = runner.run(argv, timeout=PROBE_TIMEOUT, check=False)
    except runner.CommandNotFound:
        return SanitizeStatus("unreadable", reason="hdparm is not installed")
    except runner.CommandTimeout:
        return SanitizeStatus("unreadable", reason=f"no answer within {int(PROBE_TIMEOUT)} s")
    if record is not None:
        record.details.setdefault("commands", []).append(
            {"argv": argv, "returncode": res.returncode})
    return parse_sanitize_status(res.returncode, res.stdout, res.stderr)


def busy(disk: Disk, result: EraseResult, method: str, this_action: str | None,
         journaled_action: str | None) -> SanitizeStatus | None:
    """Before a sanitize or a security erase: the drive's sanitize state when it may go on
    (None: refused, the reason is in `result`).

    ATA SANITIZE STATUS does not say which action runs: a sanitize found in progress is
    adopted only when the journal says this same action was started on this drive;
    otherwise nothing else is started (details["drive_busy"], erase_disk stops there)."""
    if disk.ata_sanitize is None:
        return SanitizeStatus("idle")
    status = sanitize_status(disk, result)
    if status.state == "running" and (this_action is None or journaled_action != this_action):
        result.details["drive_busy"] = True
        result.errors.append(Msg("{path}: a sanitize operation is already in progress on the "
                                 "drive ({percent}%) and the journal does not show that "
                                 "{method} started it: nothing else is started until it ends "
                                 "(the drive goes on after a power cycle)", path=disk.path,
                                 percent=int((status.fraction or 0.0) * 100), method=method))
        return None
    if status.state == "failed" and this_action is None:
        # ACS-3: in SD3 the drive aborts most commands (SANITIZE and IDENTIFY still work)
        result.errors.append(Msg("{path}: the drive's last sanitize failed ({reason}) and it "
                                 "refuses other commands until a new sanitize succeeds",
                                 path=disk.path, reason=status.reason or ""))
        return None
    if status.state == "frozen" and this_action is not None:
        result.errors.append(Msg("{path}: sanitize is frozen (SD1) until the next power "
                                 "cycle: suspend and resume the machine (rtcwake -m mem -s 5)",
                                 path=disk.path))
        return None
    return status
