"""The real image, booted from its stick in QEMU with Secure Boot: what it sees, what it
refuses, and what it leaves untouched.

One boot serves every test of this module (they run in file order; the last one powers
the VM off and inspects the disk image files from the host).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.vm import VM, Disk, MiB, count_marker, ensure_stick, fill_with_marker, sha256_file

# the first test builds the ISO (or takes it from the cache) and boots the VM in its setup
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(4800)]

NVME_MARKER = b"ARDOISE-E2E-NVME-MARKER"
SATA_MARKER = b"ARDOISE-E2E-SATA-MARKER"
EXT_MARKER = b"ARDOISE-E2E-EXTERNAL-MARKER"
STICK_MARKER = b"ARDOISE-E2E-STICK-DATA-MARKER"
STICK_SERIAL = "ARDOISESTICK01"
BOOT_TIMEOUT = 2400  # generous: a loaded 2-core host has taken 15 min to boot
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


@dataclass
class Lab:
    vm: VM
    stick: Path
    iso_size: int
    nvme: Disk
    sata: Disk
    external: Disk
    before: dict[str, object]
    boot_seconds: float


@pytest.fixture(scope="module")
def lab(ardoise_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    survival = tmp / "survival.bin"
    survival.write_bytes(b"\0" * MiB)
    fill_with_marker(survival, STICK_MARKER, 4096)
    stick = ensure_stick(ardoise_iso, tmp / "stick.img", add=[survival])
    nvme = Disk.create(tmp / "nvme.img", "nvme", 64 * MiB, NVME_MARKER, serial="ARDNVME0001")
    sata = Disk.create(tmp / "sata.img", "sata", 64 * MiB, SATA_MARKER, serial="ARDSATA0001")
    external = Disk.create(tmp / "external.img", "usb", 32 * MiB, EXT_MARKER,
                           serial="ARDEXTUSB001")
    iso_size = ardoise_iso.stat().st_size
    before: dict[str, object] = {
        "stick_boot_area": sha256_file(stick, iso_size),
        "stick_markers": count_marker(stick, STICK_MARKER),
        "external": sha256_file(external.path),
        "external_markers": count_marker(external.path, EXT_MARKER),
        "nvme_markers": count_marker(nvme.path, NVME_MARKER),
        "sata_markers": count_marker(sata.path, SATA_MARKER),
    }
    vm = VM(stick, boot_as="usb", disks=[nvme, sata, external], firmware="secure-boot",
            mem="1536M", workdir=tmp / "vm")
    try:
        vm.start()
        seconds = vm.wait_ready(timeout=BOOT_TIMEOUT)
        yield Lab(vm, stick, iso_size, nvme, sata, external, before, seconds)
    finally:
        vm.kill()
        log = tmp / "vm" / "serial.log"
        if log.exists():
            shutil.copyfile(log, tmp / "serial-copy.log")


def _disks(lab: Lab) -> dict[str, dict]:
    rc, doc = lab.vm.sh_json("ardoise disks --json", timeout=180)
    assert rc == 0, doc
    assert isinstance(doc, dict)
    return {d["serial"]: d for d in doc["disks"]}


def _wipe_available(lab: Lab) -> bool:
    rc, out = lab.vm.sh("ardoise wipe --help", timeout=120)
    return rc == 0 and "--dry-run" in out


def test_boots_with_secure_boot_into_the_session(lab: Lab) -> None:
    print(f"boot to the session on ttyS0: {lab.boot_seconds:.0f} s")
    assert lab.before["nvme_markers"] == 1024 and lab.before["sata_markers"] == 1024
    rc, out = lab.vm.sh(f"od -An -tu1 {SECURE_BOOT_VAR}; cat /sys/kernel/security/lockdown",
                        check=True)
    numbers, lockdown = out.strip().splitlines()[0].split(), out.strip().splitlines()[-1]
    assert numbers[-1] == "1", f"SecureBoot variable: {numbers}"
    assert "[integrity]" in lockdown or "[confidentiality]" in lockdown, lockdown
    # the session ran on the serial console and the data partition is mounted
    assert "ardoise-session: ready on /dev/ttyS0" in (lab.vm.workdir / "serial.log").read_text(
        errors="replace")
    rc, out = lab.vm.sh("findmnt -no FSTYPE,SOURCE /run/ardoise/data; ls /run/ardoise/data",
                        check=True)
    assert out.split()[0] == "exfat", out
    for name in ("ardoise.yaml", "images", "spool", "journal", "keys", "survival.bin"):
        assert name in out.split(), out
    rc, out = lab.vm.sh("cat /etc/ardoise/build.json", check=True)
    info = json.loads(out)
    assert info["distribution"] == "trixie" and len(info["git_commit"]) in (40, 7)


def test_disks_json_lists_internal_disks_as_eligible(lab: Lab) -> None:
    disks = _disks(lab)
    nvme, sata = disks["ARDNVME0001"], disks["ARDSATA0001"]
    assert nvme["transport"] == "nvme" and nvme["eligible"], nvme
    assert sata["transport"] == "sata" and sata["eligible"], sata
    assert nvme["size_bytes"] == 64 * MiB and sata["size_bytes"] == 64 * MiB
    stick = disks[STICK_SERIAL]
    assert stick["boot_medium"] and not stick["eligible"], stick
    assert stick["excluded_reason"], stick
    external = disks["ARDEXTUSB001"]
    assert external["transport"] == "usb" and not external["eligible"], external
    assert external["excluded_reason"], external
    # what tty1 shows by now (docs/tty1-boot.png is refreshed from this file)
    lab.vm.screendump(lab.vm.workdir / "tty1-boot.png")


def test_wiping_the_stick_is_refused(lab: Lab) -> None:
    if not _wipe_available(lab):
        pytest.skip("`ardoise wipe` is not available in this image yet")
    stick = _disks(lab)[STICK_SERIAL]
    rc, out = lab.vm.sh(f"ardoise wipe {stick['path']} --yes --json", timeout=300)
    assert rc == 3, out


def test_wiping_every_eligible_disk_spares_the_others(lab: Lab) -> None:
    if not _wipe_available(lab):
        pytest.skip("`ardoise wipe` is not available in this image yet")
    targets = [d["path"] for d in _disks(lab).values() if d["eligible"]]
    assert len(targets) == 2, targets
    rc, doc = lab.vm.sh_json(f"ardoise wipe {' '.join(targets)} --yes --json", timeout=1800)
    assert rc == 0, doc
    assert isinstance(doc, dict)
    assert sorted(r["path"] for r in doc["results"]) == sorted(targets)
    assert all(r["status"] == "erased" for r in doc["results"]), doc
    lab.vm.poweroff()
    assert count_marker(lab.nvme.path, NVME_MARKER) == 0
    assert count_marker(lab.sata.path, SATA_MARKER) == 0
    assert sha256_file(lab.external.path) == lab.before["external"]
    assert count_marker(lab.external.path, EXT_MARKER) == lab.before["external_markers"]
    assert sha256_file(lab.stick, lab.iso_size) == lab.before["stick_boot_area"]
    assert count_marker(lab.stick, STICK_MARKER) == lab.before["stick_markers"]
