"""`ardoise preflight [--config FILE] [--device DEV]... [--json]`: what `ardoise run` and the
TUI check before their confirmation, alone, touching nothing: the system image (present,
signed by a trusted publisher, complete, and, for each --device, big enough) and the ledger
(reachable, this appliance's key enrolled).

Exit codes: 0 no problem (warnings allowed), 2 a problem that would refuse the run (or a bad
config), 3 a named disk that could not be erased anyway.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance import jobs, preflight
from appliance.errors import EXIT_OK, EXIT_USAGE, Refused
from appliance.i18n import _, set_language
from appliance.output import emit_json, say


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("preflight", parents=[common],
                       help=_("check the image and the ledger before erasing (touches nothing)"))
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help=_("ardoise.yaml (default: ardoise.config= or DATA/ardoise.yaml)"))
    p.add_argument("--device", action="append", default=[], metavar="DEV",
                   help=_("also check that the image fits this disk (repeatable)"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.commands.run import load_config

    config = load_config(args.config, args.data)
    if config.language and not (args.lang or getattr(args, "top_lang", None)):
        set_language(config.language)
    data_dir = config.data or args.data
    targets: list[jobs.Target] = []
    if args.device:
        try:
            targets = [t for t in jobs.discover_targets(config, args.device) if t.selected]
        except ValueError as exc:
            raise Refused(str(exc)) from exc
        if len(targets) < len(args.device):
            raise Refused(_("some named disks cannot be erased: nothing was touched"))
    result = preflight.check(config, data_dir, targets)
    if args.json:
        emit_json(result.to_json())
    else:
        preflight.print_checks(result, say)
    return EXIT_USAGE if result.blocked else EXIT_OK
