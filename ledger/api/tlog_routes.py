"""The log as C2SP serves it: /checkpoint, /tile/<L>/<N>[.p/<W>] (hashes only, public),
/tile/entries/<N>[.p/<W>] (the certificates themselves: bearer token), a vkey, and a
tlog-proof@v1 receipt per certificate (public: it holds hashes and the checkpoint, and a
certificate id is an unguessable UUID).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ledger.api.routes import no_nul, problem, reader
from ledger.store import NotFound
from ledger.tlog import CheckpointLog, TileNotFound, entry_bundle, parse_tile_index, tile

router = APIRouter()
TEXT = "text/plain; charset=utf-8"
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def log_of(request: Request) -> CheckpointLog:
    log: CheckpointLog = request.app.state.checkpoints
    return log


@router.get("/checkpoint", summary="The latest checkpoint (c2sp.org/tlog-checkpoint)",
            response_class=Response)
def checkpoint(request: Request) -> Response:
    return Response(log_of(request).note().encode(), media_type=TEXT,
                    headers={"Cache-Control": "no-cache, max-age=5"})


@router.get("/api/v1/log/vkey", summary="The log's note verifier key (c2sp.org/signed-note)",
            response_class=Response)
def vkey(request: Request) -> Response:
    return Response(log_of(request).vkey + "\n", media_type=TEXT)


def _size(request: Request) -> int:
    return request.app.state.ledger.latest_head().tree_size  # type: ignore[no-any-return]


@router.get("/tile/entries/{index:path}", summary="Entry bundle (bearer token)",
            response_class=Response)
def entries(index: str, request: Request) -> Response:
    reader(request)
    try:
        n, width = parse_tile_index(index.split("/"))
        data = entry_bundle(request.app.state.ledger, n, width, _size(request))
    except TileNotFound as exc:
        return problem(404, "not_found", str(exc))
    return Response(data, media_type="application/octet-stream", headers=IMMUTABLE)


@router.get("/tile/{level}/{index:path}", summary="Merkle tree tile (c2sp.org/tlog-tiles)",
            response_class=Response)
def tiles(level: str, index: str, request: Request) -> Response:
    try:
        if not level.isdigit() or (level != "0" and level.startswith("0")):
            raise TileNotFound("bad level")
        n, width = parse_tile_index(index.split("/"))
        data = tile(request.app.state.ledger, int(level), n, width, _size(request))
    except TileNotFound as exc:
        return problem(404, "not_found", str(exc))
    return Response(data, media_type="application/octet-stream", headers=IMMUTABLE)


@router.get("/api/v1/certificates/{certificate_id}/tlog-proof", response_class=Response,
            summary="Receipt: tlog-proof@v1 of this certificate at the latest checkpoint")
def tlog_proof(certificate_id: str, request: Request) -> Response:
    no_nul(certificate_id)
    try:
        proof = log_of(request).proof(certificate_id)
    except NotFound:
        return problem(404, "not_found", "no certificate with this id")
    return Response(proof.encode(), media_type=TEXT)
