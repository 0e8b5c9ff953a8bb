"""Find every whole disk and decide which ones may be erased.

Facts come from udev (pyudev) and sysfs; the boot medium and mounted disks are found from
what is actually mounted (/proc/self/mountinfo, /proc/swaps) and matched by stable id,
never by kernel name.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyudev

from erasure.disk import Disk
from erasure.text import Msg

SYS_BLOCK = Path("/sys/block")
LIVE_MEDIUM_MOUNTS = ("/run/live/medium", "/lib/live/mount/medium", "/run/live/persistence")
DATA_LABEL = "ARDOISE"
DATA_MOUNT = "/run/ardoise/data"
ID_PREFERENCE = ("wwn-", "nvme-eui.", "nvme-", "ata-", "scsi-", "usb-", "mmc-", "virtio-")
SKIP_PREFIXES = ("ram", "zram", "fd", "md", "dm-", "nbd")
# eMMC hardware partitions the kernel names mmcblkNbootM / mmcblkNrpmb (drivers/mmc/core/
# block.c mmc_blk_alloc_part): boot code and the replay-protected key store, no user data,
# often write-protected; erasing the card's user area (mmcblkN) is what holds user data.
# General-purpose partitions (mmcblkNgpM) are user-configured data areas: they stay disks.
MMC_HW_PART = re.compile(r"^/dev/mmcblk\d+(boot\d+|rpmb)$")


class NotAWholeDisk(Exception):
    """The path is not a whole block device (a partition, a file, missing...)."""


@dataclass
class SystemState:
    """What is in use right now: device numbers mounted, swapped, live-medium."""

    mounted: dict[str, str] = field(default_factory=dict)  # "maj:min" -> mount point
    swaps: set[str] = field(default_factory=set)  # "maj:min"
    live: set[str] = field(default_factory=set)  # "maj:min" of the live medium / data part


def read_system_state(mountinfo: str = "/proc/self/mountinfo", swaps: str = "/proc/swaps") -> SystemState:
    state = SystemState()
    with open(mountinfo) as fh:
        for line in fh:
            parts = line.split()
            devno, mountpoint = parts[2], parts[4].replace("\\040", " ")
            if devno.startswith("0:"):
                # btrfs (and other multi-device filesystems) report an anonymous device
                # number: the disk is the mount source (proc(5): fields after " - ")
                source = parts[parts.index("-") + 2] if "-" in parts[6:] else ""
                real = _block_devno(source) if source.startswith("/dev/") else None
                if real is None:
                    continue
                devno = real
            state.mounted.setdefault(devno, mountpoint)
            if mountpoint in LIVE_MEDIUM_MOUNTS or mountpoint == DATA_MOUNT:
                state.live.add(devno)
    try:
        with open(swaps) as fh:
            next(fh, None)
            for line in fh:
                name = line.split()[0]
                try:
                    st = os.stat(name)
                except OSError:
                    continue
                if stat.S_ISBLK(st.st_mode):
                    state.swaps.add(f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
                else:
                    state.swaps.add(f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    except FileNotFoundError:
        pass
    return state


def _block_devno(path: str) -> str | None:
    """"maj:min" of a block device node, or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def _devno(sysdir: Path) -> str:
    return _read(sysdir / "dev")


def _sub_devices(sysdir: Path) -> list[Path]:
    """Partitions of a disk (sysfs children that have a `partition` file)."""
    return [p for p in sysdir.iterdir() if (p / "partition").exists()]


def _holders(sysdir: Path, seen: set[Path] | None = None) -> list[Path]:
    """Every device stacked on this one (dm, md, ...), transitively."""
    seen = seen if seen is not None else set()
    out: list[Path] = []
    holders = sysdir / "holders"
    if not holders.is_dir():
        return out
    for h in holders.iterdir():
        real = Path(os.path.realpath(h))
        if real in seen:
            continue
        seen.add(real)
        out.append(real)
        out.extend(_holders(real, seen))
    return out


