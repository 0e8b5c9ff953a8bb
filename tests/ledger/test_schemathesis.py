"""Schemathesis against the ledger's own /openapi.json: no input gives a server error.

Runs on SQLite and PostgreSQL (PostgreSQL refuses things SQLite stores, such as U+0000),
with a bounded number of generated examples per operation. Requests carry a valid bearer
token and the log holds a few certificates, so reads reach the database.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from appliance.certificate import public_pem
from ledger.app import asgi, create_app
from ledger.store import Ledger
from tests.ledger.certs import certificate, heartbeat

EXAMPLES = 20


def test_no_server_errors(ledger: Ledger, key: Any) -> None:
    ledger.enroll("fuzz", public_pem(key.public_key()))
    token = ledger.create_token()
    asgi_app = asgi(create_app(ledger))
    with TestClient(asgi_app) as client:
        for n in range(3):
            assert client.post("/api/v1/certificates", json=certificate(key, n)).status_code == 201
        assert client.post("/api/v1/heartbeats", json=heartbeat(key)).status_code == 200
        schema = schemathesis.openapi.from_asgi("/openapi.json", asgi_app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10
        seen: dict[str, set[int]] = {}
        def fuzz(operation: Any) -> None:
            label = f"{operation.method.upper()} {operation.path}"

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                                  checks=[not_a_server_error])
                seen.setdefault(label, set()).add(response.status_code)

            run()

        for operation in operations:
            fuzz(operation)
        assert all(code < 500 for codes in seen.values() for code in codes), seen
        assert 201 not in seen.get("POST /api/v1/certificates", set())  # nothing forged gets in
