"""A rack of machines needs no keyboard: the stick boots, the TUI counts down on tty1, runs
both disks (erase, verify, write the signed OS image, certify), shows the results, sends the
certificates to the ledger on the host's loopback (QEMU user networking, restrict=on, one
guestfwd to 127.0.0.1) and powers the machine off. tty1 is captured at each stage into
docs/tty1-countdown.png, docs/tty1-progress.png, docs/tty1-results.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.demo import demo_config, guest_jobs, guest_spool
from tests.e2e.lab import booted, donor_disks, ledger_lab, screens_to_docs, tty1_shows, wait_until
from tests.e2e.vm import MiB, count_marker

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("real_commands"), pytest.mark.timeout(3600)]

NVME_MARKER = b"ARDOISE-UNATTENDED-NVME-DONOR"
SATA_MARKER = b"ARDOISE-UNATTENDED-SATA-DONOR"
BATCH = "unattended-vm"
BOOT_TIMEOUT = 1500


def test_unattended_run_delivers_then_powers_off(ardoise_iso: Path, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    try:
        with ledger_lab(ardoise_iso, tmp_path,
                        demo_config(batch=BATCH, countdown=60, after="poweroff")) as lab:
            nvme, sata = donor_disks(tmp_path, NVME_MARKER, SATA_MARKER, "ARDUNVME01",
                                     "ARDUSATA01")
            # QEMU throttles the SATA disk's writes (1 MiB/s: its 64 MiB take a minute) so
            # that "erasing" is still on the screen when a fast host looks
            sata.write_bps = 1 * MiB
            assert count_marker(nvme.path, NVME_MARKER) > 0 and count_marker(sata.path, SATA_MARKER) > 0
            vm = lab.vm([nvme, sata], tmp_path / "vm", firmware="secure-boot", mem="1536M")
            with booted(vm, BOOT_TIMEOUT) as drain:
                # the countdown on the machine's own screen (any key would cancel it)
                wait_until("the countdown on tty1",
                           lambda: tty1_shows(vm, "erasure starts in"), 900, vm, every=5)
                assert guest_jobs(vm) == {}, "a job started before the countdown ended"
                vm.screendump(shots / "tty1-countdown.png")
                wait_until("tty1 showing a disk being erased",
                           lambda: "erasing" in guest_jobs(vm).values()
                           and tty1_shows(vm, "erasing"), 900, vm)
                vm.screendump(shots / "tty1-progress.png")
                wait_until("two certificates in the spool",
                           lambda: sum(map(len, guest_spool(vm).values())) >= 2, 1500, vm)
                wait_until("the results on tty1",
                           lambda: tty1_shows(vm, "Erased and checked"), 300, vm)
                vm.screendump(shots / "tty1-results.png")
                # then the machine sends the spool and powers itself off, as configured
                assert vm.proc is not None
                vm.proc.wait(timeout=900)
                drain.stop()
            checked = lab.certificates(tmp_path, batch=BATCH)
    finally:
        screens_to_docs(shots)
    assert len(checked) == 2, [c.line() for c in checked]
    assert {c.cert["media"]["serial"] for c in checked} == {"ARDUNVME01", "ARDUSATA01"}
    for c in checked:
        assert c.signature_ok, c.signature_output
        assert c.proof_ok, c.line()
        assert c.status == "erased", c.line()
        assert c.cert["image"]["status"] == "imaged", c.cert["image"]
    assert count_marker(nvme.path, NVME_MARKER) == 0
    assert count_marker(sata.path, SATA_MARKER) == 0
