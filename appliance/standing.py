"""What the ledger says of this appliance's key: GET /api/v1/appliances/me, a signed request
(the X-Ardoise-Request header), and the plain words for a ledger that does not answer.

    standing(ledger_url, key, ca=..., session=...)   # Standing, never raises
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from appliance.certificate import canonical, key_id, sign
from appliance.ledgertls import captive_reason, pin_mismatch, pin_refusal

APPLIANCE_ME = "/api/v1/appliances/me"
REQUEST_HEADER = "X-Ardoise-Request"  # a GET has no body: the signed request rides here


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Standing:
    """What the ledger says of this appliance's key (GET /api/v1/appliances/me)."""

    # enrolled | revoked | unknown (not enrolled) | refused (4xx) | unreachable
    # | unsupported (a 404 that is not the ledger's: an older ledger, or another server)
    # | untrusted-tls (its TLS certificate does not verify against ledger.ca_file)
    # | pin-mismatch (its TLS key is not ledger.pin) | captive-portal (a sign-in page answered)
    state: str
    key_id: str
    name: str = ""
    enrolled_at: str = ""
    reason: str = ""  # the ledger's answer (refused), or why it did not answer (unreachable)
    http: int | None = None


def signed_request(key: Any, method: str, path: str) -> str:
    """The X-Ardoise-Request header: base64 of the RFC 8785 bytes of a signed
    `ardoise.request/1` naming the method and path, signed like a heartbeat."""
    document = sign({"schema": "ardoise.request/1", "method": method, "path": path,
                     "sent_at": utc_now()}, key)
    return base64.b64encode(canonical(document)).decode("ascii")


def standing(ledger_url: str, key: Any, *, ca: str | Path | None = None,
             session: requests.Session | None = None,
             timeout: tuple[float, float] = (3.0, 5.0)) -> Standing:
    """Ask the ledger whether it knows this appliance's key. Never raises."""
    kid = key_id(key.public_key())
    url = ledger_url.rstrip("/") + APPLIANCE_ME
    try:
        response = (session or requests).get(
            url, timeout=timeout, verify=str(ca) if ca else True, allow_redirects=False,
            headers={REQUEST_HEADER: signed_request(key, "GET", APPLIANCE_ME)})
    except requests.exceptions.SSLError as exc:  # it answers, but not as the ledger we trust
        found = pin_mismatch(exc)
        if found is not None:
            return Standing("pin-mismatch", kid, reason=pin_refusal(found))
        return Standing("untrusted-tls", kid, reason=why_unreachable(exc))
    except requests.RequestException as exc:
        return Standing("unreachable", kid, reason=why_unreachable(exc))
    code = response.status_code
    portal = captive_reason(response)
    if portal is not None:
        return Standing("captive-portal", kid, reason=portal, http=code)
    if code == 200:
        try:
            body = response.json()
            revoked = bool(body["revoked"])
            name, enrolled = str(body.get("name", "")), str(body.get("enrolled_at", ""))
        except (ValueError, KeyError, TypeError):
            return Standing("unreachable", kid, reason=_reason(response), http=code)
        return Standing("revoked" if revoked else "enrolled", kid, name, enrolled, http=code)
    if code == 404:  # the ledger's own answer names the key; any other 404 is not a ledger's
        state = "unknown" if _error_code(response) == "unknown_key" else "unsupported"
        return Standing(state, kid, reason=_reason(response), http=code)
    if 400 <= code < 500 and code not in (408, 425, 429):
        return Standing("refused", kid, reason=_reason(response), http=code)
    return Standing("unreachable", kid, reason=f"HTTP {code}: {_reason(response)}", http=code)


def why_unreachable(exc: requests.RequestException) -> str:
    """A few plain words for a request that got no answer (never the library's text)."""
    from appliance.i18n import _

    if isinstance(exc, requests.exceptions.SSLError):
        return _("its TLS certificate is not trusted (ledger.ca_file)")
    if isinstance(exc, requests.exceptions.Timeout):
        return _("no answer in time")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _("cannot connect")
    return _("the request failed ({kind})").format(kind=type(exc).__name__)


def _error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:  # not the ledger's JSON (an HTML error page...): its status line only
        return str(response.reason or "").strip()[:200]
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("error") or body.get("reason") or body
        return str(detail)[:200]
    return str(body)[:200]
