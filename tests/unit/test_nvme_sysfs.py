"""The NVMe controller of a namespace, resolved through a sysfs tree laid out as Linux
lays it out (tests/unit/sysfs_tree.py), not guessed from the block device's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from erasure.nvme_sysfs import ResolveError, resolve_controller, same_serial
from tests.unit.sysfs_tree import NvmeSysfs, single


def test_namespace_of_one_controller(tmp_path: Path) -> None:
    single(tmp_path, "ARDFWNVME01", instance=3)
    ctrl = resolve_controller("/dev/nvme3n1", tmp_path)
    assert (ctrl.path, ctrl.serial, ctrl.state, ctrl.via) == (
        "/dev/nvme3", "ARDFWNVME01", "live", "namespace")


@pytest.mark.parametrize("links", [False, True], ids=["linux-6.12", "linux-6.15-multipath-dir"])
def test_multipath_head_whose_number_is_no_controller(tmp_path: Path, links: bool) -> None:
    # the subsystem took instance 0 from its first controller, which was then removed
    # and came back as nvme4: /dev/nvme0n1 has no /dev/nvme0 at all
    tree = NvmeSysfs(tmp_path)
    subsys = tree.subsystem(0, "ARDFWSUBSYS1")
    c1 = tree.controller(1, "ARDFWSUBSYS1", subsys=subsys)
    c4 = tree.controller(4, "ARDFWSUBSYS1", subsys=subsys)
    tree.head(subsys, 1, [c1, c4], links=links)
    ctrl = resolve_controller("/dev/nvme0n1", tmp_path)
    assert (ctrl.path, ctrl.via, ctrl.candidates) == ("/dev/nvme1", "multipath", ("nvme1", "nvme4"))
    assert ctrl.serial == "ARDFWSUBSYS1"


def test_multipath_head_skips_a_controller_that_is_not_live(tmp_path: Path) -> None:
    tree = NvmeSysfs(tmp_path)
    subsys = tree.subsystem(2, "S1")
    c2 = tree.controller(2, "S1", state="resetting", subsys=subsys)
    c10 = tree.controller(10, "S1", subsys=subsys)
    tree.head(subsys, 1, [c2, c10])
    assert resolve_controller("/dev/nvme2n1", tmp_path).path == "/dev/nvme10"


def test_no_live_controller(tmp_path: Path) -> None:
    tree = NvmeSysfs(tmp_path)
    subsys = tree.subsystem(0, "S1")
    c0 = tree.controller(0, "S1", state="connecting", subsys=subsys)
    tree.head(subsys, 1, [c0])
    with pytest.raises(ResolveError, match="no controller of /dev/nvme0n1 is live.*connecting"):
        resolve_controller("/dev/nvme0n1", tmp_path)


def test_device_missing_from_sysfs(tmp_path: Path) -> None:
    single(tmp_path, "A")
    with pytest.raises(ResolveError, match="not in sysfs"):
        resolve_controller("/dev/nvme1n1", tmp_path)


def test_serials_compare_as_udev_stores_them() -> None:
    assert same_serial("S4EWNX0R123456      ", "S4EWNX0R123456")
    assert same_serial("WD Blue 123", "WD_Blue_123")
    assert not same_serial("ARDFWNVME01", "ARDFWNVME02")


def test_head_without_block_entries_for_its_paths(tmp_path: Path) -> None:
    # only the subsystem's controller links and the path directories under each controller
    tree = NvmeSysfs(tmp_path)
    subsys = tree.subsystem(0, "S1")
    c5 = tree.controller(5, "S1", subsys=subsys)
    tree.head(subsys, 2, [c5])
    (tmp_path / "block" / "nvme0c5n2").unlink()
    assert resolve_controller("/dev/nvme0n2", tmp_path).path == "/dev/nvme5"
