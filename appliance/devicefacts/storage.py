"""Drives and their wear from `smartctl -j -x` (smartmontools' JSON), one call per disk.

Disks are the whole block devices in /sys/block (no loop, ram, zram, device-mapper, md or
optical); the transport comes from where the kernel attached the disk (its sysfs path),
so a USB bridge reads "usb" whatever protocol smartctl speaks through it. smartctl's exit
status is a bit mask (smartctl(8) "RETURN VALUES"): bits 0-1 mean it could not read the
drive; the other bits report the drive's health, and its JSON is then still whole.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from erasure import runner

log = logging.getLogger(__name__)

SYS_BLOCK = Path("/sys/block")
_SKIP = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "zd")
# ATA SMART attributes whose raw value counts damaged sectors
REALLOCATED, PENDING, UNCORRECTABLE = 5, 197, 198


@dataclass
class Drive:
    name: str  # kernel name: sda, nvme0n1
    model: str | None = None
    serial: str | None = None
    size_bytes: int | None = None
    transport: str | None = None  # nvme | sata | sas | scsi | usb | mmc | virtio
    rotational: bool | None = None
    power_on_hours: int | None = None
    smart_passed: bool | None = None
    # NVMe health log (NVMe Base Specification, SMART / Health Information)
    percentage_used: int | None = None
    available_spare: int | None = None
    media_errors: int | None = None
    # ATA attribute raw values
    reallocated_sectors: int | None = None
    pending_sectors: int | None = None
    uncorrectable_sectors: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_smartctl_json(name: str, text: str, transport: str | None = None) -> Drive:
    """A Drive from smartctl's JSON; what it does not say stays None."""
    drive = Drive(name=name, transport=transport)
    try:
        data = json.loads(text)
    except ValueError:
        return drive
    if not isinstance(data, dict):
        return drive
    drive.model = data.get("model_name") or _scsi_model(data)
    drive.serial = data.get("serial_number") or None
    capacity = data.get("user_capacity") or {}
    drive.size_bytes = _int(capacity.get("bytes")) or _int(data.get("nvme_total_capacity"))
    drive.power_on_hours = _int((data.get("power_on_time") or {}).get("hours"))
    passed = (data.get("smart_status") or {}).get("passed")
    drive.smart_passed = passed if isinstance(passed, bool) else None
    rate = data.get("rotation_rate")
    if isinstance(rate, int):
        drive.rotational = rate > 0
    protocol = ((data.get("device") or {}).get("protocol") or "").lower()
    if drive.transport is None:
        drive.transport = {"nvme": "nvme", "ata": "sata", "scsi": "scsi"}.get(protocol)
    if drive.transport == "nvme" or protocol == "nvme":
        drive.rotational = False
    health = data.get("nvme_smart_health_information_log")
    if isinstance(health, dict):
        drive.percentage_used = _int(health.get("percentage_used"))
        drive.available_spare = _int(health.get("available_spare"))
        drive.media_errors = _int(health.get("media_errors"))
    table = (data.get("ata_smart_attributes") or {}).get("table") or []
    raw = {a.get("id"): _int((a.get("raw") or {}).get("value")) for a in table
           if isinstance(a, dict)}
    drive.reallocated_sectors = raw.get(REALLOCATED)
    drive.pending_sectors = raw.get(PENDING)
    drive.uncorrectable_sectors = raw.get(UNCORRECTABLE)
    return drive


def _scsi_model(data: dict[str, Any]) -> str | None:
    parts = [data.get("scsi_vendor"), data.get("scsi_product")]
    text = " ".join(str(p).strip() for p in parts if p)
    return text or None


def transport_from_sysfs(block: Path) -> str | None:
    """Where the kernel attached the disk, read from its resolved sysfs path."""
    name = block.name
    try:
        path = str(block.resolve())
    except OSError:
        path = ""
    if name.startswith("nvme"):
        return "nvme"
    if name.startswith("mmcblk"):
        return "mmc"
    if "/usb" in path:
        return "usb"
    if name.startswith("vd") or ("/virtio" in path and "/host" not in path):  # not virtio-scsi
        return "virtio"
    if "/ata" in path:
        return "sata"
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def disks(sys_block: Path = SYS_BLOCK) -> list[Path]:
    """Whole disks with a size, in name order."""
    try:
        entries = sorted(sys_block.iterdir())
    except OSError:
        return []
    return [e for e in entries if not e.name.startswith(_SKIP) and _read(e / "size") not in
            ("", "0")]


def size_from_sysfs(block: Path) -> int | None:
    sectors = _read(block / "size")  # always in 512-byte units
    return int(sectors) * 512 if sectors.isdigit() else None


def read_drives(sys_block: Path = SYS_BLOCK, dev: Path = Path("/dev"),
                timeout: float = 60.0) -> list[Drive]:
    drives = []
    for block in disks(sys_block):
        transport = transport_from_sysfs(block)
        text = ""
        try:
            result = runner.run(["smartctl", "-j", "-x", str(dev / block.name)],
                                timeout=timeout, check=False)
            if result.returncode & 0b11:
                log.debug("smartctl %s: exit %s", block.name, result.returncode)
            text = result.stdout
        except (runner.CommandNotFound, runner.CommandTimeout) as exc:
            log.debug("smartctl unavailable: %s", exc)
        drive = parse_smartctl_json(block.name, text, transport)
        drive.size_bytes = drive.size_bytes or size_from_sysfs(block)
        if drive.rotational is None and (rot := _read(block / "queue" / "rotational")):
            drive.rotational = rot == "1"
        if drive.model is None:
            drive.model = _read(block / "device" / "model") or None
        drives.append(drive)
    return drives
