"""The journal's part in ATA erases: the temporary password found again by serial or WWN,
the sanitize action started, and whether the journal outlives a power cycle."""

from __future__ import annotations

from pathlib import Path

from appliance.journal import Journal, journal_storage
from tests.conftest import FIXTURES

SATA = {"id": "wwn-0x5002538e40a1b2c3", "path": "/dev/sda", "serial": "S3YZNB0KB00864E",
        "wwn": "0x5002538e40a1b2c3", "model": "Samsung SSD 860 EVO 500GB"}


class Seen:
    """A Disk as erase_options reads it (id, serial, wwn)."""

    def __init__(self, id: str, serial: str, wwn: str | None) -> None:
        self.id, self.serial, self.wwn = id, serial, wwn


def interrupted(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path)
    job = journal.start(SATA, "run-1")
    journal.transition(job, "erasing", method="ata-secure-erase")
    journal.record(job, "ata-password", {"path": "/dev/sda", "serial": SATA["serial"],
                                         "wwn": SATA["wwn"], "password": "ardoise-0123abcd"})
    journal.record(job, "ata-sanitize", {"action": "block", "serial": SATA["serial"],
                                         "wwn": SATA["wwn"]})
    journal.close(job, None, "interrupted")
    return Journal(tmp_path)


def test_password_found_behind_a_usb_bridge_by_serial_or_wwn(tmp_path: Path) -> None:
    journal = interrupted(tmp_path)
    # the same drive in a USB dock: another by-id name, the same serial / WWN
    assert journal.journaled_password("usb-Samsung_SSD_860_EVO_500GB_000000000000-0:0",
                                      serial="S3YZNB0KB00864E") == "ardoise-0123abcd"
    assert journal.journaled_password("usb-JMicron_Generic-0:0", serial=None,
                                      wwn="0x5002538E40A1B2C3") == "ardoise-0123abcd"
    assert journal.journaled_password("usb-other", serial="OTHER", wwn="0x5000") is None
    assert journal.journaled_password("usb-other", serial="", wwn=None) is None


def test_erase_options_carry_password_sanitize_action_and_persistence(tmp_path: Path) -> None:
    journal = interrupted(tmp_path)
    options = journal.erase_options(Seen("usb-x", SATA["serial"], None))
    assert options["journaled_password"] == "ardoise-0123abcd"
    assert options["journaled_sanitize_action"] == "block"
    assert options["password_journal_persistent"] == journal_storage(tmp_path / "journal")[0]
    assert journal.erase_options(Seen("nvme-y", "S4EWNX0R123456", None)) == {
        "password_journal_persistent": journal.persistent}


def test_forgotten_password_is_not_offered_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    job = journal.start(SATA, "run-2")
    journal.record(job, "ata-password", {"serial": SATA["serial"], "password": "ardoise-1"})
    journal.record(job, "ata-password", None)  # what EraseContext.journal(..., {}) does
    assert journal.journaled_password(SATA["id"], SATA["serial"]) is None


def test_journal_storage_in_ram_or_read_only_is_not_persistent() -> None:
    vm = str(FIXTURES / "discovery/mountinfo-vm.txt")  # ext4 root, tmpfs /dev/shm
    assert journal_storage(Path("/var/lib/ardoise/journal"), vm) == (True, "ext4")
    assert journal_storage(Path("/dev/shm/ardoise/journal"), vm) == (False, "tmpfs")
    ro = str(FIXTURES / "journal/mountinfo-ro-loop.txt")  # a stick mounted read-only
    assert journal_storage(Path("/tmp/ardoise-ro/journal"), ro) == (False, "ext4")
    assert journal_storage(Path("/var/lib/ardoise"), str(FIXTURES / "no-such-file")) == (
        False, "unknown")


def test_sanitize_action_only_from_the_last_ended_job_on_the_drive(tmp_path: Path) -> None:
    journal = interrupted(tmp_path)  # run-1: block erase started, then power lost
    current = journal.start(SATA, "run-2")  # this run's own job, still open
    journal.transition(current, "erasing", method="ata-sanitize-block")
    assert journal.journaled_sanitize(SATA["id"], SATA["serial"]) == "block"
    # run-2 saw the sanitize end and forgot it: a later run does not adopt "block"
    journal.record(current, "ata-sanitize", {"action": "block", "serial": SATA["serial"]})
    journal.record(current, "ata-sanitize", None)
    journal.close(current, None, "done")
    journal.start(SATA, "run-3")
    assert journal.journaled_sanitize(SATA["id"], SATA["serial"]) is None
    # the password of run-1 is still offered: a locked drive must stay unlockable
    assert journal.journaled_password(SATA["id"], SATA["serial"]) == "ardoise-0123abcd"
