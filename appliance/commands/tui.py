"""`ardoise tui [--config FILE]`: the technician's full-screen interface.

The appliance layer never imports textual: the interface lives in the `tui` package and is
loaded here by name, only when this command runs.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from appliance.i18n import _, get_language


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", parents=[common], help=_("the full-screen interface"))
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help=_("ardoise.yaml (default: ardoise.config= or DATA/ardoise.yaml)"))
    p.add_argument("--device", action="append", default=[], metavar="DEV",
                   help=_("only this disk (repeatable)"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    entry = importlib.import_module("tui.__main__")
    argv = ["--data", str(args.data), "--lang", args.lang or get_language()]
    if args.config is not None:
        argv += ["--config", str(args.config)]
    for device in args.device:
        argv += ["--device", device]
    return int(entry.main(argv))
