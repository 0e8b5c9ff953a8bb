"""Firmware purge in the VM: QEMU's emulated NVMe gets a real NVMe Format (SES=1), read
back, and its marker bytes are gone when the host looks at the backing file; the SATA
disk (no ATA security in QEMU) reaches Clear by overwrite and honestly not Purge.

An NVMe subsystem (nvme-subsys) with two controllers sharing one namespace sits beside
the separate controllers. Linux (native multipath) names the shared namespace after the
subsystem, nvme<S>n1, S being its first controller's number; that controller is then
unbound and bound again, so it comes back under a new number and /dev/nvme<S> is no
controller at all (nvme-cli issues 455, 510: the name does not say the controller).
Probe, format and the certificate must still reach and name the subsystem's drive.
"""

from __future__ import annotations

import json
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
SUBSYS_MARKER = b"ARDOISE-FW-SUBSYS-MARKER"
SUBSYS_SERIAL = "ARDFWSUBSYS1"  # the subsystem's serial: both its controllers report it
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
    subsys: Disk  # the namespace shared by the subsystem's two controllers
    paths: dict[str, str]  # serial -> device path in the guest
    head_number: int  # S of /dev/nvme<S>n1, the subsystem's instance
    controllers: list[str]  # the subsystem's controllers after the rebind, e.g. ["nvme3"]
    rebind: str  # what the rebind script printed


def subsystem_args(image: Path) -> list[str]:
    """An NVM subsystem, two controllers, one shared namespace (QEMU 7.2 nvme.rst)."""
    node = {"node-name": "subsys-ns", "driver": "raw", "read-only": False,
            "file": {"driver": "file", "filename": str(image)}}
    return ["-blockdev", json.dumps(node),
            "-device", "nvme-subsys,id=subsys0,nqn=ardoise-fw-subsys",
            "-device", f"nvme,id=nvmesub0,serial={SUBSYS_SERIAL},subsys=subsys0",
            "-device", f"nvme,id=nvmesub1,serial={SUBSYS_SERIAL},subsys=subsys0",
            "-device", "nvme-ns,drive=subsys-ns,bus=nvmesub0,nsid=1,shared=on"]


# the multipath head (its sysfs parent is the subsystem), then the controllers it goes
# through; the first controller of the subsystem (same number as the head) is unbound
# from the nvme driver and bound again: it comes back with a new number
REBIND = r"""
head=""
for b in /sys/block/nvme*n*; do
  case "$(readlink -f "$b/device")" in */nvme-subsys*) head="${b##*/}";; esac
done
[ -n "$head" ] || { echo "no multipath head"; exit 1; }
s="${head#nvme}"; s="${s%%n*}"
if [ -e "/sys/class/nvme/nvme$s" ]; then
  bdf="$(basename "$(readlink -f /sys/class/nvme/nvme$s/device)")"
  echo "$bdf" > /sys/bus/pci/drivers/nvme/unbind
  udevadm settle
  echo "$bdf" > /sys/bus/pci/drivers/nvme/bind
  for i in $(seq 120); do
    [ "$(ls -d /sys/block/nvme${s}c*n1 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 1
  done
  udevadm settle
fi
echo "HEAD=$head"
for p in /sys/block/nvme${s}c*n1; do
  c="$(basename "$(readlink -f "$p/device")")"
  echo "CTRL=$c $(cat /sys/class/nvme/$c/state) $(cat /sys/class/nvme/$c/serial)"
done
"""


@pytest.fixture(scope="module")
def fwlab(ardoise_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FwLab]:
    tmp = tmp_path_factory.mktemp("fwlab")
    stick = ensure_stick(ardoise_iso, tmp / "stick.img")
    nvme = Disk.create(tmp / "nvme.img", "nvme", 64 * MiB, NVME_MARKER, serial="ARDFWNVME01")
    nvme2 = Disk.create(tmp / "nvme2.img", "nvme", 64 * MiB, NVME_MARKER, serial="ARDFWNVME02")
    sata = Disk.create(tmp / "sata.img", "sata", 64 * MiB, SATA_MARKER, serial="ARDFWSATA01")
    subsys = Disk.create(tmp / "subsys.img", "nvme", 64 * MiB, SUBSYS_MARKER,
                         serial=SUBSYS_SERIAL)
    assert count_marker(nvme.path, NVME_MARKER) == 1024
    assert count_marker(subsys.path, SUBSYS_MARKER) == 1024
    vm = VM(stick, boot_as="usb", disks=[nvme, nvme2, sata], firmware="bios", mem="1536M",
            workdir=tmp / "vm", extra_args=subsystem_args(subsys.path))
    try:
        vm.start()
        vm.wait_ready(timeout=BOOT_TIMEOUT)
        # the subsystem's tests fail on their own (with this output) if it went wrong
        _rc, rebind = vm.sh(REBIND, timeout=300)
        heads = [line[5:] for line in rebind.splitlines() if line.startswith("HEAD=")]
        ctrls = [line[5:].split() for line in rebind.splitlines() if line.startswith("CTRL=")]
        rc, doc = vm.sh_json("ardoise disks --json", timeout=180)
        assert rc == 0 and isinstance(doc, dict), doc
        paths = {d["serial"]: d["path"] for d in doc["disks"]}
        yield FwLab(vm, nvme, nvme2, sata, subsys, paths,
                    int(heads[0][4:].split("n")[0]) if heads else -1,
                    [c[0] for c in ctrls if c[1:] == ["live", SUBSYS_SERIAL]], rebind)
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


