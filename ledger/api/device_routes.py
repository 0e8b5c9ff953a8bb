"""Routes of /api/v1/devices: appliances post signed device records (ardoise.device/1);
reading one back needs a bearer token."""

from __future__ import annotations

import logging

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ledger import devices
from ledger.api.routes import OBJECT_BODY, PROBLEMS, Reader, ledger_of, problem, read_body
from ledger.store import NotFound
from ledger.validation import Rejected

log = logging.getLogger("ledger.api")
router = APIRouter(prefix="/api/v1")


@router.post("/devices", status_code=201, openapi_extra=OBJECT_BODY, responses=PROBLEMS,
             summary="Submit a signed device record")
async def post_device(request: Request) -> Response:
    """Body: the signed `ardoise.device/1` record. 201 new, 200 identical duplicate, 409 the
    same id with different content; any other refusal is a 4xx Problem and stores nothing."""
    try:
        body = await read_body(request)
        stored = await run_in_threadpool(devices.store, ledger_of(request), body)
    except Rejected as exc:
        log.info("device rejected", extra={"fields": {"code": exc.code, "status": exc.status}})
        return problem(exc.status, exc.code, exc.detail)
    if stored.status == 409:
        return problem(409, "conflict", "a different device record with this id is stored")
    return Response(orjson.dumps({"id": stored.id, "status": "created" if stored.status == 201
                                  else "duplicate"}),
                    status_code=stored.status, media_type="application/json")


@router.get("/devices/{record_id}", responses=PROBLEMS, summary="One device record")
async def get_device(record_id: str, request: Request, _reader: Reader) -> Response:
    try:
        entry = await run_in_threadpool(devices.get, ledger_of(request), record_id)
    except NotFound:
        return problem(404, "not_found", "no device record with this id")
    return Response(entry, media_type="application/json")
