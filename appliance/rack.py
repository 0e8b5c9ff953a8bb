"""Rack mode: a netbooted machine without a stick, known to the ledger only through the site.

At boot (`RackSession.open`):
  1. the data directory is in RAM (appliance.paths.RAM_DATA): keys, journal and spool live
     there and vanish at power-off, so the ledger is the only lasting record;
  2. a fresh appliance key is made (appliance.certify.load_key) and enrolled at the ledger
     with the rack token of the signed site config (`ledger.enroll_token`,
     POST /api/v1/appliances); without a valid enrollment nothing is erased;
  3. heartbeats (`ardoise.heartbeat/1`, signed by the appliance key) carry the state of every
     job: one is sent on every journal transition before the step starts (`mirror`, the
     journal's hook) and every few seconds while a step runs;
  4. certificates are posted as soon as they are signed (the uplink worker is woken when a
     job reaches "spooled"), and `finish()` does not return while one is undelivered: the
     machine keeps its results on screen and retries, it never powers off with one pending.

A machine whose heartbeats stop mid-erase is shown by the ledger as lost contact: the last
state it holds for the job is a running step, never "erased".
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from appliance import __version__
from appliance.certificate import canonical, key_id, public_pem, sign
from appliance.config import Config
from appliance.i18n import _
from appliance.journal import Journal
from appliance.spool import Spool
from erasure.hidden import heartbeat_jobs

log = logging.getLogger(__name__)

APPLIANCES = "/api/v1/appliances"
HEARTBEATS = "/api/v1/heartbeats"
HEARTBEAT_SCHEMA = "ardoise.heartbeat/1"
MAX_HEARTBEAT_SECONDS = 10.0  # while a step runs, whatever the config says
MIRROR_ATTEMPTS = 3  # synchronous tries of a transition's heartbeat before the step starts
ENROLL_PATIENCE = 600.0  # seconds of retrying an unreachable ledger before giving up


class RackError(Exception):
    """Rack mode cannot start: nothing may be erased. str() is the reason, for people."""


def wanted(config: Config) -> bool:
    """Rack mode: the config came from the network (a netbooted machine)."""
    return config.source.startswith(("http://", "https://"))


def _say(text: str) -> None:
    print(f"ardoise: {text}", file=sys.stderr, flush=True)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class JobView:
    """What the ledger's rack view shows of one disk."""

    job_id: str
    disk_id: str
    model: str = ""
    serial: str = ""
    size_bytes: int | None = None
    step: str = "discovered"
    progress: float = 0.0
    rate: float | None = None
    eta: float | None = None
    method: str | None = None
    status: str = "running"  # running | erased | unverified | failed | refused | incomplete
    certificate_id: str | None = None

    def to_json(self, delivered: set[str]) -> dict[str, Any]:
        step = self.step
        if self.certificate_id and self.certificate_id in delivered and self.status != "running":
            step = "sent"
        return {"disk_id": self.disk_id[:300], "model": self.model[:200],
                "serial": self.serial[:200], "size_bytes": self.size_bytes, "step": step,
                "progress": min(max(self.progress, 0.0), 1.0), "rate": self.rate,
                "eta": self.eta, "method": (self.method or None) and self.method[:64],
                "status": self.status}


