"""A power cut in the middle of an unattended run (QEMU killed while the bigger disk is
being erased), then the stick booted again: the interrupted disk is reported INCOMPLETE by a
signed certificate (never "erased"), the disk that had finished keeps its certificate intact,
and both reach the ledger once. tty1 after the second boot: docs/tty1-interrupted.png.

One test, two boots of the same stick; the second boot has unattended mode switched off in
ardoise.yaml (edited from the host), so the technician decides what happens next.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from appliance.demo import (
    Ledger,
    SerialDrain,
    demo_config,
    guest_jobs,
    guest_spool,
    ledger_certificates,
    ledger_vm_class,
    make_kit,
    make_stick,
    mounted_data,
)
from tests.e2e.test_unattended_vm import tty1_shows, wait_until
from tests.e2e.vm import Disk, MiB, count_marker

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("real_commands"), pytest.mark.timeout(4800)]

ROOT = Path(__file__).resolve().parents[2]
NVME_MARKER = b"ARDOISE-POWERCUT-NVME-DONOR"
SATA_MARKER = b"ARDOISE-POWERCUT-SATA-DONOR"
NVME_SERIAL, SATA_SERIAL = "ARDPNVME01", "ARDPSATA01"
BATCH = "powercut-vm"
BOOT_TIMEOUT = 1500


def test_power_cut_mid_erase_reports_incomplete(ardoise_iso: Path, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path).start()
    LedgerVM = ledger_vm_class()
    shots = tmp_path / "shots"
    try:
        kit = make_kit(tmp_path, ledger)
        stick = make_stick(ardoise_iso, tmp_path, kit.keys, kit.publisher / "appliance.pub.pem",
                           kit.manifest.parent,
                           config=demo_config(batch=BATCH, countdown=10, after="poweroff"))
        nvme = Disk.create(tmp_path / "nvme.img", "nvme", 64 * MiB, NVME_MARKER,
                           serial=NVME_SERIAL)
        # big enough that its overwrite is still running when the NVMe disk is erased, imaged
        # and certified: under TCG, 1 GiB took 45 s to overwrite, the NVMe format 86 s
        sata = Disk.create(tmp_path / "sata.img", "sata", 8192 * MiB, SATA_MARKER,
                           serial=SATA_SERIAL)
        sata_before = count_marker(sata.path, SATA_MARKER)

        # boot 1: the run starts; the power goes while the SATA disk is being erased
        vm = LedgerVM(ledger.port, stick, boot_as="usb", disks=[nvme, sata], firmware="uefi",
                      workdir=tmp_path / "vm1")
        try:
            vm.start()
            vm.wait_ready(timeout=BOOT_TIMEOUT)
            drain = SerialDrain(vm)
            wait_until("the NVMe disk certified while the SATA disk is erasing",
                       lambda: _cut_point(guest_jobs(vm)), 2400, vm, every=5)
            jobs_at_cut = guest_jobs(vm)
            _rc, spooled = vm.sh("cat /run/ardoise/data/spool/*/*.json", timeout=60)
            vm.kill()  # the power cut
            drain.stop()
        finally:
            vm.kill()
        assert jobs_at_cut[SATA_SERIAL] == "erasing", jobs_at_cut
        left = count_marker(sata.path, SATA_MARKER)
        assert 0 < left < sata_before, (left, sata_before)  # really cut mid-overwrite
        assert count_marker(nvme.path, NVME_MARKER) == 0

        # boot 2: a technician looks at the machine (unattended mode off)
        with mounted_data(stick) as data:
            (data / "ardoise.yaml").write_text(
                demo_config(batch=BATCH, countdown=10, after="stay", unattended=False))
        vm = LedgerVM(ledger.port, stick, boot_as="usb", disks=[nvme, sata], firmware="uefi",
                      workdir=tmp_path / "vm2")
        try:
            vm.start()
            vm.wait_ready(timeout=BOOT_TIMEOUT)
            drain = SerialDrain(vm)
            wait_until("the SATA job closed",
                       lambda: guest_jobs(vm).get(SATA_SERIAL) == "closed", 600, vm)
            wait_until("both certificates sent", lambda: len(guest_spool(vm)["sent"]) == 2,
                       900, vm, every=5)
            wait_until("tty1 telling of the interruption",
                       lambda: tty1_shows(vm, "interrupted last time"), 600, vm)
            vm.screendump(shots / "tty1-interrupted.png")
            drain.stop()
            vm.poweroff()
        finally:
            vm.kill()
        checked = ledger_certificates(ledger, tmp_path, kit.pubkey, batch=BATCH)
        tree_size = ledger.get("/api/v1/log/root")["tree_size"]
    finally:
        ledger.stop()
        for png in shots.glob("*.png"):
            shutil.copyfile(png, ROOT / "docs" / png.name)
    by_serial = {c.cert["media"]["serial"]: c for c in checked}
    assert sorted(by_serial) == [NVME_SERIAL, SATA_SERIAL], [c.line() for c in checked]
    assert tree_size == 2
    for c in checked:
        assert c.signature_ok, c.signature_output
        assert c.proof_ok, c.line()
    assert by_serial[NVME_SERIAL].status == "erased"
    assert by_serial[SATA_SERIAL].status == "incomplete"
    # the SATA disk was never erased again, nor claimed so: its remaining markers are intact
    assert count_marker(sata.path, SATA_MARKER) == left
    # the finished disk's certificate, as spooled before the cut, is the one the ledger holds
    before_cut = json.loads(spooled[spooled.index("{"):])
    assert before_cut == by_serial[NVME_SERIAL].cert


def _cut_point(jobs: dict[str, str]) -> bool:
    return jobs.get(NVME_SERIAL) in ("spooled", "sent") and jobs.get(SATA_SERIAL) == "erasing"
