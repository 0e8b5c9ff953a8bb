"""A machine whose firmware hides a drive never shows "All disks erased" in the rack view:
the appliance sends the hidden drive as a job left alone (erasure.hidden.heartbeat_job)."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from erasure.hidden import find_hidden
from tests.conftest import FIXTURES
from tests.ledger.certs import heartbeat

ERASED = {"disk_id": "nvme-eui.0025388b71b25e11", "model": "PM981 NVMe 256GB",
          "serial": "S4DXNF0M123456", "size_bytes": 256060514304, "step": "sent",
          "progress": 1.0, "rate": None, "eta": None, "method": "nvme-sanitize-crypto",
          "status": "erased"}


def rack_page(client: Any, key: Ed25519PrivateKey, token: str, jobs: list[dict[str, Any]]) -> str:
    r = client.post("/api/v1/heartbeats", json=heartbeat(key, jobs=jobs))
    assert r.status_code == 200, r.text
    client.cookies.set("ardoise_token", token)
    return str(client.get("/rack").text)


def test_hidden_drive_keeps_the_machine_from_all_erased(client: Any, key: Ed25519PrivateKey,
                                                       enrolled: str, token: str) -> None:
    assert "All disks erased" in rack_page(client, key, token, [ERASED])
    hidden = [h.heartbeat_job() for h in find_hidden(FIXTURES / "hidden" / "rst-sys")]
    page = rack_page(client, key, token, [ERASED, *hidden])
    assert "All disks erased" not in page
    assert "Needs attention" in page and "NVMe hidden by Intel RST (RAID mode)" in page
