"""Host facts for the certificate, from DMI/SMBIOS: maker, product, serial, UUID, chassis, BIOS.

Read from /sys/class/dmi/id first (always there on x86, some files root-only), and from
`dmidecode` (through erasure.runner) for what sysfs did not give. Vendor placeholders
("To Be Filled By O.E.M.", "Default string", ...) become None: a certificate names what
the firmware really says, or nothing.

    host = inventory.collect()          # Host dataclass
    host.to_json()                      # the certificate's "host" member
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from erasure import runner

log = logging.getLogger(__name__)

SYSFS_DMI = Path("/sys/class/dmi/id")

# SMBIOS 3.x, System Enclosure or Chassis Types (7.4.1)
CHASSIS_TYPES = {
    1: "Other", 2: "Unknown", 3: "Desktop", 4: "Low Profile Desktop", 5: "Pizza Box",
    6: "Mini Tower", 7: "Tower", 8: "Portable", 9: "Laptop", 10: "Notebook",
    11: "Hand Held", 12: "Docking Station", 13: "All in One", 14: "Sub Notebook",
    15: "Space-saving", 16: "Lunch Box", 17: "Main Server Chassis", 18: "Expansion Chassis",
    19: "SubChassis", 20: "Bus Expansion Chassis", 21: "Peripheral Chassis",
    22: "RAID Chassis", 23: "Rack Mount Chassis", 24: "Sealed-case PC",
    25: "Multi-system", 26: "CompactPCI", 27: "AdvancedTCA", 28: "Blade",
    29: "Blade Enclosure", 30: "Tablet", 31: "Convertible", 32: "Detachable",
    33: "IoT Gateway", 34: "Embedded PC", 35: "Mini PC", 36: "Stick PC",
}

_PLACEHOLDERS = {
    "", "to be filled by o.e.m.", "to be filled by oem", "default string", "not specified",
    "not applicable", "none", "n/a", "na", "unknown", "system manufacturer", "system product name",
    "system serial number", "system version", "chassis serial number", "base board serial number",
    "0123456789", "123456789", "00000000", "0000000000", "o.e.m.", "oem", "x.x", "type1productconfigid",
    "03000200-0400-0500-0006-000700080009", "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
}


@dataclass
class Host:
    manufacturer: str | None = None
    product: str | None = None
    version: str | None = None
    serial: str | None = None
    uuid: str | None = None
    sku: str | None = None
    family: str | None = None
    chassis: str | None = None
    chassis_serial: str | None = None
    board_manufacturer: str | None = None
    board_product: str | None = None
    board_serial: str | None = None
    bios_vendor: str | None = None
    bios_version: str | None = None
    bios_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Host:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# Host field → (sysfs file, dmidecode -s keyword)
_SOURCES = {
    "manufacturer": ("sys_vendor", "system-manufacturer"),
    "product": ("product_name", "system-product-name"),
    "version": ("product_version", "system-version"),
    "serial": ("product_serial", "system-serial-number"),
    "uuid": ("product_uuid", "system-uuid"),
    "sku": ("product_sku", "system-sku-number"),
    "family": ("product_family", "system-family"),
    "chassis": ("chassis_type", "chassis-type"),
    "chassis_serial": ("chassis_serial", "chassis-serial-number"),
    "board_manufacturer": ("board_vendor", "baseboard-manufacturer"),
    "board_product": ("board_name", "baseboard-product-name"),
    "board_serial": ("board_serial", "baseboard-serial-number"),
    "bios_vendor": ("bios_vendor", "bios-vendor"),
    "bios_version": ("bios_version", "bios-version"),
    "bios_date": ("bios_date", "bios-release-date"),
}


def clean(value: str | None) -> str | None:
    """Strip, and drop vendor placeholders."""
    if value is None:
        return None
    value = " ".join(value.replace("\x00", "").split())
    if value.lower() in _PLACEHOLDERS or re.fullmatch(r"[0\s.-]*|[fF\s.-]*", value):
        return None
    return value


def chassis_name(value: str | None) -> str | None:
    """sysfs gives the SMBIOS chassis type as a number; dmidecode gives the name."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return CHASSIS_TYPES.get(int(value) & 0x7F)  # bit 7 is the chassis lock
    return value or None


def from_sysfs(root: Path = SYSFS_DMI) -> Host:
    host = Host()
    for name, (filename, _keyword) in _SOURCES.items():
        try:
            raw: str | None = (root / filename).read_text(errors="replace")
        except OSError:  # absent, or root-only (serial, uuid) when not root
            raw = None
        if name == "chassis":
            raw = chassis_name(raw)
        setattr(host, name, clean(raw))
    if host.uuid:
        host.uuid = host.uuid.lower()
    return host


def parse_dmidecode(text: str) -> Host:
    """Parse `dmidecode -t bios -t system -t baseboard -t chassis` output."""
    host = Host()
    section = ""
    keys = {
        ("BIOS Information", "Vendor"): "bios_vendor",
        ("BIOS Information", "Version"): "bios_version",
        ("BIOS Information", "Release Date"): "bios_date",
        ("System Information", "Manufacturer"): "manufacturer",
        ("System Information", "Product Name"): "product",
        ("System Information", "Version"): "version",
        ("System Information", "Serial Number"): "serial",
        ("System Information", "UUID"): "uuid",
        ("System Information", "SKU Number"): "sku",
        ("System Information", "Family"): "family",
        ("Base Board Information", "Manufacturer"): "board_manufacturer",
        ("Base Board Information", "Product Name"): "board_product",
        ("Base Board Information", "Serial Number"): "board_serial",
        ("Chassis Information", "Type"): "chassis",
        ("Chassis Information", "Serial Number"): "chassis_serial",
    }
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line.strip()
            continue
        if ":" not in line or not line.startswith("\t") or line.startswith("\t\t"):
            continue
        key, _, value = line.strip().partition(":")
        name = keys.get((section, key.strip()))
        if name and getattr(host, name) is None:
            setattr(host, name, clean(value))
    if host.uuid:
        host.uuid = host.uuid.lower()
    return host


def from_dmidecode(timeout: float = 20.0) -> Host:
    result = runner.run(["dmidecode", "-t", "bios", "-t", "system", "-t", "baseboard",
                         "-t", "chassis"], timeout=timeout, check=False)
    if result.returncode != 0:
        log.debug("dmidecode failed: %s", result.stderr.strip())
        return Host()
    return parse_dmidecode(result.stdout)


def merge(first: Host, second: Host) -> Host:
    """Fields of `first`, completed by `second` where `first` has nothing."""
    return Host(**{f.name: getattr(first, f.name) or getattr(second, f.name) for f in fields(Host)})


def collect(sysfs: Path = SYSFS_DMI, use_dmidecode: bool = True) -> Host:
    """Everything the firmware says about this machine."""
    host = from_sysfs(sysfs)
    missing = [f.name for f in fields(Host) if getattr(host, f.name) is None]
    if use_dmidecode and missing:
        try:
            host = merge(host, from_dmidecode())
        except (runner.CommandNotFound, runner.CommandTimeout) as exc:
            log.debug("dmidecode unavailable: %s", exc)
    return host
