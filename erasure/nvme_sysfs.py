"""Which NVMe controller a namespace block device belongs to, read from sysfs.

The admin commands (id-ctrl, list-ns, sanitize, sanitize-log) go to a controller
(/dev/nvmeN); the block device is a namespace (/dev/nvmeXnY). X is not the controller's
number: with native NVMe multipath (the kernel's default) X is the instance of the NVM
subsystem (nvme-cli issues 455 and 510). The kernel (drivers/nvme/host/core.c,
multipath.c, sysfs.c) lays sysfs out so:

- a namespace reached through one controller only: its gendisk's parent is the
  controller, so /sys/block/nvmeXnY/device -> .../nvme/nvmeN;
- a multipath head: its gendisk's parent is the subsystem
  (/sys/block/nvmeXnY/device -> /sys/devices/virtual/nvme-subsystem/nvme-subsysX) and
  each path is a hidden gendisk nvme<X>c<N>n<Y> whose parent is controller nvmeN. Since
  Linux 6.15 the head also links its paths in /sys/block/nvmeXnY/multipath/; older
  kernels (Debian's 6.12) only have the hidden /sys/block/nvmeXcNnY entries.
- /sys/class/nvme/nvmeN/state is "live" when the controller takes commands; its
  `serial` is the subsystem's serial number (sysfs.c nvme_show_str_function).

The sysfs root is a parameter so tests build a tree of the same shape in a directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from erasure.text import Msg

SYSFS = Path("/sys")
_CTRL = re.compile(r"^nvme\d+$")
_HEAD = re.compile(r"^nvme(\d+)n(\d+)$")


class ResolveError(Exception):
    """The controller of a namespace could not be found (the message is a Msg)."""


@dataclass
class Controller:
    name: str  # nvme2
    serial: str  # /sys/class/nvme/nvme2/serial, stripped
    state: str  # live | resetting | connecting | deleting | dead | new ...
    via: str  # "namespace" (the disk's own parent) or "multipath" (a path of a head)
    candidates: tuple[str, ...] = ()  # every controller found for a multipath head

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"


def same_serial(a: str | None, b: str | None) -> bool:
    """Serial numbers compared as udev stores them (trimmed, blanks as underscores)."""
    return (a or "").strip().replace(" ", "_") == (b or "").strip().replace(" ", "_")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _controller(root: Path, name: str, via: str,
                candidates: tuple[str, ...] = ()) -> Controller:
    base = root / "class" / "nvme" / name
    return Controller(name=name, serial=_read(base / "serial"), state=_read(base / "state"),
                      via=via, candidates=candidates)


def _paths(root: Path, block: Path, name: str) -> list[Path]:
    """The path gendisks of a multipath head: multipath/ links, else nvmeXc*nY."""
    links = block / "multipath"
    if links.is_dir():
        return sorted(links.iterdir())
    m = _HEAD.match(name)
    if not m:
        return []
    pattern = re.compile(rf"^nvme{m.group(1)}c(\d+)n{m.group(2)}$")
    try:
        entries = list((root / "block").iterdir())
    except OSError:
        return []
    return sorted(p for p in entries if pattern.match(p.name))


def resolve_controller(device: str, root: Path | None = None) -> Controller:
    """The live controller through which the namespace `device` (/dev/nvmeXnY) is reached.

    Raises ResolveError (one sentence) when sysfs does not show one."""
    root = root if root is not None else SYSFS
    name = os.path.basename(device)
    block = root / "block" / name
    if not block.exists():
        raise ResolveError(Msg("{path} is not in sysfs ({where}): its NVMe controller is "
                               "unknown", path=device, where=str(block)))
    parent = Path(os.path.realpath(block / "device")).name
    if _CTRL.match(parent):
        return _controller(root, parent, "namespace")
    if not parent.startswith("nvme-subsys"):
        raise ResolveError(Msg("{path} is not an NVMe namespace (its parent in sysfs is "
                               "{parent})", path=device, parent=parent))
    found: list[str] = []
    for path in _paths(root, block, name):
        ctrl = Path(os.path.realpath(path / "device")).name
        if _CTRL.match(ctrl) and ctrl not in found:
            found.append(ctrl)
    m = _HEAD.match(name)
    if not found and m:  # the subsystem links its controllers; each holds its path
        subsys = Path(os.path.realpath(block / "device"))
        for link in subsys.glob("nvme*"):
            if _CTRL.match(link.name) and (
                    link / f"nvme{m.group(1)}c{link.name[4:]}n{m.group(2)}").exists():
                found.append(link.name)
    found.sort(key=lambda c: int(c[4:]))
    if not found:
        raise ResolveError(Msg("{path} is a multipath namespace without any path in sysfs",
                               path=device))
    for ctrl in found:
        candidate = _controller(root, ctrl, "multipath", tuple(found))
        if candidate.state == "live":
            return candidate
    raise ResolveError(Msg("no controller of {path} is live ({states})", path=device,
                           states=", ".join(f"{c}: {_read(root / 'class' / 'nvme' / c / 'state') or '?'}"
                                            for c in found)))
