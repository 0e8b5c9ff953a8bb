"""`ardoise probe` replay form over real captures (CLI contract: one Disk as JSON)."""

from __future__ import annotations

import json

import pytest

from appliance.cli import main
from tests.conftest import FIXTURES


def test_replay_nvme_with_plan_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["probe", "--smartctl", str(FIXTURES / "smartctl/qemu-7.2-nvme.json"),
                 "--nvme-id-ctrl", str(FIXTURES / "nvme/qemu-7.2-id-ctrl.json"),
                 "--nvme-id-ns", str(FIXTURES / "nvme/qemu-7.2-id-ns.json"),
                 "--level", "purge", "--json"])
    assert code == 0
    disk = json.loads(capsys.readouterr().out)
    assert disk["path"] == "/dev/nvme0n1" and disk["transport"] == "nvme"
    assert disk["model"] == "QEMU NVMe Ctrl" and disk["serial"] == "ARDOISENVME01"
    assert disk["size_bytes"] == 268435456
    assert disk["nvme"]["format"] is True and disk["nvme"]["fna"] == 0
    assert disk["nvme"]["sanicap"] == 0 and disk["nvme"]["lbaf_in_use"] == 0
    assert disk["methods"] == ["nvme-format-user", "overwrite"]
    assert disk["plan"] == {"level": "purge", "reachable": True, "methods": ["nvme-format-user"],
                            "reasons": disk["plan"]["reasons"]}


def test_replay_without_level_has_no_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--hdparm", str(FIXTURES / "hdparm/micron-5300-frozen.txt"),
                 "--json"]) == 0
    disk = json.loads(capsys.readouterr().out)
    assert "plan" not in disk
    assert disk["ata_security"]["frozen"] is True
    assert disk["ata_sanitize"] == {"crypto": True, "block": True, "overwrite": True}


def test_replay_text_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "fr", "probe", "--smartctl",
                 str(FIXTURES / "smartctl/qemu-7.2-usb-storage.json"), "--level", "purge"]) == 0
    out = capsys.readouterr().out
    assert "overwrite" in out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe"]) == 2
    assert main(["probe", "/dev/sda", "--smartctl", str(FIXTURES / "smartctl/qemu-7.2-nvme.json")]) == 2
    assert main(["probe", "--smartctl", "/nonexistent/file"]) == 2
