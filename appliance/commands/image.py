"""`ardoise image build|capture|write|hash` (CLI contract in DESIGN.md).

    ardoise image build SOURCE.img --out DIR [--name N --version V] [--sign-key K] [--bmap F]
                        [--raw PARTITION]...
    ardoise image capture DEVICE --out DIR [--sign-key K] [--raw PARTITION]... (capture.py)
    ardoise image write MANIFEST(path|URL) DEVICE [--trust PUBKEY.pem]... [--yes] [--json]
    ardoise image hash DEVICE --manifest MANIFEST [--trust PUBKEY.pem]... [--json]

Exit codes (appliance/errors.py): 0 imaged / hashes match; 1 the write or the check
failed, or the image could not be downloaded (HTTP error, no connection); 2 bad input: a
missing path, a file that is not a manifest, an address that is not http(s); 3 refused for
safety, nothing written (ineligible disk, disk too small, manifest invalid, unsigned or
signed by a key that is not trusted, confirmation not given).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from appliance.commands.checks import json_head, key_file_error, require_block_device
from appliance.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    Refused,
    UsageError,
)
from appliance.i18n import _, format_number, format_rate, format_size, tr
from appliance.interrupt import Stopper
from appliance.output import emit_json, say, warn
from erasure.discovery import NotAWholeDisk, resolve
from erasure.disk import Disk
from erasure.methods.base import Progress

if TYPE_CHECKING:
    from appliance.imaging import writer

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("image", help=_("build, write and check OS images"))
    isub = p.add_subparsers(dest="image_command", metavar="build|capture|write|hash",
                            parser_class=type(p))
    isub.required = True

    b = isub.add_parser("build", parents=[common], help=_("make a signed image from a raw disk image"))
    b.add_argument("source", type=Path, metavar="SOURCE.img")
    b.add_argument("--out", type=Path, required=True, metavar="DIR")
    b.add_argument("--name", default=None)
    b.add_argument("--version", dest="image_version", default="1", metavar="V")
    b.add_argument("--sign-key", type=Path, default=None, metavar="K",
                   help=_("publisher's Ed25519 private key (PEM)"))
    b.add_argument("--bmap", type=Path, default=None, metavar="FILE",
                   help=_("use a bmaptool map: unmapped ranges are left out"))
    b.add_argument("--chunk-mib", type=int, default=4, metavar="N")
    b.add_argument("--level", type=int, default=6, help=_("zstd compression level"))
    b.add_argument("--raw", action="append", default=[], metavar="PARTITION",
                   help=_("copy this partition whole, old data included (a number, a "
                          "partition node, or all)"))
    b.add_argument("--drop-page-files", action="store_true",
                   help=_("write NTFS pagefile.sys, swapfile.sys and hiberfil.sys as zeros"))
    b.set_defaults(func=run_build)

    w = isub.add_parser("write", parents=[common], help=_("write an image onto a disk and verify it"))
    w.add_argument("manifest", metavar="MANIFEST", help=_("manifest path or http(s) URL"))
    w.add_argument("device", metavar="DEVICE")
    w.add_argument("--trust", type=Path, action="append", default=[], metavar="PUBKEY.pem",
                   help=_("publisher key to trust (default: DATA/keys/trusted/*.pem)"))
    w.add_argument("--yes", action="store_true", help=_("do not ask for confirmation"))
    w.add_argument("--grow-last", action="store_true",
                   help=_("grow the last partition to the end of a larger disk"))
    w.add_argument("--assume-zeroed", action="store_true",
                   help=_("the disk already reads as zero: do not zero must-zero ranges"))
    w.add_argument("--cache", type=Path, default=None, metavar="DIR",
                   help=_("keep what is downloaded in DIR"))
    w.add_argument("--workers", type=int, default=4, metavar="N")
    w.add_argument("--allow-external", action="store_true",
                   help=_("allow a USB or removable disk"))
    w.add_argument("--no-certificate", action="store_true", help=_("do not issue a certificate"))
    w.set_defaults(func=run_write)

    h = isub.add_parser("hash", parents=[common], help=_("re-hash a disk against a manifest"))
    h.add_argument("device", metavar="DEVICE")
    h.add_argument("--manifest", required=True, metavar="MANIFEST")
    h.add_argument("--trust", type=Path, action="append", default=[], metavar="PUBKEY.pem")
    h.add_argument("--workers", type=int, default=4, metavar="N")
    h.set_defaults(func=run_hash)

    from appliance.commands import capture

    capture.register(isub, common)


# ---------------------------------------------------------------- build


def load_sign_key(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        from appliance.certificate import CertificateError, load_private_pem

        return load_private_pem(path.read_bytes())
    except (OSError, ValueError, CertificateError) as exc:
        raise key_file_error(path, exc, private=True) from None


def run_build(args: argparse.Namespace) -> int:
    from appliance.imaging import build

    key = load_sign_key(args.sign_key)
    if not args.source.is_file() and not args.source.is_block_device():
        raise UsageError(_("{path}: no such image").format(path=args.source))
    if args.chunk_mib < 1 or args.chunk_mib > 64:
        raise UsageError(_("--chunk-mib must be between 1 and 64"))
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(_("{path} is a file: --out names the directory the image goes to")
                         .format(path=args.out))
    try:
        result = build.build_image(args.source, args.out, name=args.name,
                                   version=args.image_version, sign_key=key, bmap=args.bmap,
                                   chunk_bytes=args.chunk_mib << 20, level=args.level,
                                   raw=raw_partitions(args.raw),
                                   drop_page_files=args.drop_page_files)
    except build.BuildRefused as exc:
        for reason in exc.reasons:
            warn("  " + tr(reason))
        raise Refused(_("{path}: nothing was built, the partitions above cannot be imaged by "
                        "their used blocks").format(path=args.source)) from None
    except build.BuildError as exc:
        raise UsageError(tr(exc.message)) from None
    if args.json:
        emit_json(result.to_dict())
        return EXIT_OK
    d = result.to_dict()
    say(_("{manifest}: {chunks} chunks, {mapped} stored as {data}, {zero} must be zero, "
          "{free} unused").format(manifest=d["manifest"], chunks=d["chunks"],
                                  mapped=format_size(d["mapped_bytes"]),
                                  data=format_size(d["data_bytes"]),
                                  zero=format_size(d["must_zero_bytes"]),
                                  free=format_size(d["free_bytes"])))
    say(_("root hash {hash}").format(hash=d["root_hash"]))
    if not d["signed"]:
        warn(_("warning: the image is not signed (--sign-key): appliances will refuse it"))
    return EXIT_OK


def raw_partitions(values: list[str]) -> list[str]:
    """--raw values as partition numbers: "3", "/dev/sda3", "/dev/nvme0n1p3" -> "3"."""
    import re

    out = []
    for value in values:
        m = re.fullmatch(r"all|\d+|.*?\D(\d+)", value)
        if m is None:
            raise UsageError(_("--raw {value}: give a partition number, a partition node or "
                               "all").format(value=value))
        out.append(m.group(1) or m.group(0))
    return out


# ---------------------------------------------------------------- write


def _trust(args: argparse.Namespace) -> list[Path]:
    from appliance.imaging import manifest

    for path in args.trust:
        if not path.is_file():
            raise UsageError(_("{path}: no such key file (--trust)").format(path=path))
    return list(args.trust) or manifest.default_trust(Path(args.data))


def _target(path: str, allow_external: bool) -> Disk | None:
    try:
        return resolve(path, allow_external=allow_external)
    except NotAWholeDisk:
        return None


def _confirm(disk: Disk, source: str) -> None:
    warn(f"  {disk.path:14} {format_size(disk.size_bytes):>10}  {disk.model} "
         f"[{disk.serial or '-'}]")
    warn(_("Everything on this disk will be replaced by {source}. Type {phrase} to go on:")
         .format(source=source, phrase=disk.path))
    sys.stderr.flush()
    if sys.stdin.readline().strip() != disk.path:
        raise Refused(_("not confirmed: nothing was written"))


class _Lines:
    """Progress for people: one line per phase every 10%."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Progress) -> None:
        if self.quiet:
            return
        step = int(event.fraction * 10)
        with self.lock:
            if self.seen.get(event.phase, -1) >= step:
                return
            self.seen[event.phase] = step
        phase = _("writing") if event.phase == "image" else _("reading back")
        warn(_("{path}: {phase} {percent}% ({rate})").format(
            path=event.path, phase=phase, percent=step * 10,
            rate=format_rate(event.rate_bytes_per_s)))


