"""What the technician records about a machine: who, its cosmetic grade, what is missing,
its asset tag, notes. Part of the device record (`intake`); JSON keys stay English.

    intake = Intake(operator="A. Tremblay", grade="B", missing=["charger"], asset_tag="OPQ-1")
    intake.problems()        # [] when it can go in a record
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.i18n import N_

# Cosmetic grades, as refurbishers sort them (one line each for the technician)
GRADES = {
    "A": N_("like new: no visible marks"),
    "B": N_("light wear: small scratches, nothing on the screen"),
    "C": N_("worn: visible scratches or dents, light screen marks"),
    "D": N_("damaged: cracks, broken hinges or keys (parts, repair)"),
}
MISSING_PARTS = {
    "charger": N_("charger"),
    "pen": N_("pen"),
    "keyboard_cover": N_("keyboard cover"),
    "battery": N_("battery"),
    "drive": N_("drive"),
    "ram": N_("memory (RAM)"),
}
MAX_TAG, MAX_TEXT, MAX_NOTES = 64, 200, 1000


@dataclass
class Intake:
    operator: str | None = None
    grade: str | None = None  # A | B | C | D
    missing: list[str] = field(default_factory=list)  # keys of MISSING_PARTS
    asset_tag: str | None = None
    notes: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def clean(cls, operator: str, grade: str | None, missing: list[str], asset_tag: str,
              notes: str) -> Intake:
        """From what was typed: blanks become None, a scanned tag loses its end of line."""
        def text(value: str) -> str | None:
            return " ".join(value.split()) or None
        order = list(MISSING_PARTS)
        return cls(operator=text(operator), grade=grade,
                   missing=sorted(set(missing), key=order.index),
                   asset_tag=text(asset_tag), notes=notes.strip() or None)

    def problems(self) -> list[str]:
        """English reasons this intake cannot be recorded (empty when it can)."""
        found = []
        if self.grade is not None and self.grade not in GRADES:
            found.append("grade must be A, B, C or D")
        if any(part not in MISSING_PARTS for part in self.missing):
            found.append("unknown missing part")
        if self.asset_tag and (len(self.asset_tag) > MAX_TAG or not self.asset_tag.isprintable()):
            found.append("asset tag too long or not printable")
        if self.operator and len(self.operator) > MAX_TEXT:
            found.append("operator name too long")
        if self.notes and len(self.notes) > MAX_NOTES:
            found.append("notes too long")
        return found
