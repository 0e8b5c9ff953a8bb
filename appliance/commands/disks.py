"""`ardoise disks [--all] [--json]`: every whole disk and whether it may be erased."""

from __future__ import annotations

import argparse

from appliance.errors import EXIT_OK
from appliance.i18n import _, format_size, tr
from appliance.output import emit_json, say
from erasure.discovery import discover
from erasure.hidden import find_hidden


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("disks", parents=[common], help=_("list disks and their eligibility"))
    p.add_argument("--all", action="store_true",
                   help=_("include loop, optical and virtual devices"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    disks = discover(include_all=args.all)
    hidden = find_hidden()
    if args.json:
        emit_json({"disks": [d.to_json() for d in disks],
                   "hidden": [h.to_json() for h in hidden]})
        return EXIT_OK
    for h in hidden:
        say(_("HIDDEN: {what}").format(what=tr(h.describe())))
    if not disks:
        say(_("No disks found."))
        return EXIT_OK
    for d in disks:
        state = _("eligible") if d.eligible else _("excluded: {reason}").format(
            reason=tr(d.excluded_reason))
        say(f"{d.path:14} {format_size(d.size_bytes):>10}  {d.transport:6} {d.model} "
            f"[{d.serial or '-'}]  {state}")
    return EXIT_OK
