"""Routes of /api/v1: appliances post certificates and heartbeats (authenticated by their
signature) and enroll with a token; reads need a bearer token."""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from appliance.certificate import CertificateError
from ledger.api import models as m
from ledger.canonical import has_nul
from ledger.heartbeats import StaleHeartbeat
from ledger.intake import (
    REQUEST_HEADER,
    Intake,
    check_signed,
    check_signed_request,
    prepare,
)
from ledger.store import Ledger, NotFound
from ledger.validation import MAX_BODY, Rejected, parse_object

log = logging.getLogger("ledger.api")
router = APIRouter(prefix="/api/v1")

PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.Problem} for code in (400, 401, 403, 404, 409, 413, 422, 503)}
OBJECT_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object"}}}}}


def problem(status: int, code: str, detail: str) -> Response:
    return Response(orjson.dumps({"error": code, "detail": detail}), status_code=status,
                    media_type="application/json")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def ledger_of(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


def no_nul(*values: str) -> None:
    if any("\x00" in v for v in values):
        raise HTTPException(422, "strings may not contain U+0000")


def reader(request: Request) -> str:
    """Bearer token (or the web session cookie) of an admin token."""
    header = request.headers.get("authorization", "")
    raw = header[7:].strip() if header.lower().startswith("bearer ") else None
    raw = raw or request.cookies.get("ardoise_token")
    if ledger_of(request).token_kind(raw) not in ("admin", "session"):
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return "admin"


Reader = Annotated[str, Depends(reader)]


async def read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise Rejected(413, "too_large", f"body larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Rejected(413, "too_large", f"body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def submit(app_state: Any, body: bytes) -> tuple[int, bytes]:
    """Check and append one submitted certificate: (HTTP status, JSON body)."""
    try:
        sub = prepare(app_state.ledger, body)
    except Rejected as exc:
        log.info("rejected", extra={"fields": {"code": exc.code, "status": exc.status}})
        return exc.status, orjson.dumps({"error": exc.code, "detail": exc.detail})
    intake: Intake = app_state.intake
    result = await intake.submit(sub)
    if result.status in (200, 201):
        return result.status, orjson.dumps({
            "id": result.id, "leaf_index": result.leaf_index,
            "status": "created" if result.status == 201 else "duplicate"})
    return result.status, orjson.dumps({"error": result.code, "detail": result.detail})


@router.post("/certificates", status_code=201, openapi_extra=OBJECT_BODY,
             responses={200: {"model": m.CertificateAccepted}, **PROBLEMS},
             response_model=m.CertificateAccepted, summary="Submit a signed certificate")
async def post_certificate(request: Request) -> Response:
    """Body: the signed `ardoise.certificate/1` document. 201 new, 200 identical duplicate,
    409 same id with different content; any other refusal is a 4xx Problem and stores nothing.
    (ledger.api.fastpath answers this route without the framework's per-request overhead.)"""
    try:
        body = await read_body(request)
    except Rejected as exc:
        return problem(exc.status, exc.code, exc.detail)
    status, payload = await submit(request.app.state, body)
    return Response(payload, status_code=status, media_type="application/json")


@router.get("/certificates/{certificate_id}", response_model=m.CertificateRecord,
            responses=PROBLEMS, summary="One certificate as logged")
def get_certificate(certificate_id: str, request: Request, _: Reader) -> Response:
    no_nul(certificate_id)
    try:
        row = ledger_of(request).get(certificate_id)
    except NotFound:
        return problem(404, "not_found", "no certificate with this id")
    # the stored RFC 8785 bytes themselves: what was logged is what is served
    head = orjson.dumps({"leaf_index": row.leaf_index,
                         "received_at": row.received_at.isoformat()})
    return Response(head[:-1] + b',"certificate":' + bytes(row.entry) + b"}",
                    media_type="application/json")


@router.get("/certificates", response_model=m.SearchPage, responses=PROBLEMS,
            summary="Search certificates")
def search(request: Request, _: Reader,
           serial: Annotated[str, Query(max_length=200, description="host or disk serial")] = "",
           model: Annotated[str, Query(max_length=200)] = "",
           batch: Annotated[str, Query(max_length=200)] = "",
           donor: Annotated[str, Query(max_length=200)] = "",
           status: Annotated[str, Query(max_length=32)] = "",
           since: Annotated[str, Query(max_length=40, description="issued_at >= (RFC 3339)")] = "",
           until: Annotated[str, Query(max_length=40, description="issued_at <= (RFC 3339)")] = "",
           page: Annotated[int, Query(ge=1, le=100_000)] = 1,
           per_page: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
    no_nul(serial, model, batch, donor, status, since, until)
    result = ledger_of(request).search(serial=serial, model=model, batch=batch, donor=donor,
                                       status=status, since=since, until=until, page=page,
                                       per_page=per_page)
    return json_response({"total": result.total, "page": result.page,
                          "per_page": result.per_page,
                          "results": [summary(r) for r in result.rows]})


def summary(row: Any) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in dataclasses.fields(m.CertificateSummary)}


@router.get("/certificates/{certificate_id}/proof", response_model=m.InclusionProof,
            responses=PROBLEMS, summary="Inclusion proof (RFC 9162 2.1.3)")
def inclusion_proof(certificate_id: str, request: Request, _: Reader,
                    tree_size: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> Response:
    no_nul(certificate_id)
    ledger = ledger_of(request)
    try:
        row = ledger.get(certificate_id)
    except NotFound:
        return problem(404, "not_found", "no certificate with this id")
    size = tree_size if tree_size is not None else ledger.latest_head().tree_size
    ledger.ensure_tree(size)
    if not row.leaf_index < size <= ledger.tree.size:
        return problem(400, "bad_tree_size",
                       f"tree_size must be in {row.leaf_index + 1}..{ledger.tree.size}")
    path = ledger.tree.inclusion_proof(row.leaf_index, size)
    return json_response({"leaf_index": row.leaf_index, "tree_size": size,
                          "leaf_hash": bytes(row.leaf_hash).hex(),
                          "audit_path": [h.hex() for h in path]})


@router.get("/log/root", response_model=m.TreeHeadOut, summary="Latest signed tree head")
def log_root(request: Request) -> Response:
    ledger = ledger_of(request)
    return json_response(ledger.latest_head().as_json(ledger.log_key.key_id))


@router.get("/log/key", response_model=m.LogKeyOut, summary="The key that signs tree heads")
def log_key(request: Request) -> Response:
    key = ledger_of(request).log_key
    return json_response({"alg": "ed25519", "key_id": key.key_id,
                          "public_key_pem": key.public_pem()})


@router.get("/log/consistency", response_model=m.ConsistencyProof, responses=PROBLEMS,
            summary="Consistency proof between two tree sizes (RFC 9162 2.1.4)")
def consistency(request: Request, first: Annotated[int, Query(ge=1, le=2**62)],
                second: Annotated[int, Query(ge=1, le=2**62)]) -> Response:
    ledger = ledger_of(request)
    ledger.ensure_tree(second)
    if not first <= second <= ledger.tree.size:
        return problem(400, "bad_tree_size",
                       f"need 1 <= first <= second <= {ledger.tree.size}")
    proof = ledger.tree.consistency_proof(first, second)
    return json_response({"first": first, "second": second, "proof": [h.hex() for h in proof]})


@router.post("/heartbeats", response_model=m.HeartbeatAccepted, openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Heartbeat"}}}}},
    responses=PROBLEMS, summary="Progress of an appliance's jobs (rack view)")
async def post_heartbeat(request: Request) -> Response:
    """The body is checked (size, depth, schema, signature, key) on the event loop; only the
    validated model is stored, in a worker thread, so a slow or locked database never stalls
    the server. 409 for a heartbeat not newer than the last one accepted from its key."""
    ledger = ledger_of(request)
    try:
        doc = parse_object(await read_body(request))
        if has_nul(doc):
            raise Rejected(422, "nul_character", "strings may not contain U+0000")
        try:
            hb = m.Heartbeat.model_validate(doc, strict=True)
        except ValidationError as exc:
            raise Rejected(422, "schema", str(exc.errors()[0].get("msg"))[:300]) from None
        kid = check_signed(ledger, doc)
        if hb.appliance.get("key_id") != kid:
            raise Rejected(422, "key_mismatch", "appliance.key_id differs from the signer")
        if not await run_in_threadpool(ledger.is_active, kid):
            raise Rejected(403, "key_not_allowed", "the signing key is revoked")
        await run_in_threadpool(ledger.record_heartbeat, kid,
                                hb.model_dump(mode="json", by_alias=True))
    except Rejected as exc:
        return problem(exc.status, exc.code, exc.detail)
    except StaleHeartbeat as exc:
        log.info("heartbeat refused", extra={"fields": {"code": "stale", "key_id": kid}})
        return problem(409, "stale_heartbeat", str(exc))
    return json_response({"key_id": kid, "received": True})


@router.post("/appliances", status_code=201, response_model=m.EnrollmentResult,
             responses={200: {"model": m.EnrollmentResult}, **PROBLEMS},
             summary="Enroll an appliance key with an enrollment token (netbooted racks)")
def enroll(body: m.EnrollmentRequest, request: Request) -> Response:
    ledger = ledger_of(request)
    no_nul(body.name, body.token, body.public_key_pem)
    if ledger.token_kind(body.token) not in ("enroll", "admin"):
        log.warning("enrollment refused", extra={"fields": {"code": "bad_token",
                                                          "name": body.name[:200]}})
        return problem(403, "bad_token", "the enrollment token is unknown or revoked")
    try:
        kid, new = ledger.enroll(body.name, body.public_key_pem.encode("utf-8"))
    except PermissionError:
        return problem(403, "key_revoked", "this key was revoked")
    except (CertificateError, ValueError, UnicodeError) as exc:
        return problem(422, "bad_key", f"public_key_pem is not an Ed25519 public key in its "
                       f"canonical PEM ({exc})"[:300])
    except SQLAlchemyError:
        log.exception("enrollment failed", extra={"fields": {"name": body.name[:200]}})
        return problem(503, "unavailable", "the ledger could not store the key: try again")
    log.info("enrolled", extra={"fields": {"key_id": kid, "name": body.name, "new": new}})
    return json_response({"key_id": kid, "name": body.name, "enrolled": new}, 201 if new else 200)


@router.get("/appliances/me", response_model=m.ApplianceStanding, responses=PROBLEMS,
            summary="This appliance's standing: enrolled, revoked (a signed request)")
def appliance_me(request: Request, x_ardoise_request: Annotated[str | None, Header(
        alias=REQUEST_HEADER, description="base64 of the RFC 8785 bytes of a signed "
        '{"schema": "ardoise.request/1", "method": "GET", "path": "/api/v1/appliances/me", '
        '"sent_at": RFC 3339, "signature": {...}} (5 minutes either side of the clock)')] = None
                 ) -> Response:
    """The appliance checks before erasing that the ledger knows its key. 200 with its name
    and whether it was revoked; 404 for a key the ledger never enrolled; 401 for a missing,
    stale or forged signature."""
    ledger = ledger_of(request)
    try:
        kid = check_signed_request(ledger, x_ardoise_request, "GET", request.url.path)
    except Rejected as exc:
        return problem(exc.status, exc.code, exc.detail)
    row = ledger.appliance(kid)
    if row is None:  # enrolled a moment ago and removed since: not known any more
        return problem(404, "unknown_key", "this appliance key is not enrolled")
    return json_response({"name": row.name, "key_id": kid,
                          "enrolled_at": row.enrolled_at.isoformat(),
                          "revoked": row.revoked_at is not None})


@router.post("/boot-reports", status_code=202, response_model=m.BootReportAccepted,
             responses=PROBLEMS, summary="A rack machine refused to work (logged, not stored)")
def boot_report(body: m.BootReport, request: Request) -> Response:
    """Unauthenticated on purpose: the machine has no trusted identity yet. Only the log
    keeps it (the reason a machine on the rack stopped); nothing is stored."""
    no_nul(body.code, body.reason, body.config)
    host = body.host.model_dump() if body.host else {}
    client = request.client.host if request.client else ""
    log.warning("machine refused to work", extra={"fields": {
        "code": body.code, "reason": body.reason, "config": body.config, "client": client,
        **{f"host_{k}": v for k, v in host.items()}}})
    return json_response({"logged": True}, 202)