def test_subsystem_namespace_name_is_no_controller(fwlab: FwLab) -> None:
    s = fwlab.head_number
    assert s >= 0 and fwlab.paths.get(SUBSYS_SERIAL) == f"/dev/nvme{s}n1", (fwlab.rebind,
                                                                           fwlab.paths)
    assert len(fwlab.controllers) == 2, fwlab.rebind  # both paths live again
    assert f"nvme{s}" not in fwlab.controllers
    rc, _out = fwlab.vm.sh(f"test -e /dev/nvme{s}", timeout=30)
    assert rc != 0  # the guess /dev/nvmeXnY -> /dev/nvmeX names nothing
    # the hidden per-controller paths are not disks of their own
    assert all("c" not in path.removeprefix("/dev/nvme") for path in fwlab.paths.values())


def test_probe_reaches_the_subsystem_through_a_live_controller(fwlab: FwLab) -> None:
    path = fwlab.paths[SUBSYS_SERIAL]
    rc, disk = fwlab.vm.sh_json(f"ardoise probe {path} --level purge --json", timeout=300)
    assert rc == 0 and isinstance(disk, dict), disk
    ctrl = disk["extra"]["nvme_controller"]
    assert ctrl["via"] == "multipath" and ctrl["path"].removeprefix("/dev/") in fwlab.controllers
    assert ctrl["serial"] == ctrl["id_ctrl_serial"] == SUBSYS_SERIAL
    assert disk["serial"] == SUBSYS_SERIAL and disk["nvme"]["format"] is True
    assert disk["plan"]["methods"] == ["nvme-format-user"]


# the engine's own record of the format: which controller and command, what timeout
FORMAT_RECORD = ("import json, sys; from erasure.discovery import resolve; "
                 "from erasure.probe import probe_device; from erasure.erase import erase_disk; "
                 "out = erase_disk(probe_device(resolve(sys.argv[1])), 'purge'); "
                 "d = out.erase.details if out.erase else {}; "
                 "keys = ('controller', 'controller_serial', 'commands', 'timeout_seconds', "
                 "'timeout_basis'); "
                 "print(json.dumps(dict(out.to_json(), details={k: d.get(k) for k in keys}), "
                 "default=str))")


def test_format_goes_to_the_shared_namespace_through_a_live_controller(fwlab: FwLab) -> None:
    path = fwlab.paths[SUBSYS_SERIAL]
    rc, doc = fwlab.vm.sh_json(f"/opt/ardoise/bin/python -c \"{FORMAT_RECORD}\" {path}",
                               timeout=1800)
    assert rc == 0 and isinstance(doc, dict), doc
    assert doc["status"] == "erased" and doc["method"] == "nvme-format-user", doc
    assert doc["serial"] == SUBSYS_SERIAL and doc["verify"]["result"] == "pass"
    details = doc["details"]
    assert details["controller"].removeprefix("/dev/") in fwlab.controllers
    assert details["controller_serial"] == SUBSYS_SERIAL
    # the format itself goes to the namespace, with nvme-cli's timeout in milliseconds
    [fmt] = [c["argv"] for c in details["commands"] if c["argv"][1] == "format"]
    assert fmt[2] == path and f"--timeout={details['timeout_seconds'] * 1000}" in fmt
    assert details["timeout_basis"] == "capacity"
    fwlab.vm.sh("sync", timeout=60)
    assert count_marker(fwlab.subsys.path, SUBSYS_MARKER) == 0
    # the separate controllers' disks were not targets
    assert count_marker(fwlab.nvme.path, NVME_MARKER) == 1024
    assert count_marker(fwlab.nvme2.path, NVME_MARKER) == 1024


def test_wipe_of_the_shared_namespace_certifies_its_serial(fwlab: FwLab) -> None:
    path = fwlab.paths[SUBSYS_SERIAL]
    rc, doc = fwlab.vm.sh_json(f"ardoise wipe --level purge --yes --json {path}", timeout=1800)
    assert rc == 0 and isinstance(doc, dict), doc
    result = doc["results"][0]
    assert result["status"] == "erased", result
    assert result["method"] == "nvme-format-user" and result["serial"] == SUBSYS_SERIAL
    rc, text = fwlab.vm.sh(f"cat {result['certificate']}", timeout=60)
    assert rc == 0, text
    cert = json.loads(text[text.find("{"):])
    assert cert["media"]["serial"] == SUBSYS_SERIAL and cert["media"]["path"] == path
    assert cert["sanitization"]["method"] == "nvme-format-user"
    assert count_marker(fwlab.nvme.path, NVME_MARKER) == 1024


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
