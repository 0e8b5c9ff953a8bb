"""POST /api/v1/devices: the certificate rules for signed device records."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from appliance import device
from appliance.certificate import canonical
from appliance.certify import CertContext
from ledger.store import Ledger
from tests.conftest import FakeRunner
from tests.unit.test_device_record import _machine


def _record(tmp_path: Path, fake_runner: FakeRunner, key: Ed25519PrivateKey) -> dict[str, Any]:
    facts = device.collect(_machine(tmp_path / "m", fake_runner))
    doc = device.build_record(facts, CertContext(batch="B-12", donor="Ministère"))
    return device.sign_record(doc, key)


def test_device_record_stored_once(client: TestClient, key: Ed25519PrivateKey, enrolled: str,
                                   auth: dict[str, str], tmp_path: Path,
                                   fake_runner: FakeRunner) -> None:
    record = _record(tmp_path, fake_runner, key)
    body = canonical(record)
    first = client.post("/api/v1/devices", content=body)
    assert first.status_code == 201, first.text
    assert first.json() == {"id": record["id"], "status": "created"}
    again = client.post("/api/v1/devices", content=body)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    other = copy.deepcopy(record)
    other["battery"][0]["health_percent"] = 99.0
    conflict = client.post("/api/v1/devices", content=canonical(device.sign_record(other, key)))
    assert (conflict.status_code, conflict.json()["error"]) == (409, "conflict")
    stored = client.get(f"/api/v1/devices/{record['id']}", headers=auth)
    assert stored.status_code == 200 and stored.content == body
    assert client.get(f"/api/v1/devices/{record['id']}").status_code == 401


def test_device_record_refusals(client: TestClient, key: Ed25519PrivateKey, enrolled: str,
                                ledger: Ledger, tmp_path: Path, fake_runner: FakeRunner) -> None:
    record = _record(tmp_path, fake_runner, key)
    forged = copy.deepcopy(record)
    forged["windows11"]["eligible"] = True
    answer = client.post("/api/v1/devices", content=canonical(forged))
    assert (answer.status_code, answer.json()["error"]) == (403, "bad_signature")
    stranger = device.sign_record(device.build_record(
        device.collect(_machine(tmp_path / "n", fake_runner))), Ed25519PrivateKey.generate())
    answer = client.post("/api/v1/devices", content=canonical(stranger))
    assert (answer.status_code, answer.json()["error"]) == (403, "unknown_key")
    answer = client.post("/api/v1/devices", content=canonical({**record, "grade": "A"}))
    assert (answer.status_code, answer.json()["error"]) == (422, "schema")
    answer = client.post("/api/v1/devices", content=canonical(
        {**record, "schema": "ardoise.certificate/1"}))
    assert answer.status_code == 422 and answer.json()["error"] == "wrong_schema_version"
    ledger.revoke(enrolled)
    answer = client.post("/api/v1/devices", content=canonical(record))
    assert (answer.status_code, answer.json()["error"]) == (403, "key_not_allowed")
    # nothing of the refused records was kept
    assert client.get(f"/api/v1/devices/{record['id']}", headers={
        "Authorization": f"Bearer {ledger.create_token('admin', 't')}"}).status_code == 404
