"""What the ATA erases rely on, on real mounts and block devices: whether the journal that
keeps the temporary ATA password outlives a power cycle (ext4 read-write yes, the same
stick read-only no, tmpfs no), and the size the kernel sees after a rescan."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.journal import Journal
from erasure import runner
from tests.integration.loopdev import Loops, MiB

pytestmark = pytest.mark.integration


def test_journal_persistence_follows_the_real_mount(loops: Loops, tmp_path: Path) -> None:
    dev, _ = loops.make(16 * MiB, "stick", markers=False)
    runner.run(["mkfs.ext4", "-q", dev], timeout=60)
    stick = tmp_path / "stick"
    loops.mount(dev, stick)
    journal = Journal(stick)
    assert journal.persistent
    assert journal.erase_options(object())["password_journal_persistent"] is True
    runner.run(["mount", "-o", "remount,ro", str(stick)], timeout=30)
    assert not Journal(stick).persistent  # the directory exists: opening it writes nothing
    ram = tmp_path / "ram"
    loops.mount("tmpfs", ram, fstype="tmpfs", options="size=1m")
    assert not Journal(ram).persistent


def test_rescan_size_reads_what_the_kernel_sees(loops: Loops) -> None:
    """A real block device whose backing grew: the kernel keeps the old size until told
    (a loop device has no device/rescan; `losetup -c` is its rescan), and rescan_size
    reports the kernel's size, not the backing's."""
    from erasure.disk import Disk
    from erasure.probe import rescan_size

    dev, backing = loops.make(8 * MiB, "grown", markers=False)
    disk = Disk(path=dev, id="loop", model="", serial="", size_bytes=8 * MiB,
                logical_block_size=512, transport="loop")
    assert rescan_size(disk) == 8 * MiB
    with open(backing, "r+b") as fh:
        fh.truncate(16 * MiB)
    assert rescan_size(disk) == 8 * MiB  # the kernel still has the old size
    runner.run(["losetup", "-c", dev], timeout=30)
    assert rescan_size(disk) == 16 * MiB
