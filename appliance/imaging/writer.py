"""Write an image onto a disk and prove every byte of it.

1. Fetch and check the manifest (schema, consistency, signature by a trusted key) and the
   disk (eligible whole disk, large enough) before the first write.
2. Several workers each fetch a chunk, decompress it, check its BLAKE3 against the manifest
   (a corrupt frame is fetched again once, then the write fails naming the chunk) and write
   it with O_DIRECT from a page-aligned buffer. Ranges marked must_zero are zeroed
   (BLKZEROOUT) unless the caller knows the disk already reads as zero; every other
   unmapped range is left as the erase left it. Progress "image" counts the zeroed bytes
   and the written bytes against their sum.
3. Flush, then read back every mapped byte with O_DIRECT and compare BLAKE3 per chunk; the
   must_zero ranges are read back and checked for zeros too.
4. GPT post-steps on a larger disk (backup header to the end, optionally grow the last
   partition).
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import stat
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import blake3
import zstandard

from appliance.errors import os_reason
from appliance.imaging import gpt
from appliance.imaging.manifest import (
    Chunk,
    Extent,
    Manifest,
    ManifestError,
    chunk_root_hash,
    load_trusted_keys,
    parse_bytes,
    verify,
)
from appliance.imaging.sources import Source, SourceError, open_source
from erasure import discovery
from erasure.methods.base import Progress, ProgressCallback
from erasure.text import Msg

log = logging.getLogger(__name__)

BLKGETSIZE64 = 0x80081272
BLKSSZGET = 0x1268
BLKZEROOUT = 0x127F
ZERO_STEP = 16 * 1024 * 1024
ZERO_REPORT = 8 * 1024 * 1024  # zeroed between two progress events (and cancel checks)
BATCH_BYTES = 64 * 1024 * 1024  # flushed, then read back while the next batch is written
IMAGED, FAILED, REFUSED = "imaged", "failed", "refused"


@dataclass
class Mismatch:
    chunk: int
    disk_offset: int
    length: int
    expected: str
    actual: str
    role: str | None = None


@dataclass
class ImageResult:
    path: str
    status: str = FAILED  # imaged | failed | refused
    id: str | None = None
    serial: str | None = None
    name: str | None = None
    version: str | None = None
    source: str = ""
    key_id: str | None = None
    manifest_hash: str | None = None
    manifest_root_hash: str | None = None
    readback_root_hash: str | None = None
    verified: bool = False
    bytes_written: int = 0
    zero_bytes: int = 0
    bytes_checked: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0
    readback_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    post_steps: list[str] = field(default_factory=list)
    fetch: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = [str(e) for e in self.errors]
        d["seconds"] = round(self.seconds, 3)
        d["write_seconds"] = round(self.write_seconds, 3)
        d["readback_seconds"] = round(self.readback_seconds, 3)
        return d

    def certificate_image(self) -> dict[str, Any] | None:
        """The certificate's `image` section (None when no manifest was even read)."""
        if self.name is None:
            return None
        return {"name": self.name, "version": self.version,
                "manifest_hash": self.manifest_hash, "root_hash": self.manifest_root_hash,
                "readback_hash": self.readback_root_hash, "verified": self.verified,
                "bytes_written": self.bytes_written, "status": self.status,
                "errors": [str(e) for e in self.errors]}


class _Abort(Exception):
    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


class Refusal(Exception):
    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


_tls = threading.local()


def _buffer(size: int) -> mmap.mmap:
    """A page-aligned buffer of at least `size` bytes, one per thread."""
    buf: mmap.mmap | None = getattr(_tls, "buf", None)
    if buf is None or len(buf) < size:
        if buf is not None:
            buf.close()
        buf = mmap.mmap(-1, max(size, mmap.PAGESIZE))
        _tls.buf = buf
    return buf


def _dctx() -> zstandard.ZstdDecompressor:
    d = getattr(_tls, "dctx", None)
    if d is None:
        d = zstandard.ZstdDecompressor()
        _tls.dctx = d
    return d


def device_size(fd: int) -> int:
    st = os.fstat(fd)
    if stat.S_ISBLK(st.st_mode):
        buf = fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8)
        return int(struct.unpack("<Q", buf)[0])
    return st.st_size


def device_block_size(fd: int) -> int:
    try:
        buf = fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4)
        return int(struct.unpack("<i", buf)[0])
    except OSError:
        return 512