def _block_device(path: str) -> None:
    """A path that does not exist or is not a block device is a usage error (exit 2)."""
    require_block_device(path)


def check_manifest(location: str) -> None:
    """A manifest argument that cannot work is a usage error (exit 2) before any disk is
    looked at: a missing file, a file that is not a manifest (a raw disk image), an address
    that is not http(s)."""
    parts = urlsplit(location)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise UsageError(_("{url}: not a valid address (http://HOST/PATH)").format(
                url=location))
        return
    if parts.scheme not in ("", "file"):
        raise UsageError(_("{location}: give a manifest path or an http:// or https:// "
                           "address").format(location=location))
    path = Path(parts.path if parts.scheme == "file" else location)
    json_head(path, _("{path}: no such manifest"),
              _("{path} is not an image manifest: give the .manifest.json that "
                "`ardoise image build` wrote (a raw disk image is built first: "
                "ardoise image build {path} --out DIR)"))


def run_write(args: argparse.Namespace) -> int:
    from appliance.imaging import writer

    check_manifest(args.manifest)
    trust = _trust(args)
    _block_device(args.device)
    disk = _target(args.device, args.allow_external)
    if disk is not None and disk.eligible and not args.yes:
        _confirm(disk, args.manifest)
    with Stopper() as stop:  # SIGINT/SIGTERM: the write stops, certified INCOMPLETE, 130/143
        result = writer.write_image(args.manifest, args.device, trust,
                                    progress=_Lines(args.json), workers=max(1, args.workers),
                                    assume_zeroed=args.assume_zeroed, grow_last=args.grow_last,
                                    cache_dir=args.cache, allow_external=args.allow_external,
                                    cancel=stop.cancel)
        # a refused write touched nothing: no certificate (the refusal is in the output)
        certificate = None if args.no_certificate or result.status == writer.REFUSED \
            else certify(result, disk, Path(args.data))
    doc = result.to_dict()
    doc["certificate"] = certificate
    if args.json:
        emit_json({"results": [doc]})
    else:
        _report(result, certificate)
    if stop.interrupted:
        return stop.exit_code
    if result.status == writer.REFUSED:
        return EXIT_REFUSED
    return EXIT_OK if result.status == writer.IMAGED else EXIT_FAILED


