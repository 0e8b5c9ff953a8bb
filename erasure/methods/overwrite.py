"""The overwrite engine: every addressable byte rewritten at device speed (NIST Clear).

O_DIRECT writes from page-aligned buffers, large blocks, several writes in flight (one
thread per in-flight write: os.pwrite releases the GIL, so each thread generates its next
block while the others write). Progress is coalesced to at most ~10 events a second;
`ctx.cancel` stops it (status incomplete). The end is honest: fsync + BLKFLSBUF. A failing
block is retried in smaller pieces so that the result names the unwritable byte ranges;
the engine continues past them and the status is failed.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass

from erasure import blockdev
from erasure.blockdev import AlignedBuffer, Block
from erasure.disk import Disk
from erasure.methods import register
from erasure.methods.base import EraseContext, EraseResult, IoErrorRange, Progress
from erasure.pattern import Pattern
from erasure.text import Msg

DEFAULT_BLOCK = 8 * blockdev.MiB
DEFAULT_DEPTH = 4
MAX_ERROR_RANGES = 1000
EMIT_INTERVAL = 0.1


class Meter:
    """Counts done bytes from many threads and emits coalesced Progress events."""

    def __init__(self, ctx: EraseContext, path: str, phase: str, total: int, base: int = 0,
                 grand_total: int | None = None):
        self.ctx, self.path, self.phase = ctx, path, phase
        self.total = grand_total if grand_total is not None else total
        self.base = base
        self.done = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n
            now = time.monotonic()
            if now - self.last < EMIT_INTERVAL:
                return
            self.last = now
        self.emit()

    def emit(self, message: str = "") -> None:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.done / elapsed
        done = self.base + self.done
        eta = (self.total - done) / rate if rate > 0 else None
        self.ctx.emit(Progress(self.path, self.phase, done, self.total, rate, eta, message))


@dataclass
class Writer:
    """One pass of one pattern over [0, size) of an open device."""

    fd: int
    size: int
    pattern: Pattern
    meter: Meter
    min_piece: int = 4096

    def __post_init__(self) -> None:
        self.errors: list[IoErrorRange] = []
        self.written = 0
        self.lock = threading.Lock()

    def work(self, buf: AlignedBuffer, block: Block) -> None:
        view = buf.view[:block.length]
        if not self.pattern.is_zero:
            self.pattern.fill(buf.view, block.offset, block.length)
        try:
            blockdev.pwrite_all(self.fd, view, block.offset)
            good = block.length
        except OSError as exc:
            good = self._narrow(view, block.offset, exc)
        with self.lock:
            self.written += good
        self.meter.add(block.length)

    def _narrow(self, view: memoryview, offset: int, exc: OSError) -> int:
        """Retry a failed write in eighths down to min_piece; record what still fails."""
        length = len(view)
        if length <= self.min_piece:
            self._record(offset, length, exc)
            return 0
        piece = max(self.min_piece, -(-length // 8 // self.min_piece) * self.min_piece)
        good = 0
        for start in range(0, length, piece):
            part = view[start:start + piece]
            try:
                blockdev.pwrite_all(self.fd, part, offset + start)
                good += len(part)
            except OSError as inner:
                good += self._narrow(part, offset + start, inner)
        return good

    def _record(self, offset: int, length: int, exc: OSError) -> None:
        text = exc.strerror or str(exc)
        with self.lock:
            last = self.errors[-1] if self.errors else None
            if last and last.offset + last.length == offset and last.error == text:
                last.length += length
            else:
                self.errors.append(IoErrorRange(offset, length, text))
            if len(self.errors) > MAX_ERROR_RANGES:
                raise TooManyErrors(len(self.errors))


class TooManyErrors(Exception):
    pass


def pass_pattern(pattern: Pattern, number: int, passes: int) -> Pattern:
    """The last pass writes `pattern` itself (what verification checks); earlier random
    passes use keys derived from it so no two passes write the same bytes."""
    if pattern.is_zero or number == passes - 1:
        return pattern
    assert pattern.key is not None
    key = hashlib.sha256(pattern.key + number.to_bytes(4, "big")).digest()[:16]
    return Pattern("random", key)


class Overwrite:
    name = "overwrite"
    family = "overwrite"
    technique = "overwrite"

    def supported(self, disk: Disk) -> bool:
        return True

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        pattern = Pattern(ctx.pattern, ctx.key)
        block = int(ctx.options.get("block_size", DEFAULT_BLOCK))
        depth = int(ctx.options.get("queue_depth", DEFAULT_DEPTH))
        passes = max(1, ctx.passes)
        result = EraseResult(self.name, "failed", self.technique,
                             tool=f"ardoise overwrite ({pattern.name}, {passes} pass"
                                  f"{'es' if passes > 1 else ''})")
        start = time.monotonic()
        try:
            fd = blockdev.open_device(disk.path, write=True)
        except OSError as exc:
            result.errors.append(Msg("cannot open {path}: {error}", path=disk.path,
                                     error=exc.strerror or str(exc)))
            return result
        try:
            size = blockdev.size_of(fd)
            lbs = blockdev.logical_block_size(fd)
            result.details.update(pattern=pattern.name, passes=passes, block_size=block,
                                  queue_depth=depth, size_bytes=size)
            cpu = 0.0
            for number in range(passes):
                meter = Meter(ctx, disk.path, "erase", size, base=number * size,
                              grand_total=size * passes)
                writer = Writer(fd, size, pass_pattern(pattern, number, passes), meter,
                                min_piece=max(lbs, 4096))
                done = blockdev.parallel(blockdev.split([(0, size)], block), block, depth,
                                         writer.work, ctx.cancel)
                failure = done.failure
                cpu += done.cpu_seconds
                result.bytes_written += writer.written
                result.io_errors.extend(writer.errors)
                if isinstance(failure, TooManyErrors):
                    result.errors.append(Msg("more than {n} unwritable ranges: stopped",
                                             n=MAX_ERROR_RANGES))
                    break
                if failure is not None:
                    raise failure
                meter.emit()
                if ctx.cancel.is_set():
                    break
            try:
                blockdev.flush(fd)
            except OSError as exc:
                result.errors.append(Msg("cache flush failed: {error}",
                                         error=exc.strerror or str(exc)))
            result.details["cpu_seconds"] = round(cpu, 3)
        finally:
            os.close(fd)
        result.seconds = time.monotonic() - start
        for err in result.io_errors:
            result.errors.append(Msg("write error at bytes {start}-{end}: {error}",
                                     start=err.offset, end=err.offset + err.length - 1,
                                     error=err.error))
        if ctx.cancel.is_set():
            result.status = "incomplete"
            result.errors.append(Msg("cancelled"))
        elif result.errors:
            result.status = "failed"
        else:
            result.status = "erased"
        return result


register(Overwrite())
