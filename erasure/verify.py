"""Read-back verification: none, sampled (NIST SP 800-88) or full, always O_DIRECT.

`verify(path, pattern, mode)` compares what the device returns with the regenerated
pattern (zeros, or the keyed random stream of erasure.pattern) and returns a
VerifyResult naming the first mismatching byte offsets.

Sampling keeps the read-back of NIST SP 800-88 Rev. 1 §4.7.1 (Rev. 2 leaves the
verification technique to IEEE 2883 and the organisation): at least 10% of the media in at
least 1,000 subsections spread over the whole addressable range, the first and the last
block included (`sample_offsets`, `sample_length`).

Helpers for firmware methods (block erase, crypto erase, format), which know the
expected content only loosely:
- `read_samples(path, offsets, length)` -> list[bytes], O_DIRECT;
- `check_fill(samples, offsets, allowed=(0x00, 0xFF))` - every sample is one uniform
  byte value among `allowed` (block erase / format read-back: zeros, ones, or either);
- `check_changed(before, after, offsets)` - every sample differs from what was read at
  the same offset before the erase (older crypto-erase records);
- `write_markers(path, offsets, length, pattern)` / `check_markers(after, offsets, pattern)`
  - before a crypto erase a per-run random block (distinct per offset: the keyed stream
  at that offset) is written at each sample offset, O_DIRECT then fsync; afterwards every
  marker must be gone. A drive that was blank before (new, TRIMmed, already wiped) thus
  proves the erase too, and one that ignored it keeps its markers;
- `check_scrambled(samples, offsets, allowed)` - a crypto erase found in progress (no
  markers could be written): each sample reads as the drive's documented deallocated
  value (`allowed`) or as ciphertext-like bytes (>= SCRAMBLED_BITS bits of entropy/byte).
All return a SampleCheck (passed, counts, first failing offsets).
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from erasure import blockdev
from erasure.blockdev import AlignedBuffer, Block
from erasure.meter import Meter
from erasure.methods.base import Progress
from erasure.pattern import Pattern
from erasure.text import Msg

MODES = ("none", "sample", "full")
NIST_SHARE = 0.10
NIST_SUBSECTIONS = 1000
DEFAULT_BLOCK = 8 * blockdev.MiB
DEFAULT_DEPTH = 4
MAX_REPORTED = 10
SECTOR = 512
SCRAMBLED_BITS = 7.5  # Shannon entropy per byte of a 4 KiB random block is ~7.95


@dataclass
class VerifyResult:
    mode: str  # none | sample | full
    result: str  # pass | fail | not-done
    bytes_checked: int = 0
    sample_share: float = 0.0  # bytes_checked / size
    subsections: int = 0
    mismatches: list[int] = field(default_factory=list)  # first mismatching byte offsets
    read_errors: list[int] = field(default_factory=list)  # offsets of unreadable blocks
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # CPU of the reading/comparing threads
    # what was compared: pattern | uniform-fill | markers | before-after | scrambled-or-fill
    method: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"mode": self.mode, "result": self.result, "method": self.method,
                "bytes_checked": self.bytes_checked,
                "sample_share": round(self.sample_share, 6), "subsections": self.subsections,
                "mismatches": self.mismatches, "read_errors": self.read_errors,
                "seconds": round(self.seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3)}


def not_done(mode: str = "none", reason: str | None = None) -> VerifyResult:
    return VerifyResult(mode, "not-done", errors=[reason] if reason else [])


# ---- sampling -------------------------------------------------------------------------

def sample_length(size: int, share: float = NIST_SHARE, count: int = NIST_SUBSECTIONS,
                  align: int = 4096) -> int:
    """Length of each subsection so that `count` of them cover at least `share` of size."""
    want = -(-int(size * share) // count)
    return min(size, max(align, -(-want // align) * align))


def sample_offsets(size: int, length: int, count: int = NIST_SUBSECTIONS, align: int = 4096,
                   seed: int | None = None) -> list[int]:
    """`count` aligned offsets of `length`-byte subsections spread over [0, size).

    The first subsection starts at 0 and the last one ends at the last byte; the others
    sit at a pseudo-random place inside their own equal stride, so every region of the
    media is sampled and a drive cannot guess which blocks are read. Fewer (non
    overlapping) subsections are returned when the media is too small for `count`.
    """
    if size <= length:
        return [0]
    last = size - length  # the last subsection ends on the last byte (sector aligned)
    if last % SECTOR:
        last = last // align * align
    count = max(2, min(count, (last // length) + 1))
    rng = random.Random(seed)
    stride = last / (count - 1)
    offsets = [0]
    for i in range(1, count - 1):
        lo = int(i * stride) // align * align
        hi = max(lo, min(int((i + 1) * stride) - length, last - length) // align * align)
        lo = max(lo, offsets[-1] + length)
        offsets.append(lo if hi <= lo else rng.randrange(lo, hi + 1, align))
    offsets.append(last)
    return offsets


def read_samples(path: str, offsets: Sequence[int], length: int) -> list[bytes]:
    """Read `length` bytes at each offset with O_DIRECT (aligned offsets and length)."""
    fd = blockdev.open_device(path, write=False, exclusive=False)
    buf = AlignedBuffer(length)
    try:
        out = []
        for offset in offsets:
            blockdev.pread_into(fd, buf.view[:length], offset)
            out.append(bytes(buf.view[:length]))
        return out
    finally:
        buf.close()
        os.close(fd)


@dataclass
class SampleCheck:
    passed: bool
    checked: int
    failed: int
    first_failures: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)  # uniform byte values seen (check_fill)


def check_fill(samples: Sequence[bytes], offsets: Sequence[int],
               allowed: Sequence[int] = (0x00, 0xFF)) -> SampleCheck:
    """Each sample must be one byte value repeated, and that value in `allowed`."""
    failed, values = 0, set()
    firsts: list[int] = []
    for data, offset in zip(samples, offsets, strict=True):
        value = data[0] if data else 0
        if value in allowed and data == bytes([value]) * len(data):
            values.add(value)
            continue
        failed += 1
        if len(firsts) < MAX_REPORTED:
            firsts.append(offset)
    return SampleCheck(failed == 0, len(samples), failed, firsts, sorted(values))


def check_changed(before: Sequence[bytes], after: Sequence[bytes],
                  offsets: Sequence[int]) -> SampleCheck:
    """Every sample must differ from its before-erase counterpart.

    A sample that was uniform before (e.g. never written: zeros) and is still the same
    uniform value proves nothing either way and is not counted as a failure.
    """
    failed, checked = 0, 0
    firsts: list[int] = []
    for old, new, offset in zip(before, after, offsets, strict=True):
        if old == new and old == old[:1] * len(old):
            continue
        checked += 1
        if old == new:
            failed += 1
            if len(firsts) < MAX_REPORTED:
                firsts.append(offset)
    return SampleCheck(failed == 0 and checked > 0, checked, failed, firsts)


def write_markers(path: str, offsets: Sequence[int], length: int, pattern: Pattern) -> None:
    """Write `pattern`'s bytes at each offset (O_DIRECT), then fsync and drop the cache."""
    fd = blockdev.open_device(path, write=True)
    buf = AlignedBuffer(length)
    try:
        for offset in offsets:
            pattern.fill(buf.view, offset, length)
            blockdev.pwrite_all(fd, buf.view[:length], offset)
        blockdev.flush(fd)
    finally:
        buf.close()
        os.close(fd)


