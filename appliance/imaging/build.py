"""`ardoise image build`: a raw disk image -> NAME.manifest.json + NAME.data.

Streaming: the image is read one cell (chunk_bytes, 4 MiB by default) at a time and memory
use does not grow with its size. Each 4 KiB block of a cell is one of:
  free  - no file system uses it (partclone's map, see usedblocks.py) or the bmap leaves it
          out: listed in must_zero (written as zeros), its bytes never read into the image;
  zero  - used (or unknown) but all zero: listed in must_zero, no data stored;
  data  - everything else: stored.
Runs of data blocks (short runs of zero blocks between them merged, never free ones) become
chunks, each compressed as one independent zstd frame; frames are compressed in parallel
and appended in disk order.
"""

from __future__ import annotations

import bisect
import errno
import os
import threading
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import blake3
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.errors import os_reason
from appliance.imaging import fsmap, gpt, partclone, usedblocks
from appliance.imaging.manifest import Chunk, Extent, Manifest, chunk_root_hash, sign
from erasure import runner
from erasure.text import Msg

BLOCK = 4096
CHUNK_BYTES = 4 * 1024 * 1024
MERGE_GAP = 64 * 1024  # write a short gap rather than start another chunk
FREE, ZERO, DATA, TABLE = 0, 1, 2, 3  # TABLE: partition table blocks, own chunks
SEEK_DATA = getattr(os, "SEEK_DATA", 3)


class BuildError(Exception):
    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


class BuildRefused(BuildError):
    """Partitions that cannot be imaged by their used blocks (unknown, damaged, encrypted)."""

    def __init__(self, reasons: list[Msg]):
        super().__init__(reasons[0])
        self.reasons = reasons


@dataclass
class BuildResult:
    manifest_path: Path
    data_path: Path
    manifest: Manifest
    free_bytes: int  # unused by the file systems / bmap: zeros on the target, not stored
    seconds: float = 0.0
    partitions: list[usedblocks.PartInfo] | None = None

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "manifest": str(self.manifest_path),
            "data": str(self.data_path),
            "name": m.name,
            "version": m.version,
            "image_bytes": m.image_bytes,
            "mapped_bytes": m.mapped_bytes,
            "must_zero_bytes": m.zero_bytes,
            "free_bytes": self.free_bytes,
            "data_bytes": m.data_bytes,
            "chunks": len(m.chunks),
            "root_hash": m.root_hash,
            "signed": m.signature is not None,
            "key_id": (m.signature or {}).get("key_id"),
            "seconds": round(self.seconds, 3),
            "partitions": [p.to_dict() for p in self.partitions or []],
        }


def free_map(source: Path, fd: int, size: int, bmap: Path | None, raw: Collection[str] = (),
             drop_page_files: bool = False) -> tuple[gpt.PartitionTable, list[fsmap.FreeExtent],
                        list[usedblocks.PartInfo] | None]:
    """(partition table, sorted free extents, what was done with each partition)."""
    table = gpt.read_table(fd, size)
    if bmap is not None:
        return table, _unguarded(fsmap.bmap_free_extents(bmap, size), table), None
    try:
        layout = usedblocks.scan(source, fd, size, table, raw, drop_page_files)
    except usedblocks.Refused as exc:
        raise BuildRefused(exc.reasons) from exc
    except (partclone.PartcloneError, runner.CommandError, runner.CommandNotFound,
            runner.CommandTimeout) as exc:
        raise BuildError(exc.message if isinstance(exc, partclone.PartcloneError)
                         else Msg("cannot map the partitions: {error}", error=str(exc))
                         ) from exc
    free = [fsmap.FreeExtent(a, n) for a, n in layout.free(size)]
    return table, _unguarded(free, table), layout.parts


def _unguarded(free: list[fsmap.FreeExtent], table: gpt.PartitionTable
               ) -> list[fsmap.FreeExtent]:
    """The partition table itself is never free, whatever a filesystem or bmap claims."""
    guarded = sorted((a, a + n) for a, n in table.table_ranges)
    out = []
    for ext in sorted(free, key=lambda e: e.offset):
        pieces = [(ext.offset, ext.offset + ext.length)]
        for ga, gb in guarded:
            pieces = [p for a, b in pieces for p in ((a, min(b, ga)), (max(a, gb), b))
                      if p[1] > p[0]] if any(a < gb and ga < b for a, b in pieces) else pieces
        out += [fsmap.FreeExtent(a, b - a) for a, b in pieces]
    return out


