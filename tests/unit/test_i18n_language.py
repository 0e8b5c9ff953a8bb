"""Every way of choosing the language works: `language:` in ardoise.yaml, `ardoise.lang=` on
the kernel command line, ARDOISE_LANG, `--lang` on the CLI and Accept-Language (or ?lang=) on
the ledger. (The TUI's F2 key: tests/tui/test_snapshots_fr_language.py.)"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import config, i18n
from appliance.cli import kernel_cmdline_value, main

USAGE_EN = "give a DEVICE, or captured outputs such as --smartctl F"
USAGE_FR = "donnez un PÉRIPHÉRIQUE, ou des sorties capturées comme --smartctl F"


@pytest.fixture(autouse=True)
def clean_language(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ARDOISE_LANG", raising=False)
    # no real /proc/cmdline: this machine's kernel line must not choose for the tests
    monkeypatch.setenv("ARDOISE_CMDLINE", "quiet")
    i18n.set_language("en")
    yield
    i18n.set_language("en")


def stderr_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


# ------------------------------------------------------------------ the CLI


@pytest.mark.parametrize("argv", [["--lang", "fr", "probe"], ["probe", "--lang", "fr"],
                                  ["--lang=fr", "probe"], ["probe", "--lang=fr-CH"],
                                  ["--lang", "fr_CA.UTF-8", "probe"]])
def test_lang_option_anywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = stderr_of(argv, capsys)
    assert code == 2 and USAGE_FR in err


def test_english_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = stderr_of(["probe"], capsys)
    assert code == 2 and USAGE_EN in err


def test_unknown_language_falls_back_to_english(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = stderr_of(["--lang", "de", "probe"], capsys)
    assert code == 2 and USAGE_EN in err


def test_kernel_command_line(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = "BOOT_IMAGE=/live/vmlinuz boot=live ardoise.lang=fr ardoise.config=/x.yaml quiet"
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(line + "\n")
    monkeypatch.delenv("ARDOISE_CMDLINE")
    assert kernel_cmdline_value("ardoise.lang", str(cmdline)) == "fr"
    assert kernel_cmdline_value("ardoise.config", str(cmdline)) == "/x.yaml"
    assert kernel_cmdline_value("ardoise.lang", str(tmp_path / "missing")) is None
    monkeypatch.setenv("ARDOISE_CMDLINE", line)
    code, err = stderr_of(["probe"], capsys)
    assert code == 2 and USAGE_FR in err
    # --lang on the command line wins over the kernel's
    code, err = stderr_of(["--lang", "en", "probe"], capsys)
    assert code == 2 and USAGE_EN in err


def test_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ARDOISE_LANG", "fr")
    code, err = stderr_of(["probe"], capsys)
    assert code == 2 and USAGE_FR in err


def test_argparse_errors_and_help_are_translated(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = stderr_of(["--lang", "fr", "wipe", "/dev/nonexistent-disk", "--method", "shred"],
                          capsys)
    assert code == 2 and "méthode inconnue shred" in err
    with pytest.raises(SystemExit):
        main(["--lang", "fr", "probe", "--help"])
    out = capsys.readouterr().out
    assert "ajouter le plan pour ce niveau NIST" in out


# ------------------------------------------------------------------ ardoise.yaml


def test_config_language_key() -> None:
    for value in ("fr", "en", "fr_CA", "fr_CH"):
        assert config.parse(f"language: {value}\n").language == value
    assert config.parse("organisation: OPEQ\n").language is None
    with pytest.raises(config.ConfigError) as err:
        config.parse("organisation: OPEQ\nlanguage: de\n", source="ardoise.yaml")
    assert err.value.line == 2 and err.value.key == "language"


def test_config_language_speaks_to_the_run_command(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`ardoise run` takes the language from the config unless --lang is given. The run is
    refused before anything is touched (no `unattended: enabled: true`)."""
    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text("language: fr\norganisation: OPEQ\n")
    argv = ["run", "--config", str(cfg), "--data", str(tmp_path / "data"), "--unattended"]
    code, err = stderr_of(argv, capsys)
    assert code == 3 and "l’effacement automatique exige" in err
    code, err = stderr_of([*argv, "--lang", "en"], capsys)
    assert code == 3 and "unattended erasure needs" in err
    code, err = stderr_of(["--lang", "en", *argv], capsys)  # before the command, too
    assert code == 3 and "unattended erasure needs" in err
    cfg.write_text("language: en\norganisation: OPEQ\n")
    code, err = stderr_of(argv, capsys)
    assert code == 3 and "unattended erasure needs" in err


