"""Firmware purge in the VM: QEMU's emulated NVMe gets a real NVMe Format (SES=1), read
back, and its marker bytes are gone when the host looks at the backing file; the SATA
disk (no ATA security in QEMU) reaches Clear by overwrite and honestly not Purge.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.vm import VM, Disk, MiB, count_marker, ensure_image, ensure_stick

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(5400)]

NVME_MARKER = b"ARDOISE-FW-NVME-MARKER"
SATA_MARKER = b"ARDOISE-FW-SATA-MARKER"
BOOT_TIMEOUT = 3000


@pytest.fixture(scope="module")
def ardoise_iso() -> Path:
    """The ISO under test: $ARDOISE_ISO when set (an image built earlier), else build.sh's."""
    given = os.environ.get("ARDOISE_ISO")
    if given:
        return Path(given)
    if os.geteuid() != 0:
        pytest.skip("needs root")
    return ensure_image()


@dataclass
class FwLab:
    vm: VM
    nvme: Disk
    nvme2: Disk
    sata: Disk
    paths: dict[str, str]  # serial -> device path in the guest


@pytest.fixture(scope="module")
def fwlab(ardoise_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FwLab]:
    tmp = tmp_path_factory.mktemp("fwlab")
    stick = ensure_stick(ardoise_iso, tmp / "stick.img")
    nvme = Disk.create(tmp / "nvme.img", "nvme", 64 * MiB, NVME_MARKER, serial="ARDFWNVME01")
    nvme2 = Disk.create(tmp / "nvme2.img", "nvme", 64 * MiB, NVME_MARKER, serial="ARDFWNVME02")
    sata = Disk.create(tmp / "sata.img", "sata", 64 * MiB, SATA_MARKER, serial="ARDFWSATA01")
    assert count_marker(nvme.path, NVME_MARKER) == 1024
    vm = VM(stick, boot_as="usb", disks=[nvme, nvme2, sata], firmware="bios", mem="1536M",
            workdir=tmp / "vm")
    try:
        vm.start()
        vm.wait_ready(timeout=BOOT_TIMEOUT)
        rc, doc = vm.sh_json("ardoise disks --json", timeout=180)
        assert rc == 0 and isinstance(doc, dict), doc
        paths = {d["serial"]: d["path"] for d in doc["disks"]}
        yield FwLab(vm, nvme, nvme2, sata, paths)
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


ENGINE = ("import json, sys; from erasure.discovery import resolve; "
          "from erasure.probe import probe_device; from erasure.erase import erase_disk; "
          "out = erase_disk(probe_device(resolve(sys.argv[1])), 'purge'); "
          "print(json.dumps(out.to_json(), default=str))")


def test_engine_purge_formats_the_nvme_and_reads_back(fwlab: FwLab) -> None:
    path = fwlab.paths["ARDFWNVME02"]
    rc, doc = fwlab.vm.sh_json(f"/opt/ardoise/bin/python -c \"{ENGINE}\" {path}", timeout=1800)
    assert rc == 0 and isinstance(doc, dict), doc
    assert doc["status"] == "erased", doc
    assert doc["method"] == "nvme-format-user"
    assert doc["verify"]["result"] == "pass" and doc["verify"]["bytes_checked"] > 0
    fwlab.vm.sh("sync", timeout=60)
    assert count_marker(fwlab.nvme2.path, NVME_MARKER) == 0
    assert count_marker(fwlab.nvme.path, NVME_MARKER) == 1024  # not a target


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
