"""POST /api/v1/certificates as a bare ASGI handler in front of the FastAPI application.

Appliances submit certificates at high rates (a rack flushing its spools); going around the
framework's routing and dependency machinery for this one route halves the per-request cost.
Behaviour is the same as the documented FastAPI route (both call ledger.api.routes.submit).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger.api.routes import submit
from ledger.validation import MAX_BODY

PATH = "/api/v1/certificates"
JSON_HEADERS = [(b"content-type", b"application/json")]


class SubmitFastPath:
    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        status, payload = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": status,
                    "headers": JSON_HEADERS + [(b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        too_large = (413, orjson.dumps({"error": "too_large",
                                        "detail": f"body larger than {MAX_BODY} bytes"}))
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
                return too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400, b'{"error":"disconnected","detail":"client went away"}'
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await submit(self.state, b"".join(chunks))
