"""`cert show` and `cert pdf` verify before they print: an edited certificate is refused
(exit 1, one sentence), or printed with --force under an INVALID banner on every page; the
PDF shows the image write's outcome beside the erase badge."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import certify
from appliance.cli import main
from appliance.i18n import set_language
from tests.unit import certsample

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="pdftotext (poppler-utils) is not installed")


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    set_language("en")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def signed(data: Path) -> Path:
    return certify.issue(certsample.document(), data)


@pytest.fixture
def edited(signed: Path, tmp_path: Path) -> Path:
    """The signed certificate with its disk serial changed afterwards."""
    doc = json.loads(signed.read_text())
    doc["media"]["serial"] = "SOMEONE-ELSES"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return path


def pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    return [p.replace("\u00a0", " ") for p in text.split("\f") if p.strip()]


def test_edited_certificate_is_refused_by_show_and_pdf(edited: Path, data: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cert", "show", str(edited), "--data", str(data)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "changed after signing" in err and "--force" in err
    assert main(["cert", "show", str(edited), "--data", str(data), "--json"]) == 1
    assert capsys.readouterr().out == ""
    pdf = tmp_path / "edited.pdf"
    assert main(["cert", "pdf", str(edited), "--data", str(data), "--out", str(pdf)]) == 1
    assert not pdf.exists()
    assert "changed after signing" in capsys.readouterr().err


def test_unknown_key_is_refused_and_named(signed: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "elsewhere"
    assert main(["cert", "show", str(signed), "--data", str(other)]) == 1
    err = capsys.readouterr().err
    assert "does not trust" in err and "--pubkey" in err
    pub = signed.parents[2] / "keys" / "appliance.pub.pem"
    assert main(["cert", "show", str(signed), "--data", str(other), "--pubkey", str(pub)]) == 0


def test_show_force_prints_the_banner_first(edited: Path, data: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cert", "show", str(edited), "--data", str(data), "--force"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("*** INVALID CERTIFICATE")
    assert "SOMEONE-ELSES" in out
    assert main(["--lang", "fr", "cert", "show", str(edited), "--data", str(data),
                 "--force"]) == 1
    assert capsys.readouterr().out.splitlines()[0].startswith("*** CERTIFICAT INVALIDE")


@pytest.mark.parametrize("lang, banner", [("en", "INVALID CERTIFICATE"),
                                          ("fr", "CERTIFICAT INVALIDE")])
def test_pdf_force_has_the_banner_on_every_invalid_page(edited: Path, signed: Path, data: Path,
                                                        tmp_path: Path, lang: str,
                                                        banner: str) -> None:
    pdf = tmp_path / "forced.pdf"
    assert main(["--lang", lang, "cert", "pdf", str(edited), str(signed), str(edited),
                 "--data", str(data), "--out", str(pdf), "--force"]) == 1
    text = pages(pdf)
    assert len(text) == 3
    assert [banner in page for page in text] == [True, False, True]
    assert "SOMEONE-ELSES" in text[0]


def test_valid_certificates_print_with_exit_0(signed: Path, data: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "ok.pdf"
    assert main(["cert", "pdf", str(signed), "--data", str(data), "--out", str(pdf)]) == 0
    assert not any("INVALID" in page for page in pages(pdf))


def image_failed() -> dict[str, object]:
    return {"name": "debian-12-xfce", "version": "12.8", "status": "failed", "verified": False,
            "errors": ["read-back hash differs from the manifest"]}


@pytest.mark.parametrize("lang, words", [
    ("en", ["ERASED", "IMAGE: FAILED", "read-back hash differs", "IMAGE: not written",
            "IMAGE: written and verified"]),
    ("fr", ["EFFACÉ", "IMAGE\u00a0: ÉCHEC", "read-back hash differs", "IMAGE\u00a0: non écrite",
            "IMAGE\u00a0: écrite et vérifiée"]),
])
def test_pdf_shows_the_image_outcome_beside_the_badge(data: Path, tmp_path: Path, lang: str,
                                                      words: list[str]) -> None:
    certs = [certify.issue(certsample.document(image=image), data)
             for image in (image_failed(), None, certsample.image())]
    pdf = tmp_path / "images.pdf"
    assert main(["--lang", lang, "cert", "pdf", *map(str, certs), "--data", str(data),
                 "--out", str(pdf)]) == 0
    failed, skipped, written = pages(pdf)
    badge, image_failed_, reason, not_written, ok = (w.replace("\u00a0", " ") for w in words)
    for page in (failed, skipped, written):
        head = page.split("\n\n")[0:3]
        assert badge in "\n".join(head)  # the erase badge, at the top
    top = "\n".join(failed.splitlines()[:8])
    assert image_failed_ in top and reason in top  # beside it, not at the bottom
    assert not_written in "\n".join(skipped.splitlines()[:8])
    assert ok in "\n".join(written.splitlines()[:8])


def test_show_says_the_image_outcome(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = certify.issue(certsample.document(image=image_failed()), data)
    assert main(["cert", "show", str(cert), "--data", str(data)]) == 0
    assert "IMAGE: FAILED (debian-12-xfce 12.8): read-back hash differs" in capsys.readouterr().out
