"""Used-block maps: partclone's domain log, its failures, the file system checks, the
encryption signatures, and what a layout keeps (replayed outputs, no real commands)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import zstandard

from appliance.imaging import fsmap, gpt, partclone, usedblocks
from tests.conftest import FIXTURES, FakeRunner
from tests.unit.ext4_fixture import LOOP, PART_LENGTH, PART_START, add_ext4_fixture_commands

MiB = 1 << 20


@pytest.fixture(scope="module")
def gpt_ext4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("img") / "gpt-ext4.img"
    with open(FIXTURES / "imaging" / "gpt-ext4.img.zst", "rb") as src, open(out, "wb") as dst:
        zstandard.ZstdDecompressor().copy_stream(src, dst)
    return out


def test_ntfs_domain_log_is_read() -> None:
    text = (FIXTURES / "imaging" / "ntfs-96mib.partclone-ntfs-D.txt").read_text()
    d = partclone.parse_domain(text, offset=MiB)
    # mkntfs on 96 MiB: 24575 clusters of 4 KiB; the last 4 KiB holds the backup boot sector
    assert d.fs_bytes == 96 * MiB - 4096
    assert d.used[0] == (MiB, 0x3000)
    assert sum(n for _, n in d.used) == 0x3000 + 0x7000 + 0x66000 + 0x201000


@pytest.mark.parametrize("text, error", [
    ("", "empty domain log"),
    ("0x00002000 ?\n0x00000000  0x00001000  +\n", "end at 0x1000"),
    ("0x00002000 ?\n0x00000000  0x00001000  +\n0x00001800  0x00000800  ?\n",
     "not contiguous"),
    ("0x00001000 ?\n0x00000000  0x00001000  -\n", "not a domain line"),
])
def test_malformed_domain_logs_are_rejected(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        partclone.parse_domain(text)


def test_partclone_failure_gives_its_reason(fake_runner: FakeRunner) -> None:
    argv = ["partclone.ntfs", "-D", "-s", LOOP, "-o", "-", "-L", "/dev/null", "-q",
            f"--offset_domain={PART_START}"]
    fake_runner.add(argv, returncode=1, stderr=(
        FIXTURES / "imaging" / "partclone-ntfs-on-ext4.stderr.txt").read_text())
    with pytest.raises(partclone.PartcloneError) as exc:
        partclone.used_runs(LOOP, "ntfs", PART_START)
    assert exc.value.message == ("partclone.ntfs: ntfsclone-ng.c: NOT NTFS partition, ntfs "
                                 "mount error 22")


def test_damaged_file_system_fails_its_check(fake_runner: FakeRunner) -> None:
    fake_runner.add(["e2fsck", "-f", "-n", LOOP], returncode=12,
                    fixture="imaging/ext4-root-inode-cleared.e2fsck.txt")
    with pytest.raises(partclone.PartcloneError,
                       match=r"e2fsck finds errors \(exit status 12\): .*still has errors"):
        partclone.check(LOOP, "ext4")


def _dumpe2fs_free() -> set[int]:
    free: set[int] = set()
    for line in (FIXTURES / "imaging" / "gpt-ext4.dumpe2fs.txt").read_text().splitlines():
        m = re.match(r"\s+Free blocks: (.*)", line)
        for part in (m.group(1).split(",") if m and m.group(1).strip() else []):
            a, _, b = part.strip().partition("-")
            free.update(range(int(a), int(b or a) + 1))
    return free


def test_partclone_agrees_with_dumpe2fs_and_our_ext_reader(gpt_ext4: Path) -> None:
    d = partclone.parse_domain(
        (FIXTURES / "imaging" / "gpt-ext4.partclone-extfs-D.txt").read_text(), PART_START)
    used = {(a - PART_START) // 1024 + i for a, n in d.used for i in range(n // 1024)}
    blocks = d.fs_bytes // 1024
    theirs = {b for b in range(1, blocks) if b not in used}  # block 0: the boot block
    assert theirs == _dumpe2fs_free()
    fd = os.open(gpt_ext4, os.O_RDONLY)
    try:
        ours = fsmap.ext_free_extents(fd, PART_START, PART_LENGTH)
    finally:
        os.close(fd)
    assert ours is not None
    ours_blocks = {(e.offset - PART_START) // 1024 + i for e in ours
                   for i in range(e.length // 1024)}
    # our reader never calls a used block free, but misses some free ones: partclone's map
    # is the one the build uses
    assert ours_blocks < theirs


def test_backup_reserved_gdt_blocks_match_dumpe2fs(gpt_ext4: Path) -> None:
    fd = os.open(gpt_ext4, os.O_RDONLY)
    try:
        ranges = fsmap.ext_backup_reserved_gdt(fd, PART_START)
    finally:
        os.close(fd)
    text = (FIXTURES / "imaging" / "gpt-ext4.dumpe2fs.txt").read_text()
    listed = [(int(a), int(b)) for a, b in re.findall(r"Reserved GDT blocks at (\d+)-(\d+)", text)]
    expected = [(PART_START + a * 1024, (b - a + 1) * 1024) for a, b in listed[1:]]  # not group 0
    assert ranges == expected


def test_layout_of_the_ext4_fixture(gpt_ext4: Path, fake_runner: FakeRunner) -> None:
    add_ext4_fixture_commands(fake_runner, gpt_ext4)
    size = gpt_ext4.stat().st_size
    fd = os.open(gpt_ext4, os.O_RDONLY)
    try:
        table = gpt.read_table(fd, size)
        layout = usedblocks.scan(gpt_ext4, fd, size, table)
        reserved = fsmap.ext_backup_reserved_gdt(fd, PART_START)
    finally:
        os.close(fd)
    # the check runs before the map, on the read-only loop device
    assert [c[0] for c in fake_runner.calls] == ["blkid", "losetup", "e2fsck", "partclone.extfs",
                                                 "losetup"]
    assert [(p.number, p.fstype, p.action) for p in layout.parts] == [(1, "ext4", "file-system")]
    kept = layout.kept
    assert kept[0] == (0, 34 * 512)  # protective MBR, GPT header and entries: no boot gap
    assert kept[-1][0] + kept[-1][1] == size  # backup GPT
    free = layout.free(size)
    assert (34 * 512, MiB - 34 * 512) in free  # the gap before the partition is zeroed
    for a, n in reserved:
        assert any(f <= a and a + n <= f + m for f, m in free)


def _disk_with(head: bytes, tmp_path: Path) -> tuple[Path, int, gpt.PartitionTable]:
    img = tmp_path / "d.img"
    with open(img, "wb") as fh:
        fh.truncate(4 * MiB)
        fh.seek(MiB)
        fh.write(head)
    table = gpt.PartitionTable("gpt", 512, [gpt.Partition(1, MiB, 2 * MiB)], [(0, 34 * 512)])
    return img, 4 * MiB, table


@pytest.mark.parametrize("head, scheme", [
    (b"LUKS\xba\xbe\x00\x02", "LUKS"),
    (b"\xeb\x58\x90-FVE-FS-\x00\x02", "BitLocker"),
])
def test_encrypted_partitions_are_refused_before_any_command(head: bytes, scheme: str,
                                                             tmp_path: Path) -> None:
    img, size, table = _disk_with(head, tmp_path)
    fd = os.open(img, os.O_RDONLY)
    try:
        with pytest.raises(usedblocks.Refused) as exc:
            usedblocks.scan(img, fd, size, table)
        assert exc.value.reasons == [f"partition 1: encrypted ({scheme}) (--raw 1 copies it "
                                     "whole, old data included)"]
        layout = usedblocks.scan(img, fd, size, table, raw=["1"])
        assert layout.kept == [(0, 34 * 512), (MiB, 2 * MiB)]
        with pytest.raises(usedblocks.Refused, match="--raw 2: there is no such partition"):
            usedblocks.scan(img, fd, size, table, raw=["2"])
    finally:
        os.close(fd)


def test_bios_boot_kept_whole_and_swap_by_its_header(tmp_path: Path,
                                                     fake_runner: FakeRunner) -> None:
    img = tmp_path / "d.img"
    with open(img, "wb") as fh:
        fh.truncate(8 * MiB)
    table = gpt.PartitionTable("gpt", 512, [
        gpt.Partition(1, MiB, MiB, usedblocks.BIOS_BOOT),
        gpt.Partition(2, 2 * MiB, 4 * MiB, "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F")],
        [(0, 34 * 512)])
    fake_runner.add(["blkid", "-p", "-o", "export", "-O", str(2 * MiB), "-S", str(4 * MiB),
                     str(img)], fixture="imaging/swap.blkid.txt")
    fd = os.open(img, os.O_RDONLY)
    try:
        layout = usedblocks.scan(img, fd, 8 * MiB, table)
    finally:
        os.close(fd)
    assert [p.action for p in layout.parts] == ["bios-boot", "swap-header"]
    assert layout.kept == [(0, 34 * 512), (MiB, MiB + 4096)]


def test_mbr_extended_partition_is_refused(tmp_path: Path) -> None:
    img = tmp_path / "d.img"
    with open(img, "wb") as fh:
        fh.truncate(4 * MiB)
    table = gpt.PartitionTable("mbr", 512, [gpt.Partition(1, MiB, 2 * MiB, "0f")], [(0, 512)])
    fd = os.open(img, os.O_RDONLY)
    try:
        with pytest.raises(usedblocks.Refused, match="an extended partition"):
            usedblocks.scan(img, fd, 4 * MiB, table)
        # an MBR disk with blank boot code: no boot gap kept
        assert usedblocks.scan(img, fd, 4 * MiB, table, raw=["all"]).kept == [
            (0, 512), (MiB, 2 * MiB)]
    finally:
        os.close(fd)


def test_mbr_boot_code_keeps_the_gap_before_the_first_partition(tmp_path: Path) -> None:
    img = tmp_path / "d.img"
    with open(img, "wb") as fh:
        fh.truncate(4 * MiB)
        fh.write(b"\xeb\x63\x90")  # a boot loader's first jump (GRUB's boot.img starts so)
    table = gpt.PartitionTable("mbr", 512, [gpt.Partition(1, 2 * MiB, MiB, "83")], [(0, 512)])
    fd = os.open(img, os.O_RDONLY)
    try:
        layout = usedblocks.scan(img, fd, 4 * MiB, table, raw=["1"])
    finally:
        os.close(fd)
    assert layout.kept == [(0, MiB), (2 * MiB, MiB)]


def test_fat12_map_short_of_fsck_count_is_refused(tmp_path: Path) -> None:
    img = tmp_path / "f12.img"
    img.write_bytes((FIXTURES / "imaging" / "fat12-16mib.bootsector.bin").read_bytes())
    report = (FIXTURES / "imaging" / "fat12-16mib.fsck-fat.txt").read_text()
    domain = partclone.parse_domain(
        (FIXTURES / "imaging" / "fat12-16mib.partclone-fat-D.txt").read_text())
    fd = os.open(img, os.O_RDONLY)
    try:
        with pytest.raises(partclone.PartcloneError) as exc:
            usedblocks._fat_cross_check(fd, 0, report, domain)
        # 257 clusters of 16 sectors of 512 bytes; partclone's map: 0x18A000 bytes
        assert exc.value.message == ("partclone maps 1613824 bytes as used but fsck.fat "
                                     "counts 2105344 bytes of used clusters")
        enough = partclone.Domain(domain.fs_bytes, [(0, 2105344)])
        usedblocks._fat_cross_check(fd, 0, report, enough)
    finally:
        os.close(fd)


def test_ext_map_is_checked_against_e2fsck_count(gpt_ext4: Path) -> None:
    report = (FIXTURES / "imaging" / "gpt-ext4.e2fsck.txt").read_text()
    domain = partclone.parse_domain(
        (FIXTURES / "imaging" / "gpt-ext4.partclone-extfs-D.txt").read_text(), PART_START)
    fd = os.open(gpt_ext4, os.O_RDONLY)
    try:
        # 22264 used 1 KiB blocks by e2fsck's count: exactly what partclone maps
        assert sum(n for _, n in domain.used) == 22264 * 1024
        usedblocks._ext_cross_check(fd, PART_START, report, domain)
        short = partclone.Domain(domain.fs_bytes, domain.used[1:])
        with pytest.raises(partclone.PartcloneError, match="but e2fsck counts 22798336 bytes"):
            usedblocks._ext_cross_check(fd, PART_START, report, short)
    finally:
        os.close(fd)


def test_page_file_clusters_from_ntfsinfo(tmp_path: Path, fake_runner: FakeRunner) -> None:
    from appliance.imaging import ntfsfiles

    text = (FIXTURES / "imaging" / "ntfs-pagefile.ntfsinfo.txt").read_text()
    assert ntfsfiles.parse_runlists(text) == [(0x2200, 0x2DD)]
    img = tmp_path / "p.img"
    img.write_bytes(bytes(MiB) + (FIXTURES / "imaging" / "ntfs-64mib.bootsector.bin").read_bytes())
    fake_runner.add(["ntfsinfo", "-F", "/pagefile.sys", "-v", LOOP], stdout=text)
    missing = (FIXTURES / "imaging" / "ntfs-no-hiberfil.ntfsinfo.stderr.txt").read_text()
    for path in ("/swapfile.sys", "/hiberfil.sys"):
        fake_runner.add(["ntfsinfo", "-F", path, "-v", LOOP], stderr=missing)
    fd = os.open(img, os.O_RDONLY)
    try:
        assert ntfsfiles.cluster_bytes(fd, MiB) == 4096
        assert ntfsfiles.page_file_ranges(LOOP, fd, MiB) == [(MiB + 0x2200 * 4096, 0x2DD * 4096)]
        assert ntfsfiles.cluster_bytes(fd, 0) == 0  # not an NTFS boot sector
    finally:
        os.close(fd)
