"""A rack of machines needs no keyboard: the stick boots, the TUI counts down on tty1, runs
both disks, shows the results, then powers the machine off. Offline: the certificates stay
in the stick's spool. tty1 is captured at each stage into docs/.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.e2e.vm import VM, Disk, MiB, count_marker, ensure_stick

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NVME_MARKER = b"ARDOISE-UNATTENDED-NVME-DONOR"
SATA_MARKER = b"ARDOISE-UNATTENDED-SATA-DONOR"
BOOT_TIMEOUT = 1500
CONFIG = """\
organisation: OPEQ
location: Montreal
operator: rack-1
batch: unattended-demo
erase:
  level: clear
  verify: sample
unattended:
  enabled: true
  countdown_seconds: 40
  after: poweroff
"""
DATA = "/run/ardoise/data"


def _wait(vm: VM, command: str, want: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        _rc, out = vm.sh(command, timeout=120)
        if want in out:
            return out
        time.sleep(3)
    raise AssertionError(f"{command!r}: no {want!r} within {timeout} s, last: {out!r}")


def test_unattended_stick_run_then_power_off(ardoise_iso: Path, tmp_path: Path) -> None:
    config = tmp_path / "ardoise.yaml"
    config.write_text(CONFIG)
    stick = ensure_stick(ardoise_iso, tmp_path / "stick.img", add=[config])
    nvme = Disk.create(tmp_path / "nvme.img", "nvme", 64 * MiB, NVME_MARKER, serial="ARDUNVME01")
    sata = Disk.create(tmp_path / "sata.img", "sata", 64 * MiB, SATA_MARKER, serial="ARDUSATA01")
    assert count_marker(nvme.path, NVME_MARKER) > 0 and count_marker(sata.path, SATA_MARKER) > 0
    shots = tmp_path / "shots"
    vm = VM(stick, boot_as="usb", disks=[nvme, sata], firmware="uefi", mem="1536M",
            workdir=tmp_path / "vm")
    try:
        vm.start()
        vm.wait_ready(timeout=BOOT_TIMEOUT)
        # the countdown (any key would cancel it; nobody is here)
        _wait(vm, "ls /run/ardoise/data/journal/ 2>/dev/null; echo .", ".", 60)
        vm.screendump(shots / "tty1-countdown.png")
        out = _wait(vm, f"cat {DATA}/journal/*.json 2>/dev/null | grep -c '\"state\": \"erasing\"' "
                        "|| true", "1", 300)
        vm.screendump(shots / "tty1-progress.png")
        out = _wait(vm, f"ls {DATA}/spool/pending | wc -l", "2", 900)
        time.sleep(5)
        vm.screendump(shots / "tty1-results.png")
        rc, out = vm.sh(f"for f in {DATA}/spool/pending/*.json; do ardoise cert verify $f "
                        f"--data {DATA} >/dev/null && echo VALID; done", timeout=300)
        assert out.count("VALID") == 2, out
        rc, out = vm.sh(f"for f in {DATA}/spool/pending/*.json; do /opt/ardoise/bin/python -c "
                        "'import json,sys; print(\"STATUS\", json.load(open(sys.argv[1]))"
                        "[\"sanitization\"][\"status\"])' $f; done", timeout=300)
        statuses = [line.split()[1] for line in out.splitlines() if line.startswith("STATUS ")]
        assert statuses == ["erased", "erased"], out
        # then the machine powers itself off, as configured
        assert vm.proc is not None
        vm.proc.wait(timeout=600)
    finally:
        vm.kill()
        target = ROOT / "docs"
        for png in shots.glob("*.png"):
            shutil.copyfile(png, target / png.name)
    assert count_marker(nvme.path, NVME_MARKER) == 0
    assert count_marker(sata.path, SATA_MARKER) == 0
