"""Firmware purge in the VM: QEMU's emulated NVMe gets a real NVMe Format (SES=1), read
back, and its marker bytes are gone when the host looks at the backing file; the SATA
disk (no ATA security in QEMU) reaches Clear by overwrite and honestly not Purge.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.vm import VM, Disk, MiB, count_marker, ensure_stick

pytestmark = pytest.mark.e2e

NVME_MARKER = b"ARDOISE-FW-NVME-MARKER"
SATA_MARKER = b"ARDOISE-FW-SATA-MARKER"
BOOT_TIMEOUT = 1200


@dataclass
class FwLab:
    vm: VM
    nvme: Disk
    sata: Disk
    paths: dict[str, str]  # serial -> device path in the guest


@pytest.fixture(scope="module")
def fwlab(ardoise_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FwLab]:
    tmp = tmp_path_factory.mktemp("fwlab")
    stick = ensure_stick(ardoise_iso, tmp / "stick.img")
    nvme = Disk.create(tmp / "nvme.img", "nvme", 64 * MiB, NVME_MARKER, serial="ARDFWNVME01")
    sata = Disk.create(tmp / "sata.img", "sata", 64 * MiB, SATA_MARKER, serial="ARDFWSATA01")
    assert count_marker(nvme.path, NVME_MARKER) == 1024
    vm = VM(stick, boot_as="usb", disks=[nvme, sata], firmware="uefi", mem="1536M",
            workdir=tmp / "vm")
    try:
        vm.start()
        vm.wait_ready(timeout=BOOT_TIMEOUT)
        rc, doc = vm.sh_json("ardoise disks --json", timeout=180)
        assert rc == 0 and isinstance(doc, dict), doc
        paths = {d["serial"]: d["path"] for d in doc["disks"]}
        yield FwLab(vm, nvme, sata, paths)
    finally:
        vm.kill()
        log = tmp / "vm" / "serial.log"
        if log.exists():
            shutil.copyfile(log, tmp / "serial-copy.log")


def test_probe_sees_qemu_nvme_format(fwlab: FwLab) -> None:
    path = fwlab.paths["ARDFWNVME01"]
    rc, disk = fwlab.vm.sh_json(f"ardoise probe {path} --level purge --json", timeout=300)
    assert rc == 0 and isinstance(disk, dict), disk
    assert disk["model"] == "QEMU NVMe Ctrl" and disk["nvme"]["format"] is True
    assert disk["plan"]["reachable"] is True
    assert disk["plan"]["methods"] == ["nvme-format-user"]


def test_sata_purge_is_not_reachable_and_clear_overwrites(fwlab: FwLab) -> None:
    path = fwlab.paths["ARDFWSATA01"]
    rc, disk = fwlab.vm.sh_json(f"ardoise probe {path} --level purge --json", timeout=300)
    assert rc == 0 and isinstance(disk, dict), disk
    assert disk["ata_security"] is None
    assert disk["plan"]["reachable"] is False and disk["plan"]["methods"] == []
    rc, clear = fwlab.vm.sh_json(f"ardoise probe {path} --level clear --json", timeout=300)
    assert isinstance(clear, dict) and clear["plan"]["methods"] == ["overwrite"]


def test_wipe_purge_formats_the_nvme_and_markers_are_gone(fwlab: FwLab) -> None:
    path = fwlab.paths["ARDFWNVME01"]
    rc, doc = fwlab.vm.sh_json(f"ardoise wipe --level purge --yes --json {path}", timeout=1800)
    assert rc == 0 and isinstance(doc, dict), doc
    result = doc["results"][0]
    assert result["status"] == "erased", result
    assert result["method"] == "nvme-format-user"
    assert result["verify"]["result"] == "pass"
    fwlab.vm.sh("sync", timeout=60)
    assert count_marker(fwlab.nvme.path, NVME_MARKER) == 0
    # the SATA disk was not a target
    assert count_marker(fwlab.sata.path, SATA_MARKER) == 1024