class _Device:
    """The target opened twice: O_DIRECT for aligned I/O, buffered for odd tails."""

    def __init__(self, path: str, write: bool):
        flags = (os.O_RDWR | os.O_EXCL) if write else os.O_RDONLY
        self.path = path
        self.direct = os.open(path, flags | os.O_DIRECT | os.O_CLOEXEC)
        try:
            self.plain = os.open(path, (os.O_RDWR if write else os.O_RDONLY) | os.O_CLOEXEC)
        except OSError:
            os.close(self.direct)
            raise
        self.size = device_size(self.direct)
        self.block = max(device_block_size(self.direct), 512)

    def _fd_for(self, offset: int, length: int) -> int:
        return self.direct if offset % self.block == 0 and length % self.block == 0 else self.plain

    def pwrite(self, view: memoryview, offset: int) -> None:
        fd = self._fd_for(offset, len(view))
        done = 0
        while done < len(view):
            n = os.pwrite(fd, view[done:], offset + done)
            if n <= 0:
                raise OSError(f"short write at {offset + done}")
            done += n

    def pread_into(self, view: memoryview, offset: int) -> None:
        fd = self._fd_for(offset, len(view))
        done = 0
        while done < len(view):
            n = os.preadv(fd, [view[done:]], offset + done)
            if n <= 0:
                raise OSError(f"short read at {offset + done}")
            done += n

    def zero(self, offset: int, length: int) -> None:
        try:
            fcntl.ioctl(self.direct, BLKZEROOUT, struct.pack("<QQ", offset, length))
            return
        except OSError:
            pass
        buf = _buffer(min(length, ZERO_STEP))
        view = memoryview(buf)
        view[: min(length, ZERO_STEP)] = bytes(min(length, ZERO_STEP))
        pos = offset
        while pos < offset + length:
            n = min(ZERO_STEP, offset + length - pos)
            self.pwrite(view[:n], pos)
            pos += n

    def flush(self) -> None:
        os.fsync(self.direct)
        os.fsync(self.plain)

    def close(self) -> None:
        os.close(self.direct)
        os.close(self.plain)


class _Meter:
    """Thread-safe byte counter that emits Progress events, in order (counts only grow)."""

    def __init__(self, path: str, phase: str, total: int, progress: ProgressCallback | None):
        self.path, self.phase, self.total, self.progress = path, phase, total, progress
        self.done = 0
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n
            if self.progress is None:
                return
            done = self.done
            elapsed = max(time.monotonic() - self.start, 1e-6)
            rate = done / elapsed
            eta = (self.total - done) / rate if rate > 0 else None
            self.progress(Progress(self.path, self.phase, done, self.total, rate, eta))


def load_manifest(source: Source, trust: Sequence[Path]) -> tuple[Manifest, str]:
    """Fetch, parse and verify; raises ManifestError or SourceError."""
    m = parse_bytes(source.manifest_bytes())
    kid = verify(m, load_trusted_keys(trust))
    return m, kid


def write_image(manifest_source: str, device: str, trust: list[Path],
                progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None, *, workers: int = 4,
                assume_zeroed: bool = False, grow_last: bool = False,
                cache_dir: Path | None = None, allow_external: bool = False,
                http_options: dict[str, float] | None = None) -> ImageResult:
    """Write the image named by a manifest (path or URL) onto a whole disk, read every
    mapped byte back and compare. Never raises for a failed or refused write: the result
    says what happened."""
    started = time.monotonic()
    cancel = cancel or threading.Event()
    result = ImageResult(path=device, source=manifest_source)
    try:
        source = open_source(manifest_source, cache_dir=cache_dir, **(http_options or {}))
    except SourceError as exc:
        result.status = REFUSED
        result.errors.append(exc.message)
        return result
    try:
        _write(source, device, trust, progress, cancel, workers, assume_zeroed, grow_last,
               allow_external, result)
    finally:
        source.close()
        result.fetch = source.stats.to_dict()
        result.seconds = time.monotonic() - started
    return result


def _check_target(device: str, m: Manifest, allow_external: bool, result: ImageResult) -> None:
    try:
        disk = discovery.resolve(device, allow_external=allow_external)
    except discovery.NotAWholeDisk as exc:
        raise Refusal(Msg(str(exc))) from exc
    result.id, result.serial = disk.id, disk.serial
    if not disk.eligible:
        raise Refusal(Msg("{path} is not eligible: {reason}", path=device,
                          reason=str(disk.excluded_reason or "")))
    if disk.size_bytes < m.min_disk_bytes:
        raise Refusal(Msg("{path} holds {size} bytes, the image needs {need}", path=device,
                          size=disk.size_bytes, need=m.min_disk_bytes))


