"""Battery and mains state from /sys/class/power_supply (kernel ABI: sysfs-class-power).

A long job on a laptop or tablet running on a low battery is refused: an erase cut by a dead
battery leaves a disk half-erased and a drive possibly locked. The threshold comes from the
config (battery.min_percent); on AC power, or with no battery at all, nothing is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.i18n import _

POWER_SUPPLY = Path("/sys/class/power_supply")


@dataclass(frozen=True)
class BatteryState:
    present: bool
    percent: int | None = None  # lowest charge among the batteries found
    on_ac: bool = False
    status: str = ""  # Charging | Discharging | Full | Not charging | Unknown

    def refusal(self, min_percent: int) -> str | None:
        """Why a long job must not start now, or None."""
        if not self.present or self.on_ac or self.percent is None:
            return None
        if self.percent < min_percent:
            return _("Battery at {percent}% and no power cable: plug the charger in "
                     "(at least {minimum}% needed without it).").format(
                         percent=self.percent, minimum=min_percent)
        return None

    def describe(self) -> str:
        if not self.present:
            return _("no battery (mains power)")
        level = f"{self.percent}%" if self.percent is not None else "?"
        if self.on_ac:
            return _("battery {level}, on AC power").format(level=level)
        return _("battery {level}, NOT on AC power").format(level=level)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def read_state(root: Path = POWER_SUPPLY) -> BatteryState:
    percents: list[int] = []
    statuses: list[str] = []
    on_ac = False
    if root.is_dir():
        for supply in sorted(root.iterdir()):
            kind = _read(supply / "type")
            if kind == "Battery":
                if _read(supply / "present") == "0" or _read(supply / "scope") == "Device":
                    continue  # empty bay, or a wireless mouse's battery
                capacity = _read(supply / "capacity")
                if capacity.isdigit():
                    percents.append(int(capacity))
                statuses.append(_read(supply / "status"))
            elif kind in ("Mains", "USB", "USB_C", "USB_PD", "USB_PD_DRP"):
                if _read(supply / "online") == "1":
                    on_ac = True
    if not percents and not statuses:
        return BatteryState(present=False, on_ac=on_ac)
    # Some firmware reports no Mains supply; a charging battery means the cable is in.
    if any(s in ("Charging", "Full") for s in statuses):
        on_ac = True
    return BatteryState(
        present=True,
        percent=min(percents) if percents else None,
        on_ac=on_ac,
        status=", ".join(s for s in statuses if s),
    )
