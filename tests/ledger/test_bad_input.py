"""Every bad submission is a 4xx with a reason; nothing is stored and the log is unchanged."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import sign
from ledger.store import Ledger
from tests.ledger.certs import certificate
from tests.ledger.conftest import log_state


def forged(key: Ed25519PrivateKey) -> bytes:
    doc = certificate(key, 1)
    impostor = Ed25519PrivateKey.generate()
    sig = sign(doc, impostor)["signature"]
    doc["signature"]["value"] = sig["value"]  # right key id, signature from another key
    return orjson.dumps(doc)


def unknown_key(key: Ed25519PrivateKey) -> bytes:
    return orjson.dumps(certificate(Ed25519PrivateKey.generate(), 1))


def tampered(key: Ed25519PrivateKey) -> bytes:
    doc = certificate(key, 1)
    doc["media"]["serial"] = "S-SOMEONE-ELSES-DISK"  # after signing
    return orjson.dumps(doc)


def tampered_signature(key: Ed25519PrivateKey) -> bytes:
    doc = certificate(key, 1)
    value = bytearray(doc["signature"]["value"].encode())
    value[5] = ord("A") if value[5] != ord("A") else ord("B")
    doc["signature"]["value"] = value.decode()
    return orjson.dumps(doc)


def wrong_version(key: Ed25519PrivateKey) -> bytes:
    return orjson.dumps(certificate(key, 1, schema="ardoise.certificate/2"))


def missing_field(key: Ed25519PrivateKey) -> bytes:
    doc = certificate(key, 1)
    del doc["media"]
    return orjson.dumps(sign(doc, key))


def unknown_field(key: Ed25519PrivateKey) -> bytes:
    return orjson.dumps(certificate(key, 1, extra="x"))


def unsigned(key: Ed25519PrivateKey) -> bytes:
    doc = certificate(key, 1)
    del doc["signature"]
    return orjson.dumps(doc)


def oversized(key: Ed25519PrivateKey) -> bytes:
    doc = certificate(key, 1)
    doc["sanitization"]["errors"] = ["x" * 1000] * 300
    return orjson.dumps(sign(doc, key))


def malformed(key: Ed25519PrivateKey) -> bytes:
    return orjson.dumps(certificate(key, 1))[:-20]


def not_json_object(key: Ed25519PrivateKey) -> bytes:
    return b"[1, 2, 3]"


def nul_character(key: Ed25519PrivateKey) -> bytes:
    return orjson.dumps(certificate(key, 1, operator="a\x00b"))


def huge_integer(key: Ed25519PrivateKey) -> bytes:
    doc = certificate(key, 1)
    doc["media"]["size_bytes"] = 2**60  # RFC 8785 cannot sign it: refused before the signature
    return orjson.dumps(doc)


def bad_uuid(key: Ed25519PrivateKey) -> bytes:
    return orjson.dumps(certificate(key, 1, id="not-a-uuid"))


def empty(key: Ed25519PrivateKey) -> bytes:
    return b""


CASES: dict[str, tuple[Callable[[Ed25519PrivateKey], bytes], int]] = {
    "forged signature": (forged, 403),
    "unknown key": (unknown_key, 403),
    "tampered field": (tampered, 403),
    "tampered signature": (tampered_signature, 403),
    "wrong schema version": (wrong_version, 422),
    "missing field": (missing_field, 422),
    "unknown field": (unknown_field, 422),
    "no signature": (unsigned, 422),
    "oversized body": (oversized, 413),
    "malformed JSON": (malformed, 400),
    "not an object": (not_json_object, 422),
    "NUL character": (nul_character, 422),
    "integer beyond 2**53": (huge_integer, 422),
    "id not a UUID": (bad_uuid, 422),
    "empty body": (empty, 400),
}


def test_bad_input_is_refused_and_changes_nothing(client: Any, submit: Any, key: Any,
                                                  ledger: Ledger, enrolled: str) -> None:
    submit(0)  # one good certificate so the log has a root to compare
    before = log_state(ledger.engine)
    for name, (make, status) in CASES.items():
        body = make(key)
        r = client.post("/api/v1/certificates", content=body,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == status, (name, r.status_code, r.text)
        problem = r.json()
        assert problem["error"] and problem["detail"], name
        assert log_state(ledger.engine) == before, name
    assert ledger.tree.size == before[0]


def test_revoked_key_is_refused(client: Any, submit: Any, key: Any, ledger: Ledger,
                                enrolled: str) -> None:
    submit(0)
    before = log_state(ledger.engine)
    ledger.revoke(enrolled)
    doc, r = submit(1)
    assert r.status_code == 403 and r.json()["error"] == "key_not_allowed"
    assert log_state(ledger.engine) == before


def test_chunked_oversized_body_is_refused(client: Any, key: Any, enrolled: str,
                                           ledger: Ledger) -> None:
    before = log_state(ledger.engine)

    def chunks() -> Any:
        for _ in range(300):
            yield b"x" * 1024

    r = client.post("/api/v1/certificates", content=chunks(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert log_state(ledger.engine) == before


@pytest.mark.parametrize("field", ["id", "issued_at"])
def test_a_valid_certificate_still_goes_in_after_refusals(client: Any, submit: Any, key: Any,
                                                          field: str) -> None:
    doc = certificate(key, 2)
    bad = copy.deepcopy(doc)
    bad[field] = "x"
    assert client.post("/api/v1/certificates", json=bad).status_code in (403, 422)
    assert client.post("/api/v1/certificates", json=doc).status_code == 201
