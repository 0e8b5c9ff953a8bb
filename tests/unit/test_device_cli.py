"""`ardoise device`: registered, the people summary in English and French."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import device, i18n
from appliance.certify import generate_key, load_key
from appliance.cli import COMMANDS, build_parser
from appliance.commands.device import intake_from, summary
from appliance.errors import UsageError
from appliance.intake import Intake
from tests.conftest import FakeRunner
from tests.unit.test_device_record import _machine


def _signed(tmp_path: Path, fake_runner: FakeRunner) -> dict:
    facts = device.collect(_machine(tmp_path / "m", fake_runner))
    generate_key(tmp_path / "keys")
    return device.sign_record(device.build_record(facts), load_key(tmp_path))


def test_registered() -> None:
    assert "device" in COMMANDS
    args = build_parser("device").parse_args(["device", "--json"])
    assert args.json and args.command == "device"


def test_summary_english_and_french(tmp_path: Path, fake_runner: FakeRunner) -> None:
    record = _signed(tmp_path, fake_runner)
    try:
        i18n.set_language("en")
        en = summary(record)
        i18n.set_language("fr")
        fr = summary(record)
    finally:
        i18n.set_language("en")
    assert en[0] == "Machine: Microsoft Corporation Surface Pro 7 (serial ?)"
    assert "Battery BAT0: health 84.7%, 481 cycles" in en
    assert "Memory: 16 GiB, modules: 2" in en
    assert "Windows 11: not eligible" in en and "  - fewer than 2 processor cores" in en
    assert "  ? processor family not settled by the supported-processor table" in en
    assert "Batterie BAT0 : santé 84,7 %, 481 cycles" in fr
    assert "Windows 11 : non admissible" in fr
    assert "  - moins de 2 cœurs de processeur" in fr
    assert "Mémoire : 16 Gio, modules : 2" in fr


def test_intake_options(tmp_path: Path, fake_runner: FakeRunner) -> None:
    parser = build_parser("device")
    assert intake_from(parser.parse_args(["device"])) is None  # unattended: no intake
    args = parser.parse_args(["device", "--operator", " Léa  B. ", "--grade", "C", "--missing",
                              "pen", "--missing", "charger", "--asset-tag", "OPQ-77\n"])
    intake = intake_from(args)
    assert intake == Intake(operator="Léa B.", grade="C", missing=["charger", "pen"],
                            asset_tag="OPQ-77", notes=None)
    facts = device.collect(_machine(tmp_path / "m", fake_runner))
    generate_key(tmp_path / "keys")
    record = device.sign_record(device.build_record(facts, intake=intake), load_key(tmp_path))
    assert record["operator"] == "Léa B." and record["intake"]["missing"] == ["charger", "pen"]
    i18n.set_language("fr")
    try:
        assert "État : C ; manque : chargeur, stylet ; inventaire : OPQ-77" in summary(record)
    finally:
        i18n.set_language("en")
    with pytest.raises(UsageError):
        intake_from(parser.parse_args(["device", "--asset-tag", "X" * 65]))
    with pytest.raises(SystemExit):
        parser.parse_args(["device", "--grade", "E"])
