"""`ardoise tui [--config FILE]`: the technician's full-screen interface.

The appliance layer never imports textual: the interface lives in the `tui` package and is
loaded here by name, only when this command runs.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from appliance.commands.checks import require_block_device
from appliance.errors import Refused, UsageError
from appliance.i18n import _, get_language, tr


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", parents=[common], help=_("the full-screen interface"))
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help=_("ardoise.yaml (default: ardoise.config= or DATA/ardoise.yaml)"))
    p.add_argument("--device", action="append", default=[], metavar="DEV",
                   help=_("only this disk (repeatable)"))
    p.add_argument("--audit", default=None, metavar="DEV",
                   help=_("audit mode: read this disk end to end and say PASS or FAIL "
                          "(the checks of `ardoise audit`)"))
    p.add_argument("--certificate", default=None, metavar="FILE|ID",
                   help=_("with --audit: the disk's certificate"))
    p.add_argument("--manifest", default=None, metavar="M",
                   help=_("with --audit: the image written on the disk"))
    p.add_argument("--operator", default=None, metavar="NAME",
                   help=_("with --audit: who validates (not the person who erased)"))
    p.set_defaults(func=run)


def check_devices(paths: list[str]) -> None:
    """Named disks are checked before the screen opens: a missing path is exit 2, a
    partition or something else that is not a whole disk exit 3 (refused)."""
    from erasure.discovery import NotAWholeDisk, resolve

    for path in paths:
        require_block_device(path)
        try:
            resolve(path, allow_external=True)
        except NotAWholeDisk as exc:
            raise Refused(_("refused: {reason}").format(
                reason=tr(exc.args[0]) if exc.args else path)) from None


def run_audit(args: argparse.Namespace) -> int:
    """The audit screen (tui.audit) on one disk: the same checks and record as `ardoise
    audit`, a large PASS or FAIL at the end."""
    check_devices([args.audit])
    entry = importlib.import_module("tui.audit")
    argv = [args.audit, "--data", str(args.data), "--lang", args.lang or get_language()]
    for option in ("certificate", "manifest", "operator"):
        if getattr(args, option):
            argv += [f"--{option}", getattr(args, option)]
    return int(entry.main(argv))


def run(args: argparse.Namespace) -> int:
    if args.audit is not None:
        return run_audit(args)
    if args.certificate or args.manifest or args.operator:
        raise UsageError(_("--certificate, --manifest and --operator go with --audit DEV"))
    check_devices(args.device)
    if args.config is not None and not args.config.is_file():
        raise UsageError(_("{path}: no such config file").format(path=args.config))
    entry = importlib.import_module("tui.__main__")
    argv = ["--data", str(args.data), "--lang", args.lang or get_language()]
    if args.config is not None:
        argv += ["--config", str(args.config)]
    for device in args.device:
        argv += ["--device", device]
    return int(entry.main(argv))
