"""How the appliance reaches its ledger on a donor's network: the TLS key pinned in the
config, the site's HTTP(S) proxy, and a captive portal recognised as such.

- `ledger.pin: sha256/BASE64` (or a list of them, for a key rollover): the SHA-256 of the
  ledger certificate's SubjectPublicKeyInfo, checked on every new TLS connection, after the
  handshake and before a single byte of a request is sent (through a proxy's CONNECT tunnel
  too). With a pin and no `ledger.ca_file`, the pin alone decides (a self-signed ledger);
  with both, the chain must verify against the CA and the key must match the pin.
- `ledger.proxy: http://HOST:PORT`: every ledger request goes through it (the environment's
  *_proxy variables are then ignored, so the config decides).
- A captive portal: the donor's network answers in the ledger's place, with a redirect to
  its sign-in page or an HTML page. Ledger requests never follow redirects, and
  `captive_reason()` tells such an answer from the ledger's JSON (appliance.uplink).

    session = ledger_session(config.ledger)        # requests.Session for Uplink, standing()
    captive_reason(response)                       # None, or why this is not the ledger
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from appliance.i18n import N_
from erasure.text import Msg

PIN_PREFIX = "sha256/"


def spki_pin(cert_der: bytes) -> str:
    """sha256/BASE64 of a DER certificate's SubjectPublicKeyInfo (as HPKP and curl's
    --pinnedpubkey write it)."""
    cert = x509.load_der_x509_certificate(cert_der)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return PIN_PREFIX + base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def valid_pin(text: str) -> bool:
    if not text.startswith(PIN_PREFIX):
        return False
    try:
        return len(base64.b64decode(text[len(PIN_PREFIX):], validate=True)) == 32
    except ValueError:
        return False


class PinMismatch(ssl.SSLError):
    """The server's key is not the pinned one: not our ledger (or an intercepting proxy)."""

    def __init__(self, host: str, got: str):
        self.host, self.got = host, got
        super().__init__(f"ledger key pin mismatch for {host}: {got or 'no certificate'}")


def _pinned_pool(pins: frozenset[str]) -> type[HTTPSConnectionPool]:
    class PinnedConnection(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            der = self.sock.getpeercert(binary_form=True) if self.sock else None  # type: ignore[union-attr]
            got = spki_pin(der) if der else ""
            if got not in pins:
                self.close()
                raise PinMismatch(str(self.host), got)
            self.is_verified = True  # the pin is the verification (no urllib3 warning)

    class PinnedPool(HTTPSConnectionPool):
        ConnectionCls = PinnedConnection

    return PinnedPool


class PinnedAdapter(HTTPAdapter):
    """https:// through connections that check the pin; the chain against `ca` if given,
    whatever `verify` a caller passes."""

    def __init__(self, pins: Iterable[str], ca: Path | None):
        self.pins = frozenset(pins)
        self.ca = ca
        self._pool = _pinned_pool(self.pins)
        super().__init__()

    def _classes(self, manager: Any) -> Any:
        manager.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": self._pool}
        return manager

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self._classes(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        return self._classes(super().proxy_manager_for(proxy, **kwargs))

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        kwargs["verify"] = str(self.ca) if self.ca is not None else False
        return super().send(request, *args, **kwargs)


def ledger_session(settings: Any) -> requests.Session:
    """A session for the ledger (appliance.config.LedgerSettings: ca_file, pin, proxy)."""
    session = requests.Session()
    pins = tuple(getattr(settings, "pin", ()) or ())
    if pins:
        session.mount("https://", PinnedAdapter(pins, getattr(settings, "ca_file", None)))
    proxy = getattr(settings, "proxy", None)
    if proxy:
        session.trust_env = False  # the config's proxy, not the environment's
        session.proxies = {"http": proxy, "https": proxy}
    return session


def pin_mismatch(exc: BaseException) -> PinMismatch | None:
    """The PinMismatch inside requests' and urllib3's wrappers, if that is what failed."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, PinMismatch):
            return item
        todo += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return None


PIN_REFUSED = N_("the ledger's TLS key does not match ledger.pin: this network may be "
                 "impersonating the ledger, nothing was sent (its key: {got})")
CAPTIVE = N_("a sign-in page of this network answered instead of the ledger (captive portal); "
             "certificates wait on the stick: use a network without a sign-in page, or wired")
CAPTIVE_REDIRECT = N_("a sign-in page of this network answered instead of the ledger (captive "
                      "portal, redirect to {where}); certificates wait on the stick: use a "
                      "network without a sign-in page, or wired")


def pin_refusal(found: PinMismatch) -> Msg:
    return Msg(PIN_REFUSED, got=found.got or "-")


def captive_reason(response: requests.Response) -> Msg | None:
    """A response that cannot be the ledger's: a redirect, or a page that is not JSON."""
    if 300 <= response.status_code < 400:
        where = response.headers.get("Location", "")
        return Msg(CAPTIVE_REDIRECT, where=where[:120] or "-")
    kind = response.headers.get("Content-Type", "")
    if response.status_code == 200 and "json" not in kind.lower():
        return Msg(CAPTIVE)
    return None

