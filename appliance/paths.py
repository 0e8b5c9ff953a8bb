"""Where the appliance keeps its data: keys, journal, spool, images."""

from __future__ import annotations

import os
from pathlib import Path

STICK_DATA = Path("/run/ardoise/data")  # the ARDOISE partition, mounted by the live system
FALLBACK_DATA = Path("/var/lib/ardoise")
RAM_DATA = Path("/run/ardoise/ram")  # netbooted rack machines: no stick, data in RAM


def netbooted(cmdline: Path = Path("/proc/cmdline")) -> bool:
    """Booted from the network with its config named by URL (`ardoise.config=http...`)."""
    try:
        words = (os.environ.get("ARDOISE_CMDLINE") or cmdline.read_text()).split()
    except OSError:
        return False
    return any(w.startswith(("ardoise.config=http://", "ardoise.config=https://"))
               for w in words)


def default_data_dir() -> Path:
    env = os.environ.get("ARDOISE_DATA")
    if env:
        return Path(env)
    if os.path.ismount(STICK_DATA):
        return STICK_DATA
    if netbooted():
        return RAM_DATA
    return FALLBACK_DATA


def data_subdir(data: Path, name: str) -> Path:
    path = data / name
    path.mkdir(parents=True, exist_ok=True)
    return path
