"""What a carver recognises at a sector start: file-system structures, partition tables and
file headers, as data.

Each entry is a magic byte string at a fixed offset from a 512-byte sector start, and, when
the magic alone is short enough to turn up by chance in random data (a crypto-erased disk
reads as random), the extra header checks photorec itself applies before it believes it.
The magics and checks come from testdisk/photorec's sources (github.com/cgsecurity/testdisk,
src/, commit 4f4cb669 of 2026-04-25); `source` names the file and function of each.

Chance of a false alarm on random data, per sector: 2^-64 for 8-byte magics, about 2^-40 or
less for the shorter ones with their checks, so a terabyte of random data (2^31 sectors)
gives none in practice.

`scan.find_signatures` looks for them; this module only describes them.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

SECTOR = 512
WINDOW = 4096  # bytes from the sector start a check may look at (fewer near a buffer's end)


@dataclass(frozen=True)
class Signature:
    name: str
    kind: str  # filesystem | partition-table | file | mail
    at: int  # offset of the magic from the sector start (0..511)
    magic: bytes
    source: str
    check: Callable[[bytes], bool] | None = None  # given the bytes from the sector start


def _u16(b: bytes, at: int) -> int:
    return int(struct.unpack_from("<H", b, at)[0]) if len(b) >= at + 2 else -1


def _u32(b: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", b, at)[0]) if len(b) >= at + 4 else -1


_POW2 = frozenset({1, 2, 4, 8, 16, 32, 64, 128})


def _fat(b: bytes) -> bool:
    """file_fat.c header_check_fat: jump, sector size, cluster size, FAT count, media."""
    if len(b) < SECTOR:
        return False
    jump_ok = (b[0] == 0xEB and b[2] == 0x90) or b[0] == 0xE9
    sector = _u16(b, 11)
    return (jump_ok and sector in (512, 1024, 2048, 4096) and b[13] in _POW2
            and b[16] in (1, 2) and (b[21] == 0xF0 or b[21] >= 0xF8))


def _mbr(b: bytes) -> bool:
    """A DOS partition table: four entries with a boot flag of 0x00 or 0x80, at least one
    used, every used one with a non-zero length (testdisk partmbr.c test_MBR_data)."""
    if len(b) < SECTOR:
        return False
    used = 0
    for i in range(4):
        entry = b[446 + 16 * i: 462 + 16 * i]
        if entry[0] not in (0x00, 0x80):
            return False
        if entry[4]:
            if _u32(entry, 12) == 0:
                return False
            used += 1
    return used > 0


def _ext(b: bytes) -> bool:
    """ext2_common.c test_EXT2 (b starts at the superblock, 1024 bytes into the file system)."""
    if len(b) < 64:
        return False
    inodes, blocks, free_blocks, free_inodes = (_u32(b, 0), _u32(b, 4), _u32(b, 12),
                                                _u32(b, 16))
    return (free_blocks <= blocks and free_inodes <= inodes and blocks != 0
            and _u32(b, 24) <= 6 and _u32(b, 32) != 0
            and _u16(b, 60) in (0, 1, 2, 3) and _u16(b, 58) & ~3 == 0)


def _xfs(b: bytes) -> bool:
    """file_xfs.c header_check_xfs_sb: a sane sb_blocksize (big-endian, 512..65536)."""
    if len(b) < 8:
        return False
    size = int(struct.unpack_from(">I", b, 4)[0])
    return 512 <= size <= 65536 and size & (size - 1) == 0


def _mft(b: bytes) -> bool:
    """file_mft.c header_check_mft: update sequence and attribute offsets of an MFT record."""
    if len(b) < 32:
        return False
    usa_ofs, usa_count, attrs = _u16(b, 4), _u16(b, 6), _u16(b, 20)
    in_use, allocated = _u32(b, 24), _u32(b, 28)
    return (usa_ofs + usa_count <= attrs and 42 <= attrs and attrs % 8 == 0
            and attrs < in_use <= allocated)


def _jpeg(b: bytes) -> bool:
    """file_jpg.c header_check_jpg: the first marker after SOI, and its identifier."""
    if len(b) < 12:
        return False
    marker = b[3]
    if marker == 0xE0:
        return b[6:10] in (b"JFIF", b"JFXX")
    if marker == 0xE1:
        return b[6:10] == b"Exif" or b[6:30] == b"http://ns.adobe.com/xap/"
    if marker == 0xDB:  # DQT straight after SOI: one, two or three 8-bit tables
        return b[4] == 0 and b[5] in (0x43, 0x84, 0xC5) and b[6] in (0, 1, 2, 3)
    if 0xE2 <= marker <= 0xEF:  # APPn with an ASCII identifier (ICC_, Adobe, Ducky...)
        return bool(re.fullmatch(rb"[A-Za-z]{4}", b[6:10]))
    return False


def _pdf(b: bytes) -> bool:
    """file_pdf.c registers "%PDF-1"; PDF 2.0 (ISO 32000-2) files begin "%PDF-2."."""
    return b[5:6] in (b"1", b"2") and b[6:7] == b"."


def _zip(b: bytes) -> bool:
    """file_zip.c header_check_zip: version needed >= 1.0, file name 1..4096 bytes."""
    version, name_length = _u16(b, 4), _u16(b, 26)
    return 10 <= version <= 100 and 0 < name_length <= 4096


def _pst(b: bytes) -> bool:
    """file_pst.c: "!BDN", then wMagicClient, which MS-PST 2.2.2.6 (HEADER) says MUST be
    "SM" in PST and OST files alike."""
    return b[8:10] == b"SM"


_HEADER_LINE = re.compile(rb"\r?\n[A-Za-z][A-Za-z0-9-]{1,40}: ")


def _mbox(b: bytes) -> bool:
    """file_txt.c header_check_mbox: "From " starts an mbox message; it must be followed
    within the sector by an RFC 5322 header field line ("Name: value")."""
    return _HEADER_LINE.search(b[:SECTOR]) is not None


def _mail(b: bytes) -> bool:
    """A message file that starts with a header field: another header line must follow."""
    return _HEADER_LINE.search(b[:SECTOR]) is not None


TESTDISK = "testdisk src/"

SIGNATURES: tuple[Signature, ...] = (
    # file systems and their metadata
    Signature("ntfs", "filesystem", 3, b"NTFS    ", TESTDISK + "ntfs.c test_NTFS"),
    Signature("ntfs-mft-record", "filesystem", 0, b"FILE",
              TESTDISK + "file_mft.c header_check_mft", _mft),
    Signature("fat", "filesystem", 510, b"\x55\xaa", TESTDISK + "file_fat.c header_check_fat",
              _fat),
    Signature("ext-superblock", "filesystem", 56, b"\x53\xef",
              TESTDISK + "file_ext2.c header_check_ext2_fs (magic at 0x438 of the file "
              "system, 56 into its superblock), ext2_common.c test_EXT2", _ext),
    Signature("xfs", "filesystem", 0, b"XFSB", TESTDISK + "file_xfs.c header_check_xfs_sb",
              _xfs),
    Signature("btrfs", "filesystem", 0x40, b"_BHRfS_M", TESTDISK + "btrfs.h BTRFS_MAGIC"),
    # partition tables
    Signature("gpt", "partition-table", 0, b"EFI PART", TESTDISK + "partgpt.c GPT_HDR_SIG"),
    Signature("mbr", "partition-table", 510, b"\x55\xaa", TESTDISK + "partmbr.c test_MBR_data",
              _mbr),
    # files
    Signature("jpeg", "file", 0, b"\xff\xd8\xff", TESTDISK + "file_jpg.c header_check_jpg",
              _jpeg),
    Signature("png", "file", 0, b"\x89PNG\r\n\x1a\n", TESTDISK + "file_png.c png_header"),
    Signature("pdf", "file", 0, b"%PDF-", TESTDISK + "file_pdf.c pdf_header", _pdf),
    Signature("zip", "file", 0, b"PK\x03\x04", TESTDISK + "file_zip.c header_check_zip "
              "(also docx, xlsx, odt)", _zip),
    Signature("sqlite", "file", 0, b"SQLite format 3\0", TESTDISK + "file_sql.c"),
    Signature("pst", "mail", 0, b"!BDN", TESTDISK + "file_pst.c header_check_pst", _pst),
    Signature("mbox", "mail", 0, b"From ", TESTDISK + "file_txt.c header_check_mbox", _mbox),
    Signature("mail", "mail", 0, b"Message-ID: ", TESTDISK + "file_txt.c header_check_mbox",
              _mail),
    Signature("mail", "mail", 0, b"MIME-Version:", TESTDISK + "file_txt.c header_check_mbox",
              _mail),
    Signature("mail", "mail", 0, b"Return-Path: ", TESTDISK + "file_txt.c header_check_thunderbird",
              _mail),
    Signature("mail", "mail", 0, b"Received: from", TESTDISK + "file_txt.c header_check_mbox",
              _mail),
)


def match(sector: bytes, signatures: tuple[Signature, ...] = SIGNATURES) -> Signature | None:
    """The first signature that `sector` (bytes from a sector start) carries, or None.
    The slow, obvious form of what scan.find_signatures does over whole buffers."""
    for sig in signatures:
        if sector[sig.at:sig.at + len(sig.magic)] == sig.magic and (
                sig.check is None or sig.check(sector)):
            return sig
    return None
