"""`ardoise tui` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from appliance.errors import UsageError
from appliance.i18n import _


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", parents=[common], help=_("not available yet"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError(_("this command is not available yet"))
