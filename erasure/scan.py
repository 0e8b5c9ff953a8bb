"""Read every byte of a disk and say what is still recoverable on it (the audit's engine).

    regions = [Region(0, 4 << 20, IMAGE, blake3="..."), Region(4 << 20, rest, ZERO)]
    result = scan("/dev/sdb", regions, progress=..., cancel=...)

The caller cuts the disk into regions, each with what it must hold:
- IMAGE: the bytes of an image chunk; their BLAKE3 must equal `blake3` (a chunk that the
  post-write steps may rewrite, a GPT on a larger disk, says `adjustable`);
- ZERO: zeros (the erase pattern, or a range the image says must read as zero);
- ANY: no pattern to compare (a random pattern whose key is gone, a firmware erase);
- TABLE: a partition-table structure the image's own steps wrote (the backup GPT at the
  end of a larger disk): read, not judged.
Every ZERO and ANY byte that is not zero is searched for the signatures of
erasure.signatures at every 512-byte sector start. The disk is read once, front to back,
with O_DIRECT into large aligned buffers by a few threads (blockdev.parallel); the search
looks at one byte column per signature offset (a strided slice of the buffer), so random
data costs a few candidate checks per megabyte, not a Python loop per sector.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import blake3

from erasure import blockdev
from erasure.blockdev import AlignedBuffer, Block
from erasure.meter import Meter
from erasure.methods.base import Progress
from erasure.signatures import SECTOR, SIGNATURES, WINDOW, Signature

IMAGE, ZERO, ANY, TABLE = "image", "zero", "any", "table"
EXPECTS = (IMAGE, ZERO, ANY, TABLE)
DEFAULT_BLOCK = 8 * blockdev.MiB
DEFAULT_DEPTH = 4
MAX_FINDINGS = 1000  # kept in the result; `counts` has the totals


@dataclass(frozen=True)
class Region:
    offset: int
    length: int
    expect: str  # image | zero | any | table
    blake3: str | None = None
    label: str = ""
    adjustable: bool = False  # an image chunk the post-write steps may have rewritten


@dataclass
class Finding:
    offset: int
    kind: str  # signature | image-mismatch | pattern-mismatch | read-error | table-adjusted
    what: str  # signature name, chunk label, ...
    length: int = 0
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {"offset": self.offset, "length": self.length, "kind": self.kind,
                "what": self.what, "detail": self.detail}


@dataclass
class ScanResult:
    size: int
    bytes_read: int = 0
    image_bytes: int = 0
    zero_bytes: int = 0  # bytes that had to read as zero
    any_bytes: int = 0  # bytes with no pattern to compare
    table_bytes: int = 0
    searched_bytes: int = 0  # non-zero bytes searched for signatures
    nonzero_bytes: int = 0  # bytes of blocks outside the image that were not all zero
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # findings per kind, all of them
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    cancelled: bool = False
    error: str | None = None

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.kind != "table-adjusted"]

    @property
    def rate(self) -> float:
        return self.bytes_read / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Unit(Block):
    region: Region | None = None


def units(regions: Sequence[Region], block_size: int) -> Iterator[_Unit]:
    """One read per image chunk (hashed whole), blocks of `block_size` elsewhere."""
    for r in regions:
        if r.expect == IMAGE:
            yield _Unit(r.offset, r.length, r)
            continue
        for b in blockdev.split([(r.offset, r.length)], block_size):
            yield _Unit(b.offset, b.length, r)


def check_regions(regions: Sequence[Region], size: int, align: int) -> None:
    """Regions must be in order, aligned, not overlapping and cover [0, size) exactly."""
    pos = 0
    for r in regions:
        if r.expect not in EXPECTS:
            raise ValueError(f"unknown expectation {r.expect!r}")
        if r.offset != pos or r.length <= 0 or r.offset % align or r.length % align:
            raise ValueError(f"region at {r.offset} (+{r.length}) leaves a gap, overlaps "
                             f"or is not aligned to {align} bytes")
        pos += r.length
    if pos != size:
        raise ValueError(f"regions cover {pos} bytes of {size}")


# ---- the signature search -------------------------------------------------------------

def _columns(signatures: Sequence[Signature]) -> list[tuple[int, re.Pattern[bytes],
                                                            list[Signature]]]:
    """Per offset in the sector: a pattern of the magics' first bytes, and the magics."""
    by_at: dict[int, list[Signature]] = {}
    for sig in signatures:
        by_at.setdefault(sig.at, []).append(sig)
    out = []
    for at, sigs in sorted(by_at.items()):
        firsts = sorted({s.magic[0] for s in sigs})
        out.append((at, re.compile(b"[" + b"".join(re.escape(bytes([b])) for b in firsts)
                                   + b"]"), sigs))
    return out


_COLUMNS = _columns(SIGNATURES)


