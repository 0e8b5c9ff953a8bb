"""Web sign-in hygiene: same-origin form posts, failed logins logged and throttled, and the
security headers every page carries.

A login turns an admin token into a session token of its own (12 h, revoked at logout), so
signing out of the browser ends the session on the server and leaves the admin's token
alone. Form posts that name another origin (Origin, else Referer) are refused: SameSite
cookies already keep a forged post from carrying the session, this also stops login CSRF.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from appliance.i18n import _

log = logging.getLogger("ledger.web")

MAX_FAILURES = 5  # failed logins from one address within WINDOW_S before it must wait
WINDOW_S = 300.0
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                               "base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_failures: dict[str, deque[float]] = {}
_lock = threading.Lock()


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def refuse_cross_site(request: Request) -> Response | None:
    """403 for a form post whose Origin (or Referer) is not this server."""
    origin = request.headers.get("origin")
    if origin == "null":  # an opaque origin (sandboxed frame, file:) posting to us
        return _forbidden(request, origin)
    source = origin or request.headers.get("referer")
    if not source:  # no browser claim at all (curl, scripts): nothing to compare
        return None
    if urlsplit(source).netloc.lower() == request.headers.get("host", "").lower():
        return None
    return _forbidden(request, source)


def _forbidden(request: Request, origin: str) -> Response:
    log.warning("cross-site form post refused", extra={"fields": {
        "path": request.url.path, "origin": origin[:200], "client": client_of(request)}})
    return Response(_("This form was sent from another site: refused. Open the ledger's own "
                      "page and try again."), status_code=403,
                    media_type="text/plain; charset=utf-8")


def throttled(request: Request) -> Response | None:
    """429 while this address has MAX_FAILURES failed logins in the last WINDOW_S."""
    now = time.monotonic()
    with _lock:
        recent = _failures.get(client_of(request))
        while recent and now - recent[0] > WINDOW_S:
            recent.popleft()
        if not recent or len(recent) < MAX_FAILURES:
            return None
        wait = int(WINDOW_S - (now - recent[0])) + 1
    return Response(_("Too many failed sign-ins from this address: try again in {seconds} s.")
                    .format(seconds=wait), status_code=429,
                    headers={"Retry-After": str(wait)}, media_type="text/plain; charset=utf-8")


def failed_login(request: Request) -> None:
    client = client_of(request)
    with _lock:
        _failures.setdefault(client, deque(maxlen=MAX_FAILURES * 2)).append(time.monotonic())
        if len(_failures) > 10_000:  # bounded memory under a spray of addresses
            _failures.pop(next(iter(_failures)))
    log.warning("failed login", extra={"fields": {"client": client}})


def reset() -> None:
    """Forget every failure (tests)."""
    with _lock:
        _failures.clear()
