"""Memory modules from `dmidecode -t 17` (SMBIOS type 17, Memory Device), through the runner.

Empty slots ("No Module Installed") are left out; dmidecode's placeholders become None.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from appliance.inventory import clean
from erasure import runner

log = logging.getLogger(__name__)

_UNITS = {"kB": 1 << 10, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


@dataclass
class MemoryModule:
    size_bytes: int | None = None
    type: str | None = None  # DDR4, LPDDR4, ...
    form_factor: str | None = None  # SODIMM, DIMM, Row Of Chips (soldered)
    speed_mts: int | None = None
    configured_speed_mts: int | None = None
    manufacturer: str | None = None
    part_number: str | None = None
    serial: str | None = None
    locator: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _size(value: str) -> int | None:
    m = re.fullmatch(r"(\d+)\s*(kB|KB|MB|GB|TB)", value.strip())
    return int(m.group(1)) * _UNITS[m.group(2)] if m else None


def _speed(value: str) -> int | None:
    m = re.match(r"(\d+)\s*(MT/s|MHz)", value.strip())
    return int(m.group(1)) if m else None


def _text(value: str | None) -> str | None:
    value = clean(value)
    return None if value in (None, "--", "Unknown") else value


def parse_dmidecode_memory(text: str) -> list[MemoryModule]:
    modules: list[MemoryModule] = []
    records: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("Handle "):
            current = None
            continue
        if line and not line[0].isspace():
            current = {} if line.strip() == "Memory Device" else None
            if current is not None:
                records.append(current)
            continue
        if current is not None and line.startswith("\t") and not line.startswith("\t\t"):
            key, _sep, value = line.strip().partition(":")
            current[key.strip()] = value.strip()
    for r in records:
        size = r.get("Size", "")
        if not size or size.startswith("No Module") or size in ("Unknown", "Not Installed"):
            continue
        modules.append(MemoryModule(
            size_bytes=_size(size), type=_text(r.get("Type")),
            form_factor=_text(r.get("Form Factor")), speed_mts=_speed(r.get("Speed", "")),
            configured_speed_mts=_speed(r.get("Configured Memory Speed", "")),
            manufacturer=_text(r.get("Manufacturer")), part_number=_text(r.get("Part Number")),
            serial=_text(r.get("Serial Number")), locator=_text(r.get("Locator"))))
    return modules


def read_modules(timeout: float = 20.0) -> list[MemoryModule]:
    """[] when dmidecode is missing, fails (not root) or finds no type 17 record."""
    try:
        result = runner.run(["dmidecode", "-t", "17"], timeout=timeout, check=False)
    except (runner.CommandNotFound, runner.CommandTimeout) as exc:
        log.debug("dmidecode unavailable: %s", exc)
        return []
    if result.returncode != 0:
        log.debug("dmidecode -t 17 failed: %s", result.stderr.strip())
        return []
    return parse_dmidecode_memory(result.stdout)
