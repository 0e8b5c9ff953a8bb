"""Delivery to a real HTTP server on 127.0.0.1 speaking the ledger protocol."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance import certify
from appliance.cli import main
from appliance.spool import Spool
from appliance.uplink import Backoff, Uplink, saved_state
from tests.tools.ledger_server import Store, make_handler, read_log
from tests.unit import certsample


class Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    certify.generate_key(tmp_path / "keys")
    return tmp_path


@pytest.fixture
def ledger(data: Path) -> Iterator[tuple[Server, Path]]:
    keys = certify.trusted_keys(data)
    store_dir = data / "ledger-store"
    server = Server(make_handler(Store(store_dir), keys, None, 0))
    yield server, store_dir
    server.close()


def issue(data: Path, n: int = 1) -> list[str]:
    return [certify.issue(certsample.document(), data).stem for _ in range(n)]


def test_delivers_then_moves_to_sent(data: Path, ledger) -> None:
    server, store = ledger
    ids = issue(data, 3)
    spool = Spool(data)
    report = Uplink(spool, server.url).flush_once()
    assert sorted(report.sent) == sorted(ids) and report.error is None and report.pending == 0
    assert sorted(spool.sent()) == sorted(ids)
    assert sorted(d["id"] for d in read_log(store)) == sorted(ids)


def test_identical_duplicate_counts_as_delivered(data: Path, ledger, tmp_path_factory) -> None:
    server, store = ledger
    (cert_id,) = issue(data)
    document = Spool(data).load(cert_id)
    Uplink(Spool(data), server.url).flush_once()
    # the same certificate from a second copy of the spool (e.g. a restored stick)
    other = Spool(tmp_path_factory.mktemp("copy"))
    other.put(document)
    report = Uplink(other, server.url).flush_once()
    assert report.duplicates == [cert_id] and other.pending() == []
    assert len(read_log(store)) == 1


def test_conflict_is_kept_and_reported(data: Path, ledger, tmp_path_factory) -> None:
    server, _ = ledger
    (cert_id,) = issue(data)
    Uplink(Spool(data), server.url).flush_once()
    changed = certsample.document(cert_id=cert_id)
    changed["operator"] = "someone else"
    other = Spool(tmp_path_factory.mktemp("copy"))
    other.put(certify.sign_document(changed, certify.load_key(data)))
    uplink = Uplink(other, server.url)
    report = uplink.flush_once()
    assert report.conflicts == [cert_id] and other.pending() == [cert_id]
    assert other.get_note(cert_id)["status"] == "conflict"
    state = uplink.state()
    assert state.conflicts == 1 and state.pending == 1 and "conflict" in state.last_error


def test_rejected_is_kept_with_the_reason(data: Path, ledger, tmp_path_factory) -> None:
    server, _ = ledger
    stranger = tmp_path_factory.mktemp("stranger")  # a key the ledger never enrolled
    cert = certify.issue(certsample.document(), stranger)
    report = Uplink(Spool(stranger), server.url).flush_once()
    assert list(report.rejected) == [cert.stem]
    assert "unknown key" in report.rejected[cert.stem]
    assert Spool(stranger).pending() == [cert.stem]
    assert Spool(stranger).get_note(cert.stem)["http"] == 400


def test_server_errors_are_retried_later(data: Path) -> None:
    class Failing(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = Server(Failing)
    try:
        issue(data, 2)
        uplink = Uplink(Spool(data), server.url)
        report = uplink.flush_once()
        assert report.error and "HTTP 503" in report.error
        assert report.delivered == 0 and report.pending == 2
        assert uplink.state().last_error == report.error
    finally:
        server.close()


def test_connection_refused_and_timeouts(data: Path) -> None:
    issue(data)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens
    report = Uplink(Spool(data), f"http://127.0.0.1:{port}").flush_once()
    assert report.error and report.error.startswith("connection refused")
    assert "Errno" not in report.error and "HTTPConnectionPool" not in report.error

    release = threading.Event()

    class Hanging(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:
            pass

        def do_POST(self) -> None:
            release.wait(5)

    server = Server(Hanging)
    try:
        report = Uplink(Spool(data), server.url, timeout=(1.0, 0.3)).flush_once()
        assert report.error == "no answer in time" and report.pending == 1
    finally:
        release.set()
        server.close()


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(7)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_background_worker_delivers_what_arrives(data: Path, ledger) -> None:
    server, store = ledger
    spool = Spool(data)
    uplink = Uplink(spool, server.url, idle_poll=30.0, check_link=False,
                    backoff=Backoff(base=0.05, cap=0.2))
    uplink.start()
    try:
        ids = issue(data, 5)
        uplink.wake()
        deadline = time.monotonic() + 20
        while (spool.pending() or not uplink.state().last_success_at) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert spool.pending() == [] and sorted(spool.sent()) == sorted(ids)
        assert uplink.state().running and uplink.state().last_success_at
    finally:
        uplink.stop()
    assert not uplink.state().running
    assert sorted(d["id"] for d in read_log(store)) == sorted(ids)


def test_heartbeat_best_effort(data: Path, ledger) -> None:
    server, _ = ledger
    assert Uplink(Spool(data), server.url).send_heartbeat({"job_id": "r1-00", "state": "erasing"})
    assert not Uplink(Spool(data), "http://127.0.0.1:9").send_heartbeat({"state": "x"})


def test_flush_cli_and_saved_state(data: Path, ledger, capsys) -> None:
    server, _ = ledger
    ids = issue(data, 2)
    assert main(["spool", "flush", "--data", str(data), "--ledger", server.url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["sent"]) == sorted(ids) and out["pending"] == 0
    state = saved_state(Spool(data))
    assert state and state["ledger"] == server.url and state["last_success_at"]
    assert main(["spool", "list", "--data", str(data), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["sent"] == 2 and listed["uplink"]["sent_total"] == 2
    # the next flush finds the ledger from the saved state
    issue(data)
    assert main(["spool", "flush", "--data", str(data)]) == 0


def _tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ardoise test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = (directory / "ca.pem", directory / "server.pem",
                                 directory / "server.key")
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


def test_tls_is_verified_against_the_configured_ca(data: Path, tmp_path_factory) -> None:
    import ssl

    ca_pem, cert_pem, key_pem = _tls_files(tmp_path_factory.mktemp("tls"))
    server = Server(make_handler(Store(data / "store"), certify.trusted_keys(data), None, 0))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    url = server.url.replace("http://", "https://")
    try:
        (cert_id,) = issue(data)
        report = Uplink(Spool(data), url).flush_once()  # system CA store: not trusted
        assert report.error == "the server's TLS certificate is not trusted"
        assert report.pending == 1
        report = Uplink(Spool(data), url, ca=ca_pem).flush_once()
        assert report.sent == [cert_id] and report.pending == 0
    finally:
        server.close()
