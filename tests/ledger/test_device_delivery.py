"""Device records reach a running ledger exactly once, and wait on the stick while it is
unreachable (appliance.device_uplink through `ardoise device` and `ardoise spool flush`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from appliance import device
from appliance.certificate import public_pem
from appliance.certify import CertContext, generate_key, load_key
from appliance.cli import main
from appliance.commands.device import deliver
from appliance.demo import free_port
from ledger.store import Ledger
from tests.conftest import FakeRunner
from tests.ledger.browser import running_server
from tests.unit.test_device_record import _machine


def _issued(tmp_path: Path, fake_runner: FakeRunner, ledger: Ledger) -> tuple[Path, dict]:
    data = tmp_path / "data"
    generate_key(data / "keys")
    ledger.enroll("rack-03", public_pem(load_key(data).public_key()))
    facts = device.collect(_machine(tmp_path / "m", fake_runner))
    signed, _path = device.issue(device.build_record(facts, CertContext(batch="B-7")), data)
    return data, signed


def test_offline_then_flushed_once(tmp_path: Path, fake_runner: FakeRunner, ledger: Ledger,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    data, signed = _issued(tmp_path, fake_runner, ledger)
    down = f"http://127.0.0.1:{free_port()}"
    assert deliver(data, down, None, signed["id"]) == 1
    assert "kept on the stick" in capsys.readouterr().err
    assert device.spool(data).pending() == [signed["id"]]
    with running_server(ledger) as url:
        assert main(["spool", "flush", "--ledger", url, "--data", str(data), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["devices"]["sent"] == [signed["id"]] and out["devices"]["pending"] == 0
        assert device.spool(data).sent() == [signed["id"]]
        # nothing left: a second flush sends nothing again
        assert main(["spool", "flush", "--ledger", url, "--data", str(data), "--json"]) == 0
        assert "devices" not in json.loads(capsys.readouterr().out)
        token = ledger.create_token("admin", "t")
        stored = requests.get(f"{url}/api/v1/devices/{signed['id']}", timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
        assert stored.status_code == 200 and stored.json() == signed


def test_delivered_at_once_and_duplicate_is_fine(tmp_path: Path, fake_runner: FakeRunner,
                                                 ledger: Ledger,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data, signed = _issued(tmp_path, fake_runner, ledger)
    with running_server(ledger) as url:
        assert deliver(data, url, None, signed["id"]) == 0
        assert "delivered to the ledger" in capsys.readouterr().err
        # the same record offered again (a move lost in a power cut): 200, still sent once
        device.spool(data).sent_dir.joinpath(f"{signed['id']}.json").rename(
            device.spool(data).pending_dir / f"{signed['id']}.json")
        assert deliver(data, url, None, signed["id"]) == 0
        assert device.spool(data).sent() == [signed["id"]]
