"""`ardoise-ledger` commands, and `serve` as a real process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from appliance.certificate import key_id, public_pem
from ledger.cli import main
from tests.ledger.certs import certificate

ROOT = Path(__file__).resolve().parents[2]


def test_token_enroll_revoke(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                             ) -> None:
    assert main(["token", "create", "--db", db_url]) == 0
    token = capsys.readouterr().out
    assert token.startswith("ardl_") and token.count("\n") == 1 and len(token.strip()) > 40
    assert main(["token", "create", "--enroll", "--db", db_url]) == 0
    assert capsys.readouterr().out.startswith("arde_")
    key = Ed25519PrivateKey.generate()
    pub = tmp_path / "a.pub.pem"
    pub.write_bytes(public_pem(key.public_key()))
    assert main(["enroll", "--db", db_url, "--name", "bench-3", "--pubkey", str(pub),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"key_id": key_id(key.public_key()), "name": "bench-3", "enrolled": True}
    assert main(["revoke", "--db", db_url, out["key_id"]]) == 0
    assert main(["revoke", "--db", db_url, out["key_id"]]) == 1
    assert main(["enroll", "--db", db_url, "--name", "x", "--pubkey", str(pub)]) == 1
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    assert main(["enroll", "--db", db_url, "--name", "x", "--pubkey", str(bad)]) == 2
    assert main(["token", "revoke", "--db", db_url, token.strip()]) == 0
    assert main(["token", "revoke", "--db", db_url, token.strip()]) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "tls.crt", tmp / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_serve_over_tls_with_netboot(tmp_path: Path) -> None:
    import ssl

    db = str(tmp_path / "ledger.db")
    key = Ed25519PrivateKey.generate()
    pub = tmp_path / "k.pem"
    pub.write_bytes(public_pem(key.public_key()))
    assert main(["enroll", "--db", db, "--name", "t", "--pubkey", str(pub)]) == 0
    netboot = tmp_path / "netboot"
    netboot.mkdir()
    (netboot / "vmlinuz").write_bytes(b"kernel")
    (netboot / "grub").mkdir()
    (netboot / "grub" / "grub.cfg").write_bytes(b"linux /netboot/vmlinuz")
    cert, tls_key = _self_signed(tmp_path)
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "serve", "--db", db, "--port", str(port),
         "--tls-cert", str(cert), "--tls-key", str(tls_key), "--netboot", str(netboot)],
        stdout=log, stderr=log, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    base = f"https://127.0.0.1:{port}"

    def get(path: str, data: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(base + path, data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.read()

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = json.loads(get("/healthz")[1])
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert health["status"] == "ok"
        assert get("/netboot/vmlinuz") == (200, b"kernel")
        # UEFI HTTP boot: Debian's network GRUB reads /grub/grub.cfg at the server's root
        assert get("/grub/grub.cfg") == (200, b"linux /netboot/vmlinuz")
        for n in range(4):
            assert get("/api/v1/certificates", orjson.dumps(certificate(key, n)))[0] == 201
        head = json.loads(get("/api/v1/log/root")[1])
        assert head["tree_size"] == 4
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    lines = (tmp_path / "serve.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and all("level" in r and "msg" in r for r in records)
    assert any(r["msg"] == "appended" for r in records)
    assert main(["verify-log", "--db", db]) == 0


def test_serve_refuses_half_tls(tmp_path: Path) -> None:
    assert main(["serve", "--db", str(tmp_path / "x.db"), "--tls-cert", "a"]) == 2
