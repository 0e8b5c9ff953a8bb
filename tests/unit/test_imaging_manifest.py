"""Manifest: root hash definition, schema and consistency checks, signatures and trust."""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path

import blake3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import public_pem
from appliance.imaging import manifest as mf


def _doc(key: Ed25519PrivateKey | None = None) -> dict:
    chunks = []
    for i, (off, payload) in enumerate([(0, b"a" * 4096), (1 << 20, b"b" * 8192)]):
        chunks.append({"disk_offset": off, "length": len(payload),
                       "blake3": blake3.blake3(payload).hexdigest(),
                       "data_offset": i * 100, "data_length": 100})
    doc = {"format": mf.FORMAT, "name": "demo", "version": "1", "created": "2026-01-01T00:00:00Z",
           "image_bytes": 4 << 20, "min_disk_bytes": 4 << 20, "logical_block_size": 512,
           "chunk_bytes": 4 << 20, "compression": "zstd", "data_file": "demo.data",
           "data_bytes": 200, "partition_table": "none", "mapped_bytes": 12288,
           "chunks": chunks, "must_zero": [{"disk_offset": 8192, "length": 4096}]}
    doc["root_hash"] = mf.root_hash(
        (c["disk_offset"], c["length"], bytes.fromhex(c["blake3"])) for c in chunks)
    return mf.sign(doc, key) if key else doc


def test_root_hash_definition() -> None:
    doc = _doc()
    h = blake3.blake3(b"ardoise.image/1\n")
    for c in doc["chunks"]:
        h.update(struct.pack("<QQ", c["disk_offset"], c["length"]))
        h.update(bytes.fromhex(c["blake3"]))
    assert doc["root_hash"] == h.hexdigest()


def test_valid_signed_manifest(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    raw = json.dumps(_doc(key)).encode()
    m = mf.parse_bytes(raw)
    pem = tmp_path / "pub.pem"
    pem.write_bytes(public_pem(key.public_key()))
    assert mf.verify(m, mf.load_trusted_keys([pem])) == m.signature["key_id"]  # type: ignore[index]
    assert m.manifest_hash == blake3.blake3(raw).hexdigest()
    assert m.mapped_bytes == 12288 and m.zero_bytes == 4096


def test_unknown_key_and_bad_signature_are_refused(tmp_path: Path) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    pem = tmp_path / "other.pem"
    pem.write_bytes(public_pem(other.public_key()))
    m = mf.parse(_doc(key))
    with pytest.raises(mf.ManifestError, match="unknown key"):
        mf.verify(m, mf.load_trusted_keys([pem]))
    # signed by a trusted key, then altered: the signature no longer verifies
    doc = _doc(other)
    doc["version"] = "2"
    with pytest.raises(mf.ManifestError, match="does not verify"):
        mf.verify(mf.parse(doc), mf.load_trusted_keys([pem]))
    with pytest.raises(mf.ManifestError, match="not signed"):
        mf.verify(mf.parse(_doc()), mf.load_trusted_keys([pem]))
    with pytest.raises(mf.ManifestError, match="no trusted publisher key"):
        mf.verify(m, {})


def test_truncated_manifest_is_a_clear_error() -> None:
    raw = json.dumps(_doc(Ed25519PrivateKey.generate())).encode()
    with pytest.raises(mf.ManifestError, match="not valid JSON"):
        mf.parse_bytes(raw[: len(raw) // 2])


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("root_hash"), "root_hash"),
    (lambda d: d["chunks"][0].update(length="4096"), "chunks/0"),
    (lambda d: d.update(extra=1), "Additional properties"),
    (lambda d: d["chunks"][1].update(disk_offset=2048), "overlaps"),
    (lambda d: d["chunks"][1].update(disk_offset=1000), "not aligned"),
    (lambda d: d.update(image_bytes=4096), "past the image size"),
    (lambda d: d["chunks"][1].update(data_offset=150), "past the end of the data file"),
    (lambda d: d["chunks"][1].update(blake3="0" * 64), "root hash does not match"),
    (lambda d: d["chunks"].reverse(), "out of disk order"),
])
def test_inconsistent_manifests_are_rejected(change, message) -> None:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(_doc())
    change(doc)
    with pytest.raises(mf.ManifestError, match=message):
        mf.parse(doc)


def test_bad_trusted_key_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(mf.ManifestError, match="cannot read trusted key"):
        mf.load_trusted_keys([bad])


def test_default_trust_dir(tmp_path: Path) -> None:
    trusted = tmp_path / "keys" / "trusted"
    trusted.mkdir(parents=True)
    (trusted / "a.pem").write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    assert mf.default_trust(tmp_path) == [trusted / "a.pem"]
