"""Headless Chromium (Debian's /usr/bin/chromium) searches the ledger, in English and French.

With ARDOISE_SCREENSHOTS=DIR the pages are also saved as PNG there (docs/ledger-*.png)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.ledger.browser import CHROMIUM, chromium, running_server

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language", ["en-CA", "fr-CA"])
def test_search_page_in_chromium(ledger: Any, submit: Any, token: str, language: str) -> None:
    docs = [submit(n, batch="LOT-2026-11-25", donor="Caisse Desjardins de Lévis",
                   status="failed" if n == 4 else "erased")[0] for n in range(8)]
    wanted = docs[5]
    shots = os.environ.get("ARDOISE_SCREENSHOTS")
    lang = language[:2]
    with running_server(ledger) as base, chromium(base, token, language) as page:
        page.goto(base + "/")
        assert page.locator("html").get_attribute("lang") == lang
        page.fill("#q", wanted["media"]["serial"])
        page.press("#q", "Enter")
        page.wait_for_load_state()
        rows = page.locator("table.list tbody tr")
        assert rows.count() == 1
        assert wanted["media"]["model"] in rows.first.inner_text()
        if shots:
            page.fill("#q", "LOT-2026-11-25")
            page.press("#q", "Enter")
            page.wait_for_load_state()
            assert page.locator("table.list tbody tr").count() == 8
            page.screenshot(path=str(Path(shots) / f"ledger-search-{lang}.png"), full_page=True)
        page.locator(f'a[href="/certificates/{wanted["id"]}"]').first.click()
        page.wait_for_load_state()
        assert wanted["id"] in page.content()
        assert page.locator("ol.path li").count() >= 1
        if shots:
            page.screenshot(path=str(Path(shots) / f"ledger-certificate-{lang}.png"),
                            full_page=True)
            page.goto(base + "/batches/LOT-2026-11-25")
            page.screenshot(path=str(Path(shots) / f"ledger-batch-{lang}.png"), full_page=True)
            pdf = page.request.get(base + "/batches/LOT-2026-11-25/report.pdf").body()
            assert pdf.startswith(b"%PDF")
            (Path(shots) / f"ledger-report-{lang}.pdf").write_bytes(pdf)
            rack(ledger, page, base, Path(shots) / f"ledger-rack-{lang}.png")


def rack(ledger: Any, page: Any, base: str, path: Path) -> None:
    """Three rack machines: one erasing, one finished, one silent since mid-erase."""
    import httpx
    import sqlalchemy as sa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.certificate import key_id, public_pem
    from ledger import tables

    jobs = [
        [{"disk_id": "nvme-eui.0025388b71b25e11", "model": "Samsung PM981 256GB",
          "serial": "S4DXNF0M512345", "step": "erasing", "progress": 0.62, "rate": 1.8e9,
          "eta": 41.0, "method": "nvme-sanitize-crypto", "status": "running"},
         {"disk_id": "ata-ST500LM021", "model": "Seagate ST500LM021", "serial": "W3PB1XYZ",
          "step": "verifying", "progress": 0.18, "rate": 1.1e8, "eta": 3720.0,
          "method": "ata-secure-erase", "status": "running"}],
        [{"disk_id": "ata-KINGSTON", "model": "KINGSTON SA400S37240G", "serial": "50026B77",
          "step": "sent", "progress": 1.0, "rate": None, "eta": None,
          "method": "ata-sanitize-crypto", "status": "erased"}],
        [{"disk_id": "ata-WDC", "model": "WDC WD5000LPCX-24C6HT0", "serial": "WX41A87H2",
          "step": "erasing", "progress": 0.47, "rate": 9.5e7, "eta": 2650.0,
          "method": "overwrite", "status": "running"}],
    ]
    from tests.ledger.certs import heartbeat

    keys = []
    for i, machine_jobs in enumerate(jobs):
        key = Ed25519PrivateKey.generate()
        ledger.enroll(f"rack-b-0{i + 1}", public_pem(key.public_key()))
        doc = heartbeat(key, serial=f"5CG83{i}4XYZ", batch="RACK-B", jobs=machine_jobs)
        assert httpx.post(base + "/api/v1/heartbeats", json=doc).status_code == 200
        keys.append(key_id(key.public_key()))
    from datetime import UTC, datetime, timedelta

    with ledger.engine.begin() as conn:
        conn.execute(sa.update(tables.machines).where(tables.machines.c.key_id == keys[2])
                     .values(last_seen=datetime.now(UTC) - timedelta(minutes=7)))
    page.goto(base + "/rack?batch=RACK-B")
    assert page.locator("section.machine").count() == 3
    assert page.locator("section.machine.lost").count() == 1
    page.screenshot(path=str(path), full_page=True)
