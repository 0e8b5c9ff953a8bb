"""Network interfaces with hardware behind them, from /sys/class/net.

Virtual ones (lo, bridges, ifb, veth: no `device` link) are left out. Kind: "wifi" when the
interface has a `wireless` or `phy80211` entry, "ethernet" for ARPHRD_ETHER (type 1), else
the type number. Chip: the driver's name and the bus ids (PCI vendor:device, or USB
idVendor:idProduct) of the device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYS_NET = Path("/sys/class/net")


@dataclass
class NetInterface:
    name: str
    kind: str
    driver: str | None = None
    chip_id: str | None = None  # "8086:15bb"
    mac: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _hex(value: str) -> str:
    return value.lower().removeprefix("0x")


def read_interfaces(root: Path = SYS_NET) -> list[NetInterface]:
    found = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    for iface in entries:
        device = iface / "device"
        if not device.exists():
            continue
        if (iface / "wireless").exists() or (iface / "phy80211").exists():
            kind = "wifi"
        else:
            kind = {"1": "ethernet"}.get(_read(iface / "type"), _read(iface / "type") or "other")
        driver = None
        if (device / "driver").exists():
            driver = (device / "driver").resolve().name
        chip = None
        if (vendor := _read(device / "vendor")) and (product := _read(device / "device")):
            chip = f"{_hex(vendor)}:{_hex(product)}"
        elif (vendor := _read(device / ".." / "idVendor")) and \
                (product := _read(device / ".." / "idProduct")):
            chip = f"{_hex(vendor)}:{_hex(product)}"
        mac = _read(iface / "address") or None
        found.append(NetInterface(iface.name, kind, driver, chip, mac))
    return found
