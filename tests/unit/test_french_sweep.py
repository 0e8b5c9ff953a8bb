"""In French, the certificate page, `cert show`, `wipe`'s report and `run`'s step lines hold
no English code (tests/english_words.py): every status, verification and image outcome is
rendered, and decimals use the French comma.

The error texts recorded on a certificate stay as they were recorded (the record is
evidence, English in the JSON): they are taken out of the text before the check."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance import certificate, certify, jobs
from appliance.cli import main
from appliance.commands import run as run_command
from appliance.commands import wipe as wipe_command
from appliance.i18n import set_language
from appliance.words import percent
from tests.conftest import FIXTURES
from tests.english_words import english_words
from tests.unit import certsample
from tests.unit.test_json_language import PROBES

IMAGES: dict[str, Any] = {
    "imaged": certsample.image(),
    "failed": {"name": "debian-12-xfce", "version": "12.8", "status": "failed",
               "verified": False, "errors": ["read-back root hash differs from the manifest"]},
    "none": None,
}
OUTCOMES = {
    "erased": certsample.nvme_outcome,
    "failed": certsample.sata_overwrite_outcome,
    "incomplete": lambda: certsample.nvme_outcome(status="incomplete", verify_result="not-done"),
    "verify-failed": lambda: certsample.nvme_outcome(status="failed", verify_result="fail"),
}


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    set_language("en")


def recorded(doc: dict[str, Any]) -> list[str]:
    errors = list(doc["sanitization"]["errors"]) + list(doc["verification"]["errors"])
    errors += [e["error"] for e in doc["sanitization"]["io_errors"]]
    return errors + list((doc.get("image") or {}).get("errors") or [])


def without(text: str, phrases: list[str]) -> str:
    text = " ".join(text.replace("\u00a0", " ").split())
    for phrase in phrases:
        text = text.replace(" ".join(phrase.split()), "")
    return text


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext")
@pytest.mark.parametrize("image", list(IMAGES))
@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_certificate_page_and_show_in_french(tmp_path: Path, outcome: str, image: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    cert = certify.issue(certsample.document(outcome=OUTCOMES[outcome](),
                                             image=IMAGES[image]), data)
    doc = certificate.load(cert)
    pdf = tmp_path / "c.pdf"
    assert main(["--lang", "fr", "cert", "pdf", str(cert), "--data", str(data),
                 "--out", str(pdf)]) == 0
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    assert english_words(without(text, recorded(doc))) == [], text
    capsys.readouterr()
    assert main(["--lang", "fr", "cert", "show", str(cert), "--data", str(data)]) == 0
    shown = capsys.readouterr().out
    assert english_words(without(shown, recorded(doc))) == [], shown


def test_wipe_report_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    set_language("fr")
    for make in OUTCOMES.values():
        wipe_command._report(make())
    out = capsys.readouterr().out
    texts = [str(e) for make in OUTCOMES.values() for e in make().errors]
    assert english_words(without(out, texts)) == [], out
    assert "relecture par échantillons" in out and "10,0\u00a0% du disque" in out
    assert "43,5\u00a0s" in out  # French decimals


def test_run_lines_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    set_language("fr")
    sink = run_command._printer({"j": "/dev/sda"})
    for step in jobs.STEPS:
        sink(jobs.StepStarted("j", step))
    sink(jobs.StepProgress("j", "erasing", 1 << 29, 1 << 31))
    err = capsys.readouterr().err
    assert english_words(err) == [], err
    assert "/dev/sda: effacement 25,0 %" in err.replace("\u00a0", " ")


@pytest.mark.parametrize("lang, expected", [("en", "25.0\u00a0%"), ("fr", "25,0\u00a0%")])
def test_percent_follows_the_locale(lang: str, expected: str) -> None:
    set_language(lang)
    assert percent(0.25) == expected


@pytest.mark.parametrize("level", ["purge", "clear"])
@pytest.mark.parametrize("drive", sorted(PROBES))
def test_probe_in_french(drive: str, level: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--lang", "fr", "probe", *(str(FIXTURES / a) if "/" in a else a
                                       for a in PROBES[drive]), "--level", level]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert english_words(out) == [], out
