"""The security review's findings, each replayed with its exact request: numbers that could
not be verified again, malleable signatures, deep nesting, heartbeats stored raw or
replayed, CSV formulas, and a locked database stalling the server."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.certificate import canonical, public_pem, sign, verify_signature
from ledger import tables
from ledger.canonical import NotCanonicalisable, signed_and_unsigned
from ledger.logs import MAX_FIELD, JsonFormatter
from ledger.store import Ledger
from ledger.verify import verify_log
from tests.ledger.certs import certificate, heartbeat


def _now(offset: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- 1. numbers: one canonical form, or refused at intake ----------------------------------

def test_a_float_past_2_53_is_refused_and_the_log_stays_verifiable(
        client: Any, key: Ed25519PrivateKey, enrolled: str, ledger: Ledger) -> None:
    doc = certificate(key, 0)
    doc["sanitization"]["seconds"] = 9007199254740992.0
    signed = sign({k: v for k, v in doc.items() if k != "signature"}, key)
    r = client.post("/api/v1/certificates", content=json.dumps(signed),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "not_canonical", r.text
    assert client.post("/api/v1/certificates", json=certificate(key, 1)).status_code == 201
    report = verify_log(ledger.engine)
    assert report.ok, report.problems


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(min_value=-(2**64), max_value=2**64)))
def test_any_number_is_refused_or_reads_back_to_the_same_bytes(number: float | int) -> None:
    doc = {"a": number, "b": [number, {"c": number}], "signature": {"value": "x"}}
    try:
        whole, _bare = signed_and_unsigned(doc)
    except NotCanonicalisable:
        return
    again = orjson.loads(whole)
    assert signed_and_unsigned(again)[0] == whole
    assert canonical(again) == whole  # the appliance's verifier reads the same bytes


def test_the_served_copy_is_the_logged_bytes_and_verifies(
        client: Any, key: Ed25519PrivateKey, enrolled: str, auth: dict[str, str]) -> None:
    doc = certificate(key, 2)
    doc = sign({**{k: v for k, v in doc.items() if k != "signature"},
                "sanitization": {**doc["sanitization"], "seconds": 1e300}}, key)
    assert client.post("/api/v1/certificates", json=doc).status_code == 201
    r = client.get(f"/api/v1/certificates/{doc['id']}", headers=auth)
    served = r.json()["certificate"]
    verify_signature(served, key.public_key())
    assert canonical(served) in r.content


# -- 2. signature malleability ------------------------------------------------------------

def _malleate(value: str) -> str:
    """Another spelling of the same 64 bytes: change the padding bits of the last
    significant character (64 bytes = 86 significant characters + "==")."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(value[85])
    other = alphabet[last ^ 0x1]
    spelled = value[:85] + other + value[86:]
    assert base64.b64decode(spelled) == base64.b64decode(value) and spelled != value
    return spelled


def test_a_malleated_signature_is_refused_and_the_genuine_upload_is_created(
        client: Any, key: Ed25519PrivateKey, enrolled: str) -> None:
    genuine = certificate(key, 3)
    evil = json.loads(json.dumps(genuine))
    evil["signature"]["value"] = _malleate(genuine["signature"]["value"])
    r = client.post("/api/v1/certificates", json=evil)
    assert r.status_code == 403 and r.json()["error"] == "bad_signature", r.text
    assert client.post("/api/v1/certificates", json=genuine).status_code == 201
    with pytest.raises(Exception, match="signature does not verify"):
        verify_signature(evil, key.public_key())


