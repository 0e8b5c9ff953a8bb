"""Whether the journal that keeps the temporary ATA password outlives a power cycle, on
real mounts: ext4 read-write (yes), the same stick read-only (no), tmpfs (no)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.journal import Journal
from erasure import runner
from tests.integration.loopdev import Loops, MiB

pytestmark = pytest.mark.integration


@pytest.fixture
def loops(real_commands: None, tmp_path: Path) -> Iterator[Loops]:
    box = Loops(tmp_path)
    try:
        yield box
    finally:
        box.close()


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
