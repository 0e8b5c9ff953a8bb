"""GET /api/v1/appliances/me over real HTTP on 127.0.0.1 (uvicorn in a thread), asked by the
appliance's own client (appliance.uplink.standing): enrolled, unknown, revoked; forged,
stale, replayed for another path or missing signatures are refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import canonical, key_id, public_pem, sign
from appliance.uplink import APPLIANCE_ME, REQUEST_HEADER, signed_request, standing
from ledger.store import Ledger
from tests.ledger.browser import running_server


@pytest.fixture
def base(ledger: Ledger) -> Iterator[str]:
    with running_server(ledger) as url:
        yield url


def header_for(key: Ed25519PrivateKey, **fields: Any) -> dict[str, str]:
    doc = {"schema": "ardoise.request/1", "method": "GET", "path": APPLIANCE_ME,
           "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **fields}
    return {REQUEST_HEADER: base64.b64encode(canonical(sign(doc, key))).decode()}


def test_enrolled_appliance_gets_its_record(ledger: Ledger, base: str,
                                            key: Ed25519PrivateKey) -> None:
    kid, _new = ledger.enroll("atelier-01", public_pem(key.public_key()))
    r = requests.get(base + APPLIANCE_ME, timeout=10,
                     headers={REQUEST_HEADER: signed_request(key, "GET", APPLIANCE_ME)})
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "atelier-01" and body["key_id"] == kid
    assert body["revoked"] is False and body["enrolled_at"][:4].isdigit()
    got = standing(base, key)
    assert (got.state, got.name, got.key_id, got.http) == ("enrolled", "atelier-01", kid, 200)


def test_unknown_key_is_404_and_client_says_unknown(base: str, key: Ed25519PrivateKey) -> None:
    r = requests.get(base + APPLIANCE_ME, headers=header_for(key), timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "unknown_key"
    got = standing(base, key)
    assert got.state == "unknown" and got.http == 404 and got.key_id == key_id(key.public_key())


def test_revoked_key_is_reported_revoked(ledger: Ledger, base: str,
                                         key: Ed25519PrivateKey) -> None:
    kid, _new = ledger.enroll("atelier-02", public_pem(key.public_key()))
    assert ledger.revoke(kid)
    r = requests.get(base + APPLIANCE_ME, headers=header_for(key), timeout=10)
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert standing(base, key).state == "revoked"


@pytest.mark.parametrize("case", ["missing", "garbage", "forged", "stale", "other-path",
                                  "other-method", "nul"])
def test_bad_signed_requests_are_401(ledger: Ledger, base: str, key: Ed25519PrivateKey,
                                     case: str) -> None:
    ledger.enroll("atelier-03", public_pem(key.public_key()))
    headers: dict[str, str] = {}
    if case == "garbage":
        headers = {REQUEST_HEADER: "not base64 at all!"}
    elif case == "forged":  # signed by another key, claiming the enrolled key's id
        impostor = Ed25519PrivateKey.generate()
        doc = json.loads(base64.b64decode(header_for(impostor)[REQUEST_HEADER]))
        doc["signature"]["key_id"] = key_id(key.public_key())
        headers = {REQUEST_HEADER: base64.b64encode(canonical(doc)).decode()}
    elif case == "stale":
        old = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = header_for(key, sent_at=old)
    elif case == "other-path":
        headers = header_for(key, path="/api/v1/heartbeats")
    elif case == "other-method":
        headers = header_for(key, method="POST")
    elif case == "nul":
        headers = header_for(key, note="a\x00b")
    r = requests.get(base + APPLIANCE_ME, headers=headers, timeout=10)
    assert r.status_code == 401, r.text
    assert set(r.json()) == {"error", "detail"}


def test_client_on_a_ledger_that_is_down(key: Ed25519PrivateKey) -> None:
    from appliance.demo import free_port

    got = standing(f"http://127.0.0.1:{free_port()}", key, timeout=(2.0, 2.0))
    assert got.state == "unreachable" and got.reason == "cannot connect"