def _write(source: Source, device: str, trust: list[Path], progress: ProgressCallback | None,
           cancel: threading.Event, workers: int, assume_zeroed: bool, grow_last: bool,
           allow_external: bool, result: ImageResult) -> None:
    # -- everything that can refuse happens before the first write
    try:
        m = parse_bytes(source.manifest_bytes())
        result.name, result.version = m.name, m.version
        result.manifest_root_hash, result.manifest_hash = m.root_hash, m.manifest_hash
        result.key_id = verify(m, load_trusted_keys(trust))
        source.set_data_file(m.data_file)
        _check_target(device, m, allow_external, result)
        dev = _Device(device, write=True)
    except SourceError as exc:  # the server or the network failed: nothing was written
        result.status = FAILED
        result.errors.append(exc.message)
        return
    except (ManifestError, Refusal) as exc:
        result.status = REFUSED
        result.errors.append(exc.message)
        return
    except OSError as exc:
        result.status = REFUSED
        result.errors.append(Msg("cannot open {path} for writing: {error}", path=device,
                                 error=os_reason(exc)))
        return
    try:
        if dev.size < m.min_disk_bytes:  # what the open device says, not just sysfs
            result.status = REFUSED
            result.errors.append(Msg("{path} holds {size} bytes, the image needs {need}",
                                     path=device, size=dev.size, need=m.min_disk_bytes))
            return
        try:
            check = _write_and_check(source, dev, m, progress, cancel, workers, assume_zeroed,
                                     result)
        except _Abort as exc:
            result.errors.append(exc.message)
            return
        except OSError as exc:
            result.errors.append(Msg("write error on {path}: {error}", path=device,
                                     error=exc.strerror or str(exc)))
            return
    finally:
        dev.close()
    result.readback_root_hash = check.root_hash
    result.bytes_checked = check.bytes_checked
    result.mismatches = check.mismatches
    result.errors += check.errors
    result.verified = not check.errors and not check.mismatches and \
        check.root_hash == m.root_hash
    for mm in check.mismatches:
        result.errors.append(Msg("chunk {index} at disk offset {offset} reads back different "
                                 "bytes", index=mm.chunk, offset=mm.disk_offset))
    if not result.verified:
        return
    if m.partition_table == "gpt":
        last = _last_partition(device)
        post = gpt.post_write(device, m.image_bytes, dev.size, grow_last, last)
        result.post_steps = post.steps
        result.errors += post.errors
    result.status = IMAGED if not result.errors else FAILED


def _last_partition(device: str) -> int | None:
    fd = os.open(device, os.O_RDONLY)
    try:
        table = gpt.read_table(fd, device_size(fd))
    finally:
        os.close(fd)
    if not table.partitions:
        return None
    return max(table.partitions, key=lambda p: p.start + p.length).number


class _Checker:
    """Reads chunks and must-zero ranges back with O_DIRECT and compares (thread-safe)."""

    def __init__(self, dev: _Device, chunks: Sequence[Chunk], zeros: Iterable[Extent],
                 progress: ProgressCallback | None, cancel: threading.Event):
        self.dev, self.chunks, self.cancel = dev, chunks, cancel
        self.zeros = list(zeros)
        total = sum(c.length for c in chunks) + sum(z.length for z in self.zeros)
        self.meter = _Meter(dev.path, "readback", total, progress)
        self.digests: list[str] = [""] * len(chunks)
        self.errors: list[Msg] = []
        self.largest = max([c.length for c in chunks] + [ZERO_STEP if self.zeros else 0])
        self.lock = threading.Lock()

    def _error(self, message: Msg) -> None:
        with self.lock:
            self.errors.append(message)

    def chunk(self, c: Chunk) -> None:
        if self.cancel.is_set():
            return
        view = memoryview(_buffer(self.largest))[: c.length]
        try:
            self.dev.pread_into(view, c.disk_offset)
        except OSError as exc:
            self._error(Msg("read error at disk offset {offset} (chunk {index}): {error}",
                            offset=c.disk_offset, index=c.index, error=exc.strerror or str(exc)))
            return
        self.digests[c.index] = blake3.blake3(view).hexdigest()
        self.meter.add(c.length)

    def zero_pieces(self) -> list[tuple[int, int]]:
        return [(pos, min(ZERO_STEP, z.disk_offset + z.length - pos)) for z in self.zeros
                for pos in range(z.disk_offset, z.disk_offset + z.length, ZERO_STEP)]

    def zero(self, offset: int, length: int) -> None:
        if self.cancel.is_set():
            return
        view = memoryview(_buffer(self.largest))[:length]
        try:
            self.dev.pread_into(view, offset)
        except OSError as exc:
            self._error(Msg("read error at disk offset {offset}: {error}", offset=offset,
                            error=exc.strerror or str(exc)))
            return
        if view.tobytes().count(0) != length:
            self._error(Msg("range at disk offset {offset} ({length} bytes) should read as "
                            "zero and does not", offset=offset, length=length))
        self.meter.add(length)

    def finish(self) -> ReadBack:
        errors = list(self.errors)
        if self.cancel.is_set():
            errors.append(Msg("read-back cancelled"))
        mismatches = [
            Mismatch(c.index, c.disk_offset, c.length, c.blake3, d, c.role)
            for c, d in zip(self.chunks, self.digests, strict=True) if d and d != c.blake3
        ]
        root = chunk_root_hash(self.chunks, self.digests) if all(self.digests) else None
        return ReadBack(root, self.digests, mismatches, errors, self.meter.done)


