"""Erase one disk: plan, run methods in order, verify, and say honestly what happened.

Used by `ardoise wipe` and by the appliance's job pipeline. `erase_disk` never raises for
a disk-level problem; it returns an Outcome whose status is
- erased: a method finished and its verification passed;
- unverified: a method finished but verify mode was "none": nothing was read back, so the
  disk is not called erased (the verify result says "not-done");
- failed: no method finished with verification evidence (errors say why);
- refused: the disk is not eligible (nothing was written);
- incomplete: cancelled while a method or its verification ran.

Read-back after firmware methods: a method that does not write a known pattern puts its
expectation in `EraseResult.details`:
- "expect": "zero" | "ones" | "zero-or-ones" (uniform fill after block erase / format),
  or "markers" (crypto erase: the marker blocks written at `details["sample_offsets"]`
  (`details["sample_length"]` bytes, the keyed stream of `details["marker_key"]`) before
  the erase must all be gone, see erasure.firmware.take_before_samples), or "changed"
  (older records: samples must differ from `details["before_samples"]`);
  a crypto erase found in progress (`resumed_in_progress`) with a fill expectation reads
  as the deallocated value (NVMe DLFEAT) or as ciphertext (erasure.verify.check_scrambled);
without "expect", the pattern of the context (zero or the keyed random stream) is checked.
Every read-back reports "verify" progress through the context (a sampled read-back of a
large drive reads a tenth of it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from erasure import firmware, methods
from erasure import verify as readback
from erasure.disk import Disk, Plan
from erasure.methods.base import EraseContext, EraseResult, Progress
from erasure.pattern import Pattern, new_key
from erasure.plan import make_plan
from erasure.text import Msg

STATUSES = ("erased", "unverified", "failed", "refused", "incomplete")

# Every METHOD name of the CLI contract (a name whose family module is not installed is
# reported as unavailable at run time, never silently replaced).
METHOD_NAMES = (
    "overwrite", "ata-secure-erase", "ata-secure-erase-enhanced",
    "ata-sanitize-crypto", "ata-sanitize-block", "ata-sanitize-overwrite",
    "nvme-format-user", "nvme-format-crypto",
    "nvme-sanitize-crypto", "nvme-sanitize-block", "nvme-sanitize-overwrite",
    "scsi-sanitize-crypto", "scsi-sanitize-block", "scsi-sanitize-overwrite",
    "mmc-erase", "mmc-sanitize", "opal-psid-revert",
)
FILL_EXPECTATIONS = {"zero": (0x00,), "ones": (0xFF,), "zero-or-ones": (0x00, 0xFF)}
SAMPLE_GROUP_BYTES = 16 * 1024 * 1024  # samples read between two progress events


@dataclass
class Outcome:
    disk: Disk
    level: str
    plan: Plan | None
    method: str | None  # the method that ran last (the one that succeeded, if any)
    pattern: str
    status: str
    erase: EraseResult | None = None
    verify: readback.VerifyResult = field(default_factory=readback.not_done)
    errors: list[str] = field(default_factory=list)
    attempts: list[EraseResult] = field(default_factory=list)
    started: float = 0.0  # wall clock (time.time())
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)

    @property
    def started_at(self) -> datetime:
        return datetime.fromtimestamp(self.started, UTC)

    @property
    def ended_at(self) -> datetime:
        return datetime.fromtimestamp(self.finished, UTC)

    @property
    def result(self) -> EraseResult | None:
        """The EraseResult of the method that ran last (alias of `erase`)."""
        return self.erase

    @property
    def methods_tried(self) -> list[str]:
        return [a.method for a in self.attempts]

    @property
    def bytes_written(self) -> int:
        return sum(a.bytes_written for a in self.attempts)

    def to_json(self) -> dict[str, Any]:
        """One entry of `ardoise wipe --json` (DESIGN.md), without the certificate."""
        return {
            "path": self.disk.path, "id": self.disk.id, "serial": self.disk.serial,
            "method": self.method, "level": self.level, "pattern": self.pattern,
            "status": self.status,
            "verify": self.verify.to_json(),
            "bytes_written": self.bytes_written, "seconds": round(self.seconds, 3),
            "erase_seconds": round(sum(a.seconds for a in self.attempts), 3),
            "cpu_seconds": round(sum(float(a.details.get("cpu_seconds", 0.0))
                                     for a in self.attempts), 3),
            "errors": [str(e) for e in self.errors],
            "io_errors": [{"offset": r.offset, "length": r.length, "error": r.error}
                          for a in self.attempts for r in a.io_errors],
        }


def methods_for(disk: Disk, level: str, method: str) -> tuple[Plan, list[str], list[str]]:
    """(plan, methods to try in order, errors) for `method` auto or a forced name."""
    plan = make_plan(disk, level)
    if method == "auto":
        if not plan.reachable or not plan.methods:
            return plan, [], [Msg("no method of this drive reaches {level}", level=level),
                              *plan.reasons]
        return plan, list(plan.methods), []
    if method not in METHOD_NAMES:
        return plan, [], [Msg("unknown method {method}", method=method)]
    try:
        impl = methods.get(method)
    except KeyError:
        return plan, [], [Msg("method {method} is not available in this version",
                              method=method)]
    if not impl.supported(disk):
        return plan, [], [Msg("{path} does not support {method}", path=disk.path,
                              method=method)]
    return plan, [method], []


SANITIZE_TECHNIQUES = {"crypto": "cryptographic erase", "block": "block erase",
                      "overwrite": "overwrite"}


def _method_that_ran(name: str, result: EraseResult) -> str:
    """The method the drive says ran (details["action_ran"], e.g. a sanitize found in
    progress that is not the one asked for); the result's technique follows it."""
    action = result.details.get("action_ran")
    family = name.rsplit("-", 1)[0]
    if action in SANITIZE_TECHNIQUES and family in ("nvme-sanitize", "ata-sanitize",
                                                    "scsi-sanitize"):
        ran = f"{family}-{action}"
        if ran != name:
            result.details.setdefault("method_asked", name)
            result.method = ran
            result.technique = SANITIZE_TECHNIQUES[action]
        return ran
    return name


