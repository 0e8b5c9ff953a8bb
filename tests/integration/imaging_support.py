"""Helpers for the imaging integration tests: loop devices, a test disk image, and a static
HTTP server on 127.0.0.1 with Range support that can drop, corrupt, hang or truncate."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import blake3
import zstandard

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imaging"
MiB = 1024 * 1024


def fixture_image(dest: Path) -> Path:
    """The 64 MiB GPT + ext4 disk image of the unit tests, decompressed."""
    with open(FIXTURES / "gpt-ext4.img.zst", "rb") as src, open(dest, "wb") as dst:
        zstandard.ZstdDecompressor().copy_stream(src, dst)
    return dest


def filled_file(path: Path, size: int, byte: int = 0x5A) -> Path:
    block = bytes([byte]) * MiB
    with open(path, "wb") as fh:
        for _ in range(size // MiB):
            fh.write(block)
        fh.write(block[: size % MiB])
    return path


@contextmanager
def loop_device(backing: Path) -> Iterator[str]:
    dev = subprocess.run(["losetup", "-f", "--show", "--direct-io=on", str(backing)],
                         capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False, timeout=60)


def device_digest(dev: str) -> str:
    h = blake3.blake3()
    with open(dev, "rb") as fh:
        while block := fh.read(4 * MiB):
            h.update(block)
    return h.hexdigest()


@dataclass
class Faults:
    drop: int = 0  # data requests to cut off halfway through the body
    corrupt: set[int] = field(default_factory=set)  # data-file offsets of frames to damage
    corrupt_times: int = 10**9  # how many responses to damage in all
    hang: int = 0  # data requests that stall (longer than the client's read timeout)
    hang_seconds: float = 3.0
    truncate_manifest: bool = False
    log: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, name: str) -> bool:
        with self.lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root: Path
    faults: Faults

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.root / self.path.lstrip("/").split("?")[0]
        rng = self.headers.get("Range", "")
        self.faults.log.append((self.path, rng))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if path.name.endswith(".manifest.json") and self.faults.truncate_manifest:
            data = data[: len(data) // 2]
        start, end = 0, len(data) - 1
        m = re.match(r"bytes=(\d+)-(\d*)", rng)
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else end, len(data) - 1)
        body = bytearray(data[start:end + 1])
        if path.suffix == ".data":
            for off in self.faults.corrupt:
                if start <= off + 16 <= end and self.faults.take("corrupt_times"):
                    body[off + 16 - start] ^= 0xFF
            if self.faults.take("hang"):
                time.sleep(self.faults.hang_seconds)
                self.close_connection = True
                return
        self.send_response(206 if m else 200)
        self.send_header("Content-Length", str(len(body)))
        if m:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if path.suffix == ".data" and len(body) > 1 and self.faults.take("drop"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


@contextmanager
def http_server(root: Path, faults: Faults | None = None) -> Iterator[tuple[str, Faults]]:
    """Serve `root` on 127.0.0.1 (free port); yields (base URL, faults)."""
    faults = faults or Faults()
    handler = type("Handler", (_Handler,), {"root": root, "faults": faults})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", faults
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def same_bytes(dev: str, image: Path, offset: int, length: int) -> bool:
    with open(dev, "rb") as d, open(image, "rb") as i:
        return os.pread(d.fileno(), length, offset) == os.pread(i.fileno(), length, offset)
