"""The ledger's web application: JSON API, server-rendered pages, /healthz."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import __version__
from ledger.api import models
from ledger.api.fastpath import SubmitFastPath
from ledger.api.qc_routes import router as qc_router
from ledger.api.routes import router as api_router
from ledger.api.tlog_routes import router as tlog_router
from ledger.db import make_engine, upgrade
from ledger.intake import Intake
from ledger.logkey import default_path
from ledger.store import Ledger
from ledger.tlog import CheckpointLog, default_origin
from ledger.web.apidocs import router as apidocs_router
from ledger.web.pages import STATIC_DIR
from ledger.web.pages import router as web_router
from ledger.witness import ENV_WITNESSES, Witness, Witnessing, parse_witnesses


def _problem(status: int, code: str, detail: str,
             headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"error": code, "detail": detail}), status_code=status,
                    media_type="application/json", headers=headers)


def create_app(ledger: Ledger, *, netboot: Path | None = None,
               lost_after: float = 120.0, origin: str | None = None,
               witnesses: str | None = None) -> FastAPI:
    """`origin`: the checkpoints' origin line and key name (default: $ARDOISE_LEDGER_ORIGIN,
    else ardoise-ledger/ and the log key's id). `witnesses`: "URL=VKEY ..." (default:
    $ARDOISE_LEDGER_WITNESSES) that each new checkpoint is submitted to (ledger.witness)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        witnessing = None
        if app.state.witnesses:
            witnessing = Witnessing(app.state.checkpoints,
                                    [Witness(url, key) for url, key in app.state.witnesses])
            app.state.witnessing = witnessing.start()
        yield
        if witnessing is not None:
            witnessing.stop()
        app.state.intake.close()

    app = FastAPI(title="Ardoise ledger", version=__version__, lifespan=lifespan,
                  description="Signed erasure certificates in an RFC 9162 verifiable log.",
                  docs_url=None, redoc_url=None)  # /docs is ledger.web.apidocs: no CDN
    app.state.ledger = ledger
    app.state.intake = Intake(ledger)
    app.state.lost_after = lost_after
    app.state.checkpoints = CheckpointLog(
        ledger, origin or os.environ.get(ENV_ORIGIN) or default_origin(ledger))
    app.state.witnesses = parse_witnesses(
        witnesses if witnesses is not None else os.environ.get(ENV_WITNESSES, ""))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error")
        return _problem(exc.status_code, code, str(exc.detail),
                        dict(exc.headers) if exc.headers else None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _problem(422, "invalid", f"{where}: {first.get('msg', 'invalid')}"[:300])

    @app.get("/healthz", include_in_schema=True, summary="Liveness and log size")
    @app.get("/api/v1/healthz", include_in_schema=True, summary="Liveness and log size",
             operation_id="healthz_api")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "tree_size": ledger.tree.size}

    app.include_router(api_router)
    app.include_router(tlog_router)
    app.include_router(qc_router)
    app.include_router(web_router)
    app.include_router(apidocs_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if netboot is not None:
        app.mount("/netboot", StaticFiles(directory=netboot), name="netboot")
        if (netboot / "grub").is_dir():  # UEFI HTTP boot: Debian's GRUB asks for /grub/grub.cfg
            app.mount("/grub", StaticFiles(directory=netboot / "grub"), name="netboot-grub")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            hb = models.Heartbeat.model_json_schema(
                ref_template="#/components/schemas/{model}", by_alias=True)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(hb.pop("$defs", {}))
            components["Heartbeat"] = hb
            schema["components"]["securitySchemes"] = {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "a token from `ardoise-ledger token create`"}}
            for path, item in schema.get("paths", {}).items():
                if path.startswith("/api/v1/certificates") and "get" in item:
                    item["get"]["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def build(db_url: str | None, key_file: Path | None = None, **kwargs: Any) -> FastAPI:
    """The application for a database; the log key from `key_file` (default: where
    ledger.logkey.default_path says), outside the database."""
    engine = make_engine(db_url)
    upgrade(engine)
    return create_app(Ledger(engine, key_file or default_path(db_url)), **kwargs)


ENV_DB, ENV_NETBOOT, ENV_LOST = "ARDOISE_LEDGER_DB", "ARDOISE_LEDGER_NETBOOT", "ARDOISE_LEDGER_LOST_AFTER"
ENV_ORIGIN = "ARDOISE_LEDGER_ORIGIN"


def from_environment() -> SubmitFastPath:
    """Application factory for server worker processes (configured by `serve` through the
    environment; the parent process has already upgraded the schema)."""
    engine = make_engine(os.environ.get(ENV_DB))
    netboot = os.environ.get(ENV_NETBOOT)
    key_file = default_path(os.environ.get(ENV_DB))
    app = create_app(Ledger(engine, key_file), netboot=Path(netboot) if netboot else None,
                     lost_after=float(os.environ.get(ENV_LOST, "120")))
    return asgi(app)


def asgi(app: FastAPI) -> SubmitFastPath:
    """What the server runs: the application behind the certificate fast path."""
    return SubmitFastPath(app, app.state)