def test_a_key_in_another_pem_spelling_is_refused(ledger: Ledger) -> None:
    pem = public_pem(Ed25519PrivateKey.generate().public_key()).decode()
    body = pem.splitlines()[1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    # 44 raw bytes: 59 significant characters + "="; the last one carries 2 padding bits
    twisted = body[:58] + alphabet[alphabet.index(body[58]) ^ 0x1] + body[59:]
    assert base64.b64decode(twisted) == base64.b64decode(body)
    with pytest.raises(Exception, match="PEM"):
        ledger.enroll("evil", pem.replace(body, twisted).encode())
    assert ledger.enroll("fine", (pem.replace("\n", "\r\n")).encode())[1] is True


# -- 3. depth and size before anything recurses --------------------------------------------

def test_deeply_nested_bodies_get_a_4xx(client: Any, key: Ed25519PrivateKey,
                                        enrolled: str) -> None:
    body = b'{"a":' * 255 + b"1" + b"}" * 255
    r = client.post("/api/v1/certificates", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "too_deep", r.text
    hb = b'{"schema":"ardoise.heartbeat/1","x":' + b"[" * 400 + b"]" * 400 + b"}"
    r = client.post("/api/v1/heartbeats", content=hb,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "too_deep", r.text
    r = client.post("/api/v1/heartbeats", content=b"[" * 5000 + b"]" * 5000,
                    headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_log_lines_are_bounded() -> None:
    record = logging.LogRecord("ledger", logging.INFO, __file__, 1, "x" * 100_000, None, None)
    record.fields = {"detail": "y" * 100_000, "n": 3}
    line = JsonFormatter().format(record)
    assert len(line) < 3 * MAX_FIELD + 500
    assert json.loads(line)["n"] == 3


# -- 4. heartbeats are stored as validated models; the page renders any row --------------

def test_rack_renders_a_heartbeat_without_eta_and_refuses_a_string_progress(
        client: Any, key: Ed25519PrivateKey, enrolled: str, token: str) -> None:
    job = {"disk_id": "d1", "step": "erasing", "progress": 0.5, "status": "running"}
    assert client.post("/api/v1/heartbeats", json=heartbeat(key, jobs=[job])).status_code == 200
    client.cookies.set("ardoise_token", token)
    page = client.get("/rack")
    assert page.status_code == 200 and "50.0" in page.text
    r = client.post("/api/v1/heartbeats",
                    json=heartbeat(key, jobs=[{**job, "progress": "0.5"}]))
    assert r.status_code == 422, r.text


def test_rack_renders_whatever_an_old_row_holds(client: Any, ledger: Ledger,
                                                token: str) -> None:
    rows = [{"step": "erasing", "progress": "0.5", "eta": "soon", "status": "running"},
            "not a job", {"progress": None, "rate": [1], "size_bytes": "big"}]
    with ledger.engine.begin() as conn:
        conn.execute(tables.machines.insert().values(
            key_id="f" * 64, host_serial="OLDROW", jobs=orjson.dumps(rows).decode(),
            sent_at="2026-11-01T00:00:00Z", last_seen=datetime.now(UTC), heartbeats=1))
    client.cookies.set("ardoise_token", token)
    page = client.get("/rack")
    assert page.status_code == 200 and "OLDROW" in page.text


def test_a_revoked_key_cannot_replace_the_row(client: Any, key: Ed25519PrivateKey,
                                              enrolled: str, ledger: Ledger,
                                              token: str) -> None:
    assert client.post("/api/v1/heartbeats", json=heartbeat(key, serial="GOOD")).status_code \
        == 200
    ledger.revoke(enrolled)
    r = client.post("/api/v1/heartbeats", json=heartbeat(key, serial="AFTER-REVOKE"))
    assert r.status_code == 403
    client.cookies.set("ardoise_token", token)
    page = client.get("/rack").text
    assert "GOOD" in page and "AFTER-REVOKE" not in page


# -- 5. replayed heartbeats ----------------------------------------------------------------

def test_a_replayed_or_older_heartbeat_changes_nothing(
        client: Any, key: Ed25519PrivateKey, enrolled: str, token: str) -> None:
    running = {"disk_id": "d1", "step": "erasing", "progress": 0.3, "status": "running"}
    failed = {**running, "step": "verifying", "status": "failed"}
    old = heartbeat(key, jobs=[running], sent_at=_now(-60))
    new = heartbeat(key, jobs=[failed], sent_at=_now(-30))
    assert client.post("/api/v1/heartbeats", json=old).status_code == 200
    assert client.post("/api/v1/heartbeats", json=new).status_code == 200
    for replay in (new, old):
        r = client.post("/api/v1/heartbeats", json=replay)
        assert r.status_code == 409 and r.json()["error"] == "stale_heartbeat", r.text
    client.cookies.set("ardoise_token", token)
    page = client.get("/rack").text
    assert 'class="badge failed"' in page and 'class="badge running"' not in page
    ahead = heartbeat(key, jobs=[running], sent_at=_now(3600))
    assert client.post("/api/v1/heartbeats", json=ahead).status_code == 409
    assert client.post("/api/v1/heartbeats", json=heartbeat(key, sent_at="yesterday")
                       ).status_code in (409, 422)


# -- 6. CSV formula injection -----------------------------------------------------------------

@pytest.mark.parametrize("payload", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3",
                                     "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cells_never_start_a_formula(client: Any, key: Ed25519PrivateKey, enrolled: str,
                                         token: str, payload: str) -> None:
    doc = certificate(key, 4, batch="CSV-1", host_serial=payload)
    doc = sign({**{k: v for k, v in doc.items() if k != "signature"},
                "media": {**doc["media"], "model": payload, "serial": payload}}, key)
    assert client.post("/api/v1/certificates", json=doc).status_code == 201
    client.cookies.set("ardoise_token", token)
    r = client.get("/batches/CSV-1/report.csv")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    header = rows[0]
    for name in ("host_serial", "media_model", "media_serial"):
        cell = rows[1][header.index(name)]
        assert cell == "'" + payload, (name, cell)


# -- 7. a locked database does not stall the server --------------------------------------

def test_healthz_answers_while_a_heartbeat_waits_for_a_locked_database(
        client: Any, key: Ed25519PrivateKey, enrolled: str, ledger: Ledger) -> None:
    url = ledger.engine.url
    if url.get_backend_name() != "sqlite":
        pytest.skip("the lock is taken with SQLite's BEGIN EXCLUSIVE")
    hold = sqlite3.connect(str(url.database), timeout=0, isolation_level=None)
    hold.execute("BEGIN EXCLUSIVE")
    answer: dict[str, Any] = {}

    def post() -> None:
        answer["r"] = client.post("/api/v1/heartbeats", json=heartbeat(key))

    worker = threading.Thread(target=post, daemon=True)
    try:
        worker.start()
        time.sleep(0.5)  # sequencing only: let the heartbeat reach the locked write
        health = client.get("/healthz")
        assert health.status_code == 200
        assert worker.is_alive(), "the heartbeat should still wait for the lock"
    finally:
        hold.execute("ROLLBACK")
        hold.close()
    worker.join(60)
    assert answer["r"].status_code == 200, answer["r"].text
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.machines)
                            ).scalar_one() == 1


# -- 8. the smaller findings -------------------------------------------------------------

def test_a_certificate_naming_another_key_than_its_signer_is_refused(
        client: Any, key: Ed25519PrivateKey, enrolled: str) -> None:
    doc = certificate(key, 5)
    body = {k: v for k, v in doc.items() if k != "signature"}
    body["appliance"] = {**body["appliance"], "key_id": "0" * 64}
    r = client.post("/api/v1/certificates", json=sign(body, key))
    assert r.status_code == 422 and r.json()["error"] == "key_mismatch", r.text


@pytest.mark.parametrize("issued_at", ["2999-01-01T00:00:00Z", "yesterday",
                                       "2026-11-10 08:00:00"])
def test_issued_at_must_be_a_past_rfc3339_time(client: Any, key: Ed25519PrivateKey,
                                                enrolled: str, issued_at: str) -> None:
    body = {k: v for k, v in certificate(key, 6).items() if k != "signature"}
    r = client.post("/api/v1/certificates", json=sign({**body, "issued_at": issued_at}, key))
    assert r.status_code == 422 and r.json()["error"] in ("bad_issued_at", "schema"), r.text


def test_batch_and_donor_names_with_a_slash(client: Any, key: Ed25519PrivateKey,
                                            enrolled: str, token: str) -> None:
    doc = certificate(key, 7, batch="2026/11 Québec", donor="Ville/Lévis")
    assert client.post("/api/v1/certificates", json=doc).status_code == 201
    client.cookies.set("ardoise_token", token)
    page = client.get("/batches/2026%2F11%20Qu%C3%A9bec")
    assert page.status_code == 200 and doc["media"]["serial"] in page.text
    assert client.get("/donors/Ville%2FL%C3%A9vis").status_code == 200
    report = client.get("/batches/2026%2F11%20Qu%C3%A9bec/report.csv")
    assert report.status_code == 200 and doc["media"]["serial"] in report.text


def test_pages_send_security_headers_and_docs_load_nothing_from_elsewhere(
        client: Any, token: str) -> None:
    client.cookies.set("ardoise_token", token)
    for path in ("/login", "/", "/rack", "/docs"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
    docs = client.get("/docs").text
    assert "/api/v1/certificates" in docs and "http" not in docs.split("<main>")[1]
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["paths"]["/api/v1/certificates"]["get"]["security"] == [{"bearer": []}]


def test_logout_ends_the_session_and_keeps_the_admin_token(client: Any, token: str,
                                                           auth: dict[str, str]) -> None:
    r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.cookies["ardoise_token"]
    assert cookie != token  # a session token of its own, not the admin token
    assert client.get("/api/v1/certificates", headers={
        "Authorization": f"Bearer {cookie}"}).status_code == 200
    client.cookies.set("ardoise_token", cookie)
    assert client.post("/logout", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/certificates", headers={
        "Authorization": f"Bearer {cookie}"}).status_code == 401
    assert client.get("/api/v1/certificates", headers=auth).status_code == 200


def test_failed_logins_are_logged_and_throttled(client: Any, token: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from ledger.web import session

    session.reset()
    try:
        with caplog.at_level(logging.WARNING, logger="ledger.web"):
            codes = [client.post("/login", data={"token": "wrong"}).status_code
                     for _ in range(session.MAX_FAILURES + 1)]
        assert codes == [401] * session.MAX_FAILURES + [429]
        assert sum("failed login" in r.getMessage() for r in caplog.records) \
            == session.MAX_FAILURES
        # even the right token waits while the address is throttled
        assert client.post("/login", data={"token": token}).status_code == 429
    finally:
        session.reset()


def test_cross_site_login_and_logout_are_refused(client: Any, token: str) -> None:
    evil = {"Origin": "https://evil.example"}
    assert client.post("/login", data={"token": token}, headers=evil).status_code == 403
    assert client.post("/logout", headers=evil).status_code == 403
    same = {"Origin": "http://testserver"}
    assert client.post("/login", data={"token": token}, headers=same,
                       follow_redirects=False).status_code == 303


def test_a_database_error_at_enrollment_is_logged_and_not_called_a_bad_key(
        client: Any, ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy.exc import OperationalError

    enroll_token = ledger.create_token("enroll", "rack")

    def broken(*_a: Any, **_k: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(ledger, "enroll", broken)
    pem = public_pem(Ed25519PrivateKey.generate().public_key()).decode()
    with caplog.at_level(logging.ERROR, logger="ledger.api"):
        r = client.post("/api/v1/appliances",
                        json={"name": "r1", "public_key_pem": pem, "token": enroll_token})
    assert r.status_code == 503 and r.json()["error"] == "unavailable"
    assert any("enrollment failed" in rec.getMessage() for rec in caplog.records)
