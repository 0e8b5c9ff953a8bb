"""The audit's read-everything engine on files (O_DIRECT on the test file system)."""

from __future__ import annotations

import random
from pathlib import Path

import blake3
import pytest

from erasure.blockdev import MiB
from erasure.scan import ANY, IMAGE, TABLE, ZERO, Region, check_regions, scan

FIXTURES = Path(__file__).parent.parent / "fixtures" / "audit"
SIZE = 24 * MiB


def _disk(tmp_path: Path, image: bytes) -> Path:
    path = tmp_path / "disk.img"
    with open(path, "wb") as fh:
        fh.truncate(SIZE)
        fh.write(image)
    return path


def _image() -> bytes:
    return random.Random(3).randbytes(4 * MiB)


def _regions(image: bytes, rest: str = ZERO) -> list[Region]:
    return [Region(0, 2 * MiB, IMAGE, blake3.blake3(image[:2 * MiB]).hexdigest(), "chunk 0"),
            Region(2 * MiB, 2 * MiB, IMAGE, blake3.blake3(image[2 * MiB:]).hexdigest(),
                   "chunk 1"),
            Region(4 * MiB, SIZE - 4 * MiB, rest)]


def test_an_imaged_zeroed_disk_has_no_finding(tmp_path: Path) -> None:
    image = _image()
    result = scan(str(_disk(tmp_path, image)), _regions(image), block_size=MiB)
    assert result.findings == [] and result.error is None
    assert result.bytes_read == SIZE and result.image_bytes == 4 * MiB
    assert result.zero_bytes == SIZE - 4 * MiB and result.searched_bytes == 0


def test_a_flipped_byte_in_the_image_names_its_chunk(tmp_path: Path) -> None:
    image = _image()
    path = _disk(tmp_path, image)
    with open(path, "r+b") as fh:
        fh.seek(3 * MiB + 77)
        fh.write(bytes([image[3 * MiB + 77] ^ 1]))
    (finding,) = scan(str(path), _regions(image)).findings
    assert (finding.kind, finding.what, finding.offset) == ("image-mismatch", "chunk 1", 2 * MiB)


def test_data_after_the_image_is_a_pattern_mismatch_and_its_signature_is_named(
        tmp_path: Path) -> None:
    image = _image()
    path = _disk(tmp_path, image)
    jpeg_at = 9 * MiB + 512 * 7
    with open(path, "r+b") as fh:
        fh.seek(jpeg_at)
        fh.write((FIXTURES / "jpeg-jfif.bin").read_bytes())
    result = scan(str(path), _regions(image), block_size=MiB)
    kinds = [(f.kind, f.offset, f.what) for f in result.findings]
    assert kinds == [("pattern-mismatch", jpeg_at, "zero"), ("signature", jpeg_at, "jpeg")]


def test_random_rest_with_no_pattern_is_searched_and_passes(tmp_path: Path) -> None:
    image = _image()
    path = _disk(tmp_path, image)
    with open(path, "r+b") as fh:
        fh.seek(4 * MiB)
        fh.write(random.Random(9).randbytes(SIZE - 4 * MiB))
    result = scan(str(path), _regions(image, ANY), block_size=MiB)
    assert result.findings == []
    assert result.searched_bytes == SIZE - 4 * MiB and result.any_bytes == SIZE - 4 * MiB


def test_an_adjustable_chunk_and_a_table_region_are_not_failures(tmp_path: Path) -> None:
    image = _image()
    path = _disk(tmp_path, image[:MiB] + bytes(3 * MiB))
    gpt = (FIXTURES / "gpt-header.bin").read_bytes()
    with open(path, "r+b") as fh:
        fh.seek(SIZE - 4096)
        fh.write(gpt)
    regions = [Region(0, 4 * MiB, IMAGE, blake3.blake3(image).hexdigest(), "chunk 0",
                      adjustable=True),
               Region(4 * MiB, SIZE - 8 * MiB, ZERO), Region(SIZE - 4 * MiB, 4 * MiB, TABLE)]
    result = scan(str(path), regions, block_size=MiB)
    assert [f.kind for f in result.findings] == ["table-adjusted"] and result.failures == []
    assert result.table_bytes == 4 * MiB


@pytest.mark.parametrize("regions", [
    [Region(0, MiB, ZERO)],  # does not reach the end
    [Region(0, SIZE // 2, ZERO), Region(SIZE // 2 + 512, SIZE // 2 - 512, ZERO)],  # a gap
    [Region(0, SIZE - 100, ZERO), Region(SIZE - 100, 100, ZERO)],  # not aligned
])
def test_regions_must_cover_the_disk_exactly(regions: list[Region]) -> None:
    with pytest.raises(ValueError):
        check_regions(regions, SIZE, 512)
