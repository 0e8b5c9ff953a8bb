"""`sedutil-cli --scan` / `--query` text → Opal facts (pure).

--scan prints one line per drive: device, TCG support ("No", "1", "2", "12", "E"...),
model, firmware. A "1"/"2" means Opal 1/2, "E" Enterprise; "No" is not a SED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class OpalInfo:
    supported: bool
    versions: str  # the scan column as printed ("2", "12", "E", "No")
    locked: bool | None = None
    locking_enabled: bool | None = None


def parse_scan(text: str, device: str) -> OpalInfo | None:
    """The scan line for `device` (None when the device is not listed)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == device:
            column = parts[1]
            return OpalInfo(supported=bool(re.fullmatch(r"[12ELP]+", column)), versions=column)
    return None


def parse_query(text: str, info: OpalInfo) -> OpalInfo:
    m = re.search(r"\bLocked\s*=\s*([YN])", text)
    if m:
        info.locked = m.group(1) == "Y"
    m = re.search(r"LockingEnabled\s*=\s*([YN])", text)
    if m:
        info.locking_enabled = m.group(1) == "Y"
    return info
