"""Batteries and mains from /sys/class/power_supply (Documentation/ABI/testing/sysfs-class-power).

Each supply's `uevent` holds every property as POWER_SUPPLY_NAME=VALUE; the single-value
files (type, energy_full, ...) are read when the uevent lacks one. Health is the capacity
the battery holds now against its design: energy_full / energy_full_design (µWh), or
charge_full / charge_full_design (µAh) on gauges that count charge; capped at 100 (a new
pack may report a little more than its design).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from appliance.inventory import clean

POWER_SUPPLY = Path("/sys/class/power_supply")
MAINS = ("Mains", "USB", "USB_C", "USB_PD", "USB_PD_DRP", "BrickID")


@dataclass
class Battery:
    name: str
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    technology: str | None = None
    design_capacity: int | None = None  # µWh (energy) or µAh (charge), see `unit`
    full_capacity: int | None = None
    unit: str | None = None  # "uWh" | "uAh"
    health_percent: float | None = None
    cycle_count: int | None = None  # None when the gauge reports 0 (it does not count)
    capacity_percent: int | None = None  # charge now
    status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_uevent(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("POWER_SUPPLY_"):
            props[key[len("POWER_SUPPLY_"):].lower()] = value
    return props


def _props(supply: Path) -> dict[str, str]:
    try:
        props = parse_uevent((supply / "uevent").read_text(errors="replace"))
    except OSError:
        props = {}
    for name in ("type", "present", "scope", "online", "status", "capacity", "energy_full",
                 "energy_full_design", "charge_full", "charge_full_design", "cycle_count",
                 "manufacturer", "model_name", "serial_number", "technology"):
        if name not in props:
            try:
                props[name] = (supply / name).read_text(errors="replace").strip()
            except OSError:
                continue
    return props


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def battery_from_props(name: str, props: dict[str, str]) -> Battery:
    bat = Battery(name=props.get("name") or name,
                  manufacturer=clean(props.get("manufacturer")),
                  model=clean(props.get("model_name")),
                  serial=clean(props.get("serial_number")),
                  technology=clean(props.get("technology")),
                  capacity_percent=_int(props.get("capacity")),
                  status=props.get("status") or None)
    for prefix, unit in (("energy", "uWh"), ("charge", "uAh")):
        design, full = _int(props.get(f"{prefix}_full_design")), _int(props.get(f"{prefix}_full"))
        if design and full:
            bat.design_capacity, bat.full_capacity, bat.unit = design, full, unit
            bat.health_percent = round(min(100.0, 100.0 * full / design), 1)
            break
        if design and bat.design_capacity is None:
            bat.design_capacity, bat.unit = design, unit
    cycles = _int(props.get("cycle_count"))
    bat.cycle_count = cycles if cycles else None
    return bat


def read_power(root: Path = POWER_SUPPLY) -> tuple[list[Battery], bool | None]:
    """The system's batteries (not a mouse's: scope Device) and whether mains is online
    (None when no mains supply is listed at all)."""
    batteries: list[Battery] = []
    ac: bool | None = None
    try:
        supplies = sorted(root.iterdir())
    except OSError:
        return [], None
    for supply in supplies:
        props = _props(supply)
        kind = props.get("type", "")
        if kind == "Battery":
            if props.get("present") == "0" or props.get("scope") == "Device":
                continue
            batteries.append(battery_from_props(supply.name, props))
        elif kind in MAINS:
            ac = bool(ac) or props.get("online") == "1"
    return batteries, ac