def _batches(chunks: Sequence[Chunk], batch_bytes: int) -> list[list[Chunk]]:
    out: list[list[Chunk]] = [[]]
    size = 0
    for c in chunks:
        if size >= batch_bytes:
            out.append([])
            size = 0
        out[-1].append(c)
        size += c.length
    return [b for b in out if b]


def _write_and_check(source: Source, dev: _Device, m: Manifest,
                     progress: ProgressCallback | None, cancel: threading.Event, workers: int,
                     assume_zeroed: bool, result: ImageResult) -> ReadBack:
    """Write every chunk and read it back, pipelined: chunks go out in batches; once a batch
    is written the device is flushed and that batch is read back while the next one is
    being written. Raises _Abort (nothing more is written) on the first failure."""
    zeroing = [] if assume_zeroed else [
        (pos, min(ZERO_REPORT, z.disk_offset + z.length - pos)) for z in m.must_zero
        for pos in range(z.disk_offset, z.disk_offset + z.length, ZERO_REPORT)]
    meter = _Meter(dev.path, "image", m.mapped_bytes + sum(n for _, n in zeroing), progress)
    checker = _Checker(dev, m.chunks, m.must_zero, progress, cancel)
    failed = threading.Event()
    errors: list[Msg] = []
    lock = threading.Lock()
    largest = max((c.length for c in m.chunks), default=0)

    def write_one(c: Chunk) -> None:
        if failed.is_set() or cancel.is_set():
            return
        try:
            view = _fetch_chunk(source, c, largest)
            dev.pwrite(view, c.disk_offset)
        except (SourceError, _Abort) as exc:
            with lock:
                errors.append(exc.message)
            failed.set()
            return
        except OSError as exc:
            with lock:
                errors.append(Msg("write error at disk offset {offset} (chunk {index}): "
                                  "{error}", offset=c.disk_offset, index=c.index,
                                  error=exc.strerror or str(exc)))
            failed.set()
            return
        with lock:
            result.bytes_written += c.length
        meter.add(c.length)

    t0 = time.monotonic()
    if progress is not None:
        progress(Progress(dev.path, "image", 0, meter.total))  # the step is under way
    for offset, length in zeroing:
        if cancel.is_set():
            break
        dev.zero(offset, length)
        result.zero_bytes += length
        meter.add(length)
    reads: list[Future[None]] = []
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="image") as wpool, \
            ThreadPoolExecutor(max(1, workers // 2), thread_name_prefix="readback") as rpool:
        previous: tuple[list[Chunk], list[Future[None]]] | None = None
        for batch in [*_batches(m.chunks, BATCH_BYTES), []]:
            if failed.is_set() or cancel.is_set():
                break
            futs = [wpool.submit(write_one, c) for c in batch]
            if previous is not None:
                for f in previous[1]:
                    f.result()
                if failed.is_set() or cancel.is_set():
                    break
                dev.flush()  # what is read back has been flushed to the device first
                reads += [rpool.submit(checker.chunk, c) for c in previous[0]]
            else:  # first batch under way: the zeroed ranges can be checked already
                dev.flush()
                reads += [rpool.submit(checker.zero, a, n) for a, n in checker.zero_pieces()]
            previous = (batch, futs)
        wpool.shutdown(wait=True)
        result.write_seconds = time.monotonic() - t0
        stop = bool(errors) or cancel.is_set()
        t1 = time.monotonic()
        for f in reads:
            if stop:
                f.cancel()
            else:
                f.result()
        result.readback_seconds = time.monotonic() - t1
    if errors:
        raise _Abort(errors[0])
    if cancel.is_set():
        raise _Abort(Msg("cancelled after {n} bytes", n=result.bytes_written))
    return checker.finish()


def _fetch_chunk(source: Source, c: Chunk, largest: int) -> memoryview:
    """The chunk's bytes, checked against its BLAKE3, in this thread's aligned buffer."""
    for fresh in (False, True):
        frame = source.read(c.data_offset, c.data_length, fresh=fresh)
        view = memoryview(_buffer(largest))[: c.length]
        try:
            # decompress straight into the aligned buffer (no intermediate copy)
            reader = _dctx().stream_reader(frame, read_size=len(frame))
            done = 0
            while done < c.length:
                n = reader.readinto(view[done:])
                if n == 0:
                    break
                done += n
        except zstandard.ZstdError as exc:
            problem = Msg("chunk {index} (disk offset {offset}) does not decompress: {error}",
                          index=c.index, offset=c.disk_offset, error=str(exc))
            continue
        if done == c.length and blake3.blake3(view).hexdigest() == c.blake3:
            return view
        problem = Msg("chunk {index} (disk offset {offset}) from the source does not match its "
                      "BLAKE3: corrupt image data", index=c.index, offset=c.disk_offset)
        log.warning("%s (%s)", problem, "fetching again" if not fresh else "giving up")
    raise _Abort(problem)


@dataclass
class ReadBack:
    root_hash: str | None
    digests: list[str]
    mismatches: list[Mismatch]
    errors: list[Msg]
    bytes_checked: int


def _read_back(dev: _Device, chunks: Sequence[Chunk], zeros: Iterable[Extent],
               progress: ProgressCallback | None, cancel: threading.Event,
               workers: int) -> ReadBack:
    checker = _Checker(dev, chunks, zeros, progress, cancel)
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="readback") as pool:
        futs = [pool.submit(checker.chunk, c) for c in chunks]
        futs += [pool.submit(checker.zero, a, n) for a, n in checker.zero_pieces()]
        for fut in futs:
            fut.result()
    return checker.finish()


@dataclass
class HashResult:
    path: str
    status: str  # match | mismatch | partition-table-adjusted | failed
    name: str = ""
    version: str = ""
    manifest_root_hash: str = ""
    readback_root_hash: str | None = None
    signature: str = "not-checked"  # verified | not-checked
    key_id: str | None = None
    bytes_checked: int = 0
    seconds: float = 0.0
    mismatches: list[Mismatch] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["errors"] = [str(e) for e in self.errors]
        d["seconds"] = round(self.seconds, 3)
        return d


def hash_device(device: str, manifest_source: str, trust: list[Path] | None = None,
                progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None, workers: int = 4,
                check_zero: bool = True) -> HashResult:
    """Re-hash a disk against a manifest (read-only). With trusted keys the manifest's
    signature is checked first; without, the result says it was not."""
    started = time.monotonic()
    result = HashResult(path=device, status=FAILED)
    cancel = cancel or threading.Event()
    try:
        source = open_source(manifest_source)
        try:
            m = parse_bytes(source.manifest_bytes())
        finally:
            source.close()
        if trust:
            result.key_id = verify(m, load_trusted_keys(trust))
            result.signature = "verified"
        elif m.signature:
            result.key_id = m.signature.get("key_id")
        dev = _Device(device, write=False)
    except (ManifestError, SourceError) as exc:
        result.errors.append(exc.message)
        return result
    except OSError as exc:
        result.errors.append(Msg("cannot open {path}: {error}", path=device,
                                 error=os_reason(exc)))
        return result
    result.name, result.version, result.manifest_root_hash = m.name, m.version, m.root_hash
    try:
        if dev.size < m.image_bytes:
            result.errors.append(Msg("{path} holds {size} bytes, the image has {need}",
                                     path=device, size=dev.size, need=m.image_bytes))
            return result
        check = _read_back(dev, m.chunks, m.must_zero if check_zero else [], progress, cancel,
                           workers)
        larger = dev.size > m.image_bytes
    finally:
        dev.close()
        result.seconds = time.monotonic() - started
    result.readback_root_hash = check.root_hash
    result.bytes_checked = check.bytes_checked
    result.mismatches = check.mismatches
    result.errors += check.errors
    if check.errors:
        return result
    if not check.mismatches:
        result.status = "match"
    elif larger and all(mm.role == "partition-table" for mm in check.mismatches):
        # the post-write steps rewrote the GPT for the larger disk: everything else matches
        result.status = "partition-table-adjusted"
    else:
        result.status = "mismatch"
        for mm in check.mismatches:
            result.errors.append(Msg("chunk {index} at disk offset {offset} differs",
                                     index=mm.chunk, offset=mm.disk_offset))
    return result
