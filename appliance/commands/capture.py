"""`ardoise image capture DEVICE --out DIR|URL [--sign-key K] [--raw PARTITION]... [--json]`

Capture a reference machine's whole disk into a signed image (the same format and rules as
`image build`); the disk is only read. Progress on stderr; with --json the result on stdout.

Exit codes: 0 captured; 1 the upload to URL failed; 2 bad input (not a whole disk, bad key, --out not a directory);
3 refused, nothing built (the disk is in use, or a partition is unknown, damaged or
encrypted and not named with --raw).
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from appliance.errors import EXIT_FAILED, EXIT_OK, Refused, UsageError
from appliance.i18n import _, format_size, tr
from appliance.output import emit_json, say, warn


def register(isub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    c = isub.add_parser("capture", parents=[common],
                        help=_("capture a reference machine's disk into a signed image"))
    c.add_argument("device", metavar="DEVICE")
    c.add_argument("--out", required=True, metavar="DIR|URL",
                   help=_("a directory, or an http(s) URL to PUT the image under"))
    c.add_argument("--name", default=None)
    c.add_argument("--version", dest="image_version", default="1", metavar="V")
    c.add_argument("--sign-key", type=Path, default=None, metavar="K",
                   help=_("publisher's Ed25519 private key (PEM)"))
    c.add_argument("--raw", action="append", default=[], metavar="PARTITION",
                   help=_("copy this partition whole, old data included (a number, a "
                          "partition node, or all)"))
    c.add_argument("--level", type=int, default=6, help=_("zstd compression level"))
    c.add_argument("--drop-page-files", action="store_true",
                   help=_("write NTFS pagefile.sys, swapfile.sys and hiberfil.sys as zeros"))
    c.set_defaults(func=run_capture)


class _Reading:
    """One stderr line every 10% of the disk read."""

    def __init__(self, path: str):
        self.path = path
        self.step = -1
        self.lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        step = done * 10 // max(total, 1)
        with self.lock:
            if step <= self.step:
                return
            self.step = step
        warn(_("{path}: captured {percent}% of {size}").format(
            path=self.path, percent=step * 10, size=format_size(total)))


def run_capture(args: argparse.Namespace) -> int:
    from appliance.commands.image import load_sign_key, raw_partitions
    from appliance.imaging import build, capture, upload

    key = load_sign_key(args.sign_key)
    if not capture.is_url(args.out) and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(_("--out {path}: not a directory").format(path=args.out))
    try:
        result, manifest, data = capture.capture(args.device, args.out, name=args.name,
                                 version=args.image_version, sign_key=key,
                                 raw=raw_partitions(args.raw), level=args.level,
                                 drop_page_files=args.drop_page_files,
                                 progress=_Reading(args.device))
    except capture.CaptureError as exc:
        if exc.refused:
            raise Refused(tr(exc.message)) from None
        raise UsageError(tr(exc.message)) from None
    except build.BuildRefused as exc:
        for reason in exc.reasons:
            warn("  " + tr(reason))
        raise Refused(_("{path}: nothing was built, the partitions above cannot be imaged by "
                        "their used blocks").format(path=args.device)) from None
    except build.BuildError as exc:
        raise UsageError(tr(exc.message)) from None
    except upload.UploadError as exc:
        warn(_("ardoise: {error}").format(error=tr(exc.message)))
        return EXIT_FAILED
    d = {**result.to_dict(), "manifest": manifest, "data": data}
    if args.json:
        emit_json(d)
        return EXIT_OK
    for p in d["partitions"]:
        say(_("  partition {number}: {fstype} {action}, {kept} kept of {size}").format(
            number=p["number"], fstype=p["fstype"] or "-", action=p["action"],
            kept=format_size(p["kept_bytes"]), size=format_size(p["length"])))
    say(_("{manifest}: {mapped} stored as {data}, {free} free space written as zeros").format(
        manifest=d["manifest"], mapped=format_size(d["mapped_bytes"]),
        data=format_size(d["data_bytes"]), free=format_size(d["free_bytes"])))
    if not d["signed"]:
        warn(_("warning: the image is not signed (--sign-key): appliances will refuse it"))
    return EXIT_OK
