"""Image build: block classification, ext4 free-block map (against dumpe2fs's own account of
the same filesystem), bmap import, and the manifest the builder writes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import blake3
import pytest
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.imaging import build, fsmap, gpt
from appliance.imaging.manifest import chunk_root_hash, parse_bytes
from tests.conftest import FakeRunner
from tests.unit.ext4_fixture import add_ext4_fixture_commands

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imaging"
PART_START = 2048 * 512
BLOCK_1K = 1024


@pytest.fixture(scope="module")
def gpt_ext4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 MiB GPT disk image with one ext4 (1 KiB blocks, 8 groups) partition."""
    out = tmp_path_factory.mktemp("img") / "gpt-ext4.img"
    with open(FIXTURES / "gpt-ext4.img.zst", "rb") as src, open(out, "wb") as dst:
        zstandard.ZstdDecompressor().copy_stream(src, dst)
    return out


def _dumpe2fs_free_blocks() -> set[int]:
    free: set[int] = set()
    for line in (FIXTURES / "gpt-ext4.dumpe2fs.txt").read_text().splitlines():
        m = re.match(r"\s+Free blocks: (.*)", line)
        if not m or not m.group(1).strip():
            continue
        for part in m.group(1).split(","):
            a, _, b = part.strip().partition("-")
            free.update(range(int(a), int(b or a) + 1))
    return free


def test_partition_table_is_read(gpt_ext4: Path) -> None:
    fd = os.open(gpt_ext4, os.O_RDONLY)
    try:
        table = gpt.read_table(fd, gpt_ext4.stat().st_size)
    finally:
        os.close(fd)
    assert table.kind == "gpt"
    assert [(p.number, p.start) for p in table.partitions] == [(1, PART_START)]
    assert table.partitions[0].type_guid == "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
    # primary header + entries at the start, backup entries + header at the end
    assert (0, 1024) in table.table_ranges
    assert any(a + n == gpt_ext4.stat().st_size for a, n in table.table_ranges)


