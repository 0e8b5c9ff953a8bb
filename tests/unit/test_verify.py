"""Read-back verification on files (O_DIRECT, real I/O, no external command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from erasure import verify
from erasure.pattern import Pattern

MiB = 1 << 20
KEY = bytes(range(16, 32))


@pytest.mark.parametrize("size", [64 * MiB, 256 * MiB + 4096, 10**9, 500107862016,
                                  2 * 10**12 // 4096 * 4096, 1 << 40])
def test_nist_sample_covers_ten_percent_in_a_thousand_subsections(size: int) -> None:
    length = verify.sample_length(size)
    offsets = verify.sample_offsets(size, length, seed=1)
    assert len(offsets) >= 1000
    assert offsets[0] == 0  # first block
    assert offsets[-1] + length == size  # last block
    assert len(offsets) * length >= 0.10 * size
    assert all(o % 4096 == 0 for o in offsets[:-1]) and offsets[-1] % 512 == 0
    assert all(b >= a + length for a, b in zip(offsets, offsets[1:], strict=False))
    # spread: no gap between subsections is more than twice the average stride
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert max(gaps) <= 2 * size / (len(offsets) - 1) + length


def test_small_media_get_fewer_subsections_without_overlap() -> None:
    size = 4 * MiB
    length = verify.sample_length(size)
    offsets = verify.sample_offsets(size, length)
    assert offsets[0] == 0 and offsets[-1] + length == size
    assert all(b >= a + length for a, b in zip(offsets, offsets[1:], strict=False))
    assert verify.sample_offsets(4096, 4096) == [0]


def _device(tmp_path: Path, pattern: Pattern, size: int) -> Path:
    path = tmp_path / "media.img"
    with open(path, "wb") as fh:
        for off in range(0, size, 4 * MiB):
            fh.write(pattern.bytes_at(off, min(4 * MiB, size - off)))
    return path


@pytest.mark.parametrize("mode", ["full", "sample"])
@pytest.mark.parametrize("name", ["zero", "random"])
def test_pass_on_the_written_pattern(tmp_path: Path, mode: str, name: str) -> None:
    pattern = Pattern(name, KEY if name == "random" else None)
    path = _device(tmp_path, pattern, 24 * MiB)
    res = verify.verify(str(path), pattern, mode, block_size=MiB, depth=3)
    assert res.result == "pass", res
    assert res.mismatches == []
    if mode == "full":
        assert res.bytes_checked == 24 * MiB and res.sample_share == 1.0
    else:
        assert res.sample_share >= 0.10 and res.subsections >= 500


def test_a_single_changed_byte_fails_full_verify_with_its_offset(tmp_path: Path) -> None:
    pattern = Pattern("random", KEY)
    path = _device(tmp_path, pattern, 16 * MiB)
    with open(path, "r+b") as fh:
        fh.seek(5 * MiB + 12345)
        old = fh.read(1)
        fh.seek(5 * MiB + 12345)
        fh.write(bytes([old[0] ^ 1]))
    res = verify.verify(str(path), pattern, "full", block_size=MiB)
    assert res.result == "fail"
    assert res.mismatches == [5 * MiB + 12345]


def test_wrong_pattern_fails_and_none_is_not_done(tmp_path: Path) -> None:
    path = _device(tmp_path, Pattern("zero"), 8 * MiB)
    assert verify.verify(str(path), Pattern("random", KEY), "sample").result == "fail"
    assert verify.verify(str(path), Pattern("zero"), "none").result == "not-done"


def test_read_samples_and_fill_checks(tmp_path: Path) -> None:
    path = tmp_path / "media.img"
    path.write_bytes(b"\xff" * MiB + bytes(MiB) + b"\x5a" * MiB)
    offsets = [0, MiB, 2 * MiB]
    samples = verify.read_samples(str(path), offsets, 8192)
    assert [s[:1] for s in samples] == [b"\xff", b"\x00", b"\x5a"]
    check = verify.check_fill(samples[:2], offsets[:2])
    assert check.passed and check.values == [0x00, 0xFF]
    check = verify.check_fill(samples, offsets, allowed=(0x00,))
    assert not check.passed and check.first_failures == [0, 2 * MiB]


def test_check_changed() -> None:
    before = [b"secret" * 10, bytes(60), b"other!" * 10]
    after_good = [b"\x13" * 60, bytes(60), b"\x77" * 60]
    ok = verify.check_changed(before, after_good, [0, 1, 2])
    assert ok.passed and ok.checked == 2  # the all-zero sample proves nothing either way
    bad = verify.check_changed(before, [before[0], bytes(60), after_good[2]], [0, 1, 2])
    assert not bad.passed and bad.first_failures == [0]
    assert not verify.check_changed([bytes(8)], [bytes(8)], [0]).passed  # no evidence
