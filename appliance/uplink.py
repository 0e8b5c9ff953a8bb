"""Deliver spooled certificates to the ledger, exactly once, whenever a network appears.

Protocol (DESIGN.md): POST {ledger}/api/v1/certificates with the signed certificate as the
JSON body; the appliance is known by its signature (the ledger has its enrolled public key).
Answers: 201 new, 200 identical duplicate → moved to sent/; 409 same id, other content →
kept, reported as a conflict; any other 4xx → kept, reported with the reason; 5xx,
timeouts and connection errors → retried later with exponential backoff and full jitter.

    uplink = Uplink(Spool(data_dir), "https://ledger.example", ca="/path/ca.pem")
    report = uplink.flush_once()           # FlushReport
    uplink.start(); ...; uplink.wake(); ...; uplink.stop()
    uplink.state()                         # UplinkState, for the TUI and `spool list --json`
    uplink.send_heartbeat({...})           # best effort, POST /api/v1/heartbeats
    standing(ledger_url, key)              # appliance.standing: GET /api/v1/appliances/me
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from appliance.certificate import canonical
from appliance.errors import network_reason
from appliance.i18n import N_
from appliance.ledgertls import CAPTIVE, captive_reason, pin_mismatch, pin_refusal
from appliance.receipts import Receipts, SplitView
from appliance.spool import Spool, encode, write_atomic
from appliance.standing import (  # noqa: F401 - this appliance at the ledger, re-exported
    APPLIANCE_ME,
    REQUEST_HEADER,
    Standing,
    _error_code,
    _reason,
    signed_request,
    standing,
    why_unreachable,
)
from appliance.tlog import TlogError
from erasure.text import Msg

log = logging.getLogger(__name__)
NOT_A_LEDGER = N_("this address is not an ardoise ledger (check --ledger or ledger.url)")

CERTIFICATES = "/api/v1/certificates"
HEARTBEATS = "/api/v1/heartbeats"
STATE_FILE = "uplink.json"


def saved_state(spool: Spool) -> dict[str, Any] | None:
    """The last uplink state any process saved for this spool."""
    try:
        data: dict[str, Any] = json.loads((spool.root / STATE_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    return data


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def network_up(sys_net: Path = Path("/sys/class/net")) -> bool:
    """Some interface other than loopback has its link up (or we cannot tell)."""
    try:
        names = [p for p in sys_net.iterdir() if p.name != "lo"]
    except OSError:
        return True
    for iface in names:
        try:
            if (iface / "operstate").read_text().strip() in ("up", "unknown"):
                return True
        except OSError:
            continue
    return False


@dataclass
class FlushReport:
    sent: list[str] = field(default_factory=list)  # 201
    duplicates: list[str] = field(default_factory=list)  # 200: the ledger had it already
    conflicts: list[str] = field(default_factory=list)  # 409
    rejected: dict[str, str] = field(default_factory=dict)  # other 4xx: id → reason
    error: str | None = None  # why the flush stopped early (5xx, timeout, no connection)
    pending: int = 0
    receipts: list[str] = field(default_factory=list)  # tlog-proof kept beside the sent copy
    receipt_problems: dict[str, str] = field(default_factory=dict)  # id → why none was kept
    split_view: str | None = None  # the ledger showed two histories (appliance.receipts)

    @property
    def delivered(self) -> int:
        return len(self.sent) + len(self.duplicates)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.conflicts and not self.rejected

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "delivered": self.delivered}


@dataclass
class UplinkState:
    ledger: str
    pending: int
    sent_total: int = 0  # delivered by this process
    conflicts: int = 0
    rejected: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    last_success_at: str | None = None
    next_attempt_in: float | None = None  # seconds, when the worker is backing off
    running: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog, 2015)."""

    def __init__(self, base: float = 2.0, cap: float = 300.0, rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.failures = 0
        self.rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


class _Retry(Exception):
    """The ledger cannot take certificates now (5xx, timeout, no connection)."""


class Uplink:
    path = CERTIFICATES  # where deliver() posts; appliance.device_uplink posts device records

    def __init__(self, spool: Spool, ledger_url: str, *, ca: str | Path | bool | None = None,
                 session: requests.Session | None = None,
                 timeout: tuple[float, float] = (5.0, 20.0),
                 backoff: Backoff | None = None, idle_poll: float = 30.0,
                 check_link: bool = True, receipts: bool = True, log_vkey: str | None = None):
        self.spool = spool
        self.ledger = ledger_url.rstrip("/")
        # TLS: verify against the configured CA file, else the system store; never off.
        self.verify: str | bool = str(ca) if ca not in (None, True, False) else True
        self.session = session or requests.Session()
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.idle_poll = idle_poll
        self.check_link = check_link
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = UplinkState(ledger=self.ledger, pending=len(spool.pending()))
        self.receipts = Receipts(spool, spool.root.parent, self._get, log_vkey) \
            if receipts else None

    # ------------------------------------------------------------ one pass

    def _post(self, path: str, body: bytes) -> requests.Response:
        try:
            # never a redirect: the ledger answers here, a captive portal sends elsewhere
            response = self.session.post(self.ledger + path, data=body, timeout=self.timeout,
                                         verify=self.verify, allow_redirects=False,
                                         headers={"Content-Type": "application/json"})
        except requests.RequestException as exc:
            log.info("%s%s: %s", self.ledger, path, exc)
            found = pin_mismatch(exc)
            raise _Retry(pin_refusal(found) if found else network_reason(exc)) from exc
        portal = captive_reason(response)
        if portal is not None:
            log.info("%s%s: HTTP %s, not the ledger", self.ledger, path, response.status_code)
            raise _Retry(portal)
        return response

    def _get(self, path: str) -> tuple[int, str]:
        try:
            response = self.session.get(self.ledger + path, timeout=self.timeout,
                                        verify=self.verify, allow_redirects=False)
        except requests.RequestException as exc:
            found = pin_mismatch(exc)
            return 0, str(pin_refusal(found)) if found else f"{type(exc).__name__}: {exc}"
        return response.status_code, response.text

    def fetch_receipts(self, report: FlushReport, ids: list[str]) -> None:
        """A receipt for each delivered certificate; a missing one is retried by the next
        flush that delivers, or by `ardoise spool flush`; it never undoes a delivery."""
        if self.receipts is None:
            return
        for cert_id in ids:
            try:
                check = self.receipts.fetch(cert_id)
            except SplitView as exc:
                report.split_view = str(exc)
                log.error("%s", exc)
                return
            except (TlogError, ValueError, OSError) as exc:
                report.receipt_problems[cert_id] = str(exc)
                continue
            if check.ok:
                report.receipts.append(cert_id)
            else:
                report.receipt_problems[cert_id] = "; ".join(str(p) for p in check.problems)

    def deliver(self, cert_id: str) -> tuple[str, str | None]:
        """POST one certificate. → ("sent"|"duplicate"|"conflict"|"rejected", reason)."""
        document = self.spool.load(cert_id)
        response = self._post(self.path, canonical(document))
        code = response.status_code
        if code in (200, 201) and not _accepted(response, cert_id):
            raise _Retry(Msg(CAPTIVE))  # a 200 that is not the ledger's receipt: not sent
        if code in (200, 201):
            self.spool.mark_sent(cert_id, sync=False)  # flush_once syncs once at the end
            return ("sent" if code == 201 else "duplicate"), None
        if code in (404, 405):  # no ledger API at this address: nothing to hold against it
            raise _Retry(f"HTTP {code}: " + NOT_A_LEDGER)
        reason = _reason(response)
        if code == 409:
            self.spool.note(cert_id, {"status": "conflict", "http": code, "reason": reason,
                                      "error": _error_code(response), "at": utc_now()})
            return "conflict", reason
        if 400 <= code < 500 and code not in (408, 425, 429):
            self.spool.note(cert_id, {"status": "rejected", "http": code, "reason": reason,
                                      "error": _error_code(response), "at": utc_now()})
            return "rejected", reason
        raise _Retry(f"HTTP {code}: {reason}")

    def flush_once(self) -> FlushReport:
        """Try every pending certificate once; stop at the first retryable failure."""
        report = FlushReport()
        for cert_id in self.spool.pending():
            try:
                outcome, reason = self.deliver(cert_id)
            except FileNotFoundError:  # moved by a concurrent flush
                continue
            except _Retry as exc:
                report.error = exc.args[0] if exc.args else str(exc)  # a Msg: translatable
                break
            if outcome == "sent":
                report.sent.append(cert_id)
            elif outcome == "duplicate":
                report.duplicates.append(cert_id)
            elif outcome == "conflict":
                report.conflicts.append(cert_id)
            else:
                report.rejected[cert_id] = reason or ""
        if report.delivered:
            self.spool.sync()
            self.fetch_receipts(report, report.sent + report.duplicates)
        report.pending = len(self.spool.pending())
        self._account(report)
        return report

    def _account(self, report: FlushReport) -> None:
        with self._lock:
            s = self._state
            s.pending = report.pending
            s.sent_total += report.delivered
            s.conflicts = len(report.conflicts)
            s.rejected = len(report.rejected)
            if report.delivered:
                s.last_success_at = utc_now()
            if report.error:
                s.last_error, s.last_error_at = report.error, utc_now()
            elif report.conflicts or report.rejected:
                first = (report.conflicts or list(report.rejected))[0]
                s.last_error = f"{first}: " + ("conflict" if report.conflicts
                                               else report.rejected[first])
                s.last_error_at = utc_now()
            else:
                s.last_error = None
        self._save_state()

    def _save_state(self) -> None:
        """Keep the last state beside the spool, for `ardoise spool list` in another process."""
        try:
            write_atomic(self.spool.root / STATE_FILE, encode(self.state().to_json()),
                         tmp_dir=self.spool.tmp_dir)
        except OSError as exc:
            log.debug("uplink state not saved: %s", exc)

    def state(self) -> UplinkState:
        with self._lock:
            snapshot = UplinkState(**asdict(self._state))
        snapshot.pending = len(self.spool.pending())
        snapshot.running = self._thread is not None and self._thread.is_alive()
        return snapshot

    # ------------------------------------------------------------ heartbeats

    def send_heartbeat(self, payload: dict[str, Any]) -> bool:
        """Best effort; True if the ledger took it."""
        try:
            response = self._post(HEARTBEATS, canonical(payload))
        except _Retry as exc:
            log.debug("heartbeat not sent: %s", exc)
            return False
        return response.status_code < 300

    # ------------------------------------------------------------ background worker

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ardoise-uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Something new is in the spool (or the network came back): try now."""
        self._wake.set()

    def _sleep(self, seconds: float) -> None:
        with self._lock:
            self._state.next_attempt_in = seconds
        self._wake.wait(seconds)
        self._wake.clear()
        with self._lock:
            self._state.next_attempt_in = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.spool.pending():
                self.backoff.reset()
                self._sleep(self.idle_poll)
                continue
            if self.check_link and not network_up():
                self._sleep(min(self.idle_poll, 5.0))
                continue
            try:
                report = self.flush_once()
            except Exception as exc:  # never let the worker die (disk full, bad file...)
                log.exception("uplink flush failed")
                report = FlushReport(error=f"{type(exc).__name__}: {exc}")
            if self._stop.is_set():
                break
            if report.error:
                self._sleep(self.backoff.next_delay())
            else:
                self.backoff.reset()
                # only kept (conflict/rejected) certificates left: look again later
                self._sleep(self.idle_poll)


def _accepted(response: requests.Response, cert_id: str) -> bool:
    """The ledger's receipt names the certificate ({"id": ..., "status": ...})."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("id") == cert_id