def _busy_with(name: str, result: EraseResult) -> str:
    action = result.details.get("action_ran")
    what = f"{name.rsplit('-', 1)[0]} {action}" if action else name
    if result.details.get("resumed_in_progress"):
        return Msg("{what} (found in progress)", what=what)
    return what


def _check(disk: Disk, result: EraseResult, ctx: EraseContext, mode: str) -> readback.VerifyResult:
    """Verification evidence for what `result` claims to have done."""
    expect = result.details.get("expect")
    if mode == "none":
        return readback.not_done("none")
    if expect == "markers":
        offsets, length = result.details["sample_offsets"], result.details["sample_length"]
        after = _read_samples(disk.path, offsets, length, ctx)
        if after is None:
            return readback.not_done(mode, Msg("cancelled"))
        check = readback.check_markers(after, offsets,
                                       Pattern("random", result.details["marker_key"]))
        return _from_check("sample", check, len(after) * length, disk.size_bytes, "markers")
    if expect == "changed":
        offsets = result.details["sample_offsets"]
        after = _read_samples(disk.path, offsets, result.details["sample_length"], ctx)
        if after is None:
            return readback.not_done(mode, Msg("cancelled"))
        check = readback.check_changed(result.details["before_samples"], after, offsets)
        return _from_check("sample", check, len(after) * result.details["sample_length"],
                           disk.size_bytes, "before-after")
    if expect in FILL_EXPECTATIONS and _resumed_crypto(result):
        # a crypto erase found in progress: no markers could be written before it; the
        # media reads as the drive's deallocated value or as ciphertext
        offsets, length = firmware.crypto_sample_grid(disk)
        samples = _read_samples(disk.path, offsets, length, ctx)
        if samples is None:
            return readback.not_done(mode, Msg("cancelled"))
        check = readback.check_scrambled(samples, offsets, deallocated_values(disk))
        return _from_check("sample", check, len(samples) * length, disk.size_bytes,
                           "scrambled-or-fill")
    if expect in FILL_EXPECTATIONS and mode == "sample":
        length = readback.sample_length(disk.size_bytes, align=max(4096, disk.logical_block_size))
        offsets = readback.sample_offsets(disk.size_bytes, length,
                                        align=max(4096, disk.logical_block_size))
        samples = _read_samples(disk.path, offsets, length, ctx)
        if samples is None:
            return readback.not_done(mode, Msg("cancelled"))
        check = readback.check_fill(samples, offsets, FILL_EXPECTATIONS[expect])
        return _from_check("sample", check, len(samples) * length, disk.size_bytes,
                           "uniform-fill")
    if expect in FILL_EXPECTATIONS:
        pattern = Pattern("zero")  # full read-back of a block erase: zeros is what we check
        if expect == "ones":
            return readback.not_done(mode, Msg("full verify of an all-ones fill is not supported"))
    else:
        pattern = Pattern(ctx.pattern, ctx.key)
    checked = readback.verify(disk.path, pattern, mode, progress=ctx.progress, cancel=ctx.cancel,
                         block_size=int(ctx.options.get("block_size", readback.DEFAULT_BLOCK)),
                         depth=int(ctx.options.get("queue_depth", readback.DEFAULT_DEPTH)))
    if expect in FILL_EXPECTATIONS:
        checked.method = "uniform-fill"
    return checked


def _resumed_crypto(result: EraseResult) -> bool:
    return bool(result.details.get("resumed_in_progress")) and (
        result.technique == "cryptographic erase")


