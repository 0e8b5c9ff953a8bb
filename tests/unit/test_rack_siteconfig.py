"""Signed site configs of netbooted rack machines: signature, trusted keys, fetch, TLS pin."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from appliance import config as config_mod
from appliance import siteconfig
from appliance.certificate import key_id
from appliance.cli import main
from appliance.siteconfig import SiteConfigError, fetch_verified, sign_bytes, verify_bytes

RACK = b"""\
organisation: OPEQ
batch: rack-2026-11
erase:
  level: clear
  verify: sample
unattended:
  enabled: true
  countdown_seconds: 0
  after: stay
ledger:
  url: http://127.0.0.1:9/
  enroll_token: arde_example
"""


@pytest.fixture
def site_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# --- signature over the exact bytes ----------------------------------------------------------

def test_good_signature_names_the_site_key(site_key: Ed25519PrivateKey) -> None:
    sig = sign_bytes(RACK, site_key)
    assert sig.endswith(b"\n") and len(sig.strip()) == 88  # base64 of 64 bytes
    assert verify_bytes(RACK, sig, [site_key.public_key()]) == key_id(site_key.public_key())


def test_one_trusted_key_among_several(site_key: Ed25519PrivateKey) -> None:
    others = [Ed25519PrivateKey.generate().public_key() for _ in range(3)]
    sig = sign_bytes(RACK, site_key)
    assert verify_bytes(RACK, sig, [*others, site_key.public_key()]) == key_id(
        site_key.public_key())


def test_bad_signature_is_refused(site_key: Ed25519PrivateKey) -> None:
    sig = bytearray(sign_bytes(RACK, site_key).strip())
    sig[10] = ord("A") if sig[10] != ord("A") else ord("B")
    with pytest.raises(SiteConfigError, match="bad signature"):
        verify_bytes(RACK, bytes(sig), [site_key.public_key()])


def test_unknown_key_is_refused(site_key: Ed25519PrivateKey) -> None:
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(SiteConfigError, match="does not trust"):
        verify_bytes(RACK, sign_bytes(RACK, stranger), [site_key.public_key()])


@pytest.mark.parametrize("offset", [0, 17, len(RACK) // 2, len(RACK) - 1])
def test_one_tampered_byte_is_refused(site_key: Ed25519PrivateKey, offset: int) -> None:
    sig = sign_bytes(RACK, site_key)
    tampered = bytearray(RACK)
    tampered[offset] ^= 0x01
    with pytest.raises(SiteConfigError, match="bad signature"):
        verify_bytes(bytes(tampered), sig, [site_key.public_key()])


def test_truncated_config_is_refused(site_key: Ed25519PrivateKey) -> None:
    sig = sign_bytes(RACK, site_key)
    cut = RACK[:RACK.index(b"ledger:")]  # still valid YAML: the check is on bytes, not meaning
    config_mod.parse(cut.decode())
    with pytest.raises(SiteConfigError, match="bad signature"):
        verify_bytes(cut, sig, [site_key.public_key()])


def test_truncated_signature_is_refused(site_key: Ed25519PrivateKey) -> None:
    sig = sign_bytes(RACK, site_key).strip()
    with pytest.raises(SiteConfigError, match="damaged|base64"):
        verify_bytes(RACK, sig[:60], [site_key.public_key()])
    with pytest.raises(SiteConfigError, match="damaged"):
        verify_bytes(RACK, sig[:84], [site_key.public_key()])  # 63 bytes of base64


def test_not_base64_and_no_key(site_key: Ed25519PrivateKey) -> None:
    with pytest.raises(SiteConfigError, match="base64"):
        verify_bytes(RACK, b"not a signature!", [site_key.public_key()])
    with pytest.raises(SiteConfigError, match="no trusted site key"):
        verify_bytes(RACK, sign_bytes(RACK, site_key), [])


def test_site_keys_from_a_directory(tmp_path: Path, site_key: Ed25519PrivateKey,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    key_path, pub_path = siteconfig.generate_site_key(tmp_path / "keys")
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    (tmp_path / "keys" / "junk.pem").write_text("not a key")
    keys = siteconfig.load_site_keys(tmp_path / "keys")
    assert len(keys) == 1
    with pytest.raises(FileExistsError):
        siteconfig.generate_site_key(tmp_path / "keys")
    monkeypatch.setenv("ARDOISE_SITE_KEYS", str(tmp_path / "keys"))
    assert [key_id(k) for k in siteconfig.load_site_keys()] == [key_id(keys[0])]


# --- served over HTTP on 127.0.0.1 -----------------------------------------------------------

class Site:
    """A real static HTTP server on 127.0.0.1 (files from a dict) that records POSTs."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.posts: list[tuple[str, dict[str, Any]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = site.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                site.posts.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


def test_fetch_good_config(site: Site, site_key: Ed25519PrivateKey) -> None:
    site.files["/netboot/rack.yaml"] = RACK
    site.files["/netboot/rack.yaml.sig"] = sign_bytes(RACK, site_key)
    got = fetch_verified(site.url + "/netboot/rack.yaml", keys=[site_key.public_key()])
    assert got.data == RACK and got.trust == "signature"
    assert got.key_id == key_id(site_key.public_key())


def test_fetch_refuses_missing_or_bad_signature(site: Site, site_key: Ed25519PrivateKey) -> None:
    site.files["/rack.yaml"] = RACK
    with pytest.raises(SiteConfigError, match="HTTP 404"):
        fetch_verified(site.url + "/rack.yaml", keys=[site_key.public_key()])
    site.files["/rack.yaml.sig"] = sign_bytes(RACK + b"#", site_key)
    with pytest.raises(SiteConfigError, match="bad signature"):
        fetch_verified(site.url + "/rack.yaml", keys=[site_key.public_key()])


