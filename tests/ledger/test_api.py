"""The API on SQLite and PostgreSQL: submission outcomes, reads, search, enrollment,
heartbeats and the rack view."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import key_id, public_pem, sign
from ledger import tables
from ledger.store import Ledger
from tests.ledger.certs import certificate, heartbeat


def test_new_duplicate_conflict(client: Any, submit: Any, key: Ed25519PrivateKey,
                                auth: dict[str, str]) -> None:
    doc, r = submit(0)
    assert r.status_code == 201 and r.json() == {"id": doc["id"], "leaf_index": 0,
                                                 "status": "created"}
    r = client.post("/api/v1/certificates", json=doc)
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    other = copy.deepcopy(doc)
    other["operator"] = "Someone else"
    r = client.post("/api/v1/certificates", json=sign(other, key))
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    got = client.get(f"/api/v1/certificates/{doc['id']}", headers=auth).json()
    assert got["certificate"] == doc and got["leaf_index"] == 0
    assert client.get("/api/v1/log/root").json()["tree_size"] == 1


def test_reads_need_a_token(client: Any, submit: Any, ledger: Ledger) -> None:
    doc, _ = submit(0)
    for url in (f"/api/v1/certificates/{doc['id']}", "/api/v1/certificates?serial=x",
                f"/api/v1/certificates/{doc['id']}/proof"):
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    enroll_token = ledger.create_token("enroll")
    assert client.get(url, headers={"Authorization": f"Bearer {enroll_token}"}).status_code == 401
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/api/v1/healthz").json()["status"] == "ok"


def test_search_filters_and_pages(client: Any, submit: Any, auth: dict[str, str]) -> None:
    docs = [submit(n, batch="B1" if n < 6 else "B2", donor="Acme" if n % 2 else "Globex",
                   status="erased" if n != 3 else "failed")[0] for n in range(9)]

    def search(**params: Any) -> dict[str, Any]:
        r = client.get("/api/v1/certificates", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return r.json()

    assert search(batch="B1")["total"] == 6
    assert search(batch="B2", donor="Acme")["total"] == 1
    assert search(status="failed")["results"][0]["id"] == docs[3]["id"]
    serial = docs[4]["media"]["serial"]
    assert [x["id"] for x in search(serial=serial)["results"]] == [docs[4]["id"]]
    host = docs[4]["host"]["serial"]
    assert {x["id"] for x in search(serial=host)["results"]} >= {docs[4]["id"]}
    assert search(model=docs[0]["media"]["model"])["total"] == 3
    page1 = search(per_page=4, page=1)
    page3 = search(per_page=4, page=3)
    assert page1["total"] == 9 and len(page1["results"]) == 4 and len(page3["results"]) == 1
    assert page1["results"][0]["leaf_index"] == 8
    since = docs[5]["issued_at"]
    assert all(x["issued_at"] >= since for x in search(since=since)["results"])
    assert search(since="2026-11-12T00:00:00Z", until="2026-11-13T23:59:59Z")["total"] == 2
    assert client.get("/api/v1/certificates?page=0", headers=auth).status_code == 422


def test_enrollment_with_a_rack_token(client: Any, ledger: Ledger) -> None:
    rack_token = ledger.create_token("enroll", "rack A")
    key = Ed25519PrivateKey.generate()
    body = {"name": "rack-a-01", "public_key_pem": public_pem(key.public_key()).decode(),
            "token": rack_token}
    r = client.post("/api/v1/appliances", json=body)
    assert r.status_code == 201 and r.json()["key_id"] == key_id(key.public_key())
    assert client.post("/api/v1/appliances", json=body).status_code == 200
    assert client.post("/api/v1/appliances", json={**body, "token": "arde_wrong"}).status_code == 403
    assert client.post("/api/v1/appliances",
                       json={**body, "public_key_pem": "garbage"}).status_code == 422
    r = client.post("/api/v1/certificates", json=certificate(key, 1))
    assert r.status_code == 201
    ledger.revoke(key_id(key.public_key()))
    assert client.post("/api/v1/appliances", json=body).status_code == 403
    ledger.revoke_token(rack_token)
    other = Ed25519PrivateKey.generate()
    body2 = {**body, "public_key_pem": public_pem(other.public_key()).decode()}
    assert client.post("/api/v1/appliances", json=body2).status_code == 403


def test_heartbeats_feed_the_rack_view(client: Any, key: Ed25519PrivateKey, enrolled: str,
                                       ledger: Ledger, token: str) -> None:
    r = client.post("/api/v1/heartbeats", json=heartbeat(key))
    assert r.status_code == 200, r.text
    client.cookies.set("ardoise_token", token)
    page = client.get("/rack").text
    assert "PF200001" in page and "52:54:00:12:34:56" in page and "42.0" in page
    assert "INCOMPLETE / lost contact" not in page
    # The machine goes silent mid-erase: it must show as lost, never erased.
    with ledger.engine.begin() as conn:
        conn.execute(sa.update(tables.machines).values(
            last_seen=datetime(2026, 1, 1, tzinfo=UTC)))
    page = client.get("/rack").text
    assert "INCOMPLETE / lost contact" in page
    assert 'class="badge erased"' not in page
    # A forged or mismatched heartbeat is refused and changes nothing.
    forged = heartbeat(key, serial="EVIL")
    forged["host"]["serial"] = "EVIL2"
    assert client.post("/api/v1/heartbeats", json=forged).status_code == 403
    stranger = Ed25519PrivateKey.generate()
    assert client.post("/api/v1/heartbeats", json=heartbeat(stranger)).status_code == 403
    bad = heartbeat(key, jobs=[{"disk_id": "x", "step": "erasing", "status": "exploded"}])
    assert client.post("/api/v1/heartbeats", json=bad).status_code == 422
    assert "EVIL" not in client.get("/rack").text
    ledger.revoke(enrolled)
    assert client.post("/api/v1/heartbeats", json=heartbeat(key)).status_code == 403


def test_openapi_documents_the_appliance_shapes(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"Heartbeat", "HeartbeatJob", "HeartbeatHost", "EnrollmentRequest"} <= set(schemas)
    assert "schema" in schemas["Heartbeat"]["properties"]
    assert "/api/v1/heartbeats" in spec["paths"] and "/api/v1/log/consistency" in spec["paths"]
