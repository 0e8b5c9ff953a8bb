"""`ardoise image capture` from a loop device holding a Windows-like reference disk: the
device is only read (same hash before and after), progress on stderr, the result as JSON,
and the image written to another disk gives back the files; a mounted disk is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import private_pem, public_pem
from tests.integration import golden_support as gs
from tests.integration.loopdev import count_markers, loop_box, sha256

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]
MiB = 1 << 20


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_capture_a_reference_disk(tmp_path: Path) -> None:
    esp = gs.make_fs(gs.KINDS["vfat"], tmp_path / "esp.part")
    win = gs.make_fs(gs.KINDS["ntfs"], tmp_path / "win.part")
    disk = gs.make_disk(tmp_path / "ref.img", [(gs.KINDS["vfat"], esp, 64 * MiB, "ef00"),
                                               (gs.KINDS["ntfs"], win, 96 * MiB, "0700")])
    key = Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(private_pem(key))
    (tmp_path / "pub.pem").write_bytes(public_pem(key.public_key()))
    with loop_box("golden-cap-") as loops:
        source, _ = loops.make(0, "ref", backing=disk)
        before = sha256(source)
        r = _cli("image", "capture", source, "--out", str(tmp_path / "img"), "--name", "win11",
                 "--version", "3", "--sign-key", str(tmp_path / "k.pem"), "--json")
        assert r.returncode == 0, r.stderr
        assert sha256(source) == before  # never written
        assert f"{source}: captured 100%" in r.stderr
        doc = json.loads(r.stdout)
        assert (doc["name"], doc["version"], doc["signed"]) == ("win11", "3", True)
        assert [(p["number"], p["fstype"], p["action"]) for p in doc["partitions"]] == [
            (1, "vfat", "file-system"), (2, "ntfs", "file-system")]
        target, backing = loops.make(disk.stat().st_size, "target")
        w = _cli("image", "write", doc["manifest"], target, "--trust", str(tmp_path / "pub.pem"),
                 "--yes", "--no-certificate", "--json")
        assert w.returncode == 0, w.stderr
        assert count_markers(backing) == 0  # no old block, on either partition or between
        with open(backing, "rb") as src, open(tmp_path / "w.part", "wb") as out:
            src.seek(65 * MiB)
            out.write(src.read(96 * MiB))
    with gs.mounted(["ntfs-3g", "-o", "ro"], tmp_path / "w.part") as where:
        assert {n: gs.sha((where / n).read_bytes()) for n in gs.KEEP} == gs.expected()
    check = gs.sh("ntfsfix", "--no-action", str(tmp_path / "w.part"), check=False)
    assert check.returncode == 0, check.stdout


def test_capture_refuses_a_mounted_disk_and_bad_input(tmp_path: Path) -> None:
    fs = gs.KINDS["ext4"]
    part = gs.make_fs(fs, tmp_path / "e.part")  # a file system on the whole disk, no table
    with loop_box("golden-cap-") as loops:
        source, _ = loops.make(0, "whole", backing=part)
        loops.mount(source, tmp_path / "mnt")
        r = _cli("image", "capture", source, "--out", str(tmp_path / "img"))
        assert r.returncode == 3, r.stderr
        assert "cannot be captured: mounted" in r.stderr
        assert not (tmp_path / "img").exists()
        subprocess.run(["umount", str(tmp_path / "mnt")], check=True, timeout=60)
        loops.mounts.clear()
        r = _cli("image", "capture", source, "--out", str(tmp_path / "img"), "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert [(p["number"], p["fstype"]) for p in doc["partitions"]] == [(0, "ext4")]
    assert _cli("image", "capture", str(part), "--out", str(tmp_path / "x")).returncode == 2
    assert _cli("image", "capture", "/dev/nonexistent", "--out", str(tmp_path)).returncode == 2


class _PutHandler(BaseHTTPRequestHandler):
    """Stores each PUT body (chunked or with a length) under the server's folder."""

    def do_PUT(self) -> None:  # noqa: N802 - http.server's name
        folder: Path = self.server.folder  # type: ignore[attr-defined]
        if self.server.status != 201:  # type: ignore[attr-defined]
            self.send_response(self.server.status)  # type: ignore[attr-defined]
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        body = bytearray()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while (size := int(self.rfile.readline().split(b";")[0].strip(), 16)):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body += self.rfile.read(int(self.headers.get("Content-Length", "0")))
        (folder / Path(self.path).name).write_bytes(body)
        self.server.puts.append((self.path, len(body)))  # type: ignore[attr-defined]
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _put_server(folder: Path, status: int = 201) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PutHandler)
    server.folder, server.status, server.puts = folder, status, []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/images/", server
    finally:
        server.shutdown()
        server.server_close()


def test_capture_to_an_http_put_target(tmp_path: Path) -> None:
    fs = gs.KINDS["vfat"]
    part = gs.make_fs(fs, tmp_path / "esp.part")
    disk = gs.make_disk(tmp_path / "ref.img", [(fs, part, fs.size, "ef00")])
    key = Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(private_pem(key))
    (tmp_path / "pub.pem").write_bytes(public_pem(key.public_key()))
    got = tmp_path / "server"
    got.mkdir()
    with loop_box("golden-cap-") as loops:
        source, _ = loops.make(0, "ref", backing=disk)
        with _put_server(got) as (url, server):
            r = _cli("image", "capture", source, "--out", url, "--name", "esp",
                     "--sign-key", str(tmp_path / "k.pem"), "--json")
            assert r.returncode == 0, r.stderr
            doc = json.loads(r.stdout)
            assert doc["manifest"] == url + "esp.manifest.json"
            # the data first (streamed), the manifest once the data is complete
            assert [p for p, _ in server.puts] == ["/images/esp.data",  # type: ignore[attr-defined]
                                                   "/images/esp.manifest.json"]
        assert (got / "esp.data").stat().st_size == doc["data_bytes"]
        target, backing = loops.make(disk.stat().st_size, "target")
        w = _cli("image", "write", str(got / "esp.manifest.json"), target, "--trust",
                 str(tmp_path / "pub.pem"), "--yes", "--no-certificate")
        assert w.returncode == 0, w.stderr
        assert count_markers(backing) == 0
        with _put_server(tmp_path, status=507) as (url, server):
            r = _cli("image", "capture", source, "--out", url)
            assert r.returncode == 1
            assert "HTTP 507" in r.stderr
