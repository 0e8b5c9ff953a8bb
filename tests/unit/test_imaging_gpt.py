"""GPT post-write steps (through the command runner) and GPT header checks."""

from __future__ import annotations

import os
from pathlib import Path

import zstandard

from appliance.imaging import gpt
from appliance.imaging.sources import LocalSource, SourceError, open_source

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imaging"
DEV = "/dev/loop9"


def test_post_write_on_a_larger_disk(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["sgdisk", "-e", DEV], fixture="imaging/sgdisk-e.txt")
    fake_runner.add(["growpart", DEV, "1"], fixture="imaging/growpart.txt")
    fake_runner.add(["blockdev", "--rereadpt", DEV], returncode=1,
                    stderr=(FIXTURES / "blockdev-rereadpt.stderr.txt").read_text())
    out = gpt.post_write(DEV, 64 << 20, 80 << 20, grow_last=True, last_partition=1)
    assert out.steps == ["sgdisk -e", "growpart 1"] and out.errors == []
    assert fake_runner.calls == [("sgdisk", "-e", DEV), ("growpart", DEV, "1"),
                                 ("blockdev", "--rereadpt", DEV)]


def test_post_write_not_needed_on_a_disk_of_the_image_size(fake_runner) -> None:  # type: ignore[no-untyped-def]
    out = gpt.post_write(DEV, 64 << 20, 64 << 20, grow_last=True, last_partition=1)
    assert out.steps == [] and fake_runner.calls == []


def test_post_write_failure_is_reported(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["sgdisk", "-e", DEV], returncode=2,
                    fixture="imaging/sgdisk-e-missing.txt")
    out = gpt.post_write(DEV, 64 << 20, 80 << 20, grow_last=False, last_partition=1)
    assert out.steps == []
    assert "moving the backup GPT header failed" in out.errors[0]


def test_gpt_header_crc(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    with open(FIXTURES / "gpt-ext4.img.zst", "rb") as src, open(img, "wb") as dst:
        zstandard.ZstdDecompressor().copy_stream(src, dst)
    fd = os.open(img, os.O_RDONLY)
    try:
        header = os.pread(fd, 512, 512)
    finally:
        os.close(fd)
    assert gpt.gpt_header_ok(header)
    damaged = bytearray(header)
    damaged[40] ^= 1
    assert not gpt.gpt_header_ok(bytes(damaged))


def test_local_source_reads_and_reports_short_files(tmp_path: Path) -> None:
    (tmp_path / "x.manifest.json").write_text("{}")
    (tmp_path / "x.data").write_bytes(b"0123456789")
    src = open_source(str(tmp_path / "x.manifest.json"))
    assert isinstance(src, LocalSource)
    src.set_data_file("x.data")
    assert src.read(2, 3) == b"234"
    try:
        src.read(8, 5)
    except SourceError as exc:
        assert "data file ends at 10" in str(exc)
    else:
        raise AssertionError("short read not reported")
    finally:
        src.close()
    assert src.stats.bytes_fetched == 3


def test_unsupported_location() -> None:
    try:
        open_source("ftp://example.invalid/x.manifest.json")
    except SourceError as exc:
        assert "unsupported image location" in str(exc)
    else:
        raise AssertionError("ftp accepted")
