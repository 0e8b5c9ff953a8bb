"""A fake NVMe sysfs tree in a directory, laid out as Linux does it (drivers/nvme/host/
core.c nvme_alloc_ns / nvme_init_subsystem, multipath.c nvme_mpath_alloc_disk /
nvme_mpath_add_sysfs_link, sysfs.c attributes; see tests/fixtures/README.md):

    devices/pci0000:00/0000:00:0N.0/nvme/nvmeC/{serial,state,model,cntlid,transport}
    devices/pci0000:00/0000:00:0N.0/nvme/nvmeC/nvmeXnY/          namespace, one path
    devices/pci0000:00/0000:00:0N.0/nvme/nvmeC/nvmeXcCnY/        hidden path of a head
    devices/virtual/nvme-subsystem/nvme-subsysX/{serial,subsysnqn,nvmeC -> controller}
    devices/virtual/nvme-subsystem/nvme-subsysX/nvmeXnY/         multipath head
        multipath/nvmeXcCnY -> path (Linux 6.15 and later)
    block/<disk> -> its devices/ directory; <disk>/device -> its parent
    class/nvme/nvmeC -> controller; class/nvme-subsystem/nvme-subsysX -> subsystem
"""

from __future__ import annotations

import os
from pathlib import Path


class NvmeSysfs:
    def __init__(self, root: Path) -> None:
        if Path(os.path.realpath(root)) == Path("/sys"):
            raise RuntimeError("a fake sysfs tree is never built in the real /sys")
        self.root = root
        self._slot = 4

    def _link(self, link: Path, target: Path) -> None:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(target, link.parent))

    def _disk(self, parent: Path, name: str, hidden: bool = False) -> Path:
        disk = parent / name
        disk.mkdir(parents=True)
        (disk / "size").write_text("131072\n")
        (disk / "hidden").write_text("1\n" if hidden else "0\n")
        self._link(disk / "device", parent)
        self._link(self.root / "block" / name, disk)
        return disk

    def controller(self, instance: int, serial: str, state: str = "live",
                   subsys: Path | None = None) -> Path:
        pci = self.root / "devices" / "pci0000:00" / f"0000:00:{self._slot:02x}.0"
        self._slot += 1
        ctrl = pci / "nvme" / f"nvme{instance}"
        ctrl.mkdir(parents=True)
        # sysfs.c pads the 20-byte serial with blanks, as the drive reports it
        (ctrl / "serial").write_text(f"{serial:<20}\n")
        (ctrl / "state").write_text(f"{state}\n")
        (ctrl / "model").write_text(f"{'QEMU NVMe Ctrl':<40}\n")
        (ctrl / "transport").write_text("pcie\n")
        (ctrl / "cntlid").write_text(f"{instance}\n")
        self._link(ctrl / "device", pci)
        self._link(self.root / "class" / "nvme" / ctrl.name, ctrl)
        if subsys is not None:
            self._link(subsys / ctrl.name, ctrl)
        return ctrl

    def namespace(self, ctrl: Path, name: str) -> Path:
        """A namespace reached through one controller only (its gendisk's parent)."""
        return self._disk(ctrl, name)

    def subsystem(self, instance: int, serial: str) -> Path:
        subsys = self.root / "devices" / "virtual" / "nvme-subsystem" / f"nvme-subsys{instance}"
        subsys.mkdir(parents=True)
        (subsys / "serial").write_text(f"{serial:<20}\n")
        (subsys / "subsysnqn").write_text("nqn.2019-08.org.qemu:ardoise-subsys\n")
        (subsys / "iopolicy").write_text("numa\n")
        self._link(self.root / "class" / "nvme-subsystem" / subsys.name, subsys)
        return subsys

    def head(self, subsys: Path, head: int, paths: list[Path], links: bool = False) -> Path:
        """A multipath head nvme<S>n<head> with one hidden path per controller in `paths`;
        `links`: the multipath/ directory of Linux 6.15 and later."""
        s = subsys.name.removeprefix("nvme-subsys")
        disk = self._disk(subsys, f"nvme{s}n{head}")
        for ctrl in paths:
            path = self._disk(ctrl, f"nvme{s}c{ctrl.name.removeprefix('nvme')}n{head}",
                              hidden=True)
            if links:
                self._link(disk / "multipath" / path.name, path)
        return disk


def single(root: Path, serial: str, instance: int = 0, ns: str | None = None) -> NvmeSysfs:
    """One controller nvme<instance> with its namespace nvme<instance>n1 (or `ns`)."""
    tree = NvmeSysfs(root)
    ctrl = tree.controller(instance, serial)
    tree.namespace(ctrl, ns or f"nvme{instance}n1")
    return tree


def ensure_namespace(root: Path, device: str, serial: str, instance: int = 0) -> None:
    """Give `device` (a path whose name is the namespace's) controller nvme<instance>
    with `serial` in the tree at `root`, unless the tree already has it."""
    if Path(os.path.realpath(root)) == Path("/sys"):
        raise RuntimeError("a fake sysfs tree is never built in the real /sys")
    name = os.path.basename(device)
    if (root / "block" / name).exists():
        return
    tree = NvmeSysfs(root)
    ctrl = root / "class" / "nvme" / f"nvme{instance}"
    if ctrl.exists():
        tree.namespace(Path(os.path.realpath(ctrl)), name)
        return
    tree._slot = 4 + instance
    tree.namespace(tree.controller(instance, serial), name)
