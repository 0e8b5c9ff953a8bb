"""Offline at a donor site: the unattended run with no network card at all leaves the signed
certificates in the stick's spool; the stick, booted again where the ledger is reachable
(QEMU user networking, restrict=on, one guestfwd to the host's 127.0.0.1), delivers them
exactly once.

One test, two boots of the same stick: the second boot has unattended mode switched off in
ardoise.yaml (edited from the host, as a site would), so nothing is erased again.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from appliance.demo import demo_config, guest_jobs, guest_spool, mounted_data
from tests.e2e.lab import booted, donor_disks, ledger_lab, wait_until
from tests.e2e.vm import count_marker

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("real_commands"), pytest.mark.timeout(4800)]

NVME_MARKER = b"ARDOISE-OFFLINE-NVME-DONOR"
SATA_MARKER = b"ARDOISE-OFFLINE-SATA-DONOR"
BATCH = "offline-vm"
BOOT_TIMEOUT = 1500


def host_spool(stick: Path) -> dict[str, list[str]]:
    with mounted_data(stick) as data:
        return {state: sorted(p.stem for p in (data / "spool" / state).glob("*.json"))
                for state in ("pending", "sent")}


def test_offline_run_spools_then_delivers_exactly_once(ardoise_iso: Path, tmp_path: Path
                                                       ) -> None:
    with ledger_lab(ardoise_iso, tmp_path,
                    demo_config(batch=BATCH, countdown=10, after="poweroff")) as lab:
        ledger, stick = lab.ledger, lab.stick
        nvme, sata = donor_disks(tmp_path, NVME_MARKER, SATA_MARKER, "ARDONVME01", "ARDOSATA01")

        # boot 1: no network card
        vm = lab.vm([nvme, sata], tmp_path / "vm1", online=False)
        with booted(vm, BOOT_TIMEOUT) as drain:
            wait_until("both jobs spooled",
                       lambda: sorted(guest_jobs(vm).values()) == ["spooled", "spooled"],
                       2400, vm, every=10)
            assert guest_spool(vm) == {"pending": guest_spool(vm)["pending"], "sent": []}
            assert len(guest_spool(vm)["pending"]) == 2
            drain.stop()
            vm.poweroff()
        spooled = host_spool(stick)
        assert len(spooled["pending"]) == 2 and spooled["sent"] == [], spooled
        assert ledger.get(f"/api/v1/certificates?batch={BATCH}")["total"] == 0
        assert count_marker(nvme.path, NVME_MARKER) == 0
        assert count_marker(sata.path, SATA_MARKER) == 0

        # boot 2: back where the ledger is reachable; nobody asks for an erasure
        (tmp_path / "ardoise.yaml").write_text(
            demo_config(batch=BATCH, countdown=10, after="stay", unattended=False))
        with mounted_data(stick) as data:
            (data / "ardoise.yaml").write_text((tmp_path / "ardoise.yaml").read_text())
        vm = lab.vm([nvme, sata], tmp_path / "vm2")
        with booted(vm, BOOT_TIMEOUT) as drain:
            wait_until("both certificates sent", lambda: len(guest_spool(vm)["sent"]) == 2,
                       900, vm, every=5)
            time.sleep(30)  # the uplink keeps running: nothing is sent twice
            assert guest_spool(vm) == {"pending": [], "sent": spooled["pending"]}
            drain.stop()
            vm.poweroff()
        checked = lab.certificates(tmp_path, batch=BATCH)
        total = ledger.get("/api/v1/log/root")["tree_size"]
    assert sorted(c.cert["id"] for c in checked) == spooled["pending"]
    assert total == 2  # the log holds two entries in all: no duplicate
    for c in checked:
        assert c.signature_ok, c.signature_output
        assert c.proof_ok, c.line()
        assert c.status == "erased", c.line()
    assert host_spool(stick) == {"pending": [], "sent": spooled["pending"]}
