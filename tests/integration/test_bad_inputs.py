"""Bad input through the real `ardoise` and `ardoise-ledger` processes: the table's exit
code, one sentence on stderr, no traceback and no library text. What needs more than the
in-process sweep (tests/unit/test_exit_codes.py): a block device (a read-only loop device,
so nothing can be written even by mistake), real HTTP servers on 127.0.0.1 that answer 404
or 500 or a port nobody listens on, a reader that goes away (`| head`), and `run` on this
machine, where no disk is eligible (its own disk is mounted)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appliance import certify
from tests.unit import certsample

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]
FORBIDDEN = ("Traceback", "Errno", "HTTPConnectionPool", "codec", "MissingSchema",
             "Max retries", "BrokenPipeError", "Exception ignored", "<html", "<!DOCTYPE")
MiB = 1 << 20


def _cli(*argv: str, module: str = "appliance.cli", stdin: int | None = subprocess.DEVNULL,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True,
                          text=True, timeout=300, check=False, stdin=stdin,
                          env={**os.environ, **(env or {})})


def _check(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    said = proc.stderr.strip() or proc.stdout.strip()
    assert proc.returncode == code, said
    assert said, "an error must say something"
    for word in FORBIDDEN:
        assert word not in proc.stderr and word not in proc.stdout, f"{word!r}: {said}"
    for word in words:
        assert word in proc.stderr + proc.stdout, said
    return said


class _Fixed(BaseHTTPRequestHandler):
    """Answers every request with one status and the stock HTML error page."""

    protocol_version = "HTTP/1.1"
    status = 404

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_error(self.status)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's naming


@contextmanager
def _server(status: int) -> Iterator[str]:
    handler = type("Handler", (_Fixed,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def servers(closed_port: str) -> Iterator[dict[str, str]]:
    with _server(404) as missing, _server(500) as broken:
        yield {"404": missing, "500": broken, "closed": closed_port}


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    backing = tmp_path / "target.img"
    backing.write_bytes(b"\x5a" * (16 * MiB))
    dev = subprocess.run(["losetup", "-f", "--show", "-r", str(backing)], capture_output=True,
                         text=True, check=True, timeout=60).stdout.strip()
    try:
        yield dev, backing
    finally:
        subprocess.run(["losetup", "-d", dev], check=False, timeout=60)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("kind", ["404", "500", "closed"])
def test_image_write_and_hash_of_an_unreachable_image(kind: str, lang: str,
                                                      servers: dict[str, str],
                                                      read_only_disk: tuple[str, Path],
                                                      tmp_path: Path) -> None:
    dev, backing = read_only_disk
    before = _digest(backing)
    url = servers[kind] + "/disk.manifest.json"
    proc = _cli("--lang", lang, "image", "write", url, dev, "--yes", "--data",
                str(tmp_path / "data"), "--no-certificate")
    said = _check(proc, 1)
    first = {"en": "could not download", "fr": "impossible de télécharger"}[lang]
    assert first in said and url in said
    if kind != "closed":
        assert f"(HTTP {kind})" in said
    else:
        assert {"en": "connection refused", "fr": "connexion refusée"}[lang] in said
    assert {"en": "refused", "fr": "refus"}[lang] not in said.split(url)[0]  # not a refusal
    if kind != "closed":  # (a closed port is asked again for 18 s: once is enough)
        hashed = _cli("--lang", lang, "image", "hash", dev, "--manifest", url)
        _check(hashed, 1, first)
    assert _digest(backing) == before


def test_image_write_json_says_failed_not_refused(servers: dict[str, str],
                                                  read_only_disk: tuple[str, Path],
                                                  tmp_path: Path) -> None:
    dev, _backing = read_only_disk
    proc = _cli("image", "write", servers["404"] + "/disk.manifest.json", dev, "--yes",
                "--json", "--data", str(tmp_path / "data"), "--no-certificate")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)["results"][0]
    assert result["status"] == "failed" and result["bytes_written"] == 0
    assert result["errors"] == [f"could not download {servers['404']}/disk.manifest.json "
                                "(HTTP 404)"]


def test_image_write_of_a_raw_disk_image_onto_a_disk(read_only_disk: tuple[str, Path],
                                                     tmp_path: Path) -> None:
    dev, backing = read_only_disk
    raw = tmp_path / "disk.img"
    raw.write_bytes(bytes(MiB) + os.urandom(4096))
    for lang, words in (("en", "is not an image manifest"), ("fr", "n’est pas un manifeste")):
        _check(_cli("--lang", lang, "image", "write", str(raw), dev, "--yes"), 2, words,
               "ardoise image build")
        _check(_cli("--lang", lang, "image", "hash", dev, "--manifest", str(raw)), 2, words)


@pytest.fixture
def spooled(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for _ in range(3):
        certify.issue(certsample.document(), data)
    return data


@pytest.mark.parametrize("kind, words", [
    ("404", "not an ardoise ledger"), ("500", "HTTP 500"), ("closed", "connection refused")])
def test_spool_flush_to_a_bad_ledger(kind: str, words: str, servers: dict[str, str],
                                     spooled: Path) -> None:
    proc = _cli("--lang", "en", "spool", "flush", "--data", str(spooled), "--ledger",
                servers[kind])
    _check(proc, 1, words, "3 certificates still pending")
    # nothing was marked rejected by a server that is not a ledger
    listing = json.loads(_cli("spool", "list", "--json", "--data", str(spooled)).stdout)
    assert listing["pending"] == 3 and all(not c.get("note") for c in listing["certificates"])
    fr = _cli("--lang", "fr", "spool", "flush", "--data", str(spooled), "--ledger",
              servers[kind])
    _check(fr, 1, "3 certificats toujours en attente")
    if kind == "404":
        assert "n’est pas un registre ardoise" in fr.stdout


@pytest.mark.parametrize("kind", ["404", "500", "closed"])
def test_site_verify_of_an_unreachable_config(kind: str, servers: dict[str, str],
                                              tmp_path: Path) -> None:
    _cli("site", "keygen", "--out", str(tmp_path / "site"))
    proc = _cli("site", "verify", servers[kind] + "/rack.yaml", "--pubkey",
                str(tmp_path / "site" / "site.pub.pem"))
    _check(proc, 1, "cannot fetch")


@pytest.mark.parametrize("argv", [["spool", "list", "--json"], ["spool", "list"],
                                  ["--help"], ["cert", "show", "{cert}"]])
def test_a_reader_that_goes_away(argv: list[str], spooled: Path) -> None:
    """`ardoise spool list --json | head`: the reader is gone before anything is written
    (its end of the pipe closed first, so the write fails every time)."""
    cert = next((spooled / "spool" / "pending").glob("*.json"))
    argv = [a.format(cert=cert) for a in argv]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "appliance.cli", *argv, "--data",
                               str(spooled)] if argv != ["--help"] else
                              [sys.executable, "-m", "appliance.cli", "--help"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode in (0, 1)


def test_spool_list_into_head(spooled: Path) -> None:
    """The same through a shell pipe, with more output than the pipe holds."""
    for _ in range(400):
        certify.issue(certsample.document(), spooled)
    cmd = f"{sys.executable} -m appliance.cli spool list --json --data {spooled} | head -n 2"
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert proc.stdout.splitlines()[0] == "{"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stderr == ""


def test_run_with_no_eligible_disk(tmp_path: Path) -> None:
    """On this machine no disk is eligible (its own disk is mounted; loop devices are not
    discovered without --device). No --yes and no input: even if a disk were eligible, the
    confirmation would refuse (exit 3) before anything is touched."""
    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text("organisation: OPEQ\nerase:\n  level: clear\n")
    proc = _cli("--lang", "en", "run", "--config", str(cfg), "--data", str(tmp_path / "d"),
                "--json")
    said = _check(proc, 1, "no disk to erase")
    doc = json.loads(proc.stdout)
    assert doc["results"] == [] and doc["reason"].startswith("no disk to erase"), said
    fr = _cli("--lang", "fr", "run", "--config", str(cfg), "--data", str(tmp_path / "d"))
    _check(fr, 1, "aucun disque à effacer")


def test_device_checks_before_anything(read_only_disk: tuple[str, Path], tmp_path: Path) -> None:
    """A missing path is 2 in every command that takes a disk; a file is not a disk (2)."""
    dev, _backing = read_only_disk
    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text("organisation: OPEQ\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("x\n")
    for path in ("/dev/nosuch", str(plain)):
        for argv in (["wipe", path, "--yes"], ["probe", path],
                     ["run", "--config", str(cfg), "--device", path, "--yes"],
                     ["tui", "--device", path], ["image", "hash", path, "--manifest", "x.json"]):
            if argv[0] == "image":
                (tmp_path / "x.json").write_text("{}")
                argv[-1] = str(tmp_path / "x.json")
            _check(_cli("--lang", "en", *argv), 2, path)


@pytest.mark.parametrize("argv", [
    ["serve", "--db", "{tmp}/nodir/ledger.db", "--port", "0"],
    ["serve", "--netboot", "{tmp}/nosuch", "--db", "{tmp}/l.db"],
    ["serve", "--tls-cert", "{tmp}/nosuch", "--tls-key", "{tmp}/nosuch", "--db", "{tmp}/l.db"],
    ["enroll", "--name", "a", "--pubkey", "{tmp}/nosuch", "--db", "{tmp}/l.db"],
    ["enroll", "--name", "a", "--pubkey", "{tmp}/disk.img", "--db", "{tmp}/l.db"],
    ["token", "create", "--db", "{tmp}/nodir/ledger.db"],
    ["token", "create", "--db", "foo://bar"],
    ["verify-log", "--db", "{tmp}/disk.img"],
])
def test_ledger_bad_input(argv: list[str], tmp_path: Path) -> None:
    (tmp_path / "disk.img").write_bytes(bytes(8192) + os.urandom(4096))
    argv = [a.format(tmp=tmp_path) for a in argv]
    for lang in ("en", "fr"):
        _check(_cli("--lang", lang, *argv, module="ledger.cli"), 2)


def test_ledger_serve_on_a_port_in_use(tmp_path: Path) -> None:
    """A server step that fails is 1 (uvicorn's own 3 would read as 'refused for safety')."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for lang, words in (("en", "already in use"), ("fr", "déjà utilisée")):
            proc = _cli("--lang", lang, "serve", "--db", str(tmp_path / "l.db"), "--port", port,
                        module="ledger.cli")
            _check(proc, 1, words, port)


def test_only_verbose_shows_a_traceback(spooled: Path, tmp_path: Path) -> None:
    """An error no command mapped itself is one line; -v logs the details for a report."""
    cert = next((spooled / "spool" / "pending").glob("*.json"))
    argv = ["cert", "pdf", str(cert), "--data", str(spooled), "--out",
            str(tmp_path / "nodir" / "x.pdf")]
    _check(_cli("--lang", "en", *argv), 2, "no such file or directory")
    verbose = _cli("--lang", "en", *argv, "-v")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_image_write_of_a_raw_disk_image_over_http(read_only_disk: tuple[str, Path],
                                                   tmp_path: Path) -> None:
    """A URL that serves a raw disk image where the manifest belongs: refused from its first
    bytes (not downloaded into memory), nothing written."""
    from tests.integration.imaging_support import http_server

    dev, backing = read_only_disk
    before = _digest(backing)
    www = tmp_path / "www"
    www.mkdir()
    with open(www / "disk.img", "wb") as fh:
        fh.write(bytes(MiB) + os.urandom(4096))
        fh.truncate(128 * MiB)  # sparse: what a client that read it all would hold in RAM
    with http_server(www) as (url, _faults):
        proc = _cli("--lang", "en", "image", "write", url + "disk.img", dev, "--yes",
                    "--no-certificate", "--data", str(tmp_path / "data"))
    _check(proc, 3, "not an image manifest", "ardoise image build")
    assert _digest(backing) == before


def test_a_partition_is_refused_for_safety_everywhere(tmp_path: Path) -> None:
    """A partition is no target: 3 (refused for safety) in wipe, run and tui, nothing
    touched; probe, which writes nothing, calls it a usage error (2)."""
    from tests.integration.loopdev import loop_box

    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text("organisation: OPEQ\n")
    with loop_box("ardbad-") as loops:
        backing = loops.workdir / "parted.img"
        with open(backing, "wb") as fh:
            fh.truncate(32 * MiB)
        subprocess.run(["sgdisk", "-o", "-n", "1:2048:+8M", str(backing)], check=True,
                       capture_output=True, timeout=60)
        dev, _ = loops.make(32 * MiB, backing=backing, partscan=True)
        part = loops.partition(dev, 1)
        before = _digest(backing)
        for argv in (["wipe", part, "--yes"], ["tui", "--device", part],
                     ["run", "--config", str(cfg), "--data", str(tmp_path / "d"), "--device",
                      part, "--yes"]):
            for lang in ("en", "fr"):
                _check(_cli("--lang", lang, *argv), 3, part)
        _check(_cli("--lang", "en", "probe", part), 2, part)
        assert _digest(backing) == before
