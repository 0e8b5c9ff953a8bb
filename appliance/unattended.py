"""What a machine does with nobody at the keyboard: deliver, report, then power off.

Unattended erasure needs BOTH `unattended.enabled: true` in the config and a countdown a
key press cancels (DESIGN.md safety rule 3); the countdown itself belongs to the front end
(TUI screen, or `ardoise run` on the terminal). This module holds the rest: heartbeats to
the ledger while jobs run, retrying the uplink after them, and the final power action
through erasure.runner. On a netbooted rack machine, RackLink opens the rack session
(enrollment, heartbeats) behind a screen and keeps the status it shows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.i18n import _
from erasure import runner
from erasure.hidden import heartbeat_jobs

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
    from appliance.ledgertls import ledger_session
    from appliance.spool import Spool
    from appliance.uplink import Uplink  # type: ignore[attr-defined]

    ca = str(config.ledger.ca_file) if config.ledger.ca_file else None
    return Uplink(Spool(data_dir), config.ledger.url, ca=ca,
                  session=ledger_session(config.ledger))


def heartbeat_document(data_dir: Path, host: Any, batch: str,
                       jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """A signed `ardoise.heartbeat/1` (the ledger checks it against the enrolled key)."""
    from appliance import __version__
    from appliance.certificate import key_id, sign
    from appliance.certify import load_key

    key = load_key(data_dir)
    document = {
        "schema": "ardoise.heartbeat/1",
        "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "appliance": {"key_id": key_id(key.public_key()), "version": __version__},
        "host": {"serial": getattr(host, "serial", None) or "",
                 "product": getattr(host, "product", None) or "",
                 "maker": getattr(host, "manufacturer", None) or "", "mac": ""},
        "batch": batch,
        "journal": "stick",
        "jobs": (jobs + heartbeat_jobs())[:64],  # hidden drives show as not erased
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
        report: Any = None
        try:
            report = uplink.flush_once()
        except Exception as exc:
            log.debug("uplink: %s", exc)
        pending = int(getattr(uplink.state(), "pending", 0))
        if pending == 0 or remaining <= 0 or stop.is_set():
            return pending
        if report is not None and getattr(report, "error", "") is None:
            return pending  # only certificates the ledger refused are left: waiting is useless
        stop.wait(min(wait, remaining))
        remaining -= wait
        wait = min(wait * 2, 60.0)


# --- rack mode, for a front end that shows it ------------------------------------------------

RACK_PENDING, RACK_ENROLLED, RACK_REFUSED = "pending", "enrolled", "refused"


@dataclass
class RackStatus:
    """What a netbooted rack machine's screen shows of its standing with the site."""

    site: str  # organisation and location of the site config
    config_url: str
    ledger: str
    enrollment: str = RACK_PENDING  # pending | enrolled | refused
    reason: str = ""  # why enrollment was refused (refused), or the last retry (pending)
    key_id: str = ""
    last_delivery: datetime | None = None  # the last heartbeat the ledger took (UTC)
    undelivered: int = 0  # heartbeats not taken since the last delivery

    @property
    def enrolled(self) -> bool:
        return self.enrollment == RACK_ENROLLED


def site_name(config: Config) -> str:
    return " - ".join(p for p in (config.organisation, config.location) if p) or _("unnamed site")


def rack_status(config: Config) -> RackStatus | None:
    """The initial rack status of a config fetched from the network; None off the rack."""
    from appliance import rack

    if not rack.wanted(config):
        return None
    return RackStatus(site=site_name(config), config_url=config.source,
                      ledger=(config.ledger.url or "").rstrip("/"))


class RackLink:
    """Rack mode behind a screen: enrolls in the background (`start`), keeps `status` up to
    date (enrollment, refusal reason, last heartbeat delivered) and calls `on_change` from
    its threads after every change. `session` is the enrolled appliance.rack.RackSession
    (its journal and sink carry the run), None until then."""

    def __init__(self, config: Config, data_dir: Path, *, host: dict[str, str] | None = None,
                 patience: float | None = None,
                 on_change: Callable[[RackStatus], object] | None = None) -> None:
        status = rack_status(config)
        if status is None:
            raise ValueError("not a rack config")
        self.status = status
        self.config = config
        self.data_dir = data_dir
        self.host = host
        self.patience = patience
        self.on_change = on_change or (lambda status: None)
        self.session: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> RackLink:
        self._thread = threading.Thread(target=self.open, name="rack-enroll", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def open(self) -> None:
        """Enroll (blocking): ends enrolled or refused; never raises."""
        from appliance import rack

        link = self

        class WatchedSession(rack.RackSession):
            def beat(self) -> bool:
                delivered = super().beat()
                if self.key is not None:
                    link._delivered(delivered)
                return delivered

        def say(text: str) -> None:
            log.info("rack: %s", text)
            if not self.status.enrolled:
                self.status.reason = text
                self._changed()

        try:
            session = WatchedSession(self.config, self.data_dir, host=self.host, say=say)
            self.session = session.open(self.patience if self.patience is not None
                                        else rack.ENROLL_PATIENCE)
        except rack.RackError as exc:
            self.status.enrollment, self.status.reason = RACK_REFUSED, str(exc)
            self.session = None
        except Exception as exc:  # anything else also stops the machine: nothing is erased
            log.exception("rack enrollment failed")
            self.status.enrollment = RACK_REFUSED
            self.status.reason = str(exc) or type(exc).__name__
            self.session = None
        else:
            self.status.enrollment, self.status.reason = RACK_ENROLLED, ""
            self.status.key_id = session.key_id
        self._changed()

    def _delivered(self, ok: bool) -> None:
        if ok:
            self.status.last_delivery = datetime.now(UTC)
            self.status.undelivered = 0
        else:
            self.status.undelivered += 1
        if self.status.enrolled:
            self._changed()

    def _changed(self) -> None:
        try:
            self.on_change(self.status)
        except Exception:  # a screen that went away never stops the rack session
            log.debug("rack status not shown", exc_info=True)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