def _loop_backing_devnos() -> dict[str, str]:
    """loop "maj:min" -> devno of the filesystem holding its backing file."""
    out: dict[str, str] = {}
    for loop in SYS_BLOCK.glob("loop*"):
        backing = _read(loop / "loop" / "backing_file")
        if not backing:
            continue
        try:
            st = os.stat(backing.removesuffix(" (deleted)"))
        except OSError:
            continue
        out[_devno(loop)] = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    return out


def transport_of(dev: pyudev.Device, name: str) -> str:
    if name.startswith("nvme"):
        return "nvme"
    if name.startswith("mmcblk"):
        return "mmc"
    if name.startswith("loop"):
        return "loop"
    if name.startswith("vd"):
        return "virtio"
    bus = dev.properties.get("ID_BUS", "")
    path = dev.properties.get("ID_PATH", "")
    if bus == "usb" or "-usb-" in path:
        return "usb"
    if bus == "ata" or "-ata-" in path:
        return "sata"
    if "-sas-" in path:
        return "sas"
    tran = _read(SYS_BLOCK / name / "device" / "transport")
    if tran:
        return tran
    return "scsi" if bus == "scsi" else (bus or "scsi")


def stable_id(dev: pyudev.Device, name: str, links: Iterable[str]) -> tuple[str, list[str]]:
    by_id = sorted(
        os.path.basename(link) for link in links if link.startswith("/dev/disk/by-id/")
    )
    for prefix in ID_PREFERENCE:
        for link in by_id:
            if link.startswith(prefix):
                return link, by_id
    wwn = dev.properties.get("ID_WWN_WITH_EXTENSION") or dev.properties.get("ID_WWN")
    if wwn:
        return f"wwn-{wwn}", by_id
    serial = dev.properties.get("ID_SERIAL")
    if serial:
        return f"serial-{serial}", by_id
    if name.startswith("loop"):
        return f"loop-{_read(SYS_BLOCK / name / 'loop' / 'backing_file') or name}", by_id
    return f"devno-{_devno(SYS_BLOCK / name)}", by_id


def _describe(dev: pyudev.Device, name: str) -> Disk:
    sysdir = SYS_BLOCK / name
    props = dev.properties
    links = list(dev.device_links)
    ident, by_id = stable_id(dev, name, links)
    queue = sysdir / "queue"
    model = props.get("ID_MODEL", "").replace("_", " ") or _read(sysdir / "device" / "model")
    serial = (
        props.get("ID_SERIAL_SHORT")
        or _read(sysdir / "device" / "serial")
        or props.get("ID_SERIAL", "")
    )
    rot = _read(queue / "rotational")
    transport = transport_of(dev, name)
    return Disk(
        path=f"/dev/{name}",
        id=ident,
        model=model or name,
        serial=serial,
        firmware=(props.get("ID_REVISION") or _read(sysdir / "device" / "firmware_rev")) or None,
        size_bytes=int(_read(sysdir / "size", "0")) * 512,
        logical_block_size=int(_read(queue / "logical_block_size", "512")),
        physical_block_size=int(_read(queue / "physical_block_size", "512")),
        transport=transport,
        rotational=(rot == "1") if rot in ("0", "1") and transport != "loop" else None,
        removable=_read(sysdir / "removable") == "1",
        wwn=props.get("ID_WWN_WITH_EXTENSION") or props.get("ID_WWN") or None,
        by_id=by_id,
    )