def find_signatures(buf: AlignedBuffer, length: int, base: int = 0,
                    columns: Sequence[tuple[int, re.Pattern[bytes], list[Signature]]] = _COLUMNS
                    ) -> list[tuple[int, Signature]]:
    """(disk offset of the sector, signature) for every sector start in buf[0:length]
    that carries one (the first that matches, per sector). `base` is the disk offset of
    buf[0]; length is a multiple of 512."""
    found: dict[int, Signature] = {}
    m, start = buf.map, buf.start
    end = start + length
    for at, first, sigs in columns:
        column = m[start + at:end:SECTOR]  # byte `at` of every sector
        for hit in first.finditer(column):
            sector = hit.start() * SECTOR
            if sector in found:
                continue
            pos = start + sector + at
            for sig in sigs:
                if m[pos:pos + len(sig.magic)] != sig.magic:
                    continue
                if sig.check is None or sig.check(m[start + sector:min(end, start + sector
                                                                       + WINDOW)]):
                    found[sector] = sig
                    break
    return [(base + s, found[s]) for s in sorted(found)]


# ---- the scan -------------------------------------------------------------------------

class _Scanner:
    def __init__(self, fd: int, size: int, zeros: AlignedBuffer, progress: Callable[[int], None]):
        self.fd, self.zeros, self.progress = fd, zeros, progress
        self.result = ScanResult(size)
        self.lock = threading.Lock()

    def _add(self, finding: Finding) -> None:
        r = self.result
        r.counts[finding.kind] = r.counts.get(finding.kind, 0) + 1
        if len(r.findings) < MAX_FINDINGS:
            r.findings.append(finding)

    def work(self, buf: AlignedBuffer, block: Block) -> None:
        assert isinstance(block, _Unit) and block.region is not None
        region, n = block.region, block.length
        view = buf.view[:n]
        try:
            blockdev.pread_into(self.fd, view, block.offset)
        except OSError as exc:
            with self.lock:
                self._add(Finding(block.offset, "read-error", region.label or region.expect, n,
                                  exc.strerror or str(exc)))
            self.progress(n)
            return
        findings: list[Finding] = []
        searched = nonzero = 0
        if region.expect == IMAGE:
            digest = blake3.blake3(view, max_threads=1).hexdigest()
            if digest != region.blake3:
                kind = "table-adjusted" if region.adjustable else "image-mismatch"
                findings.append(Finding(block.offset, kind, region.label, n,
                                        f"blake3 {digest}, image {region.blake3}"))
        elif region.expect != TABLE and not blockdev.equal(buf, self.zeros, n):
            nonzero = n
            if region.expect == ZERO:
                first = blockdev.first_difference(buf, self.zeros, n) or 0
                findings.append(Finding(block.offset + first, "pattern-mismatch",
                                        region.label or ZERO, n - first, "not zero"))
            # one byte value repeated (a fill) carries no signature: skip the search
            if not blockdev.equal(buf, buf, n - 1, 0, 1):
                searched = n
                for offset, sig in find_signatures(buf, n, block.offset):
                    findings.append(Finding(offset, "signature", sig.name, SECTOR,
                                            f"{sig.kind}: {sig.magic!r} at +{sig.at}"))
        with self.lock:
            r = self.result
            r.bytes_read += n
            r.searched_bytes += searched
            r.nonzero_bytes += nonzero
            for f in findings:
                self._add(f)
        self.progress(n)


def scan(path: str, regions: Sequence[Region], *,
         progress: Callable[[Progress], None] | None = None,
         cancel: threading.Event | None = None, block_size: int = DEFAULT_BLOCK,
         depth: int = DEFAULT_DEPTH) -> ScanResult:
    """Read all of `path` (O_DIRECT, read-only) and check each region."""
    cancel = cancel or threading.Event()
    start = time.monotonic()
    fd = blockdev.open_device(path, write=False, exclusive=False)
    try:
        size = blockdev.size_of(fd)
        align = blockdev.logical_block_size(fd)
        check_regions(regions, size, align)
        largest = max([block_size] + [r.length for r in regions if r.expect == IMAGE])
        zeros = AlignedBuffer(block_size)
        meter = Meter(path, size, progress, "audit", 0.2)
        scanner = _Scanner(fd, size, zeros, meter.add)
        try:
            done = blockdev.parallel(units(regions, block_size), largest, depth, scanner.work,
                                     cancel)
        finally:
            zeros.close()
        meter.emit()
    finally:
        os.close(fd)
    result = scanner.result
    result.findings.sort(key=lambda f: f.offset)
    for r in regions:
        if r.expect == IMAGE:
            result.image_bytes += r.length
        elif r.expect == ZERO:
            result.zero_bytes += r.length
        elif r.expect == ANY:
            result.any_bytes += r.length
        else:
            result.table_bytes += r.length
    result.seconds = time.monotonic() - start
    result.cpu_seconds = done.cpu_seconds
    if done.failure is not None:
        result.error = str(done.failure)
    result.cancelled = cancel.is_set()
    return result
