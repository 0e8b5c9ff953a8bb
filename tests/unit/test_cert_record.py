"""What a certificate records of the standard, technique, commands and verification
(README "Erase methods and NIST levels"), and that certificates issued before these
fields existed still validate and verify, at the appliance and at the ledger's intake."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import certify
from appliance.certificate import load_public_pem, validate, verify
from erasure import firmware
from erasure.methods.base import EraseResult
from erasure.verify import VerifyResult
from ledger.validation import check_certificate
from tests.unit import certsample

FIXTURES = certsample.FIXTURES / "certificates"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def nvme_sanitize(**details: Any) -> Any:
    outcome = certsample.nvme_outcome()
    assert outcome.erase is not None
    outcome.erase.details = {
        "commands": [{"argv": ["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                      "returncode": 0},
                     {"argv": ["nvme", "sanitize", "/dev/nvme0", "--sanact=4"],
                      "returncode": 0}],
        "tool_version": "nvme version 2.3 (git 2.3)", "resumed_in_progress": False,
        "action_ran": "crypto", "timeout_seconds": 7200, "timeout_basis": "drive-estimate",
        "estimate_seconds": 3600,
        "condition": "cryptographic erase is a Purge only if the drive encrypted ...",
        **details}
    outcome.verify = VerifyResult(mode="sample", result="pass", bytes_checked=256 * 4096,
                                  sample_share=256 * 4096 / outcome.disk.size_bytes,
                                  subsections=256, method="markers")
    return outcome


def test_new_certificate_records_standard_technique_commands_and_verification() -> None:
    doc = certsample.document(outcome=nvme_sanitize())
    san, ver = doc["sanitization"], doc["verification"]
    assert san["standard"] == "NIST SP 800-88 Rev. 2"
    assert san["technique_standard"] == "IEEE 2883-2022"
    assert san["technique"] == "cryptographic erase"
    assert san["commands"][1] == {"argv": ["nvme", "sanitize", "/dev/nvme0", "--sanact=4"],
                                  "returncode": 0}
    assert san["tool_version"] == "nvme version 2.3 (git 2.3)"
    assert san["resumed"] is False and san["action_ran"] == "crypto"
    assert (san["timeout_seconds"], san["timeout_basis"], san["estimate_seconds"]) == (
        7200, "drive-estimate", 3600)
    assert san["condition"].startswith("cryptographic erase is a Purge only if")
    assert ver["method"] == "markers" and ver["subsections"] == 256
    signed = certify.sign_document(doc, KEY)  # validates against the schema
    verify(signed, KEY.public_key())
    assert check_certificate(json.loads(json.dumps(signed))).id == signed["id"]


def test_masked_secrets_stay_masked() -> None:
    outcome = certsample.sata_overwrite_outcome()
    outcome.method = "ata-secure-erase-enhanced"
    outcome.erase = EraseResult("ata-secure-erase-enhanced", "failed", "block erase", details={
        "commands": [{"argv": ["hdparm", "--user-master", "u", "--security-erase-enhanced",
                               "***", "/dev/sda"], "returncode": 5}]})
    outcome.attempts = [outcome.erase]
    san = certsample.document(outcome=outcome, image=None)["sanitization"]
    assert san["commands"][0]["argv"][4] == "***"
    # the technique on this media is the mapping table's: the drive overwrites on a HDD
    assert san["technique"] == "overwrite"


def test_unknown_values_are_not_recorded() -> None:
    doc = certsample.document(outcome=nvme_sanitize(timeout_basis="guess", action_ran="zap",
                                                    timeout_seconds="soon"))
    san = doc["sanitization"]
    assert san["timeout_basis"] is None and san["action_ran"] is None
    assert san["timeout_seconds"] is None
    certify.sign_document(doc, KEY)


def test_an_interrupted_job_record_has_the_standard_and_no_commands() -> None:
    doc = certify.build_certificate(outcome={
        "disk": certsample.nvme_disk().to_json(), "level": "purge",
        "method": "nvme-sanitize-crypto", "status": "incomplete", "errors": ["interrupted"],
        "verify": {"mode": "sample", "result": "not-done", "bytes_checked": 0}},
        host=certsample.host())
    san = doc["sanitization"]
    assert san["standard"] == "NIST SP 800-88 Rev. 2" and san["commands"] == []
    assert san["resumed"] is None and doc["verification"]["method"] is None
    certify.sign_document(doc, KEY)


def test_a_certificate_issued_before_these_fields_still_validates_and_verifies() -> None:
    old = json.loads((FIXTURES / "pre-rev2-nvme-sanitize.json").read_text())
    assert "standard" not in old["sanitization"] and "method" not in old["verification"]
    validate(old)
    verify(old, load_public_pem((FIXTURES / "pre-rev2-key.pub.pem").read_bytes()))
    assert check_certificate(old).id == old["id"]


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_pdf_shows_standard_technique_command_and_tool_version(tmp_path: Path,
                                                              lang: str) -> None:
    from appliance import i18n, pdf

    i18n.set_language(lang)
    try:
        doc = certify.sign_document(certsample.document(outcome=nvme_sanitize(
            condition=str(firmware.CRYPTO_CONDITION))), KEY)
        out = pdf.render([doc], tmp_path / "c.pdf")
    finally:
        i18n.set_language("en")
    text = " ".join(subprocess.run(["pdftotext", "-layout", str(out), "-"],
                                   capture_output=True, text=True, timeout=60,
                                   check=True).stdout.split())
    assert "NIST SP 800-88 Rev. 2 · IEEE" in text and "2883-2022" in text
    assert "nvme sanitize /dev/nvme0 --sanact=4" in text
    assert "nvme version 2.3 (git 2.3)" in text
    if lang == "fr":
        assert "effacement cryptographique" in text and "Norme" in text
        assert "blocs témoins écrits" in text
        assert "dès le départ" in text  # the condition, in the reader's language
    else:
        assert "cryptographic erase" in text and "Standard" in text
        assert "marker blocks written before the" in text
        assert "from the start" in text
