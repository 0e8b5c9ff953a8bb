"""The ledger on a donor's network, against the real ledger served over TLS on 127.0.0.1
(uvicorn, a self-signed certificate made here): ledger.pin checked on every connection
(right pin delivers, wrong pin refused, exit 1, nothing sent), through the site's proxy
(a real CONNECT proxy on 127.0.0.1), and a captive portal (a real HTTP server that redirects,
or answers an HTML page) that never counts as a delivery."""

from __future__ import annotations

import base64
import hashlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from appliance import config, preflight
from appliance.certify import generate_key, issue
from appliance.cli import main
from appliance.demo import free_port
from appliance.i18n import set_language
from appliance.ledgertls import spki_pin
from appliance.spool import Spool
from ledger.store import Ledger, NotFound
from tests.ledger.test_preflight_delivery import tls_pair
from tests.unit import certsample


@pytest.fixture(autouse=True)
def _english() -> None:
    set_language("en")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    generate_key(tmp_path / "data" / "keys")
    return tmp_path / "data"


@pytest.fixture
def tls_ledger(ledger: Ledger, data: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    import uvicorn

    from ledger.app import asgi, create_app

    cert, tls_key = tls_pair(tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        asgi(create_app(ledger, lost_after=60)), host="127.0.0.1", port=port,
        log_level="warning", loop="asyncio", ssl_certfile=str(cert), ssl_keyfile=str(tls_key),
        timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.05)
    ledger.enroll("atelier-tls", (data / "keys" / "appliance.pub.pem").read_bytes())
    try:
        yield f"https://127.0.0.1:{port}", cert
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def pin_of(cert: Path) -> str:
    """The pin as `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst
    -sha256 -binary | base64` gives it, computed independently of appliance.ledgertls."""
    spki = x509.load_pem_x509_certificate(cert.read_bytes()).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


WRONG_PIN = "sha256/" + base64.b64encode(b"\x00" * 32).decode()


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "ardoise.yaml"
    path.write_text(body)
    return path


def flush(data: Path, cfg: Path, capsys: pytest.CaptureFixture[str], lang: str = "en",
          ) -> tuple[int, str]:
    code = main(["--lang", lang, "spool", "flush", "--data", str(data), "--config", str(cfg)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_pin_is_the_certificates_spki_hash(tls_ledger: tuple[str, Path]) -> None:
    _url, cert = tls_ledger
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
    assert spki_pin(der) == pin_of(cert)


def test_right_pin_delivers_and_preflight_says_enrolled(
        tls_ledger: tuple[str, Path], data: Path, tmp_path: Path, ledger: Ledger,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, cert = tls_ledger
    cfg = write_config(tmp_path, f"ledger:\n  url: {url}\n  pin: {pin_of(cert)}\n")
    [check] = preflight.ledger_checks(config.load(cfg), data, link_up=lambda: True)
    assert (check.code, check.state) == ("ledger-enrolled", "ok")
    cert_id = issue(certsample.document(), data).stem
    code, said = flush(data, cfg, capsys)
    assert code == 0, said
    assert Spool(data).pending() == [] and ledger.get(cert_id).id == cert_id
    # the pin and the CA together: both checked, both pass
    both = write_config(tmp_path, f"ledger:\n  url: {url}\n  ca_file: {cert}\n"
                                  f"  pin:\n    - {WRONG_PIN}\n    - {pin_of(cert)}\n")
    [check] = preflight.ledger_checks(config.load(both), data, link_up=lambda: True)
    assert check.code == "ledger-enrolled"


def test_wrong_pin_is_refused_with_a_clear_message_and_nothing_is_sent(
        tls_ledger: tuple[str, Path], data: Path, tmp_path: Path, ledger: Ledger,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, cert = tls_ledger
    cfg = write_config(tmp_path, f"ledger:\n  url: {url}\n  pin: {WRONG_PIN}\n")
    [check] = preflight.ledger_checks(config.load(cfg), data, link_up=lambda: True)
    assert (check.code, check.state) == ("ledger-pin-mismatch", "problem")
    assert pin_of(cert) in check.text  # the key it found, to compare with the ledger's
    cert_id = issue(certsample.document(), data).stem
    set_language("en")
    code, said = flush(data, cfg, capsys)
    assert code == 1
    assert ("Stopped: the ledger's TLS key does not match ledger.pin: this network may be "
            "impersonating the ledger, nothing was sent") in said
    assert Spool(data).pending() == [cert_id]
    with pytest.raises(NotFound):
        ledger.get(cert_id)
    code, said = flush(data, cfg, capsys, lang="fr")
    assert code == 1 and "ne correspond pas à ledger.pin" in said
    set_language("en")


# --- the site's proxy -----------------------------------------------------------------------

class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread: `serve(Handler)`, then `url`, `close()`."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ConnectProxy(LocalServer):
    """An HTTP proxy that only tunnels (CONNECT host:port), as a site's proxy does for
    https; it records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:  # noqa: N802 - the HTTP method's name
                proxy.asked.append(self.path)
                host, _sep, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.send_response(200, "Connection established")
                self.end_headers()
                pipe(self.connection, upstream)
                upstream.close()
                self.close_connection = True

        self.serve(Handler)


def pipe(a: socket.socket, b: socket.socket) -> None:
    while True:
        ready, _w, _x = select.select([a, b], [], [], 10)
        if not ready:
            return
        for s in ready:
            chunk = s.recv(65536)
            if not chunk:
                return
            (b if s is a else a).sendall(chunk)


def test_delivery_goes_through_the_configured_proxy_and_the_pin_still_holds(
        tls_ledger: tuple[str, Path], data: Path, tmp_path: Path, ledger: Ledger,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = tls_ledger
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # ignored: the config decides
    proxy = ConnectProxy()
    try:
        cfg = write_config(tmp_path, f"ledger:\n  url: {url}\n  pin: {pin_of(cert)}\n"
                                     f"  proxy: {proxy.url}\n")
        cert_id = issue(certsample.document(), data).stem
        code, said = flush(data, cfg, capsys)
        assert code == 0, said
        assert ledger.get(cert_id).id == cert_id
        assert proxy.asked and set(proxy.asked) == {url.removeprefix("https://")}
        bad = write_config(tmp_path, f"ledger:\n  url: {url}\n  pin: {WRONG_PIN}\n"
                                     f"  proxy: {proxy.url}\n")
        issue(certsample.document(), data)
        code, said = flush(data, bad, capsys)
        assert code == 1 and "does not match ledger.pin" in said
    finally:
        proxy.close()


# --- a captive portal -------------------------------------------------------------------------

class Portal(LocalServer):
    """What a hotel's or a donor's guest network answers before its sign-in page is
    accepted: every request redirected (302) to the sign-in page, or that page itself."""

    def __init__(self, redirect: bool):
        self.hits = 0
        portal = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def answer(self) -> None:
                portal.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                page = b"<html><body>Welcome! Accept the terms to continue.</body></html>"
                self.send_response(302 if redirect else 200)
                if redirect:
                    self.send_header("Location", "http://portal.example/login?next=/")
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            do_GET = do_POST = answer

        self.serve(Handler)


@pytest.mark.parametrize("redirect", [True, False], ids=["302-redirect", "200-html"])
def test_a_captive_portal_is_named_and_never_counts_as_delivered(
        redirect: bool, data: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    portal = Portal(redirect)
    try:
        cfg = write_config(tmp_path, f"ledger:\n  url: {portal.url}\n")
        [check] = preflight.ledger_checks(config.load(cfg), data, link_up=lambda: True)
        assert (check.code, check.state) == ("ledger-captive-portal", "warning")
        assert "captive portal" in check.text
        cert_id = issue(certsample.document(), data).stem
        set_language("en")
        code, said = flush(data, cfg, capsys)
        assert code == 1
        assert "a sign-in page of this network answered instead of the ledger" in said
        if redirect:
            assert "http://portal.example/login?next=/" in said
        assert Spool(data).pending() == [cert_id]  # still waiting: not "sent" to a portal
        assert portal.hits >= 2
    finally:
        portal.close()


def test_pin_and_proxy_config_errors_name_line_and_key() -> None:
    with pytest.raises(config.ConfigError) as info:
        config.parse("ledger:\n  url: https://l.example\n  pin: sha256/short\n")
    assert (info.value.line, info.value.key) == (3, "ledger.pin")
    with pytest.raises(config.ConfigError) as info:
        config.parse(f"ledger:\n  url: http://l.example\n  pin: {WRONG_PIN}\n")
    assert (info.value.line, info.value.key, info.value.reason) == (
        3, "ledger.pin", "a pinned key needs an https:// ledger.url")
    with pytest.raises(config.ConfigError) as info:
        config.parse("ledger:\n  proxy: socks5://p:1080\n")
    assert (info.value.line, info.value.key) == (2, "ledger.proxy")
    with pytest.raises(config.ConfigError) as info:
        config.parse("ledger:\n  proxy: http://:3128\n")
    assert info.value.key == "ledger.proxy"
    with pytest.raises(config.ConfigError) as info:
        config.parse("ledger:\n  pinned: x\n")
    assert (info.value.line, info.value.key) == (2, "ledger.pinned")
