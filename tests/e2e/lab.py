"""What the VM tests of a whole run share: a ledger on the host's 127.0.0.1 with the
appliance key enrolled, a stick configured for it, donor disks, a boot that keeps the serial
console read, and waits on what the guest shows.

    with ledger_lab(ardoise_iso, tmp_path, demo_config(batch="b")) as lab:
        nvme, sata = donor_disks(tmp_path, NVME_MARKER, SATA_MARKER, "NVME01", "SATA01")
        vm = lab.vm([nvme, sata], tmp_path / "vm")    # reaches the ledger only (guestfwd)
        with booted(vm, 1500) as drain:                 # session ready; QEMU killed on exit
            wait_until("both jobs spooled", lambda: ..., 2400, vm, every=10)
            drain.stop()
            vm.poweroff()
        checked = lab.certificates(tmp_path, batch="b")  # signature + inclusion proof
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.demo import (
    Checked,
    Kit,
    Ledger,
    SerialDrain,
    ledger_certificates,
    ledger_vm_class,
    make_kit,
    make_stick,
)
from tests.e2e.vm import ROOT, VM, Disk, MiB


@dataclass
class Lab:
    """A ledger on 127.0.0.1, the appliance key enrolled there, the stick that holds it."""

    ledger: Ledger
    kit: Kit
    stick: Path

    def vm(self, disks: Sequence[Disk], workdir: Path, *, online: bool = True,
           firmware: str = "uefi", **kwargs: Any) -> VM:
        """The stick booted as a USB disk with `disks`; the network reaches the ledger and
        nothing else, or (online=False) there is no network card at all."""
        vm: VM = ledger_vm_class()(self.ledger.port if online else None, self.stick,
                                   boot_as="usb", disks=list(disks), firmware=firmware,
                                   workdir=workdir, **kwargs)
        return vm

    def certificates(self, work: Path, batch: str) -> list[Checked]:
        """Every certificate of `batch` at the ledger, with its signature and inclusion proof
        checked."""
        return ledger_certificates(self.ledger, work, self.kit.pubkey, batch=batch)


@contextmanager
def ledger_lab(iso: Path, work: Path, config: str) -> Iterator[Lab]:
    """Start the ledger, make and enroll the appliance key, make the signed OS image and a
    stick with `config` as its ardoise.yaml; the ledger stops on the way out."""
    ledger = Ledger(work).start()
    try:
        kit = make_kit(work, ledger)
        stick = make_stick(iso, work, kit.keys, kit.publisher / "appliance.pub.pem",
                           kit.manifest.parent, config=config)
        yield Lab(ledger, kit, stick)
    finally:
        ledger.stop()


def donor_disks(work: Path, nvme_marker: bytes, sata_marker: bytes, nvme_serial: str,
                sata_serial: str, sata_size: int = 64 * MiB) -> tuple[Disk, Disk]:
    """A 64 MiB NVMe disk (work/nvme.img) and a SATA disk (work/sata.img), full of donor
    markers."""
    nvme = Disk.create(work / "nvme.img", "nvme", 64 * MiB, nvme_marker, serial=nvme_serial)
    sata = Disk.create(work / "sata.img", "sata", sata_size, sata_marker, serial=sata_serial)
    return nvme, sata


@contextmanager
def booted(vm: VM, timeout: float) -> Iterator[SerialDrain]:
    """Start `vm` and wait for the Ardoise session, then keep its serial console read (an
    unread console stalls the guest); QEMU is killed on the way out, whatever happened."""
    try:
        vm.start()
        vm.wait_ready(timeout=timeout)
        yield SerialDrain(vm)
    finally:
        vm.kill()


def wait_until(what: str, probe: Callable[[], bool], timeout: float, vm: VM,
               every: float = 3) -> None:
    """Ask `probe` every `every` seconds until it says yes; fails when QEMU exits or after
    `timeout` seconds, with the serial console's tail."""
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


def screens_to_docs(shots: Path) -> None:
    """Copy the PNGs a test took of tty1 into docs/."""
    for png in shots.glob("*.png"):
        shutil.copyfile(png, ROOT / "docs" / png.name)