def check_markers(after: Sequence[bytes], offsets: Sequence[int],
                  pattern: Pattern) -> SampleCheck:
    """Every marker written before the erase must be gone (any other content passes)."""
    failed, values = 0, set()
    firsts: list[int] = []
    for data, offset in zip(after, offsets, strict=True):
        if data == pattern.bytes_at(offset, len(data)):
            failed += 1
            if len(firsts) < MAX_REPORTED:
                firsts.append(offset)
        elif data and data == data[:1] * len(data):
            values.add(data[0])
    return SampleCheck(failed == 0 and len(after) > 0, len(after), failed, firsts,
                       sorted(values))


def entropy_bits(data: bytes) -> float:
    """Shannon entropy in bits per byte."""
    if not data:
        return 0.0
    counts = [0] * 256
    for b in data:
        counts[b] += 1
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in counts if c)


def check_scrambled(samples: Sequence[bytes], offsets: Sequence[int],
                    allowed: Sequence[int] = (0x00, 0xFF)) -> SampleCheck:
    """Each sample is a uniform `allowed` value or reads as ciphertext (random-looking)."""
    failed, values = 0, set()
    firsts: list[int] = []
    for data, offset in zip(samples, offsets, strict=True):
        if data and data == data[:1] * len(data) and data[0] in allowed:
            values.add(data[0])
            continue
        if entropy_bits(data) >= SCRAMBLED_BITS:
            continue
        failed += 1
        if len(firsts) < MAX_REPORTED:
            firsts.append(offset)
    return SampleCheck(failed == 0 and len(samples) > 0, len(samples), failed, firsts,
                       sorted(values))


