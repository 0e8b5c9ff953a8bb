"""Routes of quality control: validation records in, each batch's sample and QC coverage out.

POST /api/v1/validations takes a signed `ardoise.validation/1` (authenticated by its
signature, like certificates); the reads need a bearer token. The share of each batch to
validate is `ARDOISE_LEDGER_QC_SHARE` (default 0.05).
"""

from __future__ import annotations

import os
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from ledger.api.routes import (
    OBJECT_BODY,
    PROBLEMS,
    Reader,
    json_response,
    no_nul,
    problem,
    read_body,
)
from ledger.qc import DEFAULT_SHARE, QualityControl
from ledger.validation import Rejected

router = APIRouter(prefix="/api/v1")
ENV_SHARE = "ARDOISE_LEDGER_QC_SHARE"


def qc_of(request: Request) -> QualityControl:
    state = request.app.state
    qc: QualityControl | None = getattr(state, "qc", None)
    if qc is None:
        raw = os.environ.get(ENV_SHARE, str(DEFAULT_SHARE))
        try:
            qc = QualityControl(state.ledger, float(raw))
        except ValueError:
            raise HTTPException(500, f"{ENV_SHARE}={raw!r}: give the share of each batch to "
                                     "validate, a number above 0 and at most 1") from None
        state.qc = qc
    return qc


@router.post("/validations", status_code=201, openapi_extra=OBJECT_BODY, responses=PROBLEMS,
             summary="Submit a signed validation record")
async def post_validation(request: Request) -> Response:
    """Body: the signed `ardoise.validation/1` document of an audit. 201 new, 200 identical
    duplicate; 403 `not_independent` when it comes from the appliance key or the operator
    that erased the disk; 404 when the certificate it validates is not logged."""
    try:
        status, summary = qc_of(request).accept(await read_body(request))
    except Rejected as exc:
        return problem(exc.status, exc.code, exc.detail)
    return Response(orjson.dumps(summary), status_code=status, media_type="application/json")


Batch = Annotated[str, Path(max_length=200)]


@router.get("/batches/{batch}/qc", responses=PROBLEMS, summary="A batch's validation sample")
def batch_qc(batch: Batch, request: Request, _: Reader) -> Response:
    """The devices drawn for validation (drawn up to the share first when certificates came
    since), the validations received, coverage and whether a failure flags the batch."""
    no_nul(batch)
    return json_response(qc_of(request).status(batch).to_json())


@router.get("/certificates/{certificate_id}/validations", responses=PROBLEMS,
            summary="The validations of one certificate")
def certificate_validations(certificate_id: str, request: Request, _: Reader) -> Response:
    no_nul(certificate_id)
    return json_response({"certificate_id": certificate_id,
                          "validations": qc_of(request).validations_of(certificate_id)})