def _report(r: writer.ImageResult, certificate: str | None) -> None:
    from appliance.imaging import writer

    if r.status == writer.IMAGED:
        say(_("{path}: {name} {version} written and verified: {size} in {seconds} s "
              "(write {write} s, read-back {readback} s)").format(
            path=r.path, name=r.name, version=r.version, size=format_size(r.bytes_written),
            seconds=format_number(r.seconds, 1), write=format_number(r.write_seconds, 1),
            readback=format_number(r.readback_seconds, 1)))
        say(_("read-back root hash {hash}").format(hash=r.readback_root_hash))
    elif r.status == writer.REFUSED:
        warn(_("ardoise: refused {path}: nothing was written").format(path=r.path))
    elif r.bytes_written == 0 and r.readback_root_hash is None:
        warn(_("ardoise: {path}: image not written: nothing was written").format(path=r.path))
    else:
        warn(_("ardoise: {path}: image NOT written correctly").format(path=r.path))
    for e in r.errors:
        warn("  " + tr(e))
    if certificate:
        say(_("certificate: {path}").format(path=certificate))


def certify(result: writer.ImageResult, disk: Disk | None, data_dir: Path) -> str | None:
    """Issue the disk's certificate (image section + what happened) into the spool."""
    try:
        from appliance import certify as cert
        from appliance import inventory
    except ImportError:  # pragma: no cover - the certificate layer is part of the appliance
        return None
    errors = [f"image: {e}" for e in result.errors]
    status = "refused" if result.status == "refused" else "incomplete"
    outcome: dict[str, Any] = {
        "disk": disk.to_json() if disk is not None else {"path": result.path},
        "level": "clear",
        "method": None,
        "status": status,
        "errors": ["no sanitization in this run (image write only)", *errors],
        "bytes_written": 0,
    }
    try:
        document = cert.build_certificate(outcome=outcome, host=inventory.collect(),
                                          image=result.certificate_image())
        return str(cert.issue(document, data_dir))
    except Exception as exc:  # noqa: BLE001 - the write result stands even if spooling fails
        log.warning("certificate not issued: %s", exc)
        warn(_("ardoise: certificate not issued: {error}").format(error=exc))
        return None


# ---------------------------------------------------------------- hash


def run_hash(args: argparse.Namespace) -> int:
    from appliance.imaging import writer

    check_manifest(args.manifest)
    trust = _trust(args)
    _block_device(args.device)
    result = writer.hash_device(args.device, args.manifest, trust or None,
                                progress=_Lines(args.json), workers=max(1, args.workers))
    if args.json:
        emit_json(result.to_dict())
    else:
        if result.status == "match":
            say(_("{path}: matches {name} {version} (root hash {hash})").format(
                path=result.path, name=result.name, version=result.version,
                hash=result.readback_root_hash))
        elif result.status == "partition-table-adjusted":
            say(_("{path}: matches {name} {version}; only the partition table differs, as "
                  "adjusted for a larger disk").format(path=result.path, name=result.name,
                                                       version=result.version))
        else:
            warn(_("{path}: does NOT match the manifest").format(path=result.path))
        for e in result.errors:
            warn("  " + tr(e))
    return EXIT_OK if result.status in ("match", "partition-table-adjusted") else EXIT_FAILED
