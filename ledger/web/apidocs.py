"""/docs: the API reference rendered on the server from the OpenAPI document, with nothing
loaded from another site (the framework's default page pulls Swagger UI from a CDN).
The machine-readable document stays at /openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ledger.web.pages import render

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per operation: method, path, summary, description, parameters, body,
    responses and whether a bearer token is needed."""
    rows = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {})
            ref = str((body.get("schema") or {}).get("$ref", "")).rsplit("/", 1)[-1]
            rows.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "parameters": [{"name": p.get("name"), "in": p.get("in"),
                                "required": bool(p.get("required")),
                                "type": (p.get("schema") or {}).get("type", "")}
                               for p in op.get("parameters", [])],
                "body": ref or ("JSON object" if body else ""),
                "responses": sorted(op.get("responses", {})),
                "token": bool(op.get("security")),
            })
    return rows


@router.get("/docs")
def api_docs(request: Request) -> Response:
    spec = request.app.openapi()
    return render(request, "apidocs.html", ops=operations(spec), title=spec["info"]["title"],
                  version=spec["info"]["version"], hide_nav=False)
