"""Certificate intake: checks (size, JSON, schema, signature) then group-committed appends.

Requests are checked on the event loop; accepted ones wait in a queue that one writer
thread drains in batches, each batch one transaction and one signed tree head.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature

from appliance.certificate import signature_bytes
from ledger.canonical import NotCanonicalisable, has_nul, signed_and_unsigned
from ledger.heartbeats import parse_sent_at
from ledger.merkle import leaf_hash
from ledger.store import Appended, Ledger, Submission
from ledger.validation import Rejected, check_certificate, parse_object

log = logging.getLogger("ledger.intake")
MAX_BATCH = 500
KEY_ID = re.compile(r"^[0-9a-f]{64}$")


def verify_signed(ledger: Ledger, doc: dict[str, Any], unsigned_bytes: bytes) -> str:
    """Check the signature over the given RFC 8785 bytes against an enrolled key (the checks
    of appliance.certificate.verify_signature); returns the key id."""
    sig = doc.get("signature")
    kid = sig.get("key_id") if isinstance(sig, dict) else None
    if not isinstance(sig, dict) or sig.get("alg") != "ed25519" or not isinstance(kid, str) \
            or not KEY_ID.match(kid):
        raise Rejected(422, "no_signature", "missing or unsupported signature")
    key = ledger.public_key(kid)
    if key is None:
        raise Rejected(403, "unknown_key", "the signing key is not enrolled")
    try:
        raw = signature_bytes(sig.get("value"))
        key.verify(raw, unsigned_bytes)
    except (InvalidSignature, ValueError):
        raise Rejected(403, "bad_signature", "signature does not verify") from None
    return kid


def canonical_pair(doc: dict[str, Any]) -> tuple[bytes, bytes]:
    try:
        return signed_and_unsigned(doc)
    except NotCanonicalisable as exc:
        raise Rejected(422, "not_canonical", str(exc)) from None


def check_signed(ledger: Ledger, doc: dict[str, Any]) -> str:
    """Verify a signed document (heartbeat) against an enrolled key; returns its key id."""
    return verify_signed(ledger, doc, canonical_pair(doc)[1])


MAX_AHEAD = timedelta(days=1)  # an appliance's clock may be off, not by more than this


def check_issued_at(doc: dict[str, Any]) -> None:
    """issued_at is an RFC 3339 time with its offset, and not in the future."""
    issued = parse_sent_at(str(doc.get("issued_at") or ""))
    if issued is None:
        raise Rejected(422, "bad_issued_at", "issued_at is not an RFC 3339 time with its offset")
    if issued > datetime.now(UTC) + MAX_AHEAD:
        raise Rejected(422, "bad_issued_at", "issued_at is in the future: the appliance's clock "
                       "is wrong")
REQUEST_SCHEMA = "ardoise.request/1"
REQUEST_HEADER = "X-Ardoise-Request"
REQUEST_SKEW = 300  # seconds a signed request stays valid either side of the ledger's clock


def check_signed_request(ledger: Ledger, header: str | None, method: str, path: str) -> str:
    """An appliance's signed request header (GET has no body to sign): base64 of the RFC 8785
    bytes of `{"schema": "ardoise.request/1", "method", "path", "sent_at", "signature"}`,
    signed like a heartbeat. Returns the enrolled key id; Rejected(401) for a missing, stale
    or forged header, Rejected(404, "unknown_key") for a key the ledger does not know."""
    if not header:
        raise Rejected(401, "no_signature", f"the {REQUEST_HEADER} header is required")
    if len(header) > 4096:
        raise Rejected(401, "bad_request_header", f"{REQUEST_HEADER} is too long")
    try:
        raw = base64.b64decode(header.encode("ascii"), validate=True)
        doc = parse_object(raw)
    except (ValueError, UnicodeEncodeError, Rejected):
        raise Rejected(401, "bad_request_header", f"{REQUEST_HEADER} is not base64 JSON") from None
    if has_nul(doc):
        raise Rejected(401, "bad_request_header", "strings may not contain U+0000")
    if doc.get("schema") != REQUEST_SCHEMA or doc.get("method") != method \
            or doc.get("path") != path:
        raise Rejected(401, "wrong_request", "the signed request names another method or path")
    try:
        sent = datetime.fromisoformat(str(doc.get("sent_at", "")).replace("Z", "+00:00"))
        skew = abs(time.time() - sent.timestamp())
    except (ValueError, TypeError, OverflowError):
        raise Rejected(401, "bad_request_header", "sent_at is not an RFC 3339 time") from None
    if skew > REQUEST_SKEW:
        raise Rejected(401, "stale_request",
                       f"sent_at is {int(skew)} s away from the ledger's clock")
    try:
        return check_signed(ledger, doc)
    except Rejected as exc:
        if exc.code == "unknown_key":
            raise Rejected(404, "unknown_key", "this appliance key is not enrolled") from None
        raise Rejected(401, exc.code, exc.detail) from None


def prepare(ledger: Ledger, body: bytes) -> Submission:
    doc = parse_object(body)
    facts = check_certificate(doc)
    check_issued_at(doc)
    entry, unsigned_bytes = canonical_pair(doc)
    kid = verify_signed(ledger, doc, unsigned_bytes)
    appliance = doc.get("appliance")
    named = appliance.get("key_id") if isinstance(appliance, dict) else None
    if named is not None and named != kid:
        raise Rejected(422, "key_mismatch", "appliance.key_id differs from the signing key")
    return Submission(entry=entry, leaf_hash=leaf_hash(entry), facts=facts)


class Intake:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.pending: list[tuple[Submission, asyncio.Future[Appended]]] = []
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, sub: Submission) -> Appended:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        self.pending.append((sub, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self.executor, self.ledger.append, [s for s, _ in batch])
            except Exception as exc:
                log.exception("append failed", extra={"fields": {"batch": len(batch)}})
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            log.info("appended", extra={"fields": {
                "batch": len(batch), "new": sum(r.status == 201 for r in results),
                "tree_size": self.ledger.tree.size,
                "ms": round((time.perf_counter() - started) * 1000, 2)}})

    def close(self) -> None:
        self.executor.shutdown(wait=True)
