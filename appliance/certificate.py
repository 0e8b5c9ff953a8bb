"""The `ardoise.certificate/1` document: canonical bytes (RFC 8785) and Ed25519 signatures.

The ledger imports this module (and only this one from the appliance) to verify what it
receives, so it stays free of disk, network and UI concerns.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SCHEMA_ID = "ardoise.certificate/1"
SCHEMA_PATH = Path(__file__).parent / "certificate.schema.json"
# The machine's intake record (appliance.device) is signed the same way; its schema lives
# here too so the ledger checks it without importing the rest of the appliance.
DEVICE_SCHEMA_ID = "ardoise.device/1"
DEVICE_SCHEMA_PATH = Path(__file__).parent / "device.schema.json"


class CertificateError(Exception):
    """The document is malformed, unsigned, or its signature does not verify."""


def canonical(document: dict[str, Any]) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes."""
    return rfc8785.dumps(document)


def unsigned(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "signature"}


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError("public key is not Ed25519")
    return key


def load_canonical_public_pem(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key whose PEM is exactly the one encoding `public_pem` writes
    (line ends and surrounding blank space aside): a key, like a signature, has a single
    spelling. CertificateError otherwise."""
    try:
        key = load_public_pem(data)
    except ValueError as exc:
        raise CertificateError("not a PEM public key") from exc
    given = data.replace(b"\r\n", b"\n").strip()
    if public_pem(key).strip() != given:
        raise CertificateError("the public key's PEM is not in its canonical encoding")
    return key


def load_private_pem(data: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CertificateError("private key is not Ed25519")
    return key


def private_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def sign(document: dict[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of the document with its `signature` member."""
    body = copy.deepcopy(unsigned(document))
    value = private_key.sign(canonical(body))
    body["signature"] = {
        "alg": "ed25519",
        "key_id": key_id(private_key.public_key()),
        "value": base64.b64encode(value).decode("ascii"),
    }
    return body


def signature_bytes(value: object) -> bytes:
    """The 64 raw bytes of a signature's base64 value, which must be canonical: standard
    alphabet, padded, and the padding bits zero (the one encoding that re-encodes to
    itself). Otherwise one signature would have several spellings, each a different
    document that verifies (signature malleability). ValueError when it is not."""
    if not isinstance(value, str) or not value.isascii():
        raise ValueError("signature value is not base64 text")
    raw = base64.b64decode(value, validate=True)
    if base64.b64encode(raw).decode("ascii") != value:
        raise ValueError("signature value is not canonical base64")
    if len(raw) != 64:
        raise ValueError("an Ed25519 signature has 64 bytes")
    return raw


def verify_signature(document: dict[str, Any], public_key: Ed25519PublicKey) -> None:
    sig = document.get("signature")
    if not isinstance(sig, dict) or sig.get("alg") != "ed25519":
        raise CertificateError("missing or unsupported signature")
    if sig.get("key_id") != key_id(public_key):
        raise CertificateError("signed by another key")
    try:
        raw = signature_bytes(sig.get("value"))
        public_key.verify(raw, canonical(unsigned(document)))
    except (InvalidSignature, ValueError) as exc:
        raise CertificateError("signature does not verify") from exc


def leaf_bytes(document: dict[str, Any]) -> bytes:
    """What the ledger's log hashes: the RFC 8785 bytes of the whole signed certificate."""
    return canonical(document)


def load(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CertificateError(f"{path}: not a JSON object")
    return data


@functools.cache
def _validator(path: Path = SCHEMA_PATH) -> Any:
    from jsonschema import Draft202012Validator  # on first use: keeps imports light

    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(document: Any, path: Path) -> list[str]:
    errors = sorted(_validator(path).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message}"
            for e in errors]


def schema_errors(document: Any) -> list[str]:
    """Every way the document departs from certificate.schema.json ("path: message")."""
    if isinstance(document, dict) and document.get("schema") != SCHEMA_ID:
        return [f"schema: unknown certificate version {document.get('schema')!r}"]
    return _errors(document, SCHEMA_PATH)


def device_schema_errors(document: Any) -> list[str]:
    """Every way a device record departs from device.schema.json ("path: message")."""
    if isinstance(document, dict) and document.get("schema") != DEVICE_SCHEMA_ID:
        return [f"schema: unknown device record version {document.get('schema')!r}"]
    return _errors(document, DEVICE_SCHEMA_PATH)


def validate(document: Any) -> None:
    """Raise CertificateError unless the document matches the ardoise.certificate/1 schema."""
    errors = schema_errors(document)
    if errors:
        raise CertificateError("; ".join(errors[:5]))


def verify(document: dict[str, Any], public_keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]
           ) -> Ed25519PublicKey:
    """Schema and signature: the key (among those trusted) that signed it, or CertificateError."""
    validate(document)
    keys = [public_keys] if isinstance(public_keys, Ed25519PublicKey) else list(public_keys)
    wanted = document["signature"]["key_id"]
    for key in keys:
        if key_id(key) == wanted:
            verify_signature(document, key)
            return key
    raise CertificateError(f"signed by an unknown key {wanted[:16]}")
