"""Which bytes of a disk an image keeps: the used blocks of every partition's file system
(from partclone), what the partition table and boot loaders need, and nothing else.

Kept (copied; all-zero blocks still become must_zero):
  - the partition table: MBR / protective MBR sector (with its boot code), GPT headers and
    entry arrays;
  - on an MBR disk whose boot code is not blank, the space before the first partition up
    to 1 MiB (GRUB's core.img lives in that gap); a GPT disk's gap is not kept (GRUB puts
    core.img in the BIOS boot partition there);
  - a BIOS boot partition (GRUB core.img on GPT) and a Microsoft reserved partition, whole
    (no file system to ask; both are small);
  - of a file system: its used blocks as partclone maps them, plus the partition's tail
    past the file system's end up to 1 MiB (NTFS keeps its backup boot sector there);
  - of a swap partition: its first 4 KiB (the swap header), the rest is old memory;
  - a partition named with --raw (or every one with --raw all), whole.
Everything else (free blocks, gaps between partitions) is written as zeros and stored
nowhere, so no block of a previous owner is carried. A partition whose file system is
unknown, fails its check, or is encrypted (BitLocker, LUKS) is refused with the reason.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from appliance.imaging import fsmap, gpt, ntfsfiles, partclone
from erasure import runner
from erasure.text import Msg

MiB = 1 << 20
BOOT_GAP = MiB  # kept before the first partition
TAIL_KEPT = MiB  # kept of a partition past its file system's end
SWAP_HEADER = 4096
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
MS_RESERVED = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
WHOLE_TYPES = {BIOS_BOOT: "bios-boot", MS_RESERVED: "microsoft-reserved"}
LUKS_MAGIC = b"LUKS\xba\xbe"
BITLOCKER_MAGIC = b"-FVE-FS-"  # OEM id of a BitLocker volume's boot sector (offset 3)
EXTENDED = {"05", "0f", "85"}  # MBR extended partition types (a chain of logical ones)
ENCRYPTED_TYPES = {"crypto_LUKS": "LUKS", "BitLocker": "BitLocker"}


class Refused(Exception):
    """Some partitions cannot be imaged by their used blocks; nothing was built."""

    def __init__(self, reasons: list[Msg]):
        super().__init__("; ".join(str(r) for r in reasons))
        self.reasons = reasons


@dataclass
class PartInfo:
    number: int  # 0: a disk without a partition table
    start: int
    length: int
    fstype: str  # blkid TYPE, "" when there is none
    action: str  # file-system | raw | bios-boot | microsoft-reserved | swap-header
    kept_bytes: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"number": self.number, "start": self.start, "length": self.length,
                "fstype": self.fstype or None, "action": self.action,
                "kept_bytes": self.kept_bytes}


@dataclass
class Layout:
    kept: list[tuple[int, int]]  # sorted, merged (offset, length)
    parts: list[PartInfo] = field(default_factory=list)

    def free(self, size: int) -> list[tuple[int, int]]:
        """Everything of [0, size) that is not kept."""
        out, pos = [], 0
        for a, n in self.kept:
            if a > pos:
                out.append((pos, a - pos))
            pos = max(pos, a + n)
        if pos < size:
            out.append((pos, size - pos))
        return out


def encryption(fd: int, start: int) -> str | None:
    head = os.pread(fd, 512, start)
    if head[:6] == LUKS_MAGIC:
        return "LUKS"
    if head[3:11] == BITLOCKER_MAGIC:
        return "BitLocker"
    return None


def probe(source: Path, start: int, length: int) -> str:
    """blkid's TYPE of what lies at [start, start+length) of source ("" if nothing)."""
    argv = ["blkid", "-p", "-o", "export", "-O", str(start), "-S", str(length), str(source)]
    result = runner.run(argv, timeout=60, check=False)
    if result.returncode == 2:  # nothing was detected
        return ""
    if result.returncode != 0:
        raise partclone.PartcloneError(Msg("blkid: exit status {code}: {error}",
                                           code=result.returncode,
                                           error=result.stderr.strip()))
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "TYPE":
            return value.strip()
    return ""


