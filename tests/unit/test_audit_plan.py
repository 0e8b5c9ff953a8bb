"""What the audit expects where (appliance/audit.py), and the record it signs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import audit
from appliance.certificate import CertificateError, key_id, sign
from appliance.imaging.manifest import Chunk, Extent, Manifest
from erasure.disk import Disk
from erasure.scan import ANY, IMAGE, TABLE, ZERO, Finding, ScanResult, check_regions

MiB = 1 << 20


def _manifest() -> Manifest:
    chunks = [Chunk(0, 0, MiB, "a" * 64, 0, 10, "partition-table"),
              Chunk(1, 2 * MiB, MiB, "b" * 64, 10, 10)]
    return Manifest("os", "1", "2026-12-01T00:00:00Z", 4 * MiB, 4 * MiB, 512, MiB, "os.data",
                    20, chunks, [Extent(3 * MiB, MiB)], partition_table="gpt")


def _disk(size: int = 8 * MiB, serial: str = "S1") -> Disk:
    return Disk(path="/dev/sdz", id="ata-X_S1", model="X", serial=serial, size_bytes=size,
                logical_block_size=512, transport="sata")


def _cert(**san: Any) -> dict[str, Any]:
    return {"id": "c1", "operator": "Élodie", "batch": "B1",
            "media": {"id": "ata-X_S1", "serial": "S1", "size_bytes": 8 * MiB},
            "sanitization": {"technique": "overwrite", "pattern": "zero", "method": "overwrite",
                             **san},
            "image": None, "signature": {"key_id": "f" * 64}}


def test_regions_cover_the_disk_with_the_image_zeros_and_the_backup_gpt() -> None:
    regions = audit.plan_regions(8 * MiB, _manifest(), "zero", (8 * MiB - 16896, 16896))
    check_regions(regions, 8 * MiB, 512)
    assert [(r.offset, r.expect, r.adjustable) for r in regions] == [
        (0, IMAGE, True), (MiB, ZERO, False), (2 * MiB, IMAGE, False), (3 * MiB, ZERO, False),
        (4 * MiB, ZERO, False), (8 * MiB - 16896, TABLE, False)]


def test_without_a_known_pattern_the_rest_has_none_but_must_zero_stays_zero() -> None:
    regions = audit.plan_regions(8 * MiB, _manifest(), None)
    assert [r.expect for r in regions] == [IMAGE, ANY, IMAGE, ZERO, ANY]
    # the image's own size: the GPT chunk must match exactly
    assert not any(r.adjustable for r in audit.plan_regions(4 * MiB, _manifest(), None))


@pytest.mark.parametrize("san, pattern, note", [
    ({}, "zero", None),
    ({"pattern": "random"}, None, "the random stream's key is not kept"),
    ({"technique": "block erase", "pattern": None, "method": "ata-sanitize-block"}, None,
     "ata-sanitize-block leaves what the drive chose"),
])
def test_the_pattern_comes_from_the_certificate(san: dict[str, Any], pattern: str | None,
                                                note: str | None) -> None:
    got, why = audit.expected_pattern(_cert(**san))
    assert got == pattern
    assert (why is None) == (note is None) and (note is None or note in why)  # type: ignore[operator]
    assert audit.expected_pattern(None)[0] is None


def test_a_certificate_for_another_disk_or_image_is_refused() -> None:
    with pytest.raises(audit.AuditInputError, match="serial S1"):
        audit.check_identity(_disk(serial="S2"), _cert())
    with pytest.raises(audit.AuditInputError, match="bytes"):
        audit.check_identity(_disk(size=16 * MiB), _cert())
    imaged = dict(_cert(), image={"name": "os", "status": "imaged", "root_hash": "9" * 64})
    with pytest.raises(audit.AuditInputError, match="--manifest"):
        audit.check_image(imaged, None)
    with pytest.raises(audit.AuditInputError, match="not the image"):
        audit.check_image(imaged, _manifest())


def test_the_signed_record_follows_its_schema(tmp_path: Path) -> None:
    plan = audit.Plan(_disk(), 8 * MiB, [], "zero", certificate=_cert(),
                      certificate_signature="verified", manifest=_manifest(),
                      manifest_signature="verified")
    scan = ScanResult(8 * MiB, bytes_read=8 * MiB, image_bytes=2 * MiB, zero_bytes=6 * MiB)
    scan.findings = [Finding(5 * MiB, "signature", "pdf", 512, "file: b'%PDF-' at +0"),
                     Finding(0, "table-adjusted", "chunk 0", MiB, "")]
    scan.counts = {"signature": 1, "table-adjusted": 1}
    record = audit.build_record(plan, scan, operator="B. Gagnon")
    assert record["result"] == "fail" and record["findings_total"] == 1
    assert [f["kind"] for f in record["findings"]] == ["signature"]
    assert any("chunk 0" in n for n in record["notes"])
    key = Ed25519PrivateKey.generate()
    record["appliance"]["key_id"] = key_id(key.public_key())
    audit.validate(sign(record, key))
    broken = sign(dict(record, result="maybe"), key)
    with pytest.raises(CertificateError, match="result"):
        audit.validate(broken)