class RackSession:
    def __init__(self, config: Config, data_dir: Path, *, host: dict[str, str] | None = None,
                 say: Callable[[str], None] = _say, timeout: tuple[float, float] = (3.0, 10.0)):
        if not config.ledger.url:
            raise RackError(_("the site config names no ledger (ledger.url): a rack machine "
                              "must report to one"))
        if not config.ledger.enroll_token:
            raise RackError(_("the site config has no enrollment token (ledger.enroll_token)"))
        self.config = config
        self.ledger = config.ledger.url.rstrip("/")
        self.data_dir = Path(data_dir)
        self.say = say
        self.timeout = timeout
        self.verify: str | bool = str(config.ledger.ca_file) if config.ledger.ca_file else True
        if host is None:
            from appliance.siteconfig import machine_facts

            host = machine_facts()
        self.host = host
        self.interval = float(min(config.ledger.heartbeat_seconds, MAX_HEARTBEAT_SECONDS))
        self.spool = Spool(self.data_dir)
        self.journal = Journal(self.data_dir, mirror=self.mirror)
        self.jobs: dict[str, JobView] = {}
        self.key: Any = None
        self.key_id = ""
        self.enrolled = False
        self.uplink: Any = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        from appliance.ledgertls import ledger_session

        self._http = ledger_session(config.ledger)  # ledger.pin and ledger.proxy apply here too
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats_sent = 0
        self.beats_failed = 0

    # ------------------------------------------------------------ boot

    def open(self, patience: float = ENROLL_PATIENCE) -> RackSession:
        """Key, enrollment, heartbeats and the certificate uplink; RackError if refused."""
        from appliance.certify import load_key
        from appliance.ledgertls import ledger_session
        from appliance.uplink import Uplink

        self.key = load_key(self.data_dir, create=True)
        self.key_id = key_id(self.key.public_key())
        self._pin_ledger_ca()
        self.enroll(patience)
        self.uplink = Uplink(self.spool, self.ledger, ca=self.verify if isinstance(
            self.verify, str) else None, idle_poll=5.0,
            session=ledger_session(self.config.ledger))
        self.uplink.start()
        self._thread = threading.Thread(target=self._loop, name="rack-heartbeat", daemon=True)
        self._thread.start()
        self.beat()
        return self

    def _pin_ledger_ca(self) -> None:
        """An https ledger without `ledger.ca_file` (no file on a netbooted machine): verify
        it against the site CA pinned on the kernel command line (ardoise.ca), if any."""
        from appliance.siteconfig import SiteConfigError, cmdline_value, fetch_pinned_ca

        pin = cmdline_value("ardoise.ca")
        if self.verify is not True or not self.ledger.startswith("https://") or not pin:
            return
        try:
            pem = fetch_pinned_ca(self.config.source, pin, cmdline_value("ardoise.ca_url"))
        except SiteConfigError as exc:
            raise RackError(str(exc)) from exc
        path = self.data_dir / "keys" / "site-ca.pem"
        path.write_bytes(pem)
        self.verify = str(path)

    def enroll(self, patience: float = ENROLL_PATIENCE) -> None:
        body = {"name": self.name(), "public_key_pem": public_pem(self.key.public_key()).decode(),
                "token": self.config.ledger.enroll_token}
        deadline = time.monotonic() + patience
        wait = 2.0
        while True:
            try:
                response = self._http.post(self.ledger + APPLIANCES, json=body,
                                           timeout=self.timeout, verify=self.verify)
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                if response.status_code in (200, 201):
                    self.enrolled = True
                    self.say(_("enrolled at the ledger {ledger} as {key}").format(
                        ledger=self.ledger, key=self.key_id[:16]))
                    return
                reason = _reason(response)
                if 400 <= response.status_code < 500:
                    self._report("enrollment_refused", reason)
                    raise RackError(_("the ledger refused this machine's enrollment: {reason}")
                                    .format(reason=reason))
                problem = f"HTTP {response.status_code}: {reason}"
            if time.monotonic() + wait > deadline:
                raise RackError(_("the ledger {ledger} cannot be reached to enroll this "
                                  "machine ({problem})").format(ledger=self.ledger,
                                                               problem=problem))
            self.say(_("ledger not reachable ({problem}): trying again in {n} s").format(
                problem=problem, n=int(wait)))
            time.sleep(wait)
            wait = min(wait * 2, 30.0)

    def name(self) -> str:
        parts = [self.host.get("product") or "machine", self.host.get("serial") or
                 self.host.get("mac") or self.key_id[:12]]
        return " ".join(p for p in parts if p)[:200]

    def _report(self, code: str, reason: str) -> None:
        from appliance.siteconfig import report_refusal

        report_refusal(self.config.source, code, reason, ledger=self.ledger, host=self.host)

    # ------------------------------------------------------------ heartbeats

    def heartbeat(self) -> dict[str, Any]:
        """The signed `ardoise.heartbeat/1` document for the ledger's rack view."""
        delivered = set(self.spool.sent())
        with self._lock:
            jobs = [job.to_json(delivered) for job in self.jobs.values()]
        doc = {"schema": HEARTBEAT_SCHEMA, "sent_at": utc_now(),
               "appliance": {"key_id": self.key_id, "version": __version__},
               "host": {k: str(self.host.get(k) or "")[:200]
                        for k in ("serial", "product", "maker", "mac")},
               "batch": self.config.batch[:200], "journal": "ram",
               "jobs": (jobs + heartbeat_jobs())[:64]}  # hidden drives show as not erased
        return sign(doc, self.key)

    def beat(self) -> bool:
        """Send one heartbeat now; True if the ledger took it."""
        if self.key is None:
            return False
        with self._send_lock:
            try:
                response = self._http.post(self.ledger + HEARTBEATS,
                                           data=canonical(self.heartbeat()),
                                           headers={"Content-Type": "application/json"},
                                           timeout=self.timeout, verify=self.verify)
            except requests.RequestException as exc:
                log.info("heartbeat not sent: %s", exc)
                self.beats_failed += 1
                return False
            if response.status_code >= 300:
                log.warning("heartbeat refused: HTTP %s %s", response.status_code,
                            _reason(response))
                self.beats_failed += 1
                return False
            self.beats_sent += 1
            return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def mirror(self, entry: dict[str, Any]) -> None:
        """The journal's hook: called after a transition is durable, before its step starts."""
        job_id = str(entry["job_id"])
        details = entry.get("details") or {}
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                job = JobView(job_id=job_id, disk_id=str(entry.get("disk_id") or job_id))
                try:
                    disk = self.journal.get(job_id).disk
                except Exception:
                    disk = {}
                job.model = str(disk.get("model") or "")
                job.serial = str(disk.get("serial") or entry.get("serial") or "")
                size = disk.get("size_bytes")
                job.size_bytes = int(size) if isinstance(size, int) else None
                self.jobs[job_id] = job
            state = str(entry.get("state"))
            if state == "closed":
                job.status = "incomplete"
            elif state != job.step:
                job.step = state
                job.progress, job.rate, job.eta = 0.0, None, None
            if details.get("method"):
                job.method = str(details["method"])
            if details.get("certificate_id"):
                job.certificate_id = str(details["certificate_id"])
        for _attempt in range(MIRROR_ATTEMPTS):
            if self.beat():
                break
            time.sleep(1.0)
        else:
            self.say(_("the ledger did not get the step {step} of {disk}: it will be sent "
                       "again").format(step=entry.get("state"), disk=entry.get("disk_id")))
        if entry.get("state") == "spooled" and self.uplink is not None:
            self.uplink.wake()

    def sink(self, inner: Callable[[Any], None]) -> Callable[[Any], None]:
        """Wrap a front end's event sink: progress and results go to the heartbeats too."""
        from appliance import jobs as jobs_mod

        def forward(event: Any) -> None:
            if isinstance(event, jobs_mod.StepProgress):
                with self._lock:
                    job = self.jobs.get(event.job_id)
                    if job is not None:
                        job.progress = event.fraction
                        job.rate = max(0.0, float(event.rate_bytes_per_s)) or None
                        job.eta = event.eta_seconds if event.eta_seconds is None else max(
                            0.0, float(event.eta_seconds))
            elif isinstance(event, jobs_mod.JobFinished):
                result = event.result
                with self._lock:
                    job = self.jobs.get(event.job_id)
                    if job is not None:
                        job.status = status_of(result)
                        job.progress = 1.0 if job.status != "incomplete" else job.progress
                        job.certificate_id = result.certificate_id or job.certificate_id
                        job.method = result.method or job.method
                self.beat()
                if self.uplink is not None:
                    self.uplink.wake()
            inner(event)
        return forward

    # ------------------------------------------------------------ the end

    def finish(self, stop: threading.Event | None = None, first_wait: float = 2.0) -> int:
        """Deliver every certificate before returning; returns the pending count (0 unless
        `stop` was set). The results stay on screen meanwhile."""
        stop = stop or threading.Event()
        if self.uplink is not None:
            self.uplink.stop()
        from appliance.ledgertls import ledger_session
        from appliance.uplink import Uplink

        uplink = self.uplink or Uplink(self.spool, self.ledger,
                                       session=ledger_session(self.config.ledger))
        wait = first_wait
        while True:
            report = uplink.flush_once()
            self.beat()
            if report.pending == 0:
                self.say(_("every certificate is at the ledger"))
                return 0
            problem = report.error or "; ".join(
                [f"{c}: conflict" for c in report.conflicts]
                + [f"{c}: {r}" for c, r in report.rejected.items()])
            self.say(_("{n} certificate(s) not yet at the ledger ({problem}): this machine "
                       "stays on and tries again in {s} s").format(
                           n=report.pending, problem=problem, s=int(wait)))
            if stop.wait(wait):
                return report.pending
            wait = min(wait * 2, 60.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 15)
        if self.uplink is not None:
            self.uplink.stop()
        self.beat()


def status_of(result: Any) -> str:
    """The rack view's status of a finished job: never "erased" without a full pass."""
    if getattr(result, "passed", False):
        return "erased"
    status = str(getattr(result, "erase_status", "incomplete"))
    if status == "erased":  # erased but not verified, or the image failed
        return "failed"
    return status if status in ("unverified", "failed", "refused", "incomplete") else "failed"


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)[:200]
    return str(body)[:200]


def open_session(config: Config, data_dir: Path, patience: float = ENROLL_PATIENCE,
                 host: dict[str, str] | None = None) -> RackSession:
    """Rack mode's boot: RackError (nothing erased) unless enrolled."""
    return RackSession(config, data_dir, host=host).open(patience)
