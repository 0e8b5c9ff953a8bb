"""The overwrite engine on files (real O_DIRECT I/O; no external command)."""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import pytest

from erasure import blockdev, methods
from erasure.disk import Disk
from erasure.methods import overwrite
from erasure.methods.base import EraseContext, Progress
from erasure.methods.overwrite import Meter, Writer, pass_pattern
from erasure.pattern import Pattern

MiB = 1 << 20
KEY = bytes(range(100, 116))


def _media(tmp_path: Path, size: int) -> Disk:
    path = tmp_path / "media.img"
    path.write_bytes(b"ARDOISE-MARKER-" * (size // 15) + b"x" * (size % 15))
    return Disk(path=str(path), id="file", model="file", serial="", size_bytes=size,
                logical_block_size=512, transport="loop", eligible=True)


def test_registered_under_its_contract_name() -> None:
    assert methods.get("overwrite").technique == "overwrite"


def test_zero_overwrites_every_byte(tmp_path: Path) -> None:
    disk = _media(tmp_path, 20 * MiB + 8192)
    ctx = EraseContext(pattern="zero", options={"block_size": 2 * MiB, "queue_depth": 3})
    result = methods.get("overwrite").run(disk, ctx)
    assert result.status == "erased" and result.errors == []
    assert result.bytes_written == disk.size_bytes
    assert Path(disk.path).read_bytes() == bytes(disk.size_bytes)


def test_random_equals_the_regenerated_stream(tmp_path: Path) -> None:
    disk = _media(tmp_path, 12 * MiB)
    ctx = EraseContext(pattern="random", key=KEY, options={"block_size": MiB, "queue_depth": 4})
    result = methods.get("overwrite").run(disk, ctx)
    assert result.status == "erased"
    data = Path(disk.path).read_bytes()
    assert data == Pattern("random", KEY).bytes_at(0, disk.size_bytes)
    assert b"ARDOISE-MARKER" not in data


def test_progress_is_coalesced_monotonic_and_complete(tmp_path: Path) -> None:
    disk = _media(tmp_path, 16 * MiB)
    events: list[Progress] = []
    ctx = EraseContext(pattern="zero", progress=events.append,
                       options={"block_size": 256 * 1024, "queue_depth": 2})
    methods.get("overwrite").run(disk, ctx)
    assert events and events[-1].done_bytes == disk.size_bytes
    assert events[-1].fraction == 1.0
    assert len(events) < 64 // 2 + 2  # 64 blocks written, far fewer events
    done = [e.done_bytes for e in events]
    assert done == sorted(done)


def test_cancel_stops_with_incomplete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = _media(tmp_path, 32 * MiB)
    cancel = threading.Event()

    def on_progress(event: Progress) -> None:
        cancel.set()

    ctx = EraseContext(pattern="zero", progress=on_progress, cancel=cancel,
                       options={"block_size": MiB, "queue_depth": 1})
    monkeypatch.setattr(overwrite, "EMIT_INTERVAL", 0.0)  # an event per block
    result = methods.get("overwrite").run(disk, ctx)
    assert result.status == "incomplete"
    assert result.bytes_written < disk.size_bytes


def test_multiple_passes_end_with_the_verified_pattern(tmp_path: Path) -> None:
    disk = _media(tmp_path, 4 * MiB)
    ctx = EraseContext(pattern="random", key=KEY, passes=3, options={"block_size": MiB})
    result = methods.get("overwrite").run(disk, ctx)
    assert result.bytes_written == 3 * disk.size_bytes
    assert Path(disk.path).read_bytes() == Pattern("random", KEY).bytes_at(0, 4 * MiB)
    keys = {pass_pattern(Pattern("random", KEY), n, 3).key for n in range(3)}
    assert len(keys) == 3


def test_unwritable_blocks_are_narrowed_and_merged() -> None:
    """/dev/full refuses every write (ENOSPC): the whole block is one merged error range."""
    fd = os.open("/dev/full", os.O_WRONLY)
    buf = blockdev.AlignedBuffer(MiB)
    try:
        meter = Meter(EraseContext(), "/dev/full", "erase", 2 * MiB)
        writer = Writer(fd, 2 * MiB, Pattern("zero"), meter, min_piece=64 * 1024)
        writer.work(buf, blockdev.Block(0, MiB))
        writer.work(buf, blockdev.Block(MiB, MiB))
    finally:
        buf.close()
        os.close(fd)
    assert writer.written == 0
    assert [(e.offset, e.length) for e in writer.errors] == [(0, 2 * MiB)]
    assert "space" in writer.errors[0].error


@pytest.mark.parametrize("size", [4096, MiB, 2 * MiB, 8 * MiB, 8 * MiB + 4096])
def test_buffers_are_aligned_and_their_view_is_their_memory(size: int) -> None:
    """Every buffer is page-aligned; from 2 MiB on it starts on a huge-page boundary (so
    transparent huge pages can back all of it); the view and the address are the same
    bytes, with SLACK spare bytes after `size`."""
    buf = blockdev.AlignedBuffer(size)
    try:
        assert buf.address % 4096 == 0
        if size >= blockdev.HUGE:
            assert buf.address % blockdev.HUGE == 0
        assert len(buf.view) == size + blockdev.SLACK
        buf.view[0:4] = b"head"
        buf.view[size + blockdev.SLACK - 4:] = b"tail"
        assert ctypes.string_at(buf.address, 4) == b"head"
        assert ctypes.string_at(buf.address + size + blockdev.SLACK - 4, 4) == b"tail"
        blockdev.zero(buf)
        assert bytes(buf.view[:4]) == bytes(4)
    finally:
        buf.close()


def test_missing_device_fails_cleanly(tmp_path: Path) -> None:
    disk = Disk(path=str(tmp_path / "gone"), id="x", model="x", serial="", size_bytes=0,
                logical_block_size=512, transport="loop", eligible=True)
    result = methods.get("overwrite").run(disk, EraseContext())
    assert result.status == "failed" and "cannot open" in result.errors[0]
