"""What the ledger accepts: size limit, JSON, the certificate schema, and the facts it indexes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from appliance.certificate import SCHEMA_ID, SCHEMA_PATH
from ledger.canonical import MAX_DEPTH, NotCanonicalisable, check_depth

MAX_BODY = 256 * 1024


class Rejected(Exception):
    """A submission the ledger refuses: HTTP status, a stable code and an English reason."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def parse_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object: its size is checked before parsing (orjson itself stops at
    1024 levels), its depth right after, before any recursive code (schema validators,
    canonicalisation) sees it."""
    if len(body) > MAX_BODY:
        raise Rejected(413, "too_large", f"body larger than {MAX_BODY} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, "malformed_json", f"malformed JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise Rejected(422, "not_an_object", "the body must be a JSON object")
    try:
        check_depth(data)
    except NotCanonicalisable:
        raise Rejected(422, "too_deep", f"the document nests deeper than {MAX_DEPTH} levels") \
            from None
    return data


# Used until appliance/certificate.schema.json exists: the members DESIGN.md names.
FALLBACK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema", "id", "issued_at", "host", "media", "sanitization", "signature"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "id": {"type": "string", "format": "uuid"},
        "issued_at": {"type": "string", "minLength": 1, "maxLength": 40},
        "host": {"type": "object"},
        "media": {"type": "object"},
        "sanitization": {"type": "object"},
        "verification": {"type": ["object", "null"]},
        "signature": {
            "type": "object",
            "required": ["alg", "key_id", "value"],
            "properties": {"alg": {"const": "ed25519"},
                           "key_id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                           "value": {"type": "string"}},
        },
    },
}


def certificate_schema() -> dict[str, Any]:
    if SCHEMA_PATH.exists():
        schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
        return schema
    return FALLBACK_SCHEMA


@lru_cache(maxsize=1)
def _validator() -> Callable[[dict[str, Any]], str | None]:
    schema = certificate_schema()
    try:
        import jsonschema_rs

        compiled = jsonschema_rs.validator_for(schema)

        def check_rs(doc: dict[str, Any]) -> str | None:
            for error in compiled.iter_errors(doc):
                return f"{error.message} at /{'/'.join(str(p) for p in error.instance_path)}"
            return None

        return check_rs
    except ImportError:  # pragma: no cover - the pure-Python validator
        import jsonschema

        cls = jsonschema.validators.validator_for(schema)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

        def check_py(doc: dict[str, Any]) -> str | None:
            error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
            if error is None:
                return None
            return f"{error.message} at /{'/'.join(str(p) for p in error.absolute_path)}"

        return check_py


@dataclass(frozen=True)
class ListedFacts:
    """What the ledger lists of a certificate (a row of GET /api/v1/certificates)."""

    id: str
    issued_at: str
    host_serial: str
    media_model: str
    media_serial: str
    batch: str
    donor: str
    status: str
    method: str
    nist_level: str
    verification: str


@dataclass(frozen=True)
class CertificateFacts(ListedFacts):
    """The columns the ledger indexes, copied out of a certificate: the listed facts and the
    signing key's id."""

    key_id: str

    def columns(self) -> dict[str, str]:
        return dict(self.__dict__)


def _get(node: Any, key: str) -> Any:
    return node.get(key) if isinstance(node, dict) else None


def _s(value: Any, size: int = 200) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return (value if isinstance(value, str) else str(value))[:size]


def facts(doc: dict[str, Any]) -> CertificateFacts:
    host, media = doc.get("host"), doc.get("media")
    san, ver = doc.get("sanitization"), doc.get("verification")
    context = doc.get("context")
    return CertificateFacts(
        id=_s(doc.get("id")).lower(),
        key_id=_s(_get(doc.get("signature"), "key_id")),
        issued_at=_s(doc.get("issued_at"), 40),
        host_serial=_s(_get(host, "serial")),
        media_model=_s(_get(media, "model")),
        media_serial=_s(_get(media, "serial")),
        batch=_s(doc.get("batch")) or _s(_get(context, "batch")),
        donor=_s(doc.get("donor")) or _s(_get(context, "donor")),
        status=_s(_get(san, "status"), 32),
        method=_s(_get(san, "method"), 64),
        nist_level=_s(_get(san, "level"), 16) or _s(_get(san, "nist_level"), 16),
        verification=_s(_get(ver, "result"), 32),
    )


def check_certificate(doc: dict[str, Any]) -> CertificateFacts:
    """Schema version, JSON Schema and identifier checks (the signature is checked later)."""
    version = doc.get("schema")
    if version != SCHEMA_ID:
        raise Rejected(422, "wrong_schema_version",
                       f"unsupported schema {str(version)[:60]!r}; expected {SCHEMA_ID!r}")
    problem = _validator()(doc)
    if problem:
        raise Rejected(422, "schema", f"certificate does not match its schema: {problem}"[:500])
    sig = doc.get("signature")
    if not isinstance(sig, dict) or sig.get("alg") != "ed25519" or not isinstance(
            sig.get("key_id"), str) or not isinstance(sig.get("value"), str):
        raise Rejected(422, "no_signature", "missing or unsupported signature")
    try:
        canonical_id = str(uuid.UUID(str(doc.get("id"))))
    except ValueError:
        canonical_id = ""
    if canonical_id != str(doc.get("id")).lower():
        raise Rejected(422, "bad_id", "id is not a UUID in its 8-4-4-4-12 form")
    return facts(doc)
