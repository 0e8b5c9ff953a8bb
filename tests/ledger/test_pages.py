"""Server-rendered pages and reports: login by token, search, certificate with its proof,
batch page with counts and CSV/PDF reports, in English and French."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from typing import Any

import pytest

from ledger.store import Ledger


@pytest.fixture
def filled(submit: Any) -> list[dict[str, Any]]:
    return [submit(n, batch="LOT-42", donor="Desjardins Lévis",
                   status="failed" if n == 2 else "erased")[0] for n in range(5)]


def test_pages_need_login(client: Any, filled: Any, ledger: Ledger) -> None:
    for url in ("/", "/rack", "/batches/LOT-42", f"/certificates/{filled[0]['id']}",
                "/batches/LOT-42/report.pdf"):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = client.post("/login", data={"token": "wrong", "next": "/"}, follow_redirects=False)
    assert r.status_code == 401
    enroll_only = ledger.create_token("enroll")
    r = client.post("/login", data={"token": enroll_only}, follow_redirects=False)
    assert r.status_code == 401
    r = client.post("/login", data={"token": ledger.create_token(), "next": "//evil.example"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "httponly" in r.headers["set-cookie"].lower()


def test_search_certificate_and_batch_pages(client: Any, filled: Any, token: str) -> None:
    r = client.post("/login", data={"token": token, "next": "/?q=LOT-42"},
                    follow_redirects=False)
    assert r.headers["location"] == "/?q=LOT-42"
    page = client.get("/?q=LOT-42").text
    assert "5 certificates" in page and all(d["media"]["serial"] in page for d in filled)
    page = client.get("/", params={"q": filled[1]["media"]["serial"]}).text
    assert "1 certificate " in page and filled[1]["id"] in page
    doc = filled[3]
    page = client.get(f"/certificates/{doc['id']}").text
    assert doc["media"]["serial"] in page and "Audit path" in page and "rack-07" in page
    assert page.count("<li>") == 3  # log of 5: entry 3 has leaf 2, D[0:2] and leaf 4
    page = client.get("/batches/LOT-42").text
    assert "report.pdf" in page and "report.csv" in page
    assert '<span class="n">4</span><span>erased</span>' in page.replace("\n", "")
    assert client.get("/certificates/00000000-0000-4000-8000-000000000000").status_code == 404


def test_reports(client: Any, filled: Any, token: str, tmp_path: Any) -> None:
    client.cookies.set("ardoise_token", token)
    r = client.get("/batches/LOT-42/report.csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["media_serial"] for row in rows] == [d["media"]["serial"] for d in filled]
    assert rows[2]["status"] == "failed" and rows[0]["leaf_index"] == "0"
    assert rows[0]["method"] == filled[0]["sanitization"]["method"]
    assert rows[0]["nist_level"] == filled[0]["sanitization"]["level"]
    r = client.get("/donors/Desjardins Lévis/report.pdf", headers={"Accept-Language": "fr-CA"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        pdf = tmp_path / "r.pdf"
        pdf.write_bytes(r.content)
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                              text=True, timeout=60, check=True).stdout
        assert "Desjardins Lévis" in text
        assert all(d["media"]["serial"] in text for d in filled)


def test_french_pages(client: Any, filled: Any, token: str) -> None:
    client.cookies.set("ardoise_token", token)
    fr = client.get("/?q=LOT-42", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}).text
    assert '<html lang="fr">' in fr
    en = client.get("/?q=LOT-42", headers={"Accept-Language": "en-CA"}).text
    assert '<html lang="en">' in en
    assert '<html lang="fr">' in client.get("/?lang=fr").text
