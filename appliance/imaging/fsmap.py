"""Which bytes of an image are unused: free blocks of ext2/3/4 filesystems (read from their
block bitmaps, pure Python) and ranges a bmap file leaves unmapped.

Everything here errs on the side of "used": a block is called free only when the
filesystem's own bitmap says so. Groups whose bitmap is not initialised (BLOCK_UNINIT) are
free except their superblock/descriptor copies and the bitmaps and inode tables that any
group keeps there.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import os_reason
from erasure.text import Msg

EXT_MAGIC = 0xEF53
INCOMPAT_META_BG = 0x10
INCOMPAT_64BIT = 0x80
RO_COMPAT_SPARSE_SUPER = 0x1
COMPAT_SPARSE_SUPER2 = 0x200
BG_BLOCK_UNINIT = 0x2
_ZERO_RUN = re.compile(b"\x00+")


class MapError(Exception):
    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FreeExtent:
    offset: int  # bytes, absolute in the image
    length: int


def _is_power(n: int, base: int) -> bool:
    while n > 1 and n % base == 0:
        n //= base
    return n == 1


def _has_super(group: int, sparse: bool) -> bool:
    if group <= 1 or not sparse:
        return True
    return _is_power(group, 3) or _is_power(group, 5) or _is_power(group, 7)


def ext_free_extents(fd: int, start: int, length: int) -> list[FreeExtent] | None:
    """Free byte ranges of an ext2/3/4 filesystem at `start`, or None if there is none (or
    it uses a layout this reader does not handle, in which case everything counts as used)."""
    sb = os.pread(fd, 1024, start + 1024)
    if len(sb) < 1024 or struct.unpack_from("<H", sb, 0x38)[0] != EXT_MAGIC:
        return None
    blocks_lo, = struct.unpack_from("<I", sb, 0x04)
    first_data_block, log_bs, = struct.unpack_from("<II", sb, 0x14)
    blocks_per_group, = struct.unpack_from("<I", sb, 0x20)
    inodes_per_group, = struct.unpack_from("<I", sb, 0x28)
    rev, = struct.unpack_from("<I", sb, 0x4C)
    inode_size = struct.unpack_from("<H", sb, 0x58)[0] if rev >= 1 else 128
    compat, incompat, ro_compat = struct.unpack_from("<III", sb, 0x5C)
    reserved_gdt, = struct.unpack_from("<H", sb, 0xCE)
    desc_size, = struct.unpack_from("<H", sb, 0xFE)
    blocks_hi, = struct.unpack_from("<I", sb, 0x150)
    if incompat & INCOMPAT_META_BG or compat & COMPAT_SPARSE_SUPER2 or log_bs > 6:
        return None
    bs = 1024 << log_bs
    is64 = bool(incompat & INCOMPAT_64BIT)
    blocks = blocks_lo | ((blocks_hi << 32) if is64 else 0)
    dsize = desc_size if is64 and desc_size >= 64 else 32
    if blocks * bs > length or blocks_per_group == 0 or blocks_per_group % 8:
        return None
    groups = -(-(blocks - first_data_block) // blocks_per_group)
    gdt_blocks = -(-(groups * dsize) // bs)
    gdt = os.pread(fd, gdt_blocks * bs, start + (first_data_block + 1) * bs)
    if len(gdt) < groups * dsize:
        return None
    sparse = bool(ro_compat & RO_COMPAT_SPARSE_SUPER)
    itable_blocks = -(-(inodes_per_group * inode_size) // bs)

    used_meta: list[tuple[int, int]] = []  # (first block, count) that are always used
    free_runs: list[tuple[int, int]] = []  # (first block, count) from bitmaps
    for g in range(groups):
        d = gdt[g * dsize:(g + 1) * dsize]
        bb, ib, it = struct.unpack_from("<III", d, 0)
        flags, = struct.unpack_from("<H", d, 0x12)
        if dsize >= 64:
            bbh, ibh, ith = struct.unpack_from("<III", d, 0x20)
            bb, ib, it = bb | bbh << 32, ib | ibh << 32, it | ith << 32
        used_meta += [(bb, 1), (ib, 1), (it, itable_blocks)]
        g_first = first_data_block + g * blocks_per_group
        g_count = min(blocks_per_group, blocks - g_first)
        if flags & BG_BLOCK_UNINIT:
            head = (1 + gdt_blocks + reserved_gdt) if _has_super(g, sparse) else 0
            if g_count > head:
                free_runs.append((g_first + head, g_count - head))
            continue
        if bb >= blocks:
            return None
        bitmap = os.pread(fd, bs, start + bb * bs)[: blocks_per_group // 8]
        for m in _ZERO_RUN.finditer(bitmap):
            first = g_first + m.start() * 8
            count = min((m.end() - m.start()) * 8, g_first + g_count - first)
            if count > 0:
                free_runs.append((first, count))
    return _subtract(free_runs, used_meta, start, bs)


def _subtract(free_runs: list[tuple[int, int]], used: list[tuple[int, int]], start: int,
              bs: int) -> list[FreeExtent]:
    """Free runs minus the always-used metadata blocks, as byte extents."""
    used_sorted = sorted((b, b + n) for b, n in used if n > 0)
    out: list[FreeExtent] = []
    starts = [u[0] for u in used_sorted]
    for first, count in sorted(free_runs):
        a, end = first, first + count
        i = max(bisect.bisect_right(starts, a) - 1, 0)
        while a < end:
            while i < len(used_sorted) and used_sorted[i][1] <= a:
                i += 1
            if i < len(used_sorted) and used_sorted[i][0] < end:
                u0, u1 = used_sorted[i]
                if u0 > a:
                    out.append(FreeExtent(start + a * bs, (u0 - a) * bs))
                a = max(a, u1)
                i += 1
            else:
                out.append(FreeExtent(start + a * bs, (end - a) * bs))
                a = end
    return out


def bmap_free_extents(path: Path, image_bytes: int) -> list[FreeExtent]:
    """Everything a bmap file (bmaptool's XML) does not map."""
    try:
        root = ET.parse(path).getroot()
        block = int((root.findtext("BlockSize") or "4096").strip())
        size = int((root.findtext("ImageSize") or "0").strip())
        ranges = []
        for r in root.iter("Range"):
            text = (r.text or "").strip()
            first, _, last = text.partition("-")
            ranges.append((int(first), int(last or first)))
    except OSError as exc:
        raise MapError(Msg("cannot read bmap {path}: {error}", path=str(path),
                           error=os_reason(exc))) from exc
    except (ET.ParseError, ValueError) as exc:
        raise MapError(Msg("{path} is not a bmap file (the XML that bmaptool create writes)",
                           path=str(path))) from exc
    if size and size != image_bytes:
        raise MapError(Msg("bmap describes {bmap} bytes but the image has {image}",
                           bmap=size, image=image_bytes))
    out: list[FreeExtent] = []
    pos = 0
    for a, b in sorted(ranges):
        if a * block > pos:
            out.append(FreeExtent(pos, a * block - pos))
        pos = max(pos, (b + 1) * block)
    if pos < image_bytes:
        out.append(FreeExtent(pos, image_bytes - pos))
    return out


COMPAT_RESIZE_INODE = 0x10


def ext_backup_reserved_gdt(fd: int, start: int) -> list[tuple[int, int]]:
    """Byte ranges of the reserved GDT blocks in the backup groups of an ext2/3/4 file
    system. The block bitmap counts them as used, but mke2fs never writes them (resize2fs
    writes group descriptors there when it grows the file system; e2fsck checks only the
    resize inode's pointers to them), so they hold whatever the disk held before: they are
    left out like free space. Empty when the layout is one this reader does not handle."""
    sb = os.pread(fd, 1024, start + 1024)
    if len(sb) < 1024 or struct.unpack_from("<H", sb, 0x38)[0] != EXT_MAGIC:
        return []
    blocks_lo, = struct.unpack_from("<I", sb, 0x04)
    first_data_block, log_bs, = struct.unpack_from("<II", sb, 0x14)
    blocks_per_group, = struct.unpack_from("<I", sb, 0x20)
    compat, incompat, ro_compat = struct.unpack_from("<III", sb, 0x5C)
    reserved_gdt, = struct.unpack_from("<H", sb, 0xCE)
    desc_size, = struct.unpack_from("<H", sb, 0xFE)
    blocks_hi, = struct.unpack_from("<I", sb, 0x150)
    if (not compat & COMPAT_RESIZE_INODE or not reserved_gdt or incompat & INCOMPAT_META_BG
            or compat & COMPAT_SPARSE_SUPER2 or log_bs > 6 or not blocks_per_group):
        return []
    bs = 1024 << log_bs
    is64 = bool(incompat & INCOMPAT_64BIT)
    blocks = blocks_lo | ((blocks_hi << 32) if is64 else 0)
    dsize = desc_size if is64 and desc_size >= 64 else 32
    groups = -(-(blocks - first_data_block) // blocks_per_group)
    gdt_blocks = -(-(groups * dsize) // bs)
    sparse = bool(ro_compat & RO_COMPAT_SPARSE_SUPER)
    out = []
    for g in range(1, groups):
        if not _has_super(g, sparse):
            continue
        first = first_data_block + g * blocks_per_group + 1 + gdt_blocks
        count = min(reserved_gdt, blocks - first)
        if count > 0:
            out.append((start + first * bs, count * bs))
    return out
