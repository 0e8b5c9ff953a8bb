"""Level (clear|purge) + capabilities → ordered methods, each with its reason.

Minimal version: overwrite only (Clear). The firmware-purge work replaces this with the
NIST SP 800-88 / IEEE 2883 tables.
"""

from __future__ import annotations

from erasure.disk import Disk, Plan
from erasure.text import Msg

LEVELS = ("clear", "purge")


def make_plan(disk: Disk, level: str) -> Plan:
    if level not in LEVELS:
        raise ValueError(level)
    if level == "clear":
        return Plan(level, True, ["overwrite"],
                    [Msg("overwrite: one pass over every addressable sector is a Clear")])
    return Plan(level, False, [], [Msg("no method known to reach purge on this drive")])