@contextmanager
def read_only_loop(source: Path, start: int, length: int) -> Iterator[str]:
    """A read-only loop device over [start, start+length) of source (file or disk)."""
    dev = runner.run(["losetup", "--read-only", "--find", "--show", "--offset", str(start),
                      "--sizelimit", str(length), str(source)], timeout=60).stdout.strip()
    try:
        yield dev
    finally:
        runner.run(["losetup", "--detach", dev], timeout=60, check=False)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, n in sorted(r for r in ranges if r[1] > 0):
        if out and a <= out[-1][0] + out[-1][1]:
            last_a, last_n = out[-1]
            out[-1] = (last_a, max(last_a + last_n, a + n) - last_a)
        else:
            out.append((a, n))
    return out


def _file_system(source: Path, fd: int, part: gpt.Partition, fstype: str,
                 drop_page_files: bool) -> list[tuple[int, int]]:
    dropped: list[tuple[int, int]] = []
    with read_only_loop(source, part.start, part.length) as dev:
        report = partclone.check(dev, fstype)
        domain = partclone.used_runs(dev, fstype, part.start)
        if drop_page_files and fstype == "ntfs":
            dropped = ntfsfiles.page_file_ranges(dev, fd, part.start)
    if domain.fs_bytes > part.length:
        raise partclone.PartcloneError(Msg("the file system is larger than its partition"))
    if fstype == "vfat":
        _fat_cross_check(fd, part.start, report, domain)
    elif fstype in ("ext2", "ext3", "ext4"):
        _ext_cross_check(fd, part.start, report, domain)
    tail = min(part.length - domain.fs_bytes, TAIL_KEPT)
    used = [*domain.used, (part.start + domain.fs_bytes, tail)]
    if fstype in ("ext2", "ext3", "ext4"):
        used = _minus(used, fsmap.ext_backup_reserved_gdt(fd, part.start))
    return _minus(used, dropped) if dropped else used


def _fat_cross_check(fd: int, start: int, report: str, domain: partclone.Domain) -> None:
    """partclone's map must hold at least the clusters fsck.fat counts as used ("N files,
    USED/TOTAL clusters"): partclone 0.3.23 maps too few blocks of a FAT12 file system
    (files would come back truncated), so such a map is refused, never trusted."""
    m = re.search(r"(\d+)/(\d+) clusters", report)
    boot = os.pread(fd, 512, start)
    sector, per_cluster = struct.unpack_from("<H", boot, 0x0B)[0], boot[0x0D]
    if m is None or not sector or not per_cluster:
        raise partclone.PartcloneError(Msg("fsck.fat did not count the used clusters"))
    need = int(m.group(1)) * sector * per_cluster
    have = sum(n for _, n in domain.used)
    if have < need:
        raise partclone.PartcloneError(Msg(
            "partclone maps {have} bytes as used but fsck.fat counts {need} bytes of used "
            "clusters", have=have, need=need))


def _ext_cross_check(fd: int, start: int, report: str, domain: partclone.Domain) -> None:
    """partclone's map must hold at least the blocks e2fsck counts as used (its summary
    line "NAME: F/F files (...), USED/TOTAL blocks")."""
    m = re.search(r"(\d+)/(\d+) blocks", report)
    log_bs = struct.unpack_from("<I", os.pread(fd, 1024, start + 1024), 0x18)[0]
    if m is None or log_bs > 6:
        raise partclone.PartcloneError(Msg("e2fsck did not count the used blocks"))
    need = int(m.group(1)) * (1024 << log_bs)
    have = sum(n for _, n in domain.used)
    if have < need:
        raise partclone.PartcloneError(Msg(
            "partclone maps {have} bytes as used but e2fsck counts {need} bytes of used "
            "blocks", have=have, need=need))


