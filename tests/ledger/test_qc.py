"""Quality control on the ledger: each batch's validation sample and independent validations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from appliance.audit import Plan, build_record
from appliance.certificate import key_id, public_pem, sign
from erasure.disk import Disk
from erasure.scan import Finding, ScanResult
from ledger.qc import QualityControl, required
from ledger.store import Ledger

BATCH = "B-2026-11"


def validation(key: Ed25519PrivateKey, cert: dict[str, Any], operator: str | None,
               result: str = "pass") -> dict[str, Any]:
    """A record as `ardoise audit` builds it, for the certificate's disk."""
    media = cert["media"]
    disk = Disk(path="/dev/sdb", id=media["id"], model=media["model"], serial=media["serial"],
                size_bytes=media["size_bytes"], logical_block_size=512,
                transport=media["transport"])
    scan = ScanResult(media["size_bytes"], bytes_read=media["size_bytes"],
                      zero_bytes=media["size_bytes"])
    if result == "fail":
        scan.findings.append(Finding(4096 * 1000, "signature", "pdf", 512, "file"))
        scan.counts["signature"] = 1
    plan = Plan(disk, media["size_bytes"], [], "zero", certificate=cert,
                certificate_signature="verified")
    doc = build_record(plan, scan, operator=operator)
    doc["appliance"]["key_id"] = key_id(key.public_key())
    return sign(doc, key)


def batch(submit: Callable[..., tuple[dict[str, Any], Any]], n: int = 40,
          **kw: Any) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        doc, res = submit(i, **kw)
        assert res.status_code == 201, res.text
        docs.append(doc)
    return docs


def test_the_sample_is_the_share_at_least_one() -> None:
    assert [required(n, 0.05) for n in (0, 1, 19, 20, 21, 40, 41, 100)] == \
        [0, 1, 1, 1, 2, 2, 3, 5]


def test_forty_devices_second_operator_accepted_first_refused(
        ledger: Ledger, client: TestClient, submit: Callable[..., tuple[dict[str, Any], Any]],
        key: Ed25519PrivateKey, auth: dict[str, str]) -> None:
    certs = batch(submit)
    qc = client.get(f"/api/v1/batches/{BATCH}/qc", headers=auth).json()
    assert qc["sanitized"] == 40 and qc["required"] == 2 and len(qc["sampled"]) == 2
    assert qc["pending"] == qc["sampled"] and qc["coverage"] == 0.0 and not qc["flagged"]
    by_id = {c["id"]: c for c in certs}
    drawn = by_id[qc["sampled"][0]]
    # the sample does not change when asked again
    again = client.get(f"/api/v1/batches/{BATCH}/qc", headers=auth).json()
    assert again["sampled"] == qc["sampled"]

    validator = Ed25519PrivateKey.generate()
    ledger.enroll("audit-bench", public_pem(validator.public_key()))
    # the operator who erased ("Élodie" on the certificate), even on another appliance
    res = client.post("/api/v1/validations", json=validation(validator, drawn, " élodie "))
    assert res.status_code == 403 and res.json()["error"] == "not_independent"
    # a second operator on the appliance that erased
    res = client.post("/api/v1/validations", json=validation(key, drawn, "B. Gagnon"))
    assert res.status_code == 403 and res.json()["error"] == "not_independent"
    # a second operator on a second appliance
    doc = validation(validator, drawn, "B. Gagnon")
    res = client.post("/api/v1/validations", json=doc)
    assert res.status_code == 201, res.text
    assert res.json() == {"id": doc["id"], "certificate_id": drawn["id"], "batch": BATCH,
                          "result": "pass", "status": "created"}
    assert client.post("/api/v1/validations", json=doc).status_code == 200

    qc = client.get(f"/api/v1/batches/{BATCH}/qc", headers=auth).json()
    assert qc["validated"] == [drawn["id"]] and qc["passed"] == 1 and qc["failed"] == 0
    assert qc["coverage"] == 0.025 and qc["pending"] == [qc["sampled"][1]]
    listed = client.get(f"/api/v1/certificates/{drawn['id']}/validations", headers=auth).json()
    assert [v["id"] for v in listed["validations"]] == [doc["id"]]

    # a failed validation flags the batch
    other = by_id[qc["sampled"][1]]
    res = client.post("/api/v1/validations", json=validation(validator, other, "B. Gagnon",
                                                             "fail"))
    assert res.status_code == 201
    qc = client.get(f"/api/v1/batches/{BATCH}/qc", headers=auth).json()
    assert qc["flagged"] and qc["failed"] == 1 and qc["coverage"] == 0.05 and qc["pending"] == []


