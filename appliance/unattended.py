"""What a machine does with nobody at the keyboard: deliver, report, then power off.

Unattended erasure needs BOTH `unattended.enabled: true` in the config and a countdown a
key press cancels (DESIGN.md safety rule 3); the countdown itself belongs to the front end
(TUI screen, or `ardoise run` on the terminal). This module holds the rest: heartbeats to
the ledger while jobs run, retrying the uplink after them, and the final power action
through erasure.runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.i18n import _
from erasure import runner

log = logging.getLogger(__name__)

AFTER_COMMANDS = {"poweroff": ["systemctl", "poweroff"], "reboot": ["systemctl", "reboot"]}


def refusal(config: Config) -> str | None:
    """Why an unattended run must not start, or None."""
    if not config.unattended.enabled:
        return _("unattended erasure needs 'unattended: enabled: true' in the config "
                 "({source})").format(source=config.source or _("no config file"))
    return None


def power_action(after: str) -> None:
    """poweroff | reboot | stay (nothing)."""
    argv = AFTER_COMMANDS.get(after)
    if argv is None:
        return
    log.info("unattended run finished: %s", after)
    runner.run(argv, timeout=60, check=False)


def make_uplink(config: Config, data_dir: Path) -> Any | None:
    """The uplink to the configured ledger, or None without a ledger URL."""
    if not config.ledger.url:
        return None
    from appliance.spool import Spool
    from appliance.uplink import Uplink  # type: ignore[attr-defined]

    ca = str(config.ledger.ca_file) if config.ledger.ca_file else None
    return Uplink(Spool(data_dir), config.ledger.url, ca=ca)


def heartbeat_document(data_dir: Path, host: Any, batch: str,
                       jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """A signed `ardoise.heartbeat/1` (the ledger checks it against the enrolled key)."""
    from datetime import UTC, datetime

    from appliance import __version__
    from appliance.certificate import key_id, sign
    from appliance.certify import load_key

    key = load_key(data_dir)
    document = {
        "schema": "ardoise.heartbeat/1",
        "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "appliance": {"key_id": key_id(key.public_key()), "version": __version__},
        "host": {"serial": getattr(host, "serial", None) or "",
                 "product": getattr(host, "product", None) or "",
                 "maker": getattr(host, "manufacturer", None) or "", "mac": ""},
        "batch": batch,
        "journal": "stick",
        "jobs": jobs[:64],
    }
    return sign(document, key)


class Heartbeat:
    """Sends `payload()` to the ledger every `interval` seconds until stopped (best effort)."""

    def __init__(self, uplink: Any, payload: Callable[[], dict[str, Any]], interval: float):
        self.uplink = uplink
        self.payload = payload
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def beat(self) -> None:
        try:
            self.uplink.send_heartbeat(self.payload())
        except Exception as exc:  # the ledger may be unreachable: try again later
            log.debug("heartbeat not sent: %s", exc)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.beat()  # the last word: finished


def deliver(uplink: Any, patience_seconds: float, stop: threading.Event | None = None) -> int:
    """Retry sending the spool until it is empty or patience runs out; returns pending count."""
    stop = stop or threading.Event()
    wait = 2.0
    remaining = patience_seconds
    while True:
        try:
            uplink.flush_once()
        except Exception as exc:
            log.debug("uplink: %s", exc)
        pending = int(getattr(uplink.state(), "pending", 0))
        if pending == 0 or remaining <= 0 or stop.is_set():
            return pending
        stop.wait(min(wait, remaining))
        remaining -= wait
        wait = min(wait * 2, 60.0)
