"""NVMe firmware erase through nvme-cli: Format NVM (SES=1 user data, SES=2 crypto) and
Sanitize (block erase, crypto erase, overwrite).

- FNA bit 0/1: a format (or its secure erase) applies to every namespace of the
  controller; Sanitize always does. When the controller has several namespaces, the
  caller must say that all of them are targets (`ctx.options["all_namespaces_targeted"]`),
  otherwise the method refuses rather than erase a namespace nobody selected.
- The admin commands go to the controller sysfs names for the namespace (nvme_sysfs: with
  multipath /dev/nvmeXnY's X is the subsystem, not a controller); a controller whose
  serial is not the disk's is refused. Format NVM goes to the namespace device.
- Sanitize runs in the background and survives a reset: the status log is read first
  (before a format too, when the drive has Sanitize). A sanitize found in progress (e.g.
  after a reboot) is waited for when it is the action this method would start, else the
  method refuses and marks the drive busy (`drive_busy`): nothing starts over it. The log
  is polled until it reports completion, failure, or the timeout passes (then too the
  drive is left busy). `action_ran` is what the log's SCDW10 says ran.
- Timeouts: the drive's estimate (ETBE/ETCE, ETO scaled from 16 passes to the passes
  asked), else the capacity at a conservative rate, times ctx.timeout_margin; at least
  600 s. An overwrite runs `overwrite_passes` passes (1 unless asked; nvme-cli without
  --owpass means 16). Format NVM passes nvme-cli a --timeout (milliseconds) sized from
  the capacity; nvme-cli's default is 600 s.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from erasure import firmware, nvme_sysfs
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult
from erasure.nvme_sysfs import Controller
from erasure.parse_nvme import (
    SANITIZE_COMPLETED,
    SANITIZE_COMPLETED_NO_DEALLOC,
    SANITIZE_FAILED,
    SANITIZE_IN_PROGRESS,
    SanitizeStatus,
    parse_sanitize_log,
)
from erasure.text import Msg

LOG_TIMEOUT_S = 30.0
SANITIZE_POLL_S = 10.0
MIN_TIMEOUT_S = 600.0
# nvme-cli waits for Format NVM (its --timeout, in milliseconds, default 600000): our
# runner waits this much longer, so nvme-cli's own timeout is the one that fires
RUNNER_MARGIN_S = 120.0
# conservative rates (bytes/s) when the drive gives no estimate: a timeout only has to
# be long enough for a slow but working drive
FORMAT_RATE = 100e6
SANITIZE_RATE = {"block": 100e6, "crypto": 100e6, "overwrite": 50e6}  # overwrite: a pass
SANACT = {"block": 2, "overwrite": 3, "crypto": 4}


def controller(disk: Disk, ctx: EraseContext, result: EraseResult) -> Controller | None:
    """The controller the admin commands go to, resolved through sysfs, or None (refused:
    the reason is in `result`) when it is unknown or names another drive."""
    root = ctx.options.get("sysfs_root")
    try:
        ctrl = nvme_sysfs.resolve_controller(disk.path, Path(root) if root else None)
    except nvme_sysfs.ResolveError as exc:
        result.errors.append(exc.args[0])
        return None
    result.details["controller"] = ctrl.path
    result.details["controller_serial"] = ctrl.serial
    probed = disk.extra.get("nvme_controller") or {}
    for found in (ctrl.serial, probed.get("id_ctrl_serial")):
        if disk.serial and found and not nvme_sysfs.same_serial(found, disk.serial):
            result.errors.append(Msg("the NVMe controller {ctrl} of {path} reports serial "
                                     "{found}, not {expected}: refused, it may be another "
                                     "drive", ctrl=ctrl.path, path=disk.path, found=found,
                                     expected=disk.serial))
            return None
    if probed.get("identity_mismatch"):
        result.errors.append(Msg("the probe found that the NVMe controller of {path} is "
                                 "not this drive: refused", path=disk.path))
        return None
    return ctrl


def namespaces_guard(disk: Disk, ctx: EraseContext, result: EraseResult, what: str) -> bool:
    caps = disk.nvme
    count = caps.namespaces if caps else 1
    result.details["namespaces"] = count
    if count > 1 and not ctx.options.get("all_namespaces_targeted"):
        result.errors.append(Msg("{what} erases all {n} namespaces of this controller: every "
                                 "namespace must be a target", what=what, n=count))
        return False
    return True


def read_log(ctrl: str, result: EraseResult) -> SanitizeStatus | None:
    res = firmware.command(["nvme", "sanitize-log", ctrl, "-o", "json"], LOG_TIMEOUT_S, result)
    if res is None:
        return None
    try:
        return parse_sanitize_log(res.stdout)
    except ValueError as exc:
        result.errors.append(Msg("unreadable sanitize log: {error}", error=str(exc)))
        return None


def busy_guard(disk: Disk, ctrl: Controller, result: EraseResult,
               resumable: str | None) -> tuple[bool, SanitizeStatus | None]:
    """Read the sanitize log first (when the drive has Sanitize): a sanitize in progress
    that is not `resumable` (the action this method would start) refuses the method and
    marks the drive busy, so nothing else is started over it."""
    caps = disk.nvme
    if caps is None or not caps.sanicap & 0x7:
        return True, None
    status = read_log(ctrl.path, result)
    if status is None:
        return False, None
    if status.in_progress and (resumable is None or status.action != resumable):
        result.details["drive_busy"] = True
        result.details["busy_with"] = status.action  # the sanitize running, not this method
        result.errors.append(Msg("a sanitize ({action}) is in progress on {ctrl} ({percent}%): "
                                 "nothing else is started before it ends",
                                 action=status.action or "unknown", ctrl=ctrl.path,
                                 percent=int(status.fraction * 100)))
        return False, status
    return True, status


def _timeout(ctx: EraseContext, key: str, estimate: float | None, fallback: float,
             result: EraseResult) -> float:
    """Record and return the timeout: from the configuration, the drive's estimate, or
    the capacity at a conservative rate (COMMON conventions: timeout_* details)."""
    if key in ctx.options:
        timeout, basis = float(ctx.options[key]), "config"
    elif estimate:
        timeout, basis = max(MIN_TIMEOUT_S, estimate * ctx.timeout_margin), "drive-estimate"
    else:
        timeout, basis = max(MIN_TIMEOUT_S, fallback * ctx.timeout_margin), "capacity"
    timeout = float(math.ceil(timeout))
    result.details.update(timeout_seconds=int(timeout), timeout_basis=basis,
                          estimate_seconds=int(estimate) if estimate is not None else None)
    return timeout


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
        ctrl = controller(disk, ctx, result)
        if ctrl is None:
            return result
        ok, _status = busy_guard(disk, ctrl, result, resumable=None)
        if not ok:  # never a format over a running sanitize
            return result
        if self.crypto:
            result.details["condition"] = firmware.CRYPTO_CONDITION
            if not firmware.take_before_samples(disk, result, ctx):
                return result
        else:
            firmware.expect_fill(result, "zero-or-ones", "format with user data erase: the "
                                 "namespace reads back as zeros or ones")
        timeout = _timeout(ctx, "format_timeout", None, disk.size_bytes / FORMAT_RATE, result)
        # Format NVM reports no progress and the drive gives no time estimate: the wait
        # reports the elapsed time until the command returns. nvme-cli gives up after its
        # own --timeout (milliseconds; 600000 unless told), the namespace device gets it.
        # (nvme-cli 2.2-2.4 drop --timeout and the kernel's admin_timeout applies, nvme-cli
        # issue 1925; the live image's 2.13 passes it to the ioctl)
        argv = ["nvme", "format", disk.path, f"--ses={self.ses}", f"--lbaf={caps.lbaf_in_use}",
                "--force", f"--timeout={int(timeout * 1000)}"]
        res = firmware.command_waiting(argv, timeout + RUNNER_MARGIN_S, result, ctx, disk,
                                       self.name)
        result.seconds = time.monotonic() - start
        if res is None:
            return result
        result.details["output"] = res.stdout.strip()
        result.status = "erased"
        return result


class NvmeSanitize:
    family = "nvme"

    def __init__(self, action: str):
        self.action = action
        self.name = f"nvme-sanitize-{action}"
        self.technique = {"crypto": "cryptographic erase", "block": "block erase",
                          "overwrite": "overwrite"}[action]

    def supported(self, disk: Disk) -> bool:
        return disk.nvme is not None and bool(getattr(disk.nvme.sanitize, self.action))

    def _argv(self, ctrl: str, passes: int) -> list[str]:
        argv = ["nvme", "sanitize", ctrl, f"--sanact={SANACT[self.action]}"]
        if self.action == "overwrite":
            # OWPASS is 4 bits and 0 means 16 passes (NVMe base spec, Sanitize CDW10);
            # nvme-cli without --owpass sends 0, i.e. 16 passes
            argv += [f"--owpass={passes % 16}", "--ovrpat=0"]
        return argv

    def _estimate(self, status: SanitizeStatus | None, passes: int) -> int | None:
        value = status.estimates.get(self.action) if status is not None else None
        if value is not None and self.action == "overwrite":
            value = math.ceil(value * passes / 16)  # ETO is for 16 passes
        return value

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique,
                             tool=f"nvme sanitize --sanact={SANACT[self.action]}")
        start = time.monotonic()
        clock = firmware.clock_of(ctx)
        passes = int(ctx.options.get("overwrite_passes", 1))
        if self.action == "overwrite":
            if not 1 <= passes <= 16:
                result.errors.append(Msg("overwrite passes must be between 1 and 16"))
                return result
            result.details["overwrite_passes"] = passes
        if not namespaces_guard(disk, ctx, result, Msg("Sanitize")):
            return result
        ctrl = controller(disk, ctx, result)
        if ctrl is None:
            return result
        ok, before = busy_guard(disk, ctrl, result, resumable=self.action)
        if not ok:
            return result
        if before is None:
            before = read_log(ctrl.path, result)
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
        rate = SANITIZE_RATE[self.action] / (passes if self.action == "overwrite" else 1)
        timeout = _timeout(ctx, "sanitize_timeout", self._estimate(before, passes),
                           disk.size_bytes / rate, result)
        if not resumed and firmware.command(self._argv(ctrl.path, passes), LOG_TIMEOUT_S,
                                            result) is None:
            return result
        scratch = EraseResult(self.name, "failed", self.technique)
        latest: list[SanitizeStatus] = [before]

        def check() -> tuple[bool, float | None, int | None]:
            status = read_log(ctrl.path, scratch)
            if status is None:
                return False, None, None
            latest.append(status)
            done = status.status in (SANITIZE_COMPLETED, SANITIZE_COMPLETED_NO_DEALLOC,
                                     SANITIZE_FAILED)
            fraction = status.fraction if status.status == SANITIZE_IN_PROGRESS else None
            return done, fraction, status.status

        polled = firmware.poll(check, timeout, SANITIZE_POLL_S, ctx, disk, clock, self.name)
        last = latest[-1]
        result.details["action_ran"] = last.action if len(latest) > 1 else before.action
        if polled.done and polled.last == SANITIZE_COMPLETED_NO_DEALLOC:
            result.details["no_deallocate"] = True
        if not polled.done:  # timed out or cancelled: the drive goes on sanitizing
            result.details["drive_busy"] = True
        return firmware.sanitize_ended(result, polled, timeout, start,
                                       drive_failed=polled.last == SANITIZE_FAILED)


register(NvmeFormat(crypto=False))
register(NvmeFormat(crypto=True))
for _action in ("crypto", "block", "overwrite"):
    register(NvmeSanitize(_action))
