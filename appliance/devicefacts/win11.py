"""Whether Windows 11 installs on this machine, by Microsoft's hardware requirements.

TPM 2.0, UEFI with Secure Boot capability, 4 GB of RAM, 64 GB of storage, 2 cores at
1 GHz, and a processor on Microsoft's supported list (kept as data in win11_cpus.json with
its sources and the date it was summarised). `eligible` is False when one requirement
clearly fails, None when none fails but one cannot be told (an unlisted CPU family, no
drive in the machine), True only when every one is met. Reasons are stable codes (JSON is
English); the CLI words them for people.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from appliance.devicefacts.cpu import Cpu
from appliance.devicefacts.firmware import SecureBoot, Tpm
from appliance.devicefacts.storage import Drive

DATA = Path(__file__).with_name("win11_cpus.json")
# MemTotal is what the kernel manages: firmware and graphics keep a share of a 4 GB
# machine's memory, so without DMI module sizes 90% of 4 GiB counts as 4 GB.
MEMTOTAL_ALLOWANCE = 0.9


@dataclass
class Windows11:
    eligible: bool | None
    reasons: list[str] = field(default_factory=list)  # what fails: no_tpm, ram_below_4gb, ...
    unsure: list[str] = field(default_factory=list)  # what could not be told: cpu_unlisted
    cpu_list_date: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@cache
def cpu_table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text())
    return data


def cpu_supported(model: str | None) -> bool | None:
    """True / False by the table's rules, None when the rules do not settle it."""
    if not model:
        return None
    t = cpu_table()
    text = " ".join(model.replace("(R)", " ").replace("(TM)", " ").replace("(tm)", " ").split())
    if "Intel" in text:
        if any(ex in text for ex in t["intel_core_exceptions_unsure"]):
            return None
        if re.search(r"\bCore Ultra\b|\bCore [357] \d{3}", text):
            return True
        m = re.search(r"\b(?:i[3579]|m[357])-(\d{4,5})", text)
        if m:
            digits = m.group(1)
            # i7-10700, and the mobile i7-1065G7 / i5-1235U: generations 10 and later
            # take two digits; 2nd-9th take one (i5-8250U); first-generation numbers have
            # three (below)
            two = len(digits) == 5 or digits[0] == "1"
            generation = int(digits[:2]) if two else int(digits[0])
            return generation >= t["intel_core_min_generation"]
        if re.search(r"\bCore\s*2\b|\bCore i[357] CPU\s+[A-Z]?\d{3}\b", text):
            return False  # Core 2 and first-generation Core (three-digit numbers)
        return None
    if "AMD" in text:
        m = re.search(r"\bRyzen (?:Threadripper )?(?:PRO )?(?:\d )?(\d)(\d{2,3})([A-Z]*)", text)
        if m:
            series, suffix = int(m.group(1)), m.group(3)
            if series < t["amd_ryzen_min_series"]:
                return False
            if series == t["amd_ryzen_min_series"] and \
                    suffix in t["amd_ryzen_series2_unsure_suffixes"]:
                return None  # Raven Ridge APUs are first-generation Zen, listed model by model
            return True
        return None
    return None


def assess(cpu: Cpu, mem_total: int | None, module_bytes: int | None, drives: list[Drive],
           tpm: Tpm, secure_boot: SecureBoot) -> Windows11:
    req = cpu_table()["requirements"]
    fails: list[str] = []
    unsure: list[str] = []
    if not tpm.present:
        fails.append("no_tpm")
    elif tpm.version != "2.0":
        (fails if tpm.version else unsure).append("tpm_not_2_0")
    if not secure_boot.uefi:
        fails.append("no_uefi")
    elif secure_boot.capable is False:
        fails.append("no_secure_boot")
    elif secure_boot.capable is None:
        unsure.append("secure_boot_unknown")
    if module_bytes:
        if module_bytes < req["ram_bytes"]:
            fails.append("ram_below_4gb")
    elif mem_total:
        if mem_total < req["ram_bytes"] * MEMTOTAL_ALLOWANCE:
            fails.append("ram_below_4gb")
    else:
        unsure.append("ram_unknown")
    internal = [d for d in drives if d.transport != "usb" and d.size_bytes]
    if not internal:
        unsure.append("no_internal_drive")
    elif max(d.size_bytes or 0 for d in internal) < req["storage_bytes"]:
        fails.append("storage_below_64gb")
    if cpu.cores is not None and cpu.cores < req["cores"]:
        fails.append("cpu_below_2_cores")
    if cpu.max_mhz is not None and cpu.max_mhz < req["mhz"]:
        fails.append("cpu_below_1ghz")
    supported = cpu_supported(cpu.model)
    if supported is False:
        fails.append("cpu_not_supported")
    elif supported is None:
        unsure.append("cpu_unlisted")
    eligible = False if fails else (None if unsure else True)
    return Windows11(eligible, fails, unsure, cpu_table()["summarised"])
