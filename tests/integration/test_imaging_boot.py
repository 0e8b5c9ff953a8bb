"""A real OS image written by `ardoise image write` boots.

The image is a GPT disk with a debootstrapped Debian bookworm (kernel, systemd, extlinux;
bench/os_image.py), built once and cached under /var/tmp/ardoise-bench (about 4 minutes the
first time). It is written onto a larger loop device (so the GPT post-steps run and the last
partition grows), then QEMU (TCG) boots that device and the test waits on the serial console
for the boot loader's banner, the image's own /etc/issue line and the login prompt.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.imaging_support import MiB, loop_device

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]
BOOT_TIMEOUT = 420.0


def _qemu(dev: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["qemu-system-x86_64", "-accel", "tcg,thread=single", "-m", "768", "-smp", "1",
         "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
         "-nic", "none",
         "-drive", f"file={dev},format=raw,if=virtio,cache=none"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for(proc: subprocess.Popen[bytes], needles: list[bytes], timeout: float) -> bytes:
    """Console output until every needle was seen (or the timeout / QEMU exit). Read in raw
    pieces: a login prompt does not end with a newline."""
    pieces: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while piece := os.read(fd, 4096):
            pieces.put(piece)
        pieces.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            piece = pieces.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if piece == b"":
            break
        seen += piece
        if all(n in seen for n in needles):
            break
    return seen


def test_written_os_image_boots(tmp_path: Path) -> None:
    from bench.imaging import prepare_image
    from bench.os_image import MARKER, ensure_os_image

    img = ensure_os_image()
    signed = prepare_image(img)
    backing = tmp_path / "disk.img"
    with open(backing, "wb") as fh:
        fh.truncate(img.stat().st_size + 256 * MiB)
    with loop_device(backing) as dev:
        w = subprocess.run(
            [sys.executable, "-m", "appliance.cli", "image", "write", str(signed["manifest"]),
             dev, "--trust", str(signed["pub"]), "--yes", "--json", "--grow-last",
             "--data", str(tmp_path / "data"), "--no-certificate"],
            capture_output=True, text=True, timeout=900)
        assert w.returncode == 0, w.stderr
        result = json.loads(w.stdout)["results"][0]
        assert result["status"] == "imaged" and result["verified"]
        assert result["post_steps"] == ["sgdisk -e", "growpart 1"]

        proc = _qemu(dev)
        try:
            started = time.monotonic()
            console = _wait_for(proc, [b"SYSLINUX", MARKER.encode(), b"login:"], BOOT_TIMEOUT)
            boot_seconds = time.monotonic() - started
        finally:
            proc.kill()
            proc.wait(timeout=30)
    (tmp_path / "console.log").write_bytes(console)
    text = console.decode(errors="replace")
    print(f"boot to login prompt: {boot_seconds:.0f} s")
    # the boot loader, the kernel and initramfs it loads, and the root file system (checked
    # by e2fsck at boot) whose /etc/issue precedes the login prompt all come from the disk
    # ardoise wrote
    assert "SYSLINUX" in text, text[-3000:]
    # the initramfs checked the written root file system before mounting it
    assert "root: clean" in text, text[-3000:]
    assert MARKER in text, text[-3000:]
    assert "login:" in text.split(MARKER, 1)[-1], text[-3000:]
