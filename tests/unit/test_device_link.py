"""Disk certificates name the device record of the machine they were issued on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import certify, device
from appliance.certificate import validate
from appliance.certify import generate_key, sign_document
from tests.conftest import FakeRunner
from tests.unit import certsample
from tests.unit.test_device_record import _machine


@pytest.fixture
def boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "boot_id"
    path.write_text("0f3d5c2e-6a43-4c1b-9a1e-7d2b8f1c0a11\n")
    monkeypatch.setattr(device, "BOOT_ID", path)
    return path


def _record_for(host: dict, tmp_path: Path, fake_runner: FakeRunner, data: Path) -> dict:
    facts = device.collect(_machine(tmp_path / "m", fake_runner))
    record = device.build_record(facts)
    record["host"] = host  # the same machine the certificate describes
    return device.issue(record, data)[0]


def test_certificate_names_this_boots_device_record(tmp_path: Path, fake_runner: FakeRunner,
                                                    boot: Path) -> None:
    data = tmp_path / "data"
    generate_key(data / "keys")
    doc = certsample.document()
    signed_device = _record_for(doc["host"], tmp_path, fake_runner, data)
    cert = json.loads(certify.issue(doc, data).read_bytes())
    assert cert["device_id"] == signed_device["id"]
    validate(cert)


def test_no_link_after_a_reboot_or_on_another_host(tmp_path: Path, fake_runner: FakeRunner,
                                                   boot: Path) -> None:
    data = tmp_path / "data"
    generate_key(data / "keys")
    doc = certsample.document()
    _record_for({**doc["host"], "serial": "OTHER-123"}, tmp_path, fake_runner, data)
    other_host = json.loads(certify.issue(doc, data).read_bytes())
    assert "device_id" not in other_host
    record = _record_for(doc["host"], tmp_path / "again", fake_runner, data)
    assert device.current_id(data, doc["host"]) == record["id"]
    boot.write_text("9a8b7c6d-0000-4000-8000-000000000001\n")  # the stick booted elsewhere
    assert device.current_id(data, doc["host"]) is None


def test_certificates_without_device_id_still_validate() -> None:
    """Old certificates (before device records) have no device_id and stay valid."""
    signed = sign_document(certsample.document(), Ed25519PrivateKey.generate())
    assert "device_id" not in signed
    validate(signed)
    with pytest.raises(Exception, match="device_id"):
        validate({**signed, "device_id": "not-a-uuid"})