def test_config_errors_in_french(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text("organisation: OPEQ\nerase:\n  level: clear\n  verfy: full\n")
    code, err = stderr_of(["--lang", "fr", "run", "--config", str(cfg), "--data",
                           str(tmp_path / "data")], capsys)
    assert code == 2
    assert "configuration incorrecte, rien n’a été touché" in err and "clé inconnue" in err


# ------------------------------------------------------------------ the ledger


@pytest.fixture
def ledger_client(tmp_path: Path) -> Iterator[tuple[Any, str, list[dict[str, Any]]]]:
    from fastapi.testclient import TestClient

    from appliance.certificate import public_pem
    from ledger.app import asgi, create_app
    from ledger.db import make_engine, upgrade
    from ledger.store import Ledger
    from tests.ledger.certs import certificate

    engine = make_engine("sqlite:///" + str(tmp_path / "ledger.db"))
    upgrade(engine)
    ledger = Ledger(engine)
    key = Ed25519PrivateKey.generate()
    ledger.enroll("rack-07", public_pem(key.public_key()))
    token = ledger.create_token("admin", "tests")
    docs = [certificate(key, n, batch="LOT-42", donor="Fondation Lévis",
                        status="failed" if n == 4 else "erased") for n in range(8)]
    app = create_app(ledger, lost_after=60)
    with TestClient(asgi(app)) as client:  # type: ignore[arg-type]
        for doc in docs:
            assert client.post("/api/v1/certificates", json=doc).status_code == 201
        yield client, token, docs
    engine.dispose()


def test_ledger_pages_follow_accept_language(ledger_client: Any) -> None:
    client, token, _docs = ledger_client
    client.cookies.set("ardoise_token", token)
    for header in ("fr-CA,fr;q=0.9,en;q=0.5", "fr-CH", "fr"):
        page = client.get("/?q=LOT-42", headers={"Accept-Language": header}).text
        assert '<html lang="fr">' in page and "Trouver un certificat" in page, header
    page = client.get("/?q=LOT-42", headers={"Accept-Language": "de-CH,en;q=0.8"}).text
    assert '<html lang="en">' in page and "Find a certificate" in page
    page = client.get("/?q=LOT-42", headers={"Accept-Language": "en-CA"}).text
    assert "Find a certificate" in page
    # ?lang= overrides the browser
    page = client.get("/?q=LOT-42&lang=fr", headers={"Accept-Language": "en-CA"}).text
    assert "Trouver un certificat" in page
    # one request in French does not leave the next one in French
    assert "Find a certificate" in client.get("/?q=LOT-42").text


def test_ledger_api_and_csv_do_not_change_with_the_language(ledger_client: Any) -> None:
    client, token, docs = ledger_client
    auth = {"Authorization": f"Bearer {token}"}
    paths = [f"/api/v1/certificates/{docs[0]['id']}", "/api/v1/certificates?batch=LOT-42",
             f"/api/v1/certificates/{docs[1]['id']}/proof?tree_size=3",
             "/api/v1/log/consistency?first=1&second=3",
             "/api/v1/certificates/00000000-0000-4000-8000-000000000000",  # 404 problem
             "/api/v1/certificates?page=-1"]  # 422 problem
    for path in paths:
        bodies = []
        for lang in ("en-CA", "fr-CA", "fr-CH"):
            r = client.get(path, headers={**auth, "Accept-Language": lang})
            bodies.append((r.status_code, r.content))
        assert bodies[0] == bodies[1] == bodies[2], path
    # without a token the API says 401 the same way in every language
    plain = [client.get(paths[0], headers={"Accept-Language": lang}).content
             for lang in ("en", "fr")]
    assert plain[0] == plain[1]
    # the CSV report is data too: same bytes whatever the browser's language
    client.cookies.set("ardoise_token", token)
    csvs = [client.get("/batches/LOT-42/report.csv", headers={"Accept-Language": lang})
            for lang in ("en-CA", "fr-CA")]
    assert csvs[0].status_code == 200 and csvs[0].content == csvs[1].content
    rows = list(csv.DictReader(io.StringIO(csvs[0].text)))
    assert len(rows) == 8
    root = client.get("/api/v1/log/root", headers={"Accept-Language": "fr"})
    assert json.loads(root.content)["tree_size"] == 8


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
def test_french_batch_report_pdf(ledger_client: Any, tmp_path: Path) -> None:
    """The batch report a donor reads, in French (Accept-Language), with its words checked in
    the PDF text. ARDOISE_DOCS=DIR also draws page 1 to DIR/batch-report-fr.png."""
    client, token, _docs = ledger_client
    client.cookies.set("ardoise_token", token)
    r = client.get("/batches/LOT-42/report.pdf", headers={"Accept-Language": "fr-CA"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert "Rapport d’effacement — lot LOT-42" in text
    assert "Chaque disque inscrit au registre pour ce lot." in text
    for header in ("Modèle du disque", "N° de série du disque", "Méthode", "Résultat",
                   "Vérification"):
        assert header in text, header
    assert "effacé" in text and "échec" in text
    assert "Erasure report" not in text and "Disk serial" not in text
    english = client.get("/batches/LOT-42/report.pdf", headers={"Accept-Language": "en-CA"})
    (tmp_path / "en.pdf").write_bytes(english.content)
    text_en = subprocess.run(["pdftotext", "-layout", str(tmp_path / "en.pdf"), "-"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    assert "Erasure report — batch LOT-42" in text_en
    if os.environ.get("ARDOISE_DOCS") and shutil.which("pdftoppm"):
        out = Path(os.environ["ARDOISE_DOCS"]) / "batch-report-fr"
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(out)], check=True, timeout=60)