def _free_mask(free: list[fsmap.FreeExtent], starts: list[int], off: int, n_blocks: int,
               block: int, table: list[tuple[int, int]]) -> bytearray:
    mask = bytearray(n_blocks)  # 1 = free, TABLE = partition table
    for a, n in table:
        first = max(a - off, 0) // block
        last = -(-(min(a + n, off + n_blocks * block) - off) // block)
        if last > first:
            mask[first:last] = bytes([TABLE]) * (last - first)
    end = off + n_blocks * block
    i = max(bisect.bisect_right(starts, off) - 1, 0)
    while i < len(free) and free[i].offset < end:
        e = free[i]
        a = max(e.offset, off)
        b = min(e.offset + e.length, end)
        if b > a:
            # only whole blocks inside the free extent count as free
            first = -(-(a - off) // block)
            last = (b - off) // block
            if last > first:
                mask[first:last] = b"\x01" * (last - first)
        i += 1
    return mask


def _blank_free(raw: bytearray, free: list[fsmap.FreeExtent], starts: list[int], off: int
                ) -> bytearray:
    """Zero the free bytes of a cell: a block partly used (a file system whose blocks are
    smaller than 4 KiB) keeps only its used part, so no old byte rides along with it."""
    end = off + len(raw)
    i = max(bisect.bisect_right(starts, off) - 1, 0)
    while i < len(free) and free[i].offset < end:
        a, b = max(free[i].offset, off), min(free[i].offset + free[i].length, end)
        if b > a:
            raw[a - off:b - off] = bytes(b - a)
        i += 1
    return raw


def _runs(kinds: bytearray) -> list[tuple[int, int, int]]:
    """(kind, first block, count) runs."""
    out = []
    i = 0
    n = len(kinds)
    while i < n:
        k = kinds[i]
        j = i + 1
        while j < n and kinds[j] == k:
            j += 1
        out.append((k, i, j - i))
        i = j
    return out


def classify(data: memoryview, mask: bytearray, block: int) -> bytearray:
    """Kind of every block; mask: 1 free, 3 partition table, 0 look at the bytes."""
    kinds = bytearray(len(mask))
    zero = bytes(block)
    for i in range(len(mask)):
        if mask[i] == 1:
            kinds[i] = FREE
        elif mask[i] == TABLE:
            kinds[i] = TABLE
        else:
            piece = data[i * block:(i + 1) * block]
            kinds[i] = ZERO if piece == zero[: len(piece)] else DATA
    return kinds


def pieces(kinds: bytearray, block: int, merge_gap: int) -> list[tuple[int, int, int]]:
    """(kind, first block, count) of what to store (DATA, TABLE) or zero (ZERO, FREE); short
    gaps of ZERO blocks between data runs are merged into the data pieces, FREE ones never
    (their bytes may be an old owner's)."""
    out: list[tuple[int, int, int]] = []
    gap_blocks = merge_gap // block
    last_data = -1  # index in out of the last DATA piece
    for k, first, count in _runs(kinds):
        if k == DATA:
            if last_data >= 0 and all(p[0] == ZERO for p in out[last_data + 1:]) \
                    and first - (out[last_data][1] + out[last_data][2]) <= gap_blocks:
                start = out[last_data][1]
                # the zero runs now inside the data piece are no longer must_zero
                del out[last_data + 1:]
                out[last_data] = (DATA, start, first + count - start)
            else:
                out.append((DATA, first, count))
                last_data = len(out) - 1
        else:
            out.append((k, first, count))
    return out


_tls = threading.local()


def _compress(payload: bytes, level: int) -> tuple[bytes, str]:
    cctx = getattr(_tls, "cctx", None)
    if cctx is None or getattr(_tls, "level", None) != level:
        cctx = zstandard.ZstdCompressor(level=level, write_content_size=True)
        _tls.cctx, _tls.level = cctx, level
    return cctx.compress(payload), blake3.blake3(payload).hexdigest()


def build_image(source: Path, out_dir: Path, name: str | None = None, version: str = "1",
                sign_key: Ed25519PrivateKey | None = None, bmap: Path | None = None,
                chunk_bytes: int = CHUNK_BYTES, level: int = 6, workers: int | None = None,
                logical_block_size: int = 512, raw: Collection[str] = (),
                drop_page_files: bool = False,
                progress: Callable[[int, int], None] | None = None,
                open_data: Callable[[Path], Any] | None = None) -> BuildResult:
    """raw: partition numbers to copy whole (old data included), or "all";
    drop_page_files: NTFS pagefile.sys, swapfile.sys, hiberfil.sys written as zeros;
    open_data: where the data file goes (default: open(path, "wb"); upload.PutStream)."""
    import time

    started = time.monotonic()
    if chunk_bytes % BLOCK:
        raise BuildError(Msg("chunk size must be a multiple of {block}", block=BLOCK))
    if not 1 <= level <= zstandard.MAX_COMPRESSION_LEVEL:
        raise BuildError(Msg("compression level {level} is out of range: use 1 to {max}",
                             level=level, max=zstandard.MAX_COMPRESSION_LEVEL))
    name = name or source.name.removesuffix(".img").removesuffix(".raw")
    try:
        fd = os.open(source, os.O_RDONLY)
    except OSError as exc:
        raise BuildError(Msg("cannot read {path}: {error}", path=str(source),
                             error=os_reason(exc))) from exc
    made_dir = not out_dir.exists()
    data_path = out_dir / f"{name}.data"
    manifest_path = out_dir / f"{name}.manifest.json"
    partial = out_dir / f"{name}.data.part"  # renamed once complete: a failure leaves nothing
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0 or size % logical_block_size:
            raise BuildError(Msg("{path}: size {size} is not a multiple of {lbs} bytes",
                                 path=str(source), size=size, lbs=logical_block_size))
        try:
            table, free, parts = free_map(source, fd, size, bmap, raw, drop_page_files)
        except fsmap.MapError as exc:
            raise BuildError(exc.message) from exc
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            # a local data file is written under a temporary name, renamed once complete;
            # an upload (open_data) streams as it goes
            sink = open_data(data_path) if open_data is not None else open(partial, "wb")
            chunks, zeros, data_bytes = _stream(fd, size, free, table.table_ranges, sink,
                                                chunk_bytes, level,
                                                workers or max(2, os.cpu_count() or 2),
                                                progress)
        except OSError as exc:
            raise BuildError(Msg("cannot write {path}: {error}",
                                 path=str(exc.filename or out_dir), error=os_reason(exc))
                             ) from exc
    except BaseException:
        _remove_partial(partial, out_dir if made_dir else None)
        raise
    finally:
        os.close(fd)
    m = Manifest(
        name=name, version=version,
        created=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        image_bytes=size, min_disk_bytes=size, logical_block_size=logical_block_size,
        chunk_bytes=chunk_bytes, data_file=data_path.name, data_bytes=data_bytes,
        chunks=chunks, must_zero=zeros, partition_table=table.kind,
    )
    m.root_hash = chunk_root_hash(chunks)
    doc = m.to_document()
    if sign_key is not None:
        doc = sign(doc, sign_key)
        m.signature = doc["signature"]
    try:
        if open_data is None:
            os.replace(partial, data_path)
        _write_json(manifest_path, doc)
    except OSError as exc:
        _remove_partial(partial, out_dir if made_dir else None, data_path,
                        manifest_path.with_suffix(".tmp"))
        raise BuildError(Msg("cannot write {path}: {error}", path=str(manifest_path),
                             error=os_reason(exc))) from exc
    free_bytes = sum(e.length for e in free)
    return BuildResult(manifest_path, data_path, m, free_bytes, time.monotonic() - started,
                       parts)


def _remove_partial(partial: Path, made_dir: Path | None, *more: Path) -> None:
    """What a failed build wrote: the partial data file (and `more`), and the output
    directory when the build made it and it is empty."""
    for path in (partial, *more):
        try:
            path.unlink()
        except OSError:
            pass
    if made_dir is not None:
        try:
            made_dir.rmdir()
        except OSError:
            pass


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    import json

    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _cell_is_hole(fd: int, off: int, length: int) -> bool:
    try:
        nxt = os.lseek(fd, off, SEEK_DATA)
    except OSError as exc:
        # ENXIO: no data after off; EINVAL: no SEEK_DATA here (a block device), so read it
        return exc.errno == errno.ENXIO
    return nxt >= off + length


def _stream(fd: int, size: int, free: list[fsmap.FreeExtent], table: list[tuple[int, int]],
            sink: Any, chunk_bytes: int, level: int, workers: int,
            progress: Callable[[int, int], None] | None
            ) -> tuple[list[Chunk], list[Extent], int]:
    starts = [e.offset for e in free]
    chunks: list[Chunk] = []
    zeros: list[Extent] = []
    pending: deque[tuple[int, int, str | None, Future[tuple[bytes, str]]]] = deque()
    data_offset = 0

    def add_zero(off: int, length: int) -> None:
        if zeros and zeros[-1].disk_offset + zeros[-1].length == off:
            last = zeros.pop()
            zeros.append(Extent(last.disk_offset, last.length + length))
        else:
            zeros.append(Extent(off, length))

    def drain(limit: int) -> None:
        nonlocal data_offset
        while len(pending) > limit:
            off, length, role, fut = pending.popleft()
            frame, digest = fut.result()
            out.write(frame)
            chunks.append(Chunk(len(chunks), off, length, digest, data_offset, len(frame), role))
            data_offset += len(frame)

    with sink as out, ThreadPoolExecutor(workers) as pool:
        for off in range(0, size, chunk_bytes):
            length = min(chunk_bytes, size - off)
            n_blocks = -(-length // BLOCK)
            mask = _free_mask(free, starts, off, n_blocks, BLOCK, table)
            if all(m == 1 for m in mask):
                add_zero(off, length)
                continue
            if TABLE not in mask and _cell_is_hole(fd, off, length):
                kinds = bytearray(ZERO if not m else FREE for m in mask)
                view = memoryview(b"")
            else:
                raw = _blank_free(bytearray(os.pread(fd, length, off)), free, starts, off)
                view = memoryview(raw)
                kinds = classify(view, mask, BLOCK)
            for kind, first, count in pieces(kinds, BLOCK, MERGE_GAP):
                a = off + first * BLOCK
                b = min(off + (first + count) * BLOCK, size)
                if kind in (ZERO, FREE):
                    add_zero(a, b - a)
                else:
                    payload = bytes(view[a - off:b - off])
                    role = "partition-table" if kind == TABLE else None
                    pending.append((a, b - a, role, pool.submit(_compress, payload, level)))
            drain(workers * 2)
            if progress is not None:
                progress(off + length, size)
        drain(0)
    return chunks, zeros, data_offset
