"""`ardoise image capture`: a reference machine's whole disk -> a signed golden image.

The same build as `image build` (used blocks of every file system from partclone, free space
as zeros, the partition table and boot loader areas), from a block device that is only ever
read: the disk is opened O_RDONLY, every file system is looked at through a read-only loop
device (losetup --read-only) with read-only checkers, and a disk that is mounted, holds an
active swap or the running live system is refused before anything is read.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import struct
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.imaging import build, upload
from erasure import discovery
from erasure.text import Msg

BLKSSZGET = 0x1268  # logical sector size


class CaptureError(Exception):
    """The device cannot be captured (usage: not a whole disk; refused: in use)."""

    def __init__(self, message: Msg, refused: bool = False):
        super().__init__(message)
        self.message = message
        self.refused = refused


def logical_block_size(device: str) -> int:
    fd = os.open(device, os.O_RDONLY)
    try:
        raw = fcntl.ioctl(fd, BLKSSZGET, struct.pack("<i", 0))
        return int(struct.unpack("<i", raw)[0])
    finally:
        os.close(fd)


def check_source(device: str) -> discovery.Disk:
    """The Disk to capture, or CaptureError: not a whole disk, in use, the boot medium."""
    try:
        mode = os.stat(device).st_mode
    except OSError as exc:
        raise CaptureError(Msg("{path}: no such device", path=device)) from exc
    if not stat.S_ISBLK(mode):
        raise CaptureError(Msg("{path}: not a block device", path=device))
    try:
        disk = discovery.resolve(device, allow_external=True)
    except discovery.NotAWholeDisk as exc:
        raise CaptureError(Msg(str(exc))) from exc
    if not disk.eligible:
        # mounted, active swap, the live medium: its blocks change under us (or it is us)
        raise CaptureError(Msg("{path} cannot be captured: {reason}", path=device,
                               reason=disk.excluded_reason or ""), refused=True)
    return disk


def is_url(out: str) -> bool:
    return out.startswith(("http://", "https://"))


def capture(device: str, out: str, name: str | None = None, version: str = "1",
            sign_key: Ed25519PrivateKey | None = None, raw: Collection[str] = (),
            level: int = 6, drop_page_files: bool = False,
            progress: Callable[[int, int], None] | None = None
            ) -> tuple[build.BuildResult, str, str]:
    """Build the image of a whole disk into a directory, or PUT it under an http(s) URL
    (the data streamed as it is built, then the manifest); raises CaptureError,
    build.BuildRefused, build.BuildError, upload.UploadError. Returns the result and where
    its manifest and data file now are."""
    disk = check_source(device)
    options: dict[str, Any] = {
        "name": name or Path(disk.path).name, "version": version, "sign_key": sign_key,
        "raw": raw, "level": level, "drop_page_files": drop_page_files,
        "logical_block_size": logical_block_size(disk.path), "progress": progress}
    if not is_url(out):
        if Path(out).resolve().is_relative_to(Path("/dev")):
            raise CaptureError(Msg("--out must be a directory, not a device"))
        result = build.build_image(Path(disk.path), Path(out), **options)
        return result, str(result.manifest_path), str(result.data_path)
    base = out if out.endswith("/") else out + "/"
    staging = Path(tempfile.mkdtemp(prefix="ardoise-capture-"))
    try:
        result = build.build_image(Path(disk.path), staging,
                                   open_data=lambda p: upload.PutStream(urljoin(base, p.name)),
                                   **options)
        upload.put_bytes(urljoin(base, result.manifest_path.name),
                         result.manifest_path.read_bytes())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return (result, urljoin(base, result.manifest_path.name),
            urljoin(base, result.data_path.name))
