"""Discovery on real loop devices: eligibility follows what is mounted, swapped or live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from erasure import runner
from erasure.discovery import NotAWholeDisk, SystemState, discover, read_system_state, resolve
from tests.integration.loopdev import Loops, MiB

pytestmark = pytest.mark.integration


def _devno(path: str) -> str:
    st = os.stat(path)
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def test_a_free_loop_device_is_found_and_eligible(loops: Loops) -> None:
    dev, backing = loops.make(32 * MiB, markers=False)
    disk = resolve(dev)
    assert disk.transport == "loop" and disk.eligible and disk.excluded_reason is None
    assert disk.size_bytes == 32 * MiB and disk.logical_block_size == 512
    assert disk.id == f"loop-{backing}"
    assert dev not in [d.path for d in discover()]  # loop devices only with --all
    assert dev in [d.path for d in discover(include_all=True)]


def test_mounted_partition_excludes_the_whole_disk(loops: Loops, tmp_path: Path) -> None:
    backing = tmp_path / "gpt.img"
    with open(backing, "wb") as fh:
        fh.truncate(64 * MiB)
    runner.run(["sgdisk", "-o", "-n", "1:2048:+24M", str(backing)], timeout=30)
    dev, _ = loops.make(64 * MiB, backing=backing, partscan=True)
    part = loops.partition(dev, 1)
    runner.run(["mkfs.ext4", "-q", part], timeout=60)
    loops.mount(part, tmp_path / "mnt", options="ro")
    disk = resolve(dev)
    assert not disk.eligible
    assert disk.excluded_reason.startswith("mounted: ") and str(tmp_path / "mnt") in disk.excluded_reason
    with pytest.raises(NotAWholeDisk, match="partition"):
        resolve(part)


def test_swap_and_live_medium_exclude_a_disk(loops: Loops) -> None:
    swap, _ = loops.make(32 * MiB, markers=False)
    runner.run(["mkswap", "-q", swap], timeout=30)
    runner.run(["swapon", swap], timeout=30)
    try:
        disk = resolve(swap)
        assert not disk.eligible and disk.excluded_reason.startswith("active swap")
    finally:
        runner.run(["swapoff", swap], timeout=30)
    live, _ = loops.make(32 * MiB, markers=False)
    state = read_system_state()
    state = SystemState(state.mounted, state.swaps, state.live | {_devno(live)})
    found = {d.path: d for d in discover(include_all=True, state=state)}
    assert found[live].boot_medium and not found[live].eligible
    assert found[live].excluded_reason.startswith("boot medium")