def _minus(ranges: list[tuple[int, int]], holes: list[tuple[int, int]]
           ) -> list[tuple[int, int]]:
    out = _merge(ranges)
    for h0, hn in holes:
        h1 = h0 + hn
        out = [p for a, n in out for p in ((a, min(a + n, h0) - a), (max(a, h1), a + n - max(a, h1)))
               if p[1] > 0] if any(a < h1 and h0 < a + n for a, n in out) else out
    return out


def _partition(source: Path, fd: int, part: gpt.Partition, raw: bool, drop_page_files: bool
               ) -> tuple[PartInfo, list[tuple[int, int]]]:
    whole = [(part.start, part.length)]
    if raw:
        return PartInfo(part.number, part.start, part.length, "", "raw"), whole
    if part.type_guid.lower() in EXTENDED:
        raise partclone.PartcloneError(Msg("an extended partition: the logical partitions "
                                           "inside it are not read yet"))
    kind = WHOLE_TYPES.get(part.type_guid.upper())
    if kind is not None:
        return PartInfo(part.number, part.start, part.length, "", kind), whole
    sealed = encryption(fd, part.start)
    if sealed is not None:
        raise partclone.PartcloneError(Msg("encrypted ({scheme})", scheme=sealed))
    fstype = probe(source, part.start, part.length)
    if fstype in ENCRYPTED_TYPES:
        raise partclone.PartcloneError(Msg("encrypted ({scheme})",
                                           scheme=ENCRYPTED_TYPES[fstype]))
    if fstype == "swap":
        return (PartInfo(part.number, part.start, part.length, fstype, "swap-header"),
                [(part.start, SWAP_HEADER)])
    if fstype not in partclone.PROGRAMS:
        raise partclone.PartcloneError(
            Msg("unknown file system ({fstype})", fstype=fstype) if fstype
            else Msg("no file system found"))
    kept = _file_system(source, fd, part, fstype, drop_page_files)
    return PartInfo(part.number, part.start, part.length, fstype, "file-system"), kept


def scan(source: Path, fd: int, size: int, table: gpt.PartitionTable,
         raw: Collection[str] = (), drop_page_files: bool = False) -> Layout:
    """The layout of what to keep; raises Refused listing every partition it cannot map.
    raw: partition numbers (as strings) to copy whole, or "all"; drop_page_files: NTFS
    page, swap and hibernation files are written as zeros (ntfsfiles.py)."""
    parts = table.partitions or [gpt.Partition(0, 0, size)]
    unknown = sorted(set(raw) - {"all"} - {str(p.number) for p in parts})
    if unknown:
        raise Refused([Msg("--raw {number}: there is no such partition", number=n)
                       for n in unknown])
    kept: list[tuple[int, int]] = list(table.table_ranges)
    if table.kind == "mbr" and any(os.pread(fd, 440, 0)):
        first = min(p.start for p in table.partitions)
        kept.append((0, min(first, BOOT_GAP)))
    layout = Layout([])
    reasons: list[Msg] = []
    for part in parts:
        if part.start + part.length > size:
            reasons.append(Msg("partition {number} ends past the end of the disk",
                               number=part.number))
            continue
        try:
            info, ranges = _partition(source, fd, part, "all" in raw or str(part.number) in raw,
                                      drop_page_files)
        except partclone.PartcloneError as exc:
            reasons.append(Msg("partition {number}: {reason} (--raw {number} copies it whole, "
                               "old data included)", number=part.number, reason=exc.message)
                           if part.number else
                           Msg("the disk: {reason} (--raw all copies it whole, old data "
                               "included)", reason=exc.message))
            continue
        info.kept_bytes = sum(n for _, n in _merge(ranges))
        layout.parts.append(info)
        kept += ranges
    if reasons:
        raise Refused(reasons)
    layout.kept = _merge(kept)
    return layout
