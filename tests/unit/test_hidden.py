"""Drives the firmware hides (Intel RST remapping, Intel VMD), from fake sysfs trees laid
out as the kernel's ABI (tests/fixtures/hidden), and what `ardoise disks` says of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main
from erasure import hidden
from tests.conftest import FIXTURES

HID = FIXTURES / "hidden"


def test_rst_remapped_nvme_from_the_ahci_sysfs_attribute() -> None:
    found = hidden.find_hidden(HID / "rst-sys")
    assert [h.to_json() for h in found] == [{
        "kind": "intel-rst-remapped", "controller": "0000:00:17.0", "count": 1,
        "remedy": hidden.RST_REMEDY}]
    assert "NOT erased" in found[0].describe() and "RAID to AHCI" in found[0].describe()


def test_rst_remapped_nvme_from_the_kernel_log_on_an_older_kernel(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["dmesg"], fixture="hidden/journal-rst-remapped-archwiki.txt")
    found = hidden.find_hidden(HID / "rst-old-sys")
    assert [(h.kind, h.controller, h.count) for h in found] == [
        ("intel-rst-remapped", "0000:00:17.0", 1)]


def test_plain_ahci_hides_nothing() -> None:
    assert hidden.find_hidden(HID / "ahci-sys") == []


def test_vmd_without_its_driver_hides_drives() -> None:
    found = hidden.find_hidden(HID / "vmd-unbound-sys")
    assert [(h.kind, h.controller, h.count) for h in found] == [("intel-vmd", "0000:00:0e.0", None)]
    assert "disable Intel VMD" in found[0].describe()


def test_vmd_bound_with_nvme_below_hides_nothing() -> None:
    assert hidden.find_hidden(HID / "vmd-bound-sys") == []


def test_disks_shows_the_hidden_drive(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(hidden, "SYS", HID / "rst-sys")
    assert main(["disks", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hidden"] == [{"kind": "intel-rst-remapped", "controller": "0000:00:17.0",
                               "count": 1, "remedy": hidden.RST_REMEDY}]
    assert main(["disks"]) == 0
    out = capsys.readouterr().out
    assert "HIDDEN: 1 NVMe drive(s) hidden by Intel RST (RAID mode) behind 0000:00:17.0: NOT " \
           "erased" in out


def test_fixture_tree_follows_the_kernel_abi() -> None:
    dev = Path(HID / "rst-sys" / "bus" / "pci" / "drivers" / "ahci" / "0000:00:17.0").resolve()
    assert dev.parent.name == "pci0000:00" and (dev / "remapped_nvme").read_text() == "1\n"


def test_heartbeats_carry_the_hidden_drive_as_left_alone(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    from appliance.unattended import heartbeat_document
    from ledger.api.models import HeartbeatJob

    monkeypatch.setattr(hidden, "SYS", HID / "rst-sys")
    doc = heartbeat_document(tmp_path, None, "B1", [])  # load_key creates the site key
    assert [j["status"] for j in doc["jobs"]] == ["refused"]
    HeartbeatJob(**doc["jobs"][0])  # the ledger takes it as it is
