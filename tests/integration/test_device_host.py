"""`ardoise device --json` on this machine: its facts agree with what the kernel says.

The test reads /proc and /sys itself and compares; on a machine without a battery and a
TPM (the build VM), the record says so and Windows 11 is not eligible, with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.certificate import verify_signature
from appliance.certify import load_key
from appliance.device import validate

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]
ROOT = Path(__file__).resolve().parents[2]


def _ardoise(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARDOISE_LANG": "en"}
    return subprocess.run([sys.executable, "-m", "appliance.cli", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def _fields(block: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in block.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _cpuinfo() -> tuple[int, str, int]:
    """Logical processors, model name, distinct (socket, core) pairs."""
    blocks = [_fields(b) for b in Path("/proc/cpuinfo").read_text().split("\n\n")]
    blocks = [b for b in blocks if "processor" in b]
    cores = {(b.get("physical id"), b.get("core id")) for b in blocks}
    return len(blocks), " ".join(blocks[0]["model name"].split()), len(cores)


def test_device_record_of_this_machine(tmp_path: Path) -> None:
    result = _ardoise("device", "--json", "--data", str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    validate(record)
    verify_signature(record, load_key(tmp_path, create=False).public_key())
    threads, model, cores = _cpuinfo()
    assert record["cpu"]["threads"] == threads == os.cpu_count()
    assert record["cpu"]["model"] == model
    assert record["cpu"]["cores"] == cores
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                  .splitlines() if line.startswith("MemTotal:"))
    assert record["memory"]["total_bytes"] == mem_kb * 1024
    pending = tmp_path / "devices" / "pending" / f"{record['id']}.json"
    assert json.loads(pending.read_bytes()) == record
    batteries = [p for p in Path("/sys/class/power_supply").glob("*")
                 if (p / "type").read_text().strip() == "Battery"] \
        if Path("/sys/class/power_supply").is_dir() else []
    assert len(record["battery"]) == len(batteries)
    if not Path("/sys/class/tpm/tpm0").exists():
        assert record["tpm"] == {"present": False, "version": None}
        assert record["windows11"]["eligible"] is False
        assert "no_tpm" in record["windows11"]["reasons"]
    if not batteries:
        assert record["battery"] == []


def test_people_summary_french(tmp_path: Path) -> None:
    result = _ardoise("device", "--lang", "fr", "--data", str(tmp_path))
    assert result.returncode == 0, result.stderr
    threads = _cpuinfo()[0]
    assert f"cœurs, {threads} fils d’exécution" in result.stdout
    if not Path("/sys/class/tpm/tpm0").exists():
        assert "Windows 11 : non admissible" in result.stdout
        assert "aucun TPM visible" in result.stdout and "TPM : aucun\n" in result.stdout
    assert "Fiche machine" in result.stdout


def test_technician_answers_on_the_command_line(tmp_path: Path) -> None:
    result = _ardoise("device", "--json", "--data", str(tmp_path), "--operator", "Léa",
                      "--grade", "B", "--missing", "charger", "--asset-tag", "OPQ-004217")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["intake"] == {"operator": "Léa", "grade": "B", "missing": ["charger"],
                                "asset_tag": "OPQ-004217", "notes": None}
    bad = _ardoise("device", "--data", str(tmp_path), "--grade", "E")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
