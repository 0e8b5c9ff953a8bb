"""Building, issuing and printing certificates; keys; host facts; the `cert`/`keygen` CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import certificate, certify, inventory, pdf
from appliance.certificate import SCHEMA_PATH
from appliance.cli import main
from appliance.i18n import set_language
from appliance.journal import Journal
from appliance.spool import Spool
from erasure.verify import VerifyResult
from tests.unit import certsample

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dmidecode"


# --- host facts ----------------------------------------------------------------------------


def test_dmidecode_surface_pro_7() -> None:
    host = inventory.parse_dmidecode((FIXTURES / "surface-pro-7.txt").read_text())
    assert (host.manufacturer, host.product, host.family, host.sku) == (
        "Microsoft Corporation", "Surface Pro 7", "Surface", "Surface_Pro_7_1866")
    assert host.chassis == "Laptop"
    assert (host.bios_vendor, host.bios_version, host.bios_date) == (
        "Microsoft Corporation", "13.101.140", "12/14/2021")
    assert host.serial is None and host.uuid is None  # "--" placeholders are not facts


def test_dmidecode_thinkpad_sections_in_any_order() -> None:
    host = inventory.parse_dmidecode((FIXTURES / "thinkpad-a485.txt").read_text())
    assert (host.manufacturer, host.product, host.version) == ("LENOVO", "20MUCTO1WW",
                                                               "ThinkPad A485")
    assert host.chassis == "Notebook"
    assert host.bios_version == "R0WET65W (1.33 )"
    assert host.board_product == "20MUCTO1WW"


@pytest.mark.parametrize(("raw", "clean"), [
    ("To Be Filled By O.E.M.", None), ("Default string", None), ("--", None),
    ("0123456789", None), ("00000000-0000-0000-0000-000000000000", None),
    ("  PF1ABCDE \n", "PF1ABCDE"), ("System Serial Number", None)])
def test_placeholders_are_dropped(raw: str, clean: str | None) -> None:
    assert inventory.clean(raw) == clean


def test_chassis_numbers_from_sysfs() -> None:
    assert inventory.chassis_name("10\n") == "Notebook"
    assert inventory.chassis_name("30") == "Tablet"
    assert inventory.chassis_name("138") == "Notebook"  # lock bit set


def test_collect_reads_sysfs_then_dmidecode_for_the_rest(tmp_path: Path, fake_runner) -> None:
    # the non-root-readable view of sysfs: serial and uuid files are missing
    for name, value in {"sys_vendor": "LENOVO\n", "product_name": "20MUCTO1WW\n",
                        "chassis_type": "10\n", "bios_version": "R0WET65W (1.33 )\n"}.items():
        (tmp_path / name).write_text(value)
    fake_runner.add(["dmidecode", "-t", "bios", "-t", "system", "-t", "baseboard", "-t",
                     "chassis"], fixture="dmidecode/thinkpad-a485.txt")
    host = inventory.collect(sysfs=tmp_path)
    assert host.manufacturer == "LENOVO" and host.chassis == "Notebook"
    assert host.family == "ThinkPad A485"  # from dmidecode
    assert len(fake_runner.calls) == 1


def test_collect_without_dmidecode(tmp_path: Path, fake_runner) -> None:
    (tmp_path / "sys_vendor").write_text("Dell Inc.\n")
    argv = ["dmidecode", "-t", "bios", "-t", "system", "-t", "baseboard", "-t", "chassis"]
    fake_runner.add(argv, returncode=1, stderr="/dev/mem: Permission denied")
    assert inventory.collect(sysfs=tmp_path).manufacturer == "Dell Inc."


# --- building ------------------------------------------------------------------------------


def test_build_from_an_erase_outcome() -> None:
    doc = certsample.document()
    san, ver, media = doc["sanitization"], doc["verification"], doc["media"]
    assert san["status"] == "erased" and san["method"] == "nvme-sanitize-crypto"
    assert san["technique"] == "cryptographic erase" and san["pattern"] is None
    assert san["started_at"] == "2026-11-18T21:20:00Z"
    assert san["ended_at"] == "2026-11-18T21:20:43.500Z" and san["seconds"] == 43.5
    assert ver == {"mode": "sample", "sample_share": 0.1, "result": "pass",
                   "bytes_checked": 25606051840, "errors": [], "method": None,
                   "subsections": 1000}
    assert media["type"] == "flash" and media["serial"] == "X9PPT1MFQBB1"
    assert doc["host"]["product"] == "Surface Pro 7"
    assert doc["image"]["verified"] is True
    assert doc["organisation"] == "OPEQ" and doc["appliance"]["image_build"] == "20261120-1"


def test_failed_overwrite_keeps_its_evidence() -> None:
    doc = certsample.document(outcome=certsample.sata_overwrite_outcome(), image=None)
    san = doc["sanitization"]
    assert san["status"] == "failed" and san["pattern"] == "zero"
    assert san["bytes_written"] == 499000000000
    assert san["throughput_bytes_per_s"] == 499000000000 // 4012
    assert san["io_errors"] == [{"offset": 499000000000, "length": 1048576, "error": "EIO"}]
    assert "write failed: Input/output error" in san["errors"]
    assert doc["media"]["hpa"] == {"current_max_sectors": 976771055,
                                   "native_max_sectors": 976773168, "enabled": True}
    assert doc["image"] is None


def test_never_erased_without_verification_evidence() -> None:
    doc = certsample.document(outcome=certsample.nvme_outcome(verify_result="not-done"))
    assert doc["sanitization"]["status"] == "unverified"
    assert any("no verification evidence" in e for e in doc["sanitization"]["errors"])
    failed = certsample.document(outcome=certsample.nvme_outcome(verify_result="fail"))
    assert failed["sanitization"]["status"] == "failed"


def test_an_unverified_outcome_is_certified_unverified_and_signs() -> None:
    outcome = certsample.nvme_outcome(status="unverified", verify_result="not-done")
    outcome.verify = VerifyResult(mode="none", result="not-done")
    doc = certsample.document(outcome=outcome)
    san = doc["sanitization"]
    assert san["status"] == "unverified" and san["method"] == "nvme-sanitize-crypto"
    assert any("no verification evidence" in e for e in san["errors"])
    signed = certify.sign_document(doc, Ed25519PrivateKey.generate())  # schema-valid
    assert signed["sanitization"]["status"] == "unverified"


def test_old_statuses_stay_valid_in_the_schema() -> None:
    enum = json.loads(SCHEMA_PATH.read_text())["properties"]["sanitization"]["properties"][
        "status"]["enum"]
    assert set(enum) == {"erased", "unverified", "failed", "refused", "incomplete"}
    for status in ("failed", "refused", "incomplete"):
        doc = certsample.document(outcome=certsample.nvme_outcome(status=status))
        assert certify.sign_document(doc, Ed25519PrivateKey.generate())["sanitization"][
            "status"] == status


def test_an_interrupted_wipe_journal_names_no_unknown_method(tmp_path: Path) -> None:
    """`ardoise wipe` journals the request "auto": the INCOMPLETE certificate issued for the
    interrupted job must not complain of an "unknown method auto"."""
    journal = Journal(tmp_path)
    job = journal.start(certsample.sata_disk())
    journal.transition(job, "planned", level="clear", method="auto")
    journal.transition(job, "erasing", level="clear", method="auto", pattern="zero",
                       verify="sample")
    [path] = certify.incomplete_certificates(journal, tmp_path, host=certsample.host())
    doc = json.loads(path.read_text())
    san = doc["sanitization"]
    assert san["status"] == "incomplete" and san["method"] is None
    assert not any("unknown method" in e for e in san["errors"])
    assert doc["verification"]["mode"] == "sample"
    assert journal.unfinished() == []  # closed: the next start issues no second one
    assert certify.incomplete_certificates(journal, tmp_path, host=certsample.host()) == []


def test_build_from_the_wipe_json_shape() -> None:
    outcome = certsample.nvme_outcome()
    wipe_entry = outcome.to_json() | {"disk": outcome.disk.to_json()}
    doc = certify.build_certificate(outcome=wipe_entry, host=certsample.host())
    assert doc["sanitization"]["status"] == "erased"
    assert doc["verification"]["bytes_checked"] == 25606051840
    assert doc["media"]["id"] == "nvme-eui.0025385b91b0f0a1"


def test_unknown_method_is_not_certified_as_a_method() -> None:
    outcome = {"disk": certsample.sata_disk(), "method": "auto", "status": "refused",
               "level": "purge", "errors": ["no method reaches purge"]}
    doc = certify.build_certificate(outcome=outcome, host=None)
    assert doc["sanitization"]["method"] is None
    assert doc["sanitization"]["status"] == "refused"


# --- keys and issuing ----------------------------------------------------------------------


def test_issue_signs_and_spools(tmp_path: Path) -> None:
    certify.generate_key(tmp_path / "keys")
    path = certify.issue(certsample.document(), tmp_path)
    assert path.parent == tmp_path / "spool" / "pending"
    doc = certificate.load(path)
    certificate.verify(doc, certify.trusted_keys(tmp_path))
    assert Spool(tmp_path).pending() == [doc["id"]]


def test_issue_records_certified_then_spooled(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    job = journal.start(certsample.nvme_disk(), "run1")
    doc = certsample.document(job_id=job)
    certify.issue(doc, tmp_path, journal=journal, job_id=job)
    states = [e["state"] for e in journal.get(job).history]
    assert states == ["discovered", "certified", "spooled"]
    assert journal.get(job).certificate_id == doc["id"] and journal.unfinished() == []


def test_key_made_on_first_use_with_private_permissions(tmp_path: Path) -> None:
    certify.issue(certsample.document(), tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "keys" / "appliance.key").st_mode)
    assert mode == 0o600
    assert (tmp_path / "keys" / "appliance.key").read_bytes().startswith(
        b"-----BEGIN PRIVATE KEY-----")


def test_load_key_without_create_refuses(tmp_path: Path) -> None:
    with pytest.raises(certificate.CertificateError, match="keygen"):
        certify.load_key(tmp_path, create=False)


# --- CLI -----------------------------------------------------------------------------------


def test_keygen_then_refuse_overwrite(tmp_path: Path, capsys) -> None:
    assert main(["keygen", "--data", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    key_before = (tmp_path / "keys" / "appliance.key").read_bytes()
    assert out["key_id"] == certificate.key_id(certify.trusted_keys(tmp_path)[0])
    assert main(["keygen", "--data", str(tmp_path)]) == 3
    assert (tmp_path / "keys" / "appliance.key").read_bytes() == key_before
    assert main(["keygen", "--data", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "keys" / "appliance.key").read_bytes() != key_before


def test_keygen_out_dir(tmp_path: Path) -> None:
    assert main(["keygen", "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "appliance.pub.pem").exists()


@pytest.fixture
def issued(tmp_path: Path) -> Path:
    return certify.issue(certsample.document(), tmp_path)


def test_cert_verify_cli(issued: Path, tmp_path: Path, capsys) -> None:
    assert main(["cert", "verify", str(issued), "--data", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    pub = tmp_path / "keys" / "appliance.pub.pem"
    assert main(["cert", "verify", str(issued), "--pubkey", str(pub)]) == 0
    other = tmp_path / "other"
    certify.generate_key(other)
    assert main(["cert", "verify", str(issued), "--pubkey", str(other / "appliance.pub.pem")]) == 1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(issued.read_text().replace("X9PPT1MFQBB1", "X9PPT1MFQBB7"))
    assert main(["cert", "verify", str(tampered), "--data", str(tmp_path)]) == 1
    assert "INVALID" in capsys.readouterr().out
    assert main(["cert", "verify", str(tmp_path / "missing.json")]) == 2


def test_cert_show_in_french(issued: Path, tmp_path: Path, capsys) -> None:
    try:
        assert main(["--lang", "fr", "cert", "show", str(issued), "--data", str(tmp_path)]) == 0
    finally:
        set_language("en")
    out = capsys.readouterr().out
    assert "X9PPT1MFQBB1" in out and "256,1" in out  # French decimal comma from Babel


def test_cert_show_json_is_the_document(issued: Path, tmp_path: Path, capsys) -> None:
    assert main(["cert", "show", str(issued), "--json", "--data", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == certificate.load(issued)


def test_pdf_one_page_per_certificate(tmp_path: Path, capsys) -> None:
    paths = [certify.issue(certsample.document(), tmp_path),
             certify.issue(certsample.document(outcome=certsample.sata_overwrite_outcome(),
                                               image=None), tmp_path)]
    out = tmp_path / "batch.pdf"
    assert main(["cert", "pdf", *map(str, paths), "--out", str(out), "--ledger",
                 "https://ledger.example", "--json", "--data", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"pdf": str(out), "pages": 2}
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.count(b"/Type /Page\n") + data.count(
        b"/Type /Page/") + data.count(b"/Type /Page>") >= 2 or b"/Count 2" in data


def test_pdf_record_url() -> None:
    assert pdf.record_url("https://l.example/", "abc") == "https://l.example/certificates/abc"
    assert pdf.record_url(None, "abc") == "urn:uuid:abc"


def test_verification_errors_and_mismatches_are_kept() -> None:
    outcome = certsample.nvme_outcome(status="failed", verify_result="fail")
    outcome.verify.mismatches = [4096, 1048576]
    outcome.verify.errors = ["2 of 1000 samples still hold data"]
    ver = certsample.document(outcome=outcome)["verification"]
    assert ver["result"] == "fail"
    assert ver["errors"] == ["2 of 1000 samples still hold data",
                             "data left at offsets 4096, 1048576"]


def test_image_section_from_the_imaging_result() -> None:
    from appliance.imaging.writer import ImageResult

    result = ImageResult(path="/dev/nvme0n1", status="imaged", name="debian-12-xfce",
                         version="12.8", manifest_hash="ab" * 32, manifest_root_hash="cd" * 32,
                         readback_root_hash="cd" * 32, verified=True, bytes_written=4096)
    image = certsample.document(image=result)["image"]
    assert image == {"name": "debian-12-xfce", "version": "12.8", "status": "imaged",
                     "manifest_hash": "ab" * 32, "root_hash": "cd" * 32,
                     "readback_hash": "cd" * 32, "verified": True, "bytes_written": 4096,
                     "errors": []}
    failed = ImageResult(path="/dev/nvme0n1", status="failed", errors=["read-back mismatch"])
    image = certsample.document(image=failed)["image"]
    assert image["verified"] is False and image["errors"] == ["read-back mismatch"]


def test_parallel_jobs_creating_the_key_all_sign_with_the_one_kept(tmp_path: Path) -> None:
    """Two disks certified at the same moment on a stick without a key: one key is made,
    and it is the one on the data partition."""
    import threading

    from appliance.certificate import key_id, load_public_pem

    found: list[str] = []

    def job() -> None:
        found.append(key_id(certify.load_key(tmp_path).public_key()))

    threads = [threading.Thread(target=job) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    public = load_public_pem((tmp_path / "keys" / "appliance.pub.pem").read_bytes())
    assert set(found) == {key_id(public)}