def test_fetch_refuses_without_a_trusted_key(site: Site, site_key: Ed25519PrivateKey,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    site.files["/rack.yaml"] = RACK
    site.files["/rack.yaml.sig"] = sign_bytes(RACK, site_key)
    monkeypatch.setenv("ARDOISE_SITE_KEYS", str(tmp_path / "none"))
    with pytest.raises(SiteConfigError, match="no site key"):
        fetch_verified(site.url + "/rack.yaml")


def test_fetch_refuses_an_oversized_config(site: Site, site_key: Ed25519PrivateKey) -> None:
    big = RACK + b"#" * siteconfig.MAX_CONFIG_BYTES
    site.files["/rack.yaml"] = big
    site.files["/rack.yaml.sig"] = sign_bytes(big, site_key)
    with pytest.raises(SiteConfigError, match="larger than"):
        fetch_verified(site.url + "/rack.yaml", keys=[site_key.public_key()])


def test_config_fetch_checks_and_reports(site: Site, site_key: Ed25519PrivateKey,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """appliance.config.fetch (the `ardoise.config=` path) parses only verified bytes; a
    refusal is reported to the origin that served the config."""
    keys = tmp_path / "site-keys"
    keys.mkdir()
    (keys / "site.pub.pem").write_bytes(site_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    monkeypatch.setenv("ARDOISE_SITE_KEYS", str(keys))
    monkeypatch.setenv("ARDOISE_CMDLINE", "boot=live ardoise.config=" + site.url + "/rack.yaml")
    site.files["/rack.yaml"] = RACK
    site.files["/rack.yaml.sig"] = sign_bytes(RACK, site_key)
    cfg = config_mod.load_from(site.url + "/rack.yaml")
    assert cfg.ledger.enroll_token == "arde_example" and cfg.source.startswith("http://")
    assert site.posts == []

    site.files["/rack.yaml"] = RACK.replace(b"level: clear", b"level: purge")
    with pytest.raises(config_mod.ConfigError, match="bad signature"):
        config_mod.load_from(site.url + "/rack.yaml")
    assert len(site.posts) == 1
    path, report = site.posts[0]
    assert path == siteconfig.REPORTS
    assert report["code"] == "bad_config" and "bad signature" in report["reason"]
    assert report["config"] == site.url + "/rack.yaml"


# --- TLS with a pinned CA --------------------------------------------------------------------

def _ca_and_server(tmp_path: Path) -> tuple[bytes, ssl.SSLContext]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ardoise test site CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    return ca.public_bytes(serialization.Encoding.PEM), ctx


def test_tls_with_pinned_ca(tmp_path: Path) -> None:
    ca_pem, ctx = _ca_and_server(tmp_path)
    site = Site(tls=ctx)
    try:
        site.files["/rack.yaml"] = RACK  # no signature: the pinned CA vouches for the server
        site.files["/ca.pem"] = ca_pem
        pin = siteconfig.ca_fingerprint(ca_pem)
        got = fetch_verified(site.url + "/rack.yaml", keys=[], ca_pin=pin)
        assert got.data == RACK and got.trust == "tls-pin"
        wrong = "sha256:" + "0" * 64
        with pytest.raises(SiteConfigError, match="does not match the pinned"):
            fetch_verified(site.url + "/rack.yaml", keys=[], ca_pin=wrong)
        # a CA that is not the server's: the pin matches it, TLS verification fails
        (tmp_path / "other").mkdir()
        other_pem, _ctx = _ca_and_server(tmp_path / "other")
        site.files["/other-ca.pem"] = other_pem
        with pytest.raises(SiteConfigError, match="SSLError"):
            fetch_verified(site.url + "/rack.yaml", keys=[],
                           ca_pin=siteconfig.ca_fingerprint(other_pem),
                           ca_url=site.url + "/other-ca.pem")
        with pytest.raises(SiteConfigError, match="https"):
            fetch_verified("http://127.0.0.1:9/rack.yaml", keys=[], ca_pin=pin)
    finally:
        site.close()


# --- `ardoise site keygen|sign|verify` -------------------------------------------------------

def test_site_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["site", "keygen", "--out", str(tmp_path / "k"), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert main(["site", "keygen", "--out", str(tmp_path / "k")]) == 3  # never overwritten
    capsys.readouterr()
    rack = tmp_path / "rack.yaml"
    rack.write_bytes(RACK)
    assert main(["site", "sign", str(rack), "--key", str(tmp_path / "k" / "site.key"),
                 "--json"]) == 0
    signed = json.loads(capsys.readouterr().out)
    assert signed["key_id"] == made["key_id"]
    assert Path(signed["signature"]) == tmp_path / "rack.yaml.sig"
    pub = str(tmp_path / "k" / "site.pub.pem")
    assert main(["site", "verify", str(rack), "--pubkey", pub, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"config": str(rack), "valid": True,
                                                   "key_id": made["key_id"]}
    rack.write_bytes(RACK.replace(b"OPEQ", b"OPEX"))
    assert main(["site", "verify", str(rack), "--pubkey", pub, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and "bad signature" in out["reason"]


def test_site_sign_refuses_an_invalid_config(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    siteconfig.generate_site_key(tmp_path)
    rack = tmp_path / "rack.yaml"
    rack.write_bytes(RACK + b"colour: blue\n")
    assert main(["site", "sign", str(rack), "--key", str(tmp_path / "site.key")]) == 2
    assert "colour" in capsys.readouterr().err
    assert not (tmp_path / "rack.yaml.sig").exists()
