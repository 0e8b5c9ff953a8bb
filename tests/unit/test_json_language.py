"""Machine-readable output never changes with the language: the same command run with
--lang en and --lang fr prints byte-identical JSON and exits with the same code, while the
words for people (stderr, text output) do change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance import certify, i18n
from appliance.cli import main
from appliance.spool import Spool
from erasure.discovery import discover
from tests.conftest import FIXTURES
from tests.unit import certsample

LANGS = ("en", "fr")


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    i18n.set_language("en")


def run_in(lang: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(["--lang", lang, *argv])
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def same_in_both(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, str]:
    """Run in both languages; return (code, stdout, English stderr, French stderr)."""
    en = run_in("en", argv, capsys)
    fr = run_in("fr", argv, capsys)
    assert fr[0] == en[0], f"exit code changed with the language: {en[0]} vs {fr[0]}"
    assert fr[1].encode() == en[1].encode(), "JSON differs between English and French"
    if en[1]:
        json.loads(en[1])  # one JSON document
    return en[0], en[1], en[2], fr[2]


PROBES = {
    "nvme": ["--smartctl", "smartctl/qemu-7.2-nvme.json", "--nvme-id-ctrl",
             "nvme/qemu-7.2-id-ctrl.json", "--nvme-id-ns", "nvme/qemu-7.2-id-ns.json"],
    "usb-bridge": ["--smartctl", "smartctl/qemu-7.2-usb-storage.json"],
    "frozen-sata": ["--hdparm", "hdparm/micron-5300-frozen.txt"],
    "sata-hdd": ["--smartctl", "smartctl/wdc-wd140edfz-sata-hdd.json"],
    "sas": ["--smartctl", "smartctl/seagate-st1200mm0088-sas.json"],
}


@pytest.mark.parametrize("level", ["purge", "clear"])
@pytest.mark.parametrize("drive", sorted(PROBES))
def test_probe_json(drive: str, level: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["probe"] + [str(FIXTURES / a) if "/" in a else a for a in PROBES[drive]]
    code, out, _en, _fr = same_in_both([*argv, "--json", "--level", level], capsys)
    assert code == 0
    disk = json.loads(out)
    assert disk["plan"]["level"] == level
    assert all(r.isascii() for r in disk["plan"]["reasons"]), "reasons stay English in JSON"
    # the same command for people does speak French
    en_text = run_in("en", [*argv, "--level", level], capsys)[1]
    fr_text = run_in("fr", [*argv, "--level", level], capsys)[1]
    assert en_text != fr_text


def test_probe_plan_reasons_are_translated_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["probe", "--smartctl", str(FIXTURES / "smartctl/qemu-7.2-usb-storage.json"),
            "--level", "purge"]
    en = run_in("en", argv, capsys)[1]
    fr = run_in("fr", argv, capsys)[1]
    assert "USB flash drives cannot be purged by software" in en
    assert "ne peut pas être purgée par logiciel" in fr
    assert "Methods" in en and "Méthodes" in fr


def mounted_disk() -> str | None:
    """A disk of this machine that is refused because something on it is mounted."""
    for d in discover(include_all=True):
        if not d.eligible and d.excluded_reason is not None and (
                "mounted" in str(d.excluded_reason) or "boot medium" in str(d.excluded_reason)):
            return d.path
    return None


def test_wipe_dry_run_refused_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = mounted_disk()
    if path is None:
        pytest.skip("no mounted disk on this machine to be refused")
    code, out, en_err, fr_err = same_in_both(["wipe", path, "--dry-run", "--json"], capsys)
    assert code == 3
    result = json.loads(out)["results"][0]
    assert result["status"] == "refused" and result["path"] == path
    assert "refused" in en_err and "refusé" in fr_err


def test_wipe_bad_input_has_same_exit_code_and_no_stdout(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "not-a-disk.img"
    target.write_bytes(b"\0" * 4096)
    code, out, en_err, fr_err = same_in_both(["wipe", str(target), "--dry-run", "--json"], capsys)
    assert code == 2 and out == ""
    assert "not a block device" in en_err and "pas un périphérique bloc" in fr_err
    code, out, en_err, fr_err = same_in_both(
        ["wipe", "/dev/nonexistent-disk", "--method", "shred", "--json"], capsys)
    assert code == 2 and out == ""
    assert en_err != fr_err


def test_disks_json(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["disks", "--json"], ["disks", "--all", "--json"]):
        code, out, _en, _fr = same_in_both(argv, capsys)
        assert code == 0
        assert isinstance(json.loads(out)["disks"], list)


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    """A failed SATA overwrite (errors on it) and an erased NVMe, signed by this DATA's key,
    plus a tampered copy."""
    key = certify.load_key(tmp_path)
    paths = {}
    for name, outcome in (("failed", certsample.sata_overwrite_outcome()),
                          ("erased", certsample.nvme_outcome())):
        signed = certify.sign_document(certsample.document(outcome=outcome), key)
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(signed, ensure_ascii=False))
    doc = json.loads(paths["erased"].read_text())
    doc["media"]["serial"] = "SOMEONE-ELSES"
    paths["tampered"] = tmp_path / "tampered.json"
    paths["tampered"].write_text(json.dumps(doc))
    return paths


def test_cert_show_json(certificates: dict[str, Path], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path)]
    for name in ("failed", "erased"):
        code, out, _en, _fr = same_in_both(["cert", "show", str(certificates[name]), *data,
                                            "--json"], capsys)
        assert code == 0
        assert json.loads(out) == json.loads(certificates[name].read_text())
    text_en = run_in("en", ["cert", "show", str(certificates["failed"]), *data], capsys)[1]
    text_fr = run_in("fr", ["cert", "show", str(certificates["failed"]), *data], capsys)[1]
    assert "Sanitization" in text_en and "Effacement" in text_fr


def test_cert_verify_json(certificates: dict[str, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path)]
    code, out, _en, _fr = same_in_both(
        ["cert", "verify", str(certificates["failed"]), str(certificates["erased"]), *data,
         "--json"], capsys)
    assert code == 0 and json.loads(out)["valid"] is True
    # a failure carries an error message: it stays the same in both languages
    code, out, _en, _fr = same_in_both(
        ["cert", "verify", str(certificates["tampered"]), *data, "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False and report["results"][0]["error"]
    en_text = run_in("en", ["cert", "verify", str(certificates["tampered"]), *data], capsys)[1]
    fr_text = run_in("fr", ["cert", "verify", str(certificates["tampered"]), *data], capsys)[1]
    assert "INVALID" in en_text and "NON VALIDE" in fr_text


def test_spool_list_json(certificates: dict[str, Path], tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    spool = Spool(data)
    for name in ("failed", "erased"):
        spool.put(json.loads(certificates[name].read_text()))
    first = spool.pending()[0]
    spool.note(first, {"status": "conflict", "http": 409, "reason": "different content"})
    spool.mark_sent(spool.pending()[-1])
    code, out, _en, _fr = same_in_both(["spool", "list", "--data", str(data), "--json"], capsys)
    assert code == 0
    listing = json.loads(out)
    assert listing["pending"] == 1 and listing["sent"] == 1
    en_text = run_in("en", ["spool", "list", "--data", str(data)], capsys)[1]
    fr_text = run_in("fr", ["spool", "list", "--data", str(data)], capsys)[1]
    assert en_text != fr_text and "en attente" in fr_text


def test_certificate_built_in_french_is_the_english_certificate() -> None:
    """What a certificate says (errors, reasons, labels) never depends on the language the
    technician chose."""
    documents = []
    for lang in LANGS:
        i18n.set_language(lang)
        documents.append(json.dumps(certsample.document(
            outcome=certsample.sata_overwrite_outcome(),
            cert_id="7c9e6679-7425-40de-944b-e07fc1f90ae7",
            issued_at=datetime(2026, 11, 25, 14, 0, tzinfo=UTC)), sort_keys=True))
    assert documents[0] == documents[1]
    assert "write failed" in documents[0]


def test_usage_errors_exit_2_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, en_err, fr_err = same_in_both(["probe", "--json"], capsys)
    assert code == 2 and out == ""
    assert en_err != fr_err
    code, out, en_err, fr_err = same_in_both(["cert", "show", "/nonexistent/cert.json", "--json"],
                                             capsys)
    assert code == 2 and out == ""
