"""Reference disks made of real file systems, with an old owner's data in their free space.

Every byte of a partition file is first covered with numbered markers (loopdev.MARKER every
64 KiB), then the file system is made on it without zeroing (mkntfs -Q and friends), files
are put in through the file system's own tools, and some are deleted. The partitions are
then laid out on a GPT disk file whose gaps hold markers too.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.loopdev import MARKER, write_markers

MiB = 1 << 20
KEEP = {"a.bin": 700 * 1024, "dir/b.txt": 5000, "c.bin": 2 * MiB + 123}
GONE = {"old1.bin": 3 * MiB, "old2.bin": 900 * 1024}


def sh(*argv: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check)


def content(name: str, size: int) -> bytes:
    rnd = random.Random(name)
    return rnd.randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected() -> dict[str, str]:
    return {name: sha(content(name, size)) for name, size in KEEP.items()}


def _files(where: Path) -> None:
    for name, size in {**KEEP, **GONE}.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_bytes(content(name, size))
    os.sync()
    for name in GONE:
        (where / name).unlink()
    os.sync()


@contextmanager
def mounted(mount: list[str], img: Path, block_device: bool = False) -> Iterator[Path]:
    """img mounted with `mount` (argv before source and target); through a loop device of
    our own when the driver wants a block device (exfat-fuse)."""
    where = Path(tempfile.mkdtemp(prefix="golden-mnt-"))
    dev = sh("losetup", "-f", "--show", str(img)).stdout.strip() if block_device else None
    try:
        sh(*mount, dev or str(img), str(where))
        try:
            yield where
        finally:
            sh("umount", str(where))
    finally:
        if dev is not None:
            sh("losetup", "-d", dev)
        where.rmdir()


def _fuse(mount: list[str], img: Path, block_device: bool = False) -> None:
    with mounted(mount, img, block_device) as where:
        _files(where)


def _kernel(img: Path) -> None:
    where = Path(tempfile.mkdtemp(prefix="golden-mnt-"))
    try:
        sh("mount", "-o", "loop", str(img), str(where))
        try:
            _files(where)
        finally:
            sh("umount", str(where))
    finally:
        where.rmdir()


def _mtools(img: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="golden-files-"))
    for name, size in {**KEEP, **GONE}.items():
        src = tmp / "src"
        src.write_bytes(content(name, size))
        if "/" in name:
            sh("mmd", "-D", "s", "-i", str(img), "::" + name.split("/")[0], check=False)
        sh("mcopy", "-i", str(img), str(src), "::" + name)
    for name in GONE:
        sh("mdel", "-i", str(img), "::" + name)
    sh("rm", "-rf", str(tmp))


@dataclass(frozen=True)
class FsKind:
    name: str  # blkid TYPE
    size: int
    make: list[str]  # argv before the image path
    populate: Callable[[Path], None] | None
    type_guid: str = "8300"  # sgdisk type code


KINDS = {
    "ntfs": FsKind("ntfs", 96 * MiB, ["mkntfs", "-Q", "-F", "-q"],
                   lambda p: _fuse(["ntfs-3g"], p), "0700"),
    "vfat": FsKind("vfat", 64 * MiB, ["mkfs.fat", "-F", "32"], _mtools, "ef00"),
    "exfat": FsKind("exfat", 64 * MiB, ["mkfs.exfat"],
                    lambda p: _fuse(["mount.exfat-fuse"], p, block_device=True), "0700"),
    "ext4": FsKind("ext4", 64 * MiB, ["mkfs.ext4", "-q", "-F", "-E",
                                     "nodiscard,lazy_itable_init=0"], _kernel),
    "xfs": FsKind("xfs", 320 * MiB, ["mkfs.xfs", "-q", "-f", "-K"], _kernel),
    "btrfs": FsKind("btrfs", 128 * MiB, ["mkfs.btrfs", "-q", "-f", "-K"], _kernel),
    "f2fs": FsKind("f2fs", 128 * MiB, ["mkfs.f2fs", "-q", "-f", "-t", "0"], None),
}

# FAT16 and FAT12 (blkid names them vfat too; partclone.fat reads all three)
FAT_VARIANTS = {"fat16": FsKind("vfat", 64 * MiB, ["mkfs.fat", "-F", "16"], _mtools, "0700")}
FAT12 = FsKind("vfat", 16 * MiB, ["mkfs.fat", "-F", "12"], _mtools, "0700")


def make_fs(kind: FsKind, path: Path) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(kind.size)
    write_markers(path, kind.size)
    sh(*kind.make, str(path))
    if kind.populate is not None:
        kind.populate(path)
    return path


def make_disk(path: Path, parts: list[tuple[FsKind | None, Path | None, int, str]]) -> Path:
    """A GPT disk file: each (kind, partition file or None, size, sgdisk type code) in
    order from 1 MiB, markers everywhere else. A None file leaves the partition's markers."""
    total = MiB + sum(size for _, _, size, _ in parts) + MiB
    with open(path, "wb") as fh:
        fh.truncate(total)
    write_markers(path, total)
    with open(path, "r+b") as fh:  # the MBR's boot code area: a boot loader's, blank here
        fh.write(bytes(440))
    argv = ["sgdisk", "-o"]
    for i, (_, _, size, code) in enumerate(parts, 1):
        argv += ["-n", f"{i}:0:+{size // 1024}K", "-t", f"{i}:{code}"]
    sh(*argv, str(path))
    offset = MiB
    with open(path, "r+b") as out:
        for _, file, size, _ in parts:
            if file is not None:
                out.seek(offset)
                with open(file, "rb") as src:
                    while block := src.read(4 * MiB):
                        out.write(block)
            offset += size
    return path


def markers_in(data: bytes) -> int:
    return data.count(MARKER)