def deallocated_values(disk: Disk) -> tuple[int, ...]:
    """What deallocated blocks read as: NVMe id-ns DLFEAT bits 2:0 (001b zeros, 010b 0xFF),
    else zeros or ones."""
    dlfeat = disk.extra.get("nvme_dlfeat")
    read = int(dlfeat) & 0x7 if isinstance(dlfeat, int) else 0
    return {1: (0x00,), 2: (0xFF,)}.get(read, (0x00, 0xFF))


def _read_samples(path: str, offsets: list[int], length: int,
                  ctx: EraseContext) -> list[bytes] | None:
    """readback.read_samples in groups, with "verify" progress; None when cancelled."""
    total = len(offsets) * length
    group = max(1, SAMPLE_GROUP_BYTES // max(length, 1))
    start = time.monotonic()
    ctx.emit(Progress(path, "verify", 0, total))
    samples: list[bytes] = []
    for first in range(0, len(offsets), group):
        if ctx.cancel.is_set():
            return None
        samples += readback.read_samples(path, offsets[first:first + group], length)
        done = len(samples) * length
        rate = done / max(time.monotonic() - start, 1e-6)
        ctx.emit(Progress(path, "verify", done, total, rate, (total - done) / rate))
    return samples


def _from_check(mode: str, check: readback.SampleCheck, checked: int, size: int,
                method: str) -> readback.VerifyResult:
    return readback.VerifyResult(mode, "pass" if check.passed else "fail", checked,
                               checked / size if size else 0.0, check.checked,
                               mismatches=check.first_failures, method=method)


def erase_disk(disk: Disk, level: str = "clear", method: str = "auto", pattern: str = "zero",
               verify_mode: str = "sample", ctx: EraseContext | None = None) -> Outcome:
    """Erase `disk` to `level` and verify; see the module docstring for the statuses."""
    ctx = ctx or EraseContext()
    ctx.pattern = pattern
    if pattern == "random" and ctx.key is None:
        ctx.key = new_key()
    out = Outcome(disk, level, None, None, pattern, "failed", started=time.time())
    if not disk.eligible:
        out.status = "refused"
        out.errors.append(disk.excluded_reason or Msg("not eligible"))
        out.finished = time.time()
        return out
    try:
        out.plan, order, errors = methods_for(disk, level, method)
    except ValueError:
        order, errors = [], [Msg("unknown level {level}", level=level)]
    out.errors.extend(errors)
    for name in order:
        if ctx.cancel.is_set():
            break
        impl = methods.get(name)
        out.method = name
        try:
            result = impl.run(disk, ctx)
        except Exception as exc:  # a method bug must not hide what happened to the disk
            result = EraseResult(name, "failed", impl.technique,
                                 errors=[Msg("{method} crashed: {error}", method=name,
                                             error=repr(exc))])
        firmware.record_tool_version(result)
        out.method = _method_that_ran(name, result)
        out.attempts.append(result)
        out.erase = result
        out.errors.extend(result.errors)
        if result.status == "incomplete":
            out.status = "incomplete"
            break
        if result.status != "erased" and result.details.get("drive_busy"):
            # the drive still works on an operation: starting another method would adopt
            # (and certify) that operation under the wrong name
            out.status = "incomplete" if ctx.cancel.is_set() else "failed"
            out.errors.append(Msg("the drive is still busy with an operation: {what}; not "
                                  "starting another method", what=_busy_with(name, result)))
            break
        if result.status != "erased":
            continue
        try:
            out.verify = _check(disk, result, ctx, verify_mode)
        except OSError as exc:
            out.verify = readback.VerifyResult(verify_mode, "fail",
                                             errors=[Msg("read-back failed: {error}",
                                                         error=exc.strerror or str(exc))])
        out.errors.extend(out.verify.errors)
        if out.verify.result == "pass":
            out.status = "erased"
            break
        if verify_mode == "none" and out.verify.result == "not-done":
            out.status = "unverified"  # the method ran; nothing was read back
            break
        if ctx.cancel.is_set():
            out.status = "incomplete"
            break
        if out.verify.mismatches and out.verify.method == "markers":
            out.errors.append(Msg("the drive ignored the erase: marker blocks written before "
                                  "it are still there (first at byte {offset})",
                                  offset=out.verify.mismatches[0]))
        elif out.verify.mismatches:
            out.errors.append(Msg("verification found {n} mismatching block(s), first at byte "
                                  "{offset}", n=len(out.verify.mismatches),
                                  offset=out.verify.mismatches[0]))
        if out.verify.read_errors:
            out.errors.append(Msg("verification could not read byte {offset}",
                                  offset=out.verify.read_errors[0]))
    if ctx.cancel.is_set() and out.status not in ("erased", "unverified"):
        out.status = "incomplete"
    out.finished = time.time()
    return out