def test_the_sample_grows_with_the_batch(ledger: Ledger,
                                         submit: Callable[..., tuple[dict[str, Any], Any]]
                                         ) -> None:
    qc = QualityControl(ledger, share=0.05)
    batch(submit, 20)
    first = qc.sample(BATCH)
    assert len(first) == 1
    for i in range(20, 41):
        assert submit(i)[1].status_code == 201
    grown = qc.sample(BATCH)
    assert len(grown) == 3 and set(first) <= set(grown)
    # only logically sanitized devices are drawn
    assert submit(99, status="failed", batch="B-failed")[1].status_code == 201
    assert qc.sample("B-failed") == []


def test_bad_validations_are_refused(ledger: Ledger, client: TestClient,
                                     submit: Callable[..., tuple[dict[str, Any], Any]],
                                     key: Ed25519PrivateKey) -> None:
    (cert,) = batch(submit, 1)
    validator = Ed25519PrivateKey.generate()
    stranger = Ed25519PrivateKey.generate()
    ledger.enroll("audit-bench", public_pem(validator.public_key()))
    res = client.post("/api/v1/validations", json=validation(stranger, cert, "B. Gagnon"))
    assert (res.status_code, res.json()["error"]) == (403, "unknown_key")
    unknown = dict(cert, id="00000000-0000-4000-8000-000000000000")
    res = client.post("/api/v1/validations", json=validation(validator, unknown, "B. Gagnon"))
    assert (res.status_code, res.json()["error"]) == (404, "unknown_certificate")
    res = client.post("/api/v1/validations", json=validation(validator, cert, None))
    assert (res.status_code, res.json()["error"]) == (422, "no_operator")
    other_disk = dict(cert, media=dict(cert["media"], serial="S999999999"))
    res = client.post("/api/v1/validations", json=validation(validator, other_disk, "B. G."))
    assert (res.status_code, res.json()["error"]) == (422, "other_disk")
    tampered = validation(validator, cert, "B. Gagnon")
    tampered["result"] = "fail"
    res = client.post("/api/v1/validations", json=tampered)
    assert (res.status_code, res.json()["error"]) == (403, "bad_signature")
    res = client.post("/api/v1/validations", json={"schema": "ardoise.validation/1"})
    assert res.status_code == 422
    assert client.post("/api/v1/validations", content=b"{").status_code == 400


def test_a_bad_share_setting_is_one_sentence(client: TestClient, auth: dict[str, str],
                                            monkeypatch: Any) -> None:
    monkeypatch.setenv("ARDOISE_LEDGER_QC_SHARE", "five percent")
    res = client.get(f"/api/v1/batches/{BATCH}/qc", headers=auth)
    assert res.status_code == 500 and "ARDOISE_LEDGER_QC_SHARE" in res.json()["detail"]


def test_the_batch_page_and_report_show_coverage_and_the_flag(
        ledger: Ledger, client: TestClient, submit: Callable[..., tuple[dict[str, Any], Any]],
        token: str, tmp_path: Any) -> None:
    import subprocess

    certs = {c["id"]: c for c in batch(submit)}
    client.cookies.set("ardoise_token", token)
    page = client.get(f"/batches/{BATCH}").text
    assert "Quality control: 2 of 40 devices drawn for independent validation" in page
    assert "0 validated" in page and "FLAGGED" not in page
    drawn = client.get(f"/api/v1/batches/{BATCH}/qc",
                       headers={"Authorization": f"Bearer {token}"}).json()["sampled"]
    assert all(f"/certificates/{cid}" in page for cid in drawn)
    validator = Ed25519PrivateKey.generate()
    ledger.enroll("audit-bench", public_pem(validator.public_key()))
    assert client.post("/api/v1/validations", json=validation(
        validator, certs[drawn[0]], "B. Gagnon", "fail")).status_code == 201
    page = client.get(f"/batches/{BATCH}").text
    assert "1 validated (2.5" in page and "FLAGGED" in page
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(client.get(f"/batches/{BATCH}/report.pdf").content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    assert "Quality control: 2 of 40" in " ".join(text.split()) and "FLAGGED" in text
    fr = client.get(f"/batches/{BATCH}?lang=fr").text
    assert "Contrôle qualité" in fr
