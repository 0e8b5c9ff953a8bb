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
import stat
import struct
from collections.abc import Callable, Collection
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.imaging import build
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


def capture(device: str, out_dir: Path, name: str | None = None, version: str = "1",
            sign_key: Ed25519PrivateKey | None = None, raw: Collection[str] = (),
            level: int = 6, drop_page_files: bool = False,
            progress: Callable[[int, int], None] | None = None) -> build.BuildResult:
    """Build the image of a whole disk; raises CaptureError, build.BuildRefused,
    build.BuildError."""
    disk = check_source(device)
    if out_dir.resolve().is_relative_to(Path("/dev")):
        raise CaptureError(Msg("--out must be a directory, not a device"))
    return build.build_image(Path(disk.path), out_dir,
                             name=name or Path(disk.path).name, version=version,
                             sign_key=sign_key, raw=raw, level=level,
                             drop_page_files=drop_page_files,
                             logical_block_size=logical_block_size(disk.path),
                             progress=progress)