def test_ext4_free_blocks_match_dumpe2fs(gpt_ext4: Path) -> None:
    fd = os.open(gpt_ext4, os.O_RDONLY)
    try:
        extents = fsmap.ext_free_extents(fd, PART_START, 63 * 1024 * 1024)
    finally:
        os.close(fd)
    assert extents is not None
    ours: set[int] = set()
    for e in extents:
        assert (e.offset - PART_START) % BLOCK_1K == 0 and e.length % BLOCK_1K == 0
        first = (e.offset - PART_START) // BLOCK_1K
        ours.update(range(first, first + e.length // BLOCK_1K))
    theirs = _dumpe2fs_free_blocks()
    assert len(theirs) == 41204  # "Free blocks:" in the superblock
    # never call a used block free; find nearly every free one (byte-granular bitmap scan)
    assert ours <= theirs, sorted(ours - theirs)[:10]
    assert len(ours) >= 0.97 * len(theirs)


def test_no_filesystem_means_no_free_extents(tmp_path: Path) -> None:
    raw = tmp_path / "raw.img"
    raw.write_bytes(os.urandom(64 * 1024))
    fd = os.open(raw, os.O_RDONLY)
    try:
        assert fsmap.ext_free_extents(fd, 0, 64 * 1024) is None
    finally:
        os.close(fd)


def test_bmap_import(gpt_ext4: Path) -> None:
    free = fsmap.bmap_free_extents(FIXTURES / "gpt-ext4.bmap", gpt_ext4.stat().st_size)
    assert free and all(e.length > 0 for e in free)
    # bmaptool maps what the file system of the image file allocated: the holes are free
    fd = os.open(gpt_ext4, os.O_RDONLY)
    try:
        for e in free:
            assert os.pread(fd, e.length, e.offset).count(0) == e.length
    finally:
        os.close(fd)


def test_bmap_of_another_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(fsmap.MapError, match="bmap describes"):
        fsmap.bmap_free_extents(FIXTURES / "gpt-ext4.bmap", 4096)


def test_classify_and_pieces() -> None:
    block = 4096
    data = bytearray(block * 8)
    data[0:block] = b"\x01" * block  # 0 data
    data[block * 3:block * 4] = b"\x02" * block  # 3 data; 1-2 zero gap (merged)
    # 4 zero, 5 free, 6 zero, 7 data -> gap of 3 blocks: merged when merge_gap >= 3 blocks
    data[block * 7:] = b"\x03" * block
    mask = bytearray([0, 0, 0, 0, 0, 1, 0, 0])
    kinds = build.classify(memoryview(bytes(data)), mask, block)
    assert list(kinds) == [build.DATA, build.ZERO, build.ZERO, build.DATA, build.ZERO,
                           build.FREE, build.ZERO, build.DATA]
    split = [(build.DATA, 0, 4), (build.ZERO, 4, 1), (build.FREE, 5, 1), (build.ZERO, 6, 1),
             (build.DATA, 7, 1)]
    assert build.pieces(kinds, block, merge_gap=2 * block) == split
    # a free block is never merged into data, however short the gap (its bytes may be an
    # old owner's); zero gaps are
    assert build.pieces(kinds, block, merge_gap=3 * block) == split
    kinds[5] = build.ZERO
    assert build.pieces(kinds, block, merge_gap=3 * block) == [(build.DATA, 0, 8)]


def _blanked(image: Path) -> bytes:
    """The image with every byte partclone calls free (and the gaps) set to zero."""
    fd = os.open(image, os.O_RDONLY)
    try:
        _table, free, _parts = build.free_map(image, fd, image.stat().st_size, None)
    finally:
        os.close(fd)
    out = bytearray(image.read_bytes())
    for e in free:
        out[e.offset:e.offset + e.length] = bytes(e.length)
    return bytes(out)


def test_build_gpt_ext4_image(gpt_ext4: Path, tmp_path: Path, fake_runner: FakeRunner) -> None:
    add_ext4_fixture_commands(fake_runner, gpt_ext4)
    key = Ed25519PrivateKey.generate()
    result = build.build_image(gpt_ext4, tmp_path / "out", name="fixture", version="7",
                               sign_key=key, chunk_bytes=1 << 20)
    m = parse_bytes(result.manifest_path.read_bytes())
    assert (m.name, m.version, m.partition_table) == ("fixture", "7", "gpt")
    assert m.image_bytes == m.min_disk_bytes == 64 * 1024 * 1024
    # free blocks of the file system are left out of the data: ~40 MiB of the 64 MiB
    assert result.free_bytes > 35 * 1024 * 1024
    # ... and written as zeros: every byte is either stored or must be zero
    assert m.mapped_bytes + m.zero_bytes == m.image_bytes
    assert [p.to_dict() for p in result.partitions or []] == [
        {"number": 1, "start": PART_START, "length": 64994816, "fstype": "ext4",
         "action": "file-system", "kept_bytes": result.partitions[0].kept_bytes}]
    # the source was looked at through a read-only loop device, detached afterwards
    assert fake_runner.calls[-1] == ("losetup", "--detach", "/dev/loop0")
    # the partition tables are chunks of their own
    roles = [c for c in m.chunks if c.role == "partition-table"]
    assert len(roles) == 2
    assert roles[0].disk_offset == 0 and roles[0].length <= 5 * 4096
    assert roles[1].disk_offset + roles[1].length == m.image_bytes
    # every chunk decompresses to bytes equal to the image at its offset, with its hash
    data = (tmp_path / "out" / "fixture.data").read_bytes()
    assert len(data) == m.data_bytes
    image = _blanked(gpt_ext4)
    assert image != gpt_ext4.read_bytes()  # the deleted file's bytes are not carried
    dctx = zstandard.ZstdDecompressor()
    for c in m.chunks:
        raw = dctx.decompress(data[c.data_offset:c.data_offset + c.data_length])
        assert raw == image[c.disk_offset:c.disk_offset + c.length]
        assert blake3.blake3(raw).hexdigest() == c.blake3
    for z in m.must_zero:
        assert image[z.disk_offset:z.disk_offset + z.length].count(0) == z.length
    assert m.root_hash == chunk_root_hash(m.chunks)
    assert m.signature is not None and m.signature["alg"] == "ed25519"


def test_build_with_bmap_uses_its_map(gpt_ext4: Path, tmp_path: Path,
                                      fake_runner: FakeRunner) -> None:
    add_ext4_fixture_commands(fake_runner, gpt_ext4)
    plain = build.build_image(gpt_ext4, tmp_path / "a", name="a", chunk_bytes=1 << 20)
    bmap = build.build_image(gpt_ext4, tmp_path / "b", name="b", chunk_bytes=1 << 20,
                             bmap=FIXTURES / "gpt-ext4.bmap")
    # the bmap maps the deleted file's blocks too; partclone's map does not
    assert bmap.manifest.mapped_bytes > plain.manifest.mapped_bytes + 5 * 1024 * 1024


def test_raw_image_without_filesystem(tmp_path: Path, fake_runner: FakeRunner) -> None:
    img = tmp_path / "raw.img"
    with open(img, "wb") as fh:
        fh.write(os.urandom(3 * 4096))
        fh.write(bytes(5 * 4096))
        fh.write(b"\xAA" * 4096)
        fh.truncate(8 * 1024 * 1024)  # sparse tail: must read as zero on the disk
    # blkid finds nothing (exit status 2, no output): refused, unless copied whole
    fake_runner.add(["blkid", "-p", "-o", "export", "-O", "0", "-S", str(8 << 20), str(img)],
                    returncode=2)
    with pytest.raises(build.BuildRefused) as refused:
        build.build_image(img, tmp_path / "out", chunk_bytes=1 << 20)
    assert refused.value.reasons == ["the disk: no file system found (--raw all copies it "
                                     "whole, old data included)"]
    assert not (tmp_path / "out").exists()
    r = build.build_image(img, tmp_path / "out", chunk_bytes=1 << 20, raw=["all"])
    doc = json.loads(r.manifest_path.read_text())
    assert "signature" not in doc
    assert [(c["disk_offset"], c["length"]) for c in doc["chunks"]] == [(0, 9 * 4096)]
    assert sum(z["length"] for z in doc["must_zero"]) == 8 * 1024 * 1024 - 9 * 4096
    assert r.free_bytes == 0


def test_image_size_must_be_whole_sectors(tmp_path: Path) -> None:
    img = tmp_path / "odd.img"
    img.write_bytes(b"x" * 1000)
    with pytest.raises(build.BuildError, match="multiple of 512"):
        build.build_image(img, tmp_path / "out")
