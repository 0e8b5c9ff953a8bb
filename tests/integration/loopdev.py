"""Loop devices for destructive tests: created on files we own, detached in teardown.

Only devices this module attached are ever detached (never `losetup -D`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from erasure import runner

MiB = 1 << 20
MARKER = b"ARDOISE-SECRET-MARKER-"


class Loops:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.devices: list[str] = []
        self.mounts: list[str] = []

    def make(self, size: int, name: str = "disk", markers: bool = True, partscan: bool = False,
             backing: Path | None = None) -> tuple[str, Path]:
        path = backing or self.workdir / f"{name}-{len(self.devices)}.img"
        if backing is None:
            with open(path, "wb") as fh:
                fh.truncate(size)
            if markers:
                write_markers(path, size)
        argv = ["losetup", "-f", "--show", "--direct-io=on"] + (["-P"] if partscan else [])
        dev = runner.run([*argv, str(path)], timeout=30).stdout.strip()
        self.devices.append(dev)
        return dev, path

    def mount(self, dev: str, where: Path, fstype: str | None = None,
              options: str | None = None) -> None:
        where.mkdir(parents=True, exist_ok=True)
        runner.run(["mount", *(["-t", fstype] if fstype else []),
                    *(["-o", options] if options else []), dev, str(where)], timeout=30)
        self.mounts.append(str(where))

    def partition(self, dev: str, number: int) -> str:
        """The node of a partition; kernels without a partition-table parser get it from
        `partx -a` (userspace parse + BLKPG)."""
        node = f"{dev}p{number}"
        if not os.path.exists(node):
            runner.run(["partx", "-a", dev], timeout=30, check=False)
        wait_for(node)
        return node

    def close(self) -> None:
        # filesystems on our loop devices first, then the loops, then what held their files
        left = [w for w in reversed(self.mounts)
                if not runner.run(["umount", w], timeout=30, check=False).ok]
        for dev in reversed(self.devices):
            for _ in range(20):
                if runner.run(["losetup", "-d", dev], timeout=30, check=False).ok:
                    break
                time.sleep(0.1)
        for where in left:
            runner.run(["umount", where], timeout=30, check=False)



@contextmanager
def loop_box(prefix: str) -> Iterator[Loops]:
    """Loops in a fresh folder under /var/tmp (a short path: a loop device's stable id is its
    backing file's path), detached and removed on the way out."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    box = Loops(workdir)
    try:
        yield box
    finally:
        box.close()
        shutil.rmtree(workdir, ignore_errors=True)


def write_markers(path: Path, size: int, every: int = 64 * 1024) -> int:
    """A numbered marker string at the start of every `every` bytes; returns the count."""
    count = 0
    with open(path, "r+b") as fh:
        for off in range(0, size - 64, every):
            fh.seek(off)
            fh.write(MARKER + str(count).encode() + b"\n")
            count += 1
    return count


def count_markers(path: Path) -> int:
    return sum(chunk.count(MARKER) for chunk in read_chunks(path))


def read_chunks(path: Path, size: int = 8 * MiB) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, 8 * MiB):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


def wait_for(path: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.05)
