"""An "unverified" certificate (the erase ran, nothing was read back) is accepted by the
ledger, filtered by its status, and shown as "not verified", never as erased; old statuses
stay valid."""

from __future__ import annotations

from typing import Any

UNVERIFIED = {"verification": {"mode": "none", "sample_share": None, "result": "not-done",
                               "bytes_checked": 0, "errors": []}}


def test_unverified_certificates_are_stored_filtered_and_labelled(
        client: Any, submit: Any, token: str) -> None:
    doc, r = submit(0, batch="LOT-U", status="unverified", **UNVERIFIED)
    assert r.status_code == 201, r.text
    for n, status in ((1, "erased"), (2, "failed"), (3, "incomplete"), (4, "refused")):
        assert submit(n, batch="LOT-U", status=status)[1].status_code == 201
    auth = {"Authorization": f"Bearer {token}"}
    found = client.get("/api/v1/certificates", params={"status": "unverified"}, headers=auth)
    assert found.status_code == 200, found.text
    assert doc["id"] in found.text and found.text.count('"unverified"') >= 1
    client.cookies.set("ardoise_token", token)
    page = client.get("/batches/LOT-U").text.replace("\n", "")
    assert '<span class="n">1</span><span>not verified</span>' in page
    assert '<span class="badge unverified">not verified</span>' in page
    french = client.get("/batches/LOT-U", headers={"Accept-Language": "fr-CA"}).text
    assert "non vérifié" in french
