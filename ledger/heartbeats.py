"""What the ledger checks of a heartbeat's time: a heartbeat is accepted only when it is
newer than the last one from the same key (no replay, no rolling a state back) and not from
a clock that runs ahead."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_CLOCK_AHEAD = timedelta(minutes=10)


class StaleHeartbeat(Exception):
    """A heartbeat older than (or as old as) the last one accepted from its key."""


def parse_sent_at(text: str) -> datetime | None:
    """An RFC 3339 timestamp with its offset (Z or +hh:mm) as an aware datetime, else None."""
    if not 20 <= len(text) <= 40 or text[10:11] not in ("T", "t"):
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None
