"""A small bootable Debian disk image, built once and cached (the imaging bench and the boot
test write it to loop devices).

GPT disk, one ext4 root partition (legacy-BIOS bootable) with Debian bookworm minbase, a
kernel, systemd and extlinux; serial console on ttyS0. /etc/issue carries MARKER so a boot
test can tell that userspace came from the written disk. Building takes a few minutes
(debootstrap) and needs root, debootstrap, sgdisk, extlinux and the network mirror.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("ARDOISE_BENCH_CACHE", "/var/tmp/ardoise-bench"))
IMAGE_NAME = "debian-bookworm-extlinux-v2.img"
SIZE = 1536 * 1024 * 1024
MARKER = "ardoise-os-image bookworm"
MIRROR = os.environ.get("ARDOISE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ROOT_UUID = "6f1d2c3a-5b4e-4a0f-9c21-0d5e7a1b2c3d"
DISK_GUID = "A1D0E5E0-0000-4000-8000-00000000A1D0"
PACKAGES = "linux-image-amd64,systemd-sysv,udev,initramfs-tools,zstd"
GPTMBR = Path("/usr/lib/syslinux/mbr/gptmbr.bin")


def _sh(argv: list[str], timeout: float = 600, **kw: object) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def image_path() -> Path:
    return CACHE / IMAGE_NAME


def ensure_os_image(log: bool = True) -> Path:
    """The cached image, built first if missing."""
    path = image_path()
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    _build(tmp, log)
    tmp.rename(path)
    if log:
        print(f"built {path} in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return path


def _build(img: Path, log: bool) -> None:
    with open(img, "wb") as fh:
        fh.truncate(SIZE)
    _sh(["sgdisk", "-Z", str(img)])
    _sh(["sgdisk", "-U", DISK_GUID, "-n", "1:2048:0", "-t", "1:8300", "-c", "1:root",
         "-A", "1:set:2", str(img)])
    # the root partition through its own loop device (offset + size limit): no partition
    # scanning needed
    start = 2048 * 512
    end = int(_sh(["sgdisk", "-i", "1", str(img)]).split("Last sector: ")[1].split()[0])
    loop = _sh(["losetup", "-f", "--show", "-o", str(start), "--sizelimit",
                str((end + 1) * 512 - start), str(img)]).strip()
    mnt = Path(tempfile.mkdtemp(prefix="ardoise-osimg-"))
    mounted = False
    try:
        part = loop
        _sh(["mkfs.ext4", "-q", "-L", "root", "-U", ROOT_UUID, part])
        _sh(["mount", part, str(mnt)])
        mounted = True
        if log:
            print("debootstrap bookworm (minbase + kernel)...", file=sys.stderr)
        _sh(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm",
             str(mnt), MIRROR], timeout=3600)
        _configure(mnt)
        boot = mnt / "boot"
        kernel = sorted(p.name for p in boot.glob("vmlinuz-*"))[-1]
        initrd = sorted(p.name for p in boot.glob("initrd.img-*"))[-1]
        (boot / "extlinux").mkdir(exist_ok=True)
        (boot / "extlinux" / "extlinux.conf").write_text(
            "DEFAULT debian\nTIMEOUT 0\nPROMPT 0\nSERIAL 0 115200\n"
            "LABEL debian\n"
            f"  LINUX /boot/{kernel}\n"
            f"  INITRD /boot/{initrd}\n"
            f"  APPEND root=UUID={ROOT_UUID} ro console=ttyS0,115200 quiet panic=10\n"
        )
        _sh(["extlinux", "--install", str(boot / "extlinux")])
        shutil.rmtree(mnt / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    finally:
        if mounted:
            _sh(["umount", str(mnt)])
        subprocess.run(["losetup", "-d", loop], check=False, timeout=60)
        mnt.rmdir()
    with open(img, "r+b") as fh:
        fh.write(GPTMBR.read_bytes()[:440])


def _configure(root: Path) -> None:
    (root / "etc" / "hostname").write_text("ardoise-test\n")
    (root / "etc" / "fstab").write_text(f"UUID={ROOT_UUID} / ext4 defaults 0 1\n")
    (root / "etc" / "issue").write_text(f"{MARKER} \\n \\l\n\n")
    (root / "etc" / "initramfs-tools" / "conf.d").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "machine-id").write_text("")
    # a small initramfs (only what a virtio/SATA/NVMe ext4 root needs), zstd-compressed:
    # quick to load and unpack under emulation
    (root / "etc" / "initramfs-tools" / "conf.d" / "ardoise").write_text(
        "COMPRESS=zstd\nMODULES=list\n")
    (root / "etc" / "initramfs-tools" / "modules").write_text(
        "virtio_pci\nvirtio_blk\nvirtio_scsi\nsd_mod\nahci\nata_piix\nnvme\next4\n"
        "crc32c_generic\n")
    # nothing to drive on a test console: skip graphics and virtualisation modules
    (root / "etc" / "modprobe.d" / "ardoise.conf").write_text(
        "blacklist bochs\nblacklist drm\nblacklist kvm\nblacklist kvm_amd\n"
        "blacklist kvm_intel\nblacklist pcspkr\nblacklist floppy\n")
    for sub in ("proc", "sys", "dev"):
        _sh(["mount", "--bind", f"/{sub}", str(root / sub)])
    try:
        _sh(["chroot", str(root), "update-initramfs", "-u", "-k", "all"], timeout=1200)
    finally:
        for sub in ("dev", "sys", "proc"):
            subprocess.run(["umount", "-l", str(root / sub)], check=False, timeout=60)


if __name__ == "__main__":
    print(ensure_os_image())
