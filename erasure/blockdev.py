"""Low-level block device access: O_DIRECT opens, aligned buffers, ioctls, fast compares.

Everything that reads or writes a disk's bytes goes through here so that the page cache
never stands between the engine and the device (O_DIRECT), buffers are page-aligned
(anonymous mmap, transparent huge pages when the kernel offers them) and comparisons run
in C (libc memcmp through ctypes, which releases the GIL).
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

BLKSSZGET = 0x1268
BLKFLSBUF = 0x1261
BLKGETSIZE64 = 0x80081272
BLKDISCARD = 0x1277

MiB = 1 << 20
SLACK = 64 * 1024  # spare bytes after each buffer (cipher update_into wants head room)
HUGE = 2 * MiB  # transparent huge page size on x86-64 and arm64 (4 KiB base pages)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_libc.memcmp.restype = ctypes.c_int
_libc.memset.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
_libc.memset.restype = ctypes.c_void_p


def open_device(path: str, write: bool = False, exclusive: bool = True, direct: bool = True) -> int:
    """Open a block device (or, for tests, a regular file) for direct I/O.

    O_EXCL on a block device fails with EBUSY while a filesystem (or a partition of it)
    is mounted or the device is otherwise claimed: a last guard against writing to a disk
    in use.
    """
    flags = (os.O_RDWR if write else os.O_RDONLY) | os.O_CLOEXEC
    if direct:
        flags |= os.O_DIRECT
    if exclusive and stat.S_ISBLK(os.stat(path).st_mode):
        flags |= os.O_EXCL
    return os.open(path, flags)


def size_of(fd: int) -> int:
    """Size in bytes: BLKGETSIZE64 for a block device, st_size for a file."""
    st = os.fstat(fd)
    if stat.S_ISBLK(st.st_mode):
        buf = fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8)
        return int(struct.unpack("Q", buf)[0])
    return st.st_size


def logical_block_size(fd: int) -> int:
    st = os.fstat(fd)
    if stat.S_ISBLK(st.st_mode):
        buf = fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4)
        return int(struct.unpack("i", buf)[0])
    return 512


def flush(fd: int) -> None:
    """Honest end: flush the drive's write cache (fsync) and drop cached buffers."""
    os.fsync(fd)
    if stat.S_ISBLK(os.fstat(fd).st_mode):
        fcntl.ioctl(fd, BLKFLSBUF, 0)


def discard(fd: int, offset: int, length: int) -> None:
    """BLKDISCARD a byte range (TRIM/UNMAP); raises OSError when unsupported."""
    fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", offset, length))


class AlignedBuffer:
    """A page-aligned anonymous mapping usable with O_DIRECT, with SLACK spare bytes.

    A buffer of HUGE bytes or more starts on a HUGE boundary inside a slightly larger
    mapping, so that transparent huge pages back all of it: an O_DIRECT write or read
    then pins a few 2 MiB pages instead of thousands of 4 KiB ones (the pinning was most
    of the kernel's CPU per I/O).
    """

    def __init__(self, size: int):
        self.size = size
        length = size + SLACK
        if size >= HUGE:
            length = -(-length // HUGE) * HUGE + HUGE
        self.map = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            try:
                self.map.madvise(mmap.MADV_HUGEPAGE)
            except OSError:
                pass
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        skip = -base % HUGE if size >= HUGE else 0
        whole = memoryview(self.map)
        self.view = whole[skip:skip + size + SLACK]
        whole.release()
        self.address = base + skip
        self.start = skip  # where `view` begins inside `map` (mmap.find works on the map)

    def close(self) -> None:
        self.view.release()
        try:
            self.map.close()
        except BufferError:  # a caller still holds a slice; the GC frees it later
            pass


def _address(buf: AlignedBuffer | bytes | bytearray) -> int:
    if isinstance(buf, AlignedBuffer):
        return buf.address
    if isinstance(buf, bytes):
        return ctypes.cast(ctypes.c_char_p(buf), ctypes.c_void_p).value or 0
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def equal(a: AlignedBuffer | bytes | bytearray, b: AlignedBuffer | bytes | bytearray,
          length: int, a_start: int = 0, b_start: int = 0) -> bool:
    """memcmp of two buffers (no copies; releases the GIL)."""
    return _libc.memcmp(_address(a) + a_start, _address(b) + b_start, length) == 0


def first_difference(a: AlignedBuffer | bytes | bytearray, b: AlignedBuffer | bytes | bytearray,
                     length: int) -> int | None:
    """Index of the first differing byte in [0, length), or None (bisection on memcmp)."""
    if equal(a, b, length):
        return None
    lo, hi = 0, length  # a difference lies in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if equal(a, b, mid - lo, lo, lo):
            lo = mid
        else:
            hi = mid
    return lo


def zero(buf: AlignedBuffer, length: int | None = None) -> None:
    _libc.memset(buf.address, 0, buf.size if length is None else length)


@dataclass
class Block:
    offset: int
    length: int


def split(ranges: Iterable[tuple[int, int]], block_size: int) -> Iterator[Block]:
    """Cut (offset, length) ranges into blocks of at most block_size bytes."""
    for offset, length in ranges:
        end = offset + length
        while offset < end:
            n = min(block_size, end - offset)
            yield Block(offset, n)
            offset += n


@dataclass
class Finished:
    failure: BaseException | None  # the first exception a worker raised
    cpu_seconds: float  # user+system CPU of the worker threads


def parallel(blocks: Iterable[Block], buffer_size: int, workers: int,
             work: Callable[[AlignedBuffer, Block], None],
             cancel: threading.Event) -> Finished:
    """Run `work(buffer, block)` over blocks with `workers` threads, one buffer each.

    Blocks are handed out in order, so I/O stays nearly sequential while `workers` of them
    are in flight. Stops early when `cancel` is set or a worker raises.
    """
    source = iter(blocks)
    lock = threading.Lock()
    failure: list[BaseException] = []
    cpu: list[float] = []

    def loop() -> None:
        start = time.thread_time()
        buf = AlignedBuffer(buffer_size)
        try:
            while not cancel.is_set() and not failure:
                with lock:
                    block = next(source, None)
                if block is None:
                    return
                work(buf, block)
        except BaseException as exc:  # handed back to the caller
            failure.append(exc)
        finally:
            buf.close()
            cpu.append(time.thread_time() - start)

    threads = [threading.Thread(target=loop, name=f"io-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Finished(failure[0] if failure else None, sum(cpu))


def pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while len(view):
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(5, "short write")
        view = view[n:]
        offset += n


def pread_into(fd: int, view: memoryview, offset: int) -> None:
    """Fill `view` from `offset` (preadv into the buffer: no copy)."""
    while len(view):
        n = os.preadv(fd, [view], offset)
        if n <= 0:
            raise OSError(5, "short read (end of device)")
        view = view[n:]
        offset += n
