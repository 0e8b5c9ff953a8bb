"""Partition tables: read GPT / MBR from an image (pure Python), and the post-write steps
on a target disk (move the backup GPT to the end of a larger disk, grow the last partition)
through the command runner.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from erasure import runner
from erasure.text import Msg

SECTOR = 512
GPT_SIGNATURE = b"EFI PART"


@dataclass(frozen=True)
class Partition:
    number: int
    start: int  # bytes
    length: int  # bytes
    type_guid: str = ""


@dataclass
class PartitionTable:
    kind: str  # gpt | mbr | none
    sector: int
    partitions: list[Partition]
    # byte ranges that belong to the table itself (headers + entry arrays)
    table_ranges: list[tuple[int, int]]


def _guid(raw: bytes) -> str:
    a, b, c = struct.unpack_from("<IHH", raw)
    return f"{a:08X}-{b:04X}-{c:04X}-{raw[8:10].hex().upper()}-{raw[10:16].hex().upper()}"


def read_table(fd: int, size: int) -> PartitionTable:
    """GPT (512 or 4096-byte sectors), else MBR, else none."""
    for sector in (512, 4096):
        if size < sector * 3:
            continue
        header = os.pread(fd, 92, sector)
        if header[:8] == GPT_SIGNATURE:
            return _read_gpt(fd, size, sector, header)
    mbr = os.pread(fd, SECTOR, 0)
    if len(mbr) == SECTOR and mbr[510:512] == b"\x55\xaa":
        parts = []
        for i in range(4):
            entry = mbr[446 + 16 * i: 446 + 16 * (i + 1)]
            ptype = entry[4]
            lba, count = struct.unpack_from("<II", entry, 8)
            if ptype and count and ptype != 0xEE:
                parts.append(Partition(i + 1, lba * SECTOR, count * SECTOR, f"{ptype:02x}"))
        if parts:
            return PartitionTable("mbr", SECTOR, parts, [(0, SECTOR)])
    return PartitionTable("none", SECTOR, [], [])


def _read_gpt(fd: int, size: int, sector: int, header: bytes) -> PartitionTable:
    (_rev, hsize, _crc, _res, _cur, backup, first, last) = struct.unpack_from("<IIIIQQQQ", header, 8)
    entries_lba, count, esize = struct.unpack_from("<QII", header, 72)
    array = os.pread(fd, count * esize, entries_lba * sector)
    parts = []
    for i in range(count):
        e = array[i * esize:(i + 1) * esize]
        if len(e) < 48 or e[:16] == b"\0" * 16:
            continue
        f, la = struct.unpack_from("<QQ", e, 32)
        parts.append(Partition(i + 1, f * sector, (la - f + 1) * sector, _guid(e[:16])))
    array_bytes = -(-count * esize // sector) * sector
    ranges = [(0, sector * 2), (entries_lba * sector, array_bytes)]
    if backup * sector < size:
        ranges.append((backup * sector, sector))
        ranges.append((backup * sector - array_bytes, array_bytes))
    return PartitionTable("gpt", sector, parts, ranges)


def gpt_header_ok(header: bytes) -> bool:
    """Signature and header CRC of a GPT header sector."""
    if header[:8] != GPT_SIGNATURE:
        return False
    hsize = struct.unpack_from("<I", header, 12)[0]
    crc = struct.unpack_from("<I", header, 16)[0]
    body = bytearray(header[:hsize])
    body[16:20] = b"\0\0\0\0"
    return (zlib.crc32(body) & 0xFFFFFFFF) == crc


@dataclass
class PostStepResult:
    steps: list[str]
    errors: list[Msg]


def post_write(device: str, image_bytes: int, disk_bytes: int, grow_last: bool,
               last_partition: int | None) -> PostStepResult:
    """After writing a GPT image: relocate the backup GPT to the end of a larger disk and
    optionally grow the last partition into the free space."""
    out = PostStepResult([], [])
    if disk_bytes <= image_bytes:
        return out
    try:
        runner.run(["sgdisk", "-e", device], timeout=60)
        out.steps.append("sgdisk -e")
    except (runner.CommandError, runner.CommandTimeout, runner.CommandNotFound) as exc:
        out.errors.append(Msg("moving the backup GPT header failed: {error}", error=str(exc)))
        return out
    if grow_last and last_partition is not None:
        try:
            runner.run(["growpart", device, str(last_partition)], timeout=120)
            out.steps.append(f"growpart {last_partition}")
        except (runner.CommandError, runner.CommandTimeout, runner.CommandNotFound) as exc:
            out.errors.append(Msg("growing partition {number} failed: {error}",
                                  number=last_partition, error=str(exc)))
    # tell the kernel about the new table; loop devices without partition scanning refuse
    runner.run(["blockdev", "--rereadpt", device], timeout=60, check=False)
    return out
