"""The appliance's ledger preflight and delivery summary against the real ledger over HTTP on
127.0.0.1: an enrolled key is ok; an unknown key is a problem whose command, run as printed,
enrolls it; a revoked key is a problem; a ledger that is down is a warning. A certificate
signed by a key the ledger does not know is rejected (the ledger's own 403), shown as
rejected with what to do, and sent once the key is enrolled."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import config, delivery, preflight
from appliance.certificate import key_id, load_public_pem
from appliance.certify import generate_key, load_key
from appliance.demo import free_port
from appliance.spool import Spool
from appliance.uplink import Uplink
from ledger import cli as ledger_cli
from ledger.store import Ledger
from tests.ledger.browser import running_server
from tests.ledger.certs import certificate


@pytest.fixture
def base(ledger: Ledger) -> Iterator[str]:
    with running_server(ledger) as url:
        yield url


@pytest.fixture
def data(tmp_path: Path) -> Path:
    generate_key(tmp_path / "data" / "keys")
    return tmp_path / "data"


def pub_of(data: Path) -> tuple[Path, str]:
    pub = data / "keys" / "appliance.pub.pem"
    return pub, key_id(load_public_pem(pub.read_bytes()))


def checks_for(url: str, data: Path) -> list[preflight.Check]:
    cfg = config.parse(f"ledger:\n  url: {url}\n", source="/run/ardoise/data/ardoise.yaml")
    return preflight.ledger_checks(cfg, data, link_up=lambda: True)


def test_unknown_key_problem_gives_the_command_that_fixes_it(base: str, data: Path,
                                                             db_url: str) -> None:
    pub, kid = pub_of(data)
    [c] = checks_for(base, data)
    assert c.state == "problem"
    assert c.text == (f"The ledger {base} does not know this appliance's key {kid[:16]}: "
                      "it would refuse every certificate.")
    command = f"ardoise-ledger enroll --name ardoise-{kid[:8]} --pubkey {pub}"
    assert c.action == f"On the ledger server, run: {command}"
    argv = shlex.split(command)
    assert ledger_cli.main([*argv[1:], "--db", db_url]) == 0  # exactly as printed
    [ok] = checks_for(base, data)
    assert ok.state == "ok"
    assert ok.text == f"The ledger {base} answers and knows this appliance (ardoise-{kid[:8]})."


def test_revoked_key_is_a_problem(ledger: Ledger, base: str, data: Path) -> None:
    pub, kid = pub_of(data)
    ledger.enroll("atelier-01", pub.read_bytes())
    ledger.revoke(kid)
    [c] = checks_for(base, data)
    assert c.state == "problem" and "revoked this appliance's key" in c.text
    assert "ardoise keygen --force" in c.action


def test_ledger_down_is_a_warning(data: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    [c] = checks_for(url, data)
    assert c.state == "warning"
    assert c.text == (f"The ledger {url} does not answer (cannot connect): the certificates "
                      "will wait on the stick until a network is available.")


def test_rejected_certificate_is_a_problem_until_the_key_is_enrolled(
        ledger: Ledger, base: str, data: Path) -> None:
    spool = Spool(data)
    doc = certificate(load_key(data, create=False))
    spool.put(doc)
    report = Uplink(spool, base).flush_once()
    assert report.rejected  # the ledger's own answer, recorded in the spool's notes
    summary = delivery.summarize(data, [doc["id"]], base, report.error, link_up=lambda: True)
    assert not summary.ok and [d.certificate_id for d in summary.rejected] == [doc["id"]]
    [d] = summary.rejected
    assert (d.why, d.http, d.answer) == ("key-not-enrolled", 403, "the signing key is not enrolled")
    assert d.reason == ("this appliance's key is not enrolled there (HTTP 403: the signing "
                        "key is not enrolled)")
    assert d.to_json() == {"certificate_id": doc["id"], "state": "rejected",
                           "why": "key-not-enrolled", "http": 403,
                           "answer": "the signing key is not enrolled"}
    pub, kid = pub_of(data)
    assert f"ardoise-ledger enroll --name ardoise-{kid[:8]} --pubkey {pub}" in d.action
    lines = summary.lines()
    assert lines[0] == ("rejected", "Certificates: 0 sent, 0 waiting, 1 rejected.")
    assert lines[1] == ("rejected", f"REJECTED by the ledger: {doc['id']}: {d.reason}")
    assert "saved on the stick" not in " ".join(text for _s, text in lines)

    ledger.enroll("atelier-01", pub.read_bytes())
    Uplink(spool, base).flush_once()
    after = delivery.summarize(data, [doc["id"]], base, None, link_up=lambda: True)
    assert after.ok and [d.state for d in after.items] == ["sent"]
    assert after.to_json()["sent"] == 1


def test_waiting_certificates_say_why(tmp_path: Path, data: Path) -> None:
    spool = Spool(data)
    doc = certificate(load_key(data, create=False))
    spool.put(doc)
    url = f"http://127.0.0.1:{free_port()}"
    report = Uplink(spool, url).flush_once()
    assert report.error  # connection refused: retried later
    summary = delivery.summarize(data, [doc["id"]], url, report.error, link_up=lambda: True)
    assert summary.ok and summary.waiting[0].reason == "the ledger is unreachable"
    assert summary.lines()[-1] == ("waiting", "1 waiting on the stick: the ledger is "
                                   "unreachable. It is sent as soon as the ledger answers.")
    offline = delivery.summarize(data, [doc["id"]], url, None, link_up=lambda: False)
    assert offline.waiting[0].reason == "no network"
    alone = delivery.summarize(data, [doc["id"]], None)
    assert alone.waiting[0].reason == "no ledger is configured"


def tls_pair(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (as `openssl req -x509` makes one)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "tls.pem", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_ledger_with_an_untrusted_tls_certificate_is_a_problem(
        ledger: Ledger, data: Path, tmp_path: Path) -> None:
    import threading
    import time

    import uvicorn

    from ledger.app import asgi, create_app

    cert, tls_key = tls_pair(tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        asgi(create_app(ledger, lost_after=60)), host="127.0.0.1", port=port,
        log_level="warning", loop="asyncio", ssl_certfile=str(cert), ssl_keyfile=str(tls_key)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.05)
        pub, _kid = pub_of(data)
        ledger.enroll("atelier-tls", pub.read_bytes())
        url = f"https://127.0.0.1:{port}"
        [c] = checks_for(url, data)
        assert (c.code, c.state) == ("ledger-untrusted-tls", "problem")
        assert str(data / "keys" / "ledger-ca.pem") in c.action
        cfg = config.parse(f"ledger:\n  url: {url}\n  ca_file: {cert}\n",
                           source="/run/ardoise/data/ardoise.yaml")
        [ok] = preflight.ledger_checks(cfg, data, link_up=lambda: True)
        assert (ok.code, ok.state) == ("ledger-enrolled", "ok")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