def _usage(name: str, state: SystemState, loops: dict[str, str]) -> tuple[bool, str | None]:
    """(holds live medium, reason it is in use or None) for one disk."""
    sysdir = SYS_BLOCK / name
    nodes = [sysdir, *_sub_devices(sysdir)]
    nodes += [h for n in list(nodes) for h in _holders(n)]
    devnos = {_devno(n): n.name for n in nodes}
    # a loop device whose backing file lives on this disk counts as a holder
    for loopno, fsno in loops.items():
        if fsno in devnos:
            devnos[loopno] = f"{devnos[fsno]} (loop)"
    live = any(d in state.live for d in devnos)
    for d, node in devnos.items():
        if d in state.mounted:
            return live, Msg("mounted: {node} on {mount}", node=node, mount=state.mounted[d])
        if d in state.swaps:
            return live, Msg("active swap: {node}", node=node)
    return live, None


def discover(include_all: bool = False, state: SystemState | None = None) -> list[Disk]:
    """Every whole disk with its eligibility decided."""
    state = state or read_system_state()
    loops = _loop_backing_devnos()
    ctx = pyudev.Context()
    disks: list[Disk] = []
    for dev in ctx.list_devices(subsystem="block", DEVTYPE="disk"):
        name = dev.sys_name
        if name.startswith(SKIP_PREFIXES) or name.startswith("sr"):
            if not include_all:
                continue
        if name.startswith("loop"):
            if not include_all or not _read(SYS_BLOCK / name / "loop" / "backing_file"):
                continue
        if int(_read(SYS_BLOCK / name / "size", "0")) == 0 and not name.startswith("sr"):
            continue
        if _read(SYS_BLOCK / name / "hidden") == "1":  # an NVMe multipath path (nvmeXcYnZ)
            continue
        disk = _describe(dev, name)
        live, busy = _usage(name, state, loops)
        disk.boot_medium = live
        disk.excluded_reason = busy
        disks.append(disk)
    boot_ids = {d.id for d in disks if d.boot_medium}
    for d in disks:
        # the same physical disk seen under another name is the boot medium too
        if d.id in boot_ids:
            d.boot_medium = True
        decide(d)
    return sorted(disks, key=lambda d: (not d.eligible, d.path))


def decide(disk: Disk, allow_external: bool = False) -> Disk:
    """Set eligible / excluded_reason from what is known about the disk."""
    if disk.boot_medium:
        disk.eligible = False
        disk.excluded_reason = Msg("boot medium (holds the running live system or its data)")
    elif disk.excluded_reason and not disk.excluded_reason.startswith("external"):
        disk.eligible = False
    elif (part := MMC_HW_PART.match(disk.path)) is not None:
        disk.eligible = False
        disk.excluded_reason = (Msg("eMMC boot partition (firmware boot code, not user data)")
                                if part.group(1).startswith("boot") else
                                Msg("eMMC RPMB partition (replay-protected key store, not "
                                    "user data)"))
    elif disk.path.startswith("/dev/sr"):
        disk.eligible = False
        disk.excluded_reason = Msg("optical drive")
    elif (disk.transport == "usb" or disk.removable) and not allow_external:
        disk.eligible = False
        disk.excluded_reason = Msg("external (USB or removable): select it explicitly with --allow-external")
    else:
        disk.eligible = True
        disk.excluded_reason = None
    return disk


def resolve(path: str, allow_external: bool = False) -> Disk:
    """The Disk for a path named on the command line; raises NotAWholeDisk."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise NotAWholeDisk(Msg("{path}: no such device", path=path)) from exc
    if not stat.S_ISBLK(st.st_mode):
        raise NotAWholeDisk(Msg("{path}: not a block device", path=path))
    devno = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    sysdir = Path(os.path.realpath(f"/sys/dev/block/{devno}"))
    if (sysdir / "partition").exists():
        raise NotAWholeDisk(
            Msg("{path}: is a partition of {disk}, not a whole disk", path=path, disk=sysdir.parent.name)
        )
    name = sysdir.name
    for disk in discover(include_all=True):
        if disk.path == f"/dev/{name}":
            return decide(disk, allow_external=allow_external or disk.transport == "loop")
    raise NotAWholeDisk(Msg("{path}: not a whole disk", path=path))
