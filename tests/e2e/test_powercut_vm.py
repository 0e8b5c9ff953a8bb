"""A power cut in the middle of an unattended run (QEMU killed while the bigger disk is
being erased), then the stick booted again: the interrupted disk is reported INCOMPLETE by a
signed certificate (never "erased"), the disk that had finished keeps its certificate intact,
and both reach the ledger once. tty1 after the second boot: docs/tty1-interrupted.png.

One test, two boots of the same stick; the second boot has unattended mode switched off in
ardoise.yaml (edited from the host), so the technician decides what happens next.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.demo import demo_config, guest_jobs, guest_spool, mounted_data
from tests.e2e.lab import booted, donor_disks, ledger_lab, screens_to_docs, tty1_shows, wait_until
from tests.e2e.vm import MiB, count_marker

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("real_commands"), pytest.mark.timeout(4800)]

NVME_MARKER = b"ARDOISE-POWERCUT-NVME-DONOR"
SATA_MARKER = b"ARDOISE-POWERCUT-SATA-DONOR"
NVME_SERIAL, SATA_SERIAL = "ARDPNVME01", "ARDPSATA01"
BATCH = "powercut-vm"
BOOT_TIMEOUT = 1500


def test_power_cut_mid_erase_reports_incomplete(ardoise_iso: Path, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    try:
        with ledger_lab(ardoise_iso, tmp_path,
                        demo_config(batch=BATCH, countdown=10, after="poweroff")) as lab:
            # the SATA disk is slow (QEMU throttles its writes to 8 MiB/s: 4 GiB take over
            # 8 min) so its overwrite is still running when the NVMe disk is erased, imaged
            # and certified (the NVMe format took 86 s under TCG): the cut lands mid-erase
            # however fast or loaded the host is
            nvme, sata = donor_disks(tmp_path, NVME_MARKER, SATA_MARKER, NVME_SERIAL,
                                     SATA_SERIAL, sata_size=4096 * MiB)
            sata.write_bps = 8 * MiB
            sata_before = count_marker(sata.path, SATA_MARKER)

            # boot 1: the run starts; the power goes while the SATA disk is being erased
            vm = lab.vm([nvme, sata], tmp_path / "vm1")
            with booted(vm, BOOT_TIMEOUT) as drain:
                wait_until("the NVMe disk certified while the SATA disk is erasing",
                           lambda: _cut_point(guest_jobs(vm)), 2400, vm, every=5)
                jobs_at_cut = guest_jobs(vm)
                _rc, spooled = vm.sh("cat /run/ardoise/data/spool/*/*.json", timeout=60)
                vm.kill()  # the power cut
                drain.stop()
            assert jobs_at_cut[SATA_SERIAL] == "erasing", jobs_at_cut
            left = count_marker(sata.path, SATA_MARKER)
            assert 0 < left < sata_before, (left, sata_before)  # really cut mid-overwrite
            assert count_marker(nvme.path, NVME_MARKER) == 0

            # boot 2: a technician looks at the machine (unattended mode off)
            with mounted_data(lab.stick) as data:
                (data / "ardoise.yaml").write_text(
                    demo_config(batch=BATCH, countdown=10, after="stay", unattended=False))
            vm = lab.vm([nvme, sata], tmp_path / "vm2")
            with booted(vm, BOOT_TIMEOUT) as drain:
                wait_until("the SATA job closed",
                           lambda: guest_jobs(vm).get(SATA_SERIAL) == "closed", 600, vm)
                wait_until("both certificates sent", lambda: len(guest_spool(vm)["sent"]) == 2,
                           900, vm, every=5)
                wait_until("tty1 telling of the interruption",
                           lambda: tty1_shows(vm, "interrupted last time"), 600, vm)
                vm.screendump(shots / "tty1-interrupted.png")
                drain.stop()
                vm.poweroff()
            checked = lab.certificates(tmp_path, batch=BATCH)
            tree_size = lab.ledger.get("/api/v1/log/root")["tree_size"]
    finally:
        screens_to_docs(shots)
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
