"""CPU and memory size from /proc and /sys (kernel ABI: proc(5), sysfs-devices-system-cpu).

    cpu = read_cpu(Path("/proc/cpuinfo"), Path("/sys/devices/system/cpu"))
    total = read_mem_total(Path("/proc/meminfo"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass
class Cpu:
    model: str | None = None
    vendor: str | None = None  # GenuineIntel | AuthenticAMD | ...
    family: int | None = None
    model_number: int | None = None
    cores: int | None = None  # physical cores, every socket
    threads: int | None = None  # logical processors the kernel runs
    sockets: int | None = None
    max_mhz: int | None = None  # cpufreq's cpuinfo_max_freq; None without cpufreq (a VM)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_cpuinfo(text: str) -> Cpu:
    """x86 /proc/cpuinfo: one block per logical processor."""
    blocks = [b for b in _blocks(text) if "processor" in b]
    cpu = Cpu(threads=len(blocks) or None)
    if not blocks:
        return cpu
    first = blocks[0]
    cpu.model = " ".join(first.get("model name", "").split()) or None
    cpu.vendor = first.get("vendor_id") or None
    cpu.family = _int(first.get("cpu family"))
    cpu.model_number = _int(first.get("model"))
    cores = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    sockets = {b.get("physical id") for b in blocks if "physical id" in b}
    cpu.sockets = len(sockets) or None
    if cores:
        cpu.cores = len(cores)
    elif first.get("cpu cores", "").isdigit():
        cpu.cores = int(first["cpu cores"]) * (cpu.sockets or 1)
    # "cpu MHz" is the clock of the moment (an idle laptop shows 400): never a maximum
    return cpu


def max_mhz(sys_cpu: Path = SYS_CPU) -> int | None:
    """The highest cpuinfo_max_freq (kHz) of any CPU, in MHz; None without cpufreq."""
    best = 0
    for path in sys_cpu.glob("cpu[0-9]*/cpufreq/cpuinfo_max_freq"):
        try:
            best = max(best, int(path.read_text().strip()))
        except (OSError, ValueError):
            continue
    return round(best / 1000) if best else None


def read_cpu(cpuinfo: Path = PROC / "cpuinfo", sys_cpu: Path = SYS_CPU) -> Cpu:
    try:
        cpu = parse_cpuinfo(cpuinfo.read_text(errors="replace"))
    except OSError:
        cpu = Cpu()
    cpu.max_mhz = max_mhz(sys_cpu)
    return cpu


def parse_meminfo(text: str) -> int | None:
    """MemTotal in bytes (the kernel prints kB, meaning KiB)."""
    for line in text.splitlines():
        key, _sep, value = line.partition(":")
        if key.strip() == "MemTotal":
            words = value.split()
            if words and words[0].isdigit():
                return int(words[0]) * 1024
    return None


def read_mem_total(meminfo: Path = PROC / "meminfo") -> int | None:
    try:
        return parse_meminfo(meminfo.read_text())
    except OSError:
        return None
