"""The ledger's pages and its batch report in French hold no English code
(tests/english_words.py); counts agree in number ("effacés : 4"); a heading that does not
fit its column wraps instead of running into the next one."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.english_words import english_words
from tests.ledger.certs import heartbeat

FR = {"Accept-Language": "fr-CA"}


@pytest.fixture
def filled(submit: Any) -> list[dict[str, Any]]:
    statuses = ["erased", "erased", "failed", "erased", "incomplete", "erased", "refused"]
    return [submit(n, batch="LOT-42", donor="Desjardins Lévis", status=s)[0]
            for n, s in enumerate(statuses)]


def visible(page: str) -> str:
    """The words of an HTML page a person reads (no markup, scripts, styles or the signed
    JSON, which stays English by design)."""
    page = re.sub(r"<(script|style|pre)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def test_french_pages_hold_no_english_code(client: Any, filled: Any, token: str,
                                           key: Any) -> None:
    client.cookies.set("ardoise_token", token)
    running = heartbeat(key)["jobs"][0]
    jobs = [running, {**running, "disk_id": "ata-2", "step": "verifying", "status": "running"},
            {**running, "disk_id": "ata-3", "step": "certified", "status": "erased"},
            {**running, "disk_id": "ata-4", "step": "certified", "status": "failed"}]
    assert client.post("/api/v1/heartbeats", json=heartbeat(key, jobs=jobs)).status_code < 300
    for url in ("/?q=LOT-42", "/batches/LOT-42", "/donors/Desjardins Lévis", "/rack",
                *(f"/certificates/{d['id']}" for d in filled[:3])):
        text = visible(client.get(url, headers=FR).text)
        assert english_words(text) == [], (url, english_words(text))
    rack = visible(client.get("/rack", headers=FR).text)
    assert "42,0\u00a0%" in rack and "effacement" in rack
    batch = visible(client.get("/batches/LOT-42", headers=FR).text)
    assert re.search(r"4\s+effacés", batch) and re.search(r"1\s+échec\b", batch)
    cert = visible(client.get(f"/certificates/{filled[0]['id']}", headers=FR).text)
    assert "relecture par échantillons · réussie" in cert


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext")
def test_french_report_holds_no_english_code(client: Any, filled: Any, token: str,
                                             tmp_path: Path) -> None:
    client.cookies.set("ardoise_token", token)
    r = client.get("/batches/LOT-42/report.pdf", headers=FR)
    assert r.status_code == 200
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout.replace("\u00a0", " ")
    assert english_words(text) == [], text
    assert "effacés : 4" in text and "échec : 1" in text
    # every heading and cell stays inside its column: a gap before the next one
    assert re.search(r"Niveau NIST {2,}Résultat {2,}Vérification", text)
    rows = [line for line in text.splitlines() if "S0000000" in line]
    assert len(rows) == len(filled)
    assert all(re.search(r"(Effacement \(Clear\)|Purge) {2,}\S", line) for line in rows)
    assert "ata-secure-erase-enhanced " in text  # method codes whole, not cut
