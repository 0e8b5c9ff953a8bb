"""A rack of machines needs no keyboard: the stick boots, the TUI counts down on tty1, runs
both disks (erase, verify, write the signed OS image, certify), shows the results, sends the
certificates to the ledger on the host's loopback (QEMU user networking, restrict=on, one
guestfwd to 127.0.0.1) and powers the machine off. tty1 is captured at each stage into
docs/tty1-countdown.png, docs/tty1-progress.png, docs/tty1-results.png.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
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
)
from tests.e2e.vm import VM, Disk, MiB, count_marker

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("real_commands"), pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
NVME_MARKER = b"ARDOISE-UNATTENDED-NVME-DONOR"
SATA_MARKER = b"ARDOISE-UNATTENDED-SATA-DONOR"
BATCH = "unattended-vm"
BOOT_TIMEOUT = 1500


def wait_until(what: str, probe: Callable[[], bool], timeout: float, vm: VM,
               every: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if not vm.alive():
            raise AssertionError(f"QEMU exited while waiting for {what}\n{vm.serial_tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s\n{vm.serial_tail()}")
        time.sleep(every)


def tty1_text(vm: VM) -> str:
    """The text on tty1 (the kernel's /dev/vcs1: one line of 80 columns after another)."""
    _rc, out = vm.sh("cat /dev/vcs1; echo", timeout=60)
    return " ".join(out.split())


def tty1_shows(vm: VM, text: str) -> bool:
    return text in tty1_text(vm)


def test_unattended_run_delivers_then_powers_off(ardoise_iso: Path, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path).start()
    shots = tmp_path / "shots"
    try:
        kit = make_kit(tmp_path, ledger)
        stick = make_stick(ardoise_iso, tmp_path, kit.keys, kit.publisher / "appliance.pub.pem",
                           kit.manifest.parent,
                           config=demo_config(batch=BATCH, countdown=60, after="poweroff"))
        nvme = Disk.create(tmp_path / "nvme.img", "nvme", 64 * MiB, NVME_MARKER,
                           serial="ARDUNVME01")
        sata = Disk.create(tmp_path / "sata.img", "sata", 64 * MiB, SATA_MARKER,
                           serial="ARDUSATA01")
        assert count_marker(nvme.path, NVME_MARKER) > 0 and count_marker(sata.path, SATA_MARKER) > 0
        vm = ledger_vm_class()(ledger.port, stick, boot_as="usb", disks=[nvme, sata],
                               firmware="secure-boot", mem="1536M", workdir=tmp_path / "vm")
        try:
            vm.start()
            vm.wait_ready(timeout=BOOT_TIMEOUT)
            drain = SerialDrain(vm)
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
        finally:
            vm.kill()
        checked = ledger_certificates(ledger, tmp_path, kit.pubkey, batch=BATCH)
    finally:
        ledger.stop()
        for png in shots.glob("*.png"):
            shutil.copyfile(png, ROOT / "docs" / png.name)
    assert len(checked) == 2, [c.line() for c in checked]
    assert {c.cert["media"]["serial"] for c in checked} == {"ARDUNVME01", "ARDUSATA01"}
    for c in checked:
        assert c.signature_ok, c.signature_output
        assert c.proof_ok, c.line()
        assert c.status == "erased", c.line()
        assert c.cert["image"]["status"] == "imaged", c.cert["image"]
    assert count_marker(nvme.path, NVME_MARKER) == 0
    assert count_marker(sata.path, SATA_MARKER) == 0