# ---- comparison against the written pattern ------------------------------------------

class _Checker:
    def __init__(self, fd: int, pattern: Pattern, block: int, progress: Callable[[int], None]):
        self.fd, self.pattern, self.progress = fd, pattern, progress
        self.expected: dict[int, AlignedBuffer] = {}
        self.zeros = AlignedBuffer(block) if pattern.is_zero else None
        self.lock = threading.Lock()
        self.checked = 0
        self.mismatches: list[int] = []
        self.read_errors: list[int] = []
        self.block = block

    def _expected_buffer(self) -> AlignedBuffer:
        ident = threading.get_ident()
        with self.lock:
            buf = self.expected.get(ident)
            if buf is None:
                buf = self.expected[ident] = AlignedBuffer(self.block)
        return buf

    def work(self, buf: AlignedBuffer, block: Block) -> None:
        view = buf.view[:block.length]
        try:
            blockdev.pread_into(self.fd, view, block.offset)
        except OSError:
            with self.lock:
                self.read_errors.append(block.offset)
            self.progress(block.length)
            return
        if self.zeros is not None:
            expected = self.zeros
        else:
            expected = self._expected_buffer()
            self.pattern.fill(expected.view, block.offset, block.length)
        diff = blockdev.first_difference(buf, expected, block.length)
        with self.lock:
            self.checked += block.length
            if diff is not None:
                self.mismatches.append(block.offset + diff)
        self.progress(block.length)

    def close(self) -> None:
        for buf in self.expected.values():
            buf.close()
        if self.zeros is not None:
            self.zeros.close()


def verify(path: str, pattern: Pattern, mode: str, *,
           progress: Callable[[Progress], None] | None = None,
           cancel: threading.Event | None = None,
           block_size: int = DEFAULT_BLOCK, depth: int = DEFAULT_DEPTH,
           share: float = NIST_SHARE, subsections: int = NIST_SUBSECTIONS,
           seed: int | None = None) -> VerifyResult:
    """Read back (all of it, or a NIST sample) and compare with `pattern`."""
    if mode not in MODES:
        raise ValueError(f"unknown verify mode {mode!r}")
    if mode == "none":
        return not_done("none")
    cancel = cancel or threading.Event()
    start = time.monotonic()
    fd = blockdev.open_device(path, write=False, exclusive=False)
    try:
        size = blockdev.size_of(fd)
        align = max(4096, blockdev.logical_block_size(fd))
        if mode == "full":
            ranges = [(0, size)]
        else:
            length = sample_length(size, share, subsections, align)
            ranges = [(o, length) for o in sample_offsets(size, length, subsections, align, seed)]
        total = sum(n for _, n in ranges)
        meter = Meter(path, total, progress, "verify", 0.1)
        checker = _Checker(fd, pattern, block_size, meter.add)
        try:
            done = blockdev.parallel(blockdev.split(ranges, block_size), block_size, depth,
                                     checker.work, cancel)
        finally:
            checker.close()
        meter.emit()
    finally:
        os.close(fd)
    result = VerifyResult(mode, "pass", checker.checked, checker.checked / size if size else 0.0,
                          len(ranges), sorted(checker.mismatches)[:MAX_REPORTED],
                          sorted(checker.read_errors)[:MAX_REPORTED],
                          time.monotonic() - start, cpu_seconds=done.cpu_seconds,
                          method="pattern")
    failure = done.failure
    if failure is not None:
        result.result = "fail"
        result.errors.append(Msg("verification stopped: {error}", error=str(failure)))
    elif cancel.is_set():
        result.result = "not-done"
        result.errors.append(Msg("cancelled"))
    elif checker.mismatches or checker.read_errors:
        result.result = "fail"
    return result
