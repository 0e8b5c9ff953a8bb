"""The per-disk journey, for every front end (the TUI, `ardoise run`, unattended racks).

    discovered → planned → erasing → verifying → imaging → hashing → certified → spooled

Every disk is one Job running in its own thread; each step is written to the journal
(fsync'd) before the work it names starts. The engine knows nothing of screens: it posts
event dataclasses (StepStarted, StepProgress, LogLine, JobFinished, RunFinished) to one
callback, which the TUI forwards to its message queue and `ardoise run` prints. One
threading.Event cancels every job; a disk that fails never stops the others. Every job
that touched its disk ends with a signed certificate in the spool, success or not (CLI
contract); a disk refused at erase time, or left untouched because the run was cancelled
before its first method started, gets none (nothing was done to it) and its journal entry
is closed, so no INCOMPLETE certificate is issued for it at the next start either.

The work itself belongs to the modules that own it: erasure.erase (erase + verify),
appliance.imaging (write + read-back hash), appliance.certify (certificate, signature,
spool), appliance.journal. They are imported when a run starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.config import Config
from appliance.i18n import Msg, _, tr
from appliance.verdict import not_verified
from appliance.words import image_word, level_word, status_word, verify_result_word
from erasure.disk import Disk, Plan
from erasure.methods.base import Progress

log = logging.getLogger(__name__)

# the erase command ran to its end: "unverified" when nothing was read back (verify: none)
ERASE_RAN = ("erased", "unverified")
STEPS = ("discovered", "planned", "erasing", "verifying", "imaging", "hashing",
         "certified", "spooled", "sent")
PROGRESS_INTERVAL = 0.2  # seconds between two progress events of one job (coalesced)
MAX_LOGGED_ERRORS = 5  # per job in the log; the certificate and JSON carry them all


# --- what the front ends see ---------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A disk as the dashboard shows it: planned, or excluded with the reason."""

    disk: Disk
    plan: Plan | None
    selected: bool
    reason: str = ""  # why excluded (people text), "" when selected
    fallback: bool = False  # purge unreachable, clear chosen because the config allows it

    @property
    def level(self) -> str:
        return self.plan.level if self.plan else ""

    @property
    def method(self) -> str:
        return self.plan.methods[0] if self.plan and self.plan.methods else ""


@dataclass(frozen=True)
class StepStarted:
    job_id: str
    step: str


@dataclass(frozen=True)
class StepProgress:
    """Progress of the current step. During a firmware erase the drive does the work:
    `basis` is then "drive" (its own progress report), "estimate" (elapsed time against
    its time estimate) or "none" (only `elapsed_seconds` moves); otherwise "bytes"."""

    job_id: str
    step: str
    done_bytes: int
    total_bytes: int
    rate_bytes_per_s: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float | None = None
    basis: str = "bytes"

    @property
    def waiting(self) -> bool:
        """The drive works on its own (a firmware erase): nothing to count on the host."""
        return self.basis != "bytes"

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass(frozen=True)
class LogLine:
    job_id: str
    text: str
    error: bool = False


@dataclass
class JobResult:
    job_id: str
    path: str
    disk_id: str
    model: str
    serial: str
    size_bytes: int
    level: str = ""
    method: str = ""
    erase_status: str = "incomplete"  # erased | unverified | failed | refused | incomplete
    verify_result: str = "not-done"  # pass | fail | not-done
    image_status: str | None = None  # imaged | failed | refused | None (no image asked)
    certificate_id: str | None = None
    certificate_path: str | None = None
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    image_required: bool = False
    untouched: bool = False  # nothing was done to the disk: no certificate (refused, cancelled)

    @property
    def passed(self) -> bool:
        # never a pass without verification evidence (DESIGN.md safety rule 4)
        if self.erase_status != "erased" or self.verify_result != "pass":
            return False
        if self.image_status not in (None, "imaged"):
            return False
        return not (self.image_required and self.image_status is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "path": self.path, "id": self.disk_id, "model": self.model,
            "serial": self.serial, "size_bytes": self.size_bytes, "level": self.level,
            "method": self.method, "status": self.erase_status,
            "verify": {"result": self.verify_result}, "image": self.image_status,
            "passed": self.passed, "certificate": self.certificate_path,
            "certificate_id": self.certificate_id, "errors": list(self.errors),
            "seconds": round(self.seconds, 3), "untouched": self.untouched,
        }


    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobResult:
        """The inverse of to_json (results of a headless run, shown again)."""
        return cls(job_id=data["job_id"], path=data["path"], disk_id=data["id"],
                   model=data["model"], serial=data["serial"], size_bytes=data["size_bytes"],
                   level=data.get("level", ""), method=data.get("method", ""),
                   erase_status=data["status"],
                   verify_result=(data.get("verify") or {}).get("result", "not-done"),
                   image_status=data.get("image"), certificate_id=data.get("certificate_id"),
                   certificate_path=data.get("certificate"), errors=list(data.get("errors", [])),
                   seconds=float(data.get("seconds", 0.0)),
                   untouched=bool(data.get("untouched", False)))


@dataclass(frozen=True)
class JobFinished:
    job_id: str
    result: JobResult


@dataclass(frozen=True)
class RunFinished:
    results: tuple[JobResult, ...]
    cancelled: bool


Event = StepStarted | StepProgress | LogLine | JobFinished | RunFinished
EventSink = Callable[[Event], None]


# --- planning ------------------------------------------------------------------------------

def plan_targets(disks: list[Disk], config: Config) -> list[Target]:
    """Decide, for every disk, the plan or the reason it is left alone."""
    from erasure.plan import make_plan

    targets: list[Target] = []
    for disk in disks:
        if not disk.eligible:
            # a Msg: shown in the reader's language at display time, English in JSON
            targets.append(Target(disk, None, False, disk.excluded_reason or Msg("excluded")))
            continue
        _probe(disk)
        plan = make_plan(disk, config.erase.level)
        fallback = False
        if not plan.reachable and config.erase.level == "purge" and config.erase.fallback_to_clear:
            plan = make_plan(disk, "clear")
            fallback = True
        if config.erase.method != "auto":
            if config.erase.method not in plan.methods and config.erase.method not in disk.methods:
                targets.append(Target(disk, plan, False, _(
                    "the configured method {method} is not supported by this drive").format(
                        method=config.erase.method)))
                continue
            plan = Plan(plan.level, True, [config.erase.method], plan.reasons)
        if not plan.reachable or not plan.methods:
            reasons = "; ".join(tr(r) for r in plan.reasons)
            targets.append(Target(disk, plan, False, _(
                "cannot reach {level}: {reasons}").format(level=level_word(plan.level),
                                                          reasons=reasons)))
            continue
        disk.plan = plan
        targets.append(Target(disk, plan, True, "", fallback))
    return targets


def _probe(disk: Disk) -> None:
    """Fill the drive's capabilities (erasure.probe) so the plan can use its firmware."""
    from erasure.probe import probe_device

    try:
        probe_device(disk)
    except Exception as exc:  # a probe that fails leaves a plan without firmware methods
        log.warning("probe of %s failed: %s", disk.path, exc)


def discover_targets(config: Config, devices: list[str] | None = None) -> list[Target]:
    """Every disk of this machine (or the named devices) with its plan."""
    from erasure.discovery import NotAWholeDisk, decide, discover, resolve

    if devices:
        disks = []
        for path in devices:
            try:
                disks.append(resolve(path, allow_external=config.erase.allow_external))
            except NotAWholeDisk as exc:
                raise ValueError(tr(exc.args[0]) if exc.args else str(exc)) from exc
    else:
        disks = discover()
        if config.erase.allow_external:
            disks = [decide(d, allow_external=True) for d in disks]
    return plan_targets(disks, config)


# --- one disk ------------------------------------------------------------------------------

class Job:
    def __init__(self, run: Run, target: Target):
        self.run = run
        self.target = target
        self.disk = target.disk
        # durable in state "discovered" from here on: an interruption is reported INCOMPLETE
        self.job_id = run.journal.start(self.disk, run.run_id)
        self.result = JobResult(
            job_id=self.job_id, path=self.disk.path, disk_id=self.disk.id,
            model=self.disk.model, serial=self.disk.serial, size_bytes=self.disk.size_bytes,
            level=target.level, method=target.method,
            image_required=run.config.image.required,
        )
        self.step = "discovered"
        self.latest: StepProgress | None = None  # for heartbeats
        self.finished = False
        self._last_progress = 0.0
        self._progress_lock = threading.Lock()
        self._image_written = False  # every image byte written: the read-back is what is left
        self._waiting_said: tuple[str, str] | None = None  # the drive wait last logged
        self._hpa_removed = False  # the disk was changed before any erase method ran

    # events and journal
    def enter(self, step: str, **details: Any) -> None:
        self.step = step
        self.run.journal.transition(self.job_id, step, **details)
        self.run.post(StepStarted(self.job_id, step))

    def say(self, text: str, error: bool = False) -> None:
        self.run.post(LogLine(self.job_id, text, error))

    def progress(self, event: Progress) -> None:
        # the writer reports from several threads: one at a time, so a step is announced
        # (and journaled) before any progress of it
        with self._progress_lock:
            self._progress(event)

    def _progress(self, event: Progress) -> None:
        if event.phase == "image" and event.total_bytes \
                and event.done_bytes >= event.total_bytes:
            self._image_written = True
        if event.phase == "readback" and self.step == "imaging" and not self._image_written:
            # the writer reads each batch back while it writes the next: the step is
            # "imaging" until the last byte is written, the read-back left is "hashing"
            return
        step = {"verify": "verifying", "readback": "hashing", "image": "imaging"}.get(
            event.phase, self.step or "erasing")
        if step != self.step and step in ("verifying", "hashing"):
            self.enter(step)
        if event.phase == "wait" and event.message \
                and self._waiting_said != (step, str(event.message)):
            self._waiting_said = (step, str(event.message))  # once in the log; the panel
            self.say(tr(event.message))  # shows the running clock
        progress = StepProgress(self.job_id, step, event.done_bytes, event.total_bytes,
                                event.rate_bytes_per_s, event.eta_seconds,
                                event.elapsed_seconds, event.basis)
        self.latest = progress
        now = time.monotonic()
        final = event.total_bytes and event.done_bytes >= event.total_bytes
        if not final and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        self.run.post(progress)

    def __call__(self) -> None:
        start = time.monotonic()
        outcome: Any = None
        image: Any = None
        try:
            self.run.post(StepStarted(self.job_id, "discovered"))
            self.enter("planned", level=self.target.level,
                       methods=list(self.target.plan.methods) if self.target.plan else [],
                       fallback_to_clear=self.target.fallback)
            if self.target.fallback:
                self.say(_("purge is not reachable on this drive: clear instead, as the "
                           "config allows (recorded on the certificate)"))
            outcome = self.erase()
            if outcome is not None and self.result.erase_status in ERASE_RAN \
                    and self.run.config.image.manifest and not self.run.cancel.is_set():
                image = self.write_image()
        except Exception as exc:
            log.exception("job %s", self.job_id)
            self.result.errors.append(str(exc))
            self.say(str(exc), error=True)
            if self.result.erase_status in ERASE_RAN and self.run.config.image.manifest:
                self.result.image_status = "failed"
            elif self.result.erase_status not in ERASE_RAN:
                self.result.erase_status = "failed"
        if self.run.cancel.is_set() and self.result.erase_status not in (*ERASE_RAN, "failed"):
            self.result.erase_status = "incomplete"
        self.result.seconds = time.monotonic() - start
        if self.untouched(outcome):
            self.close_untouched()
        else:
            self.certify(outcome, image)
        self.finished = True
        self.run.post(JobFinished(self.job_id, self.result))

    def erase(self) -> Any:
        from erasure.erase import erase_disk
        from erasure.methods.base import EraseContext

        cfg = self.run.config.erase
        ctx = EraseContext(pattern=cfg.pattern, progress=self.progress, cancel=self.run.cancel,
                           journal=lambda event, details: self.run.journal.record(
                               self.job_id, event, details or None),
                           options={"remove_hpa": cfg.remove_hpa,
                                    "overwrite_passes": cfg.overwrite_passes})
        if hasattr(self.run.journal, "erase_options"):  # journaled password, persistence
            ctx.options.update(self.run.journal.erase_options(self.disk))
        self.enter("erasing", method=self.target.method, level=self.target.level,
                   pattern=cfg.pattern, verify=cfg.verify)
        if cfg.remove_hpa and self.disk.hpa and self.disk.hpa.enabled:
            self._hpa_removed = True
            if not self.remove_hpa():  # journaled: the job is "erasing" from here on
                self.result.erase_status = "failed"  # never overwrite less than the drive
                return None
        self.say(_("erasing with {method} ({level})").format(
            method=self.target.method, level=level_word(self.target.level)))
        method = self.target.method if cfg.method != "auto" else "auto"
        outcome = erase_disk(self.disk, self.target.level, method, cfg.pattern, cfg.verify, ctx)
        self.result.erase_status = outcome.status
        if outcome.method:
            self.result.method = outcome.method
        self.result.verify_result = outcome.verify.result
        errors = [tr(error) for error in outcome.errors]
        self.result.errors.extend(errors)
        for text in errors[:MAX_LOGGED_ERRORS]:
            self.say(text, error=True)
        if len(errors) > MAX_LOGGED_ERRORS:
            self.say(_("... and {n} more errors (all on the certificate)").format(
                n=len(errors) - MAX_LOGGED_ERRORS), error=True)
        self.say(_("erase: {status}, verification: {verify}").format(
            status=status_word(self.result.erase_status),
            verify=verify_result_word(self.result.verify_result)))
        if outcome.status == "unverified":
            self.say(not_verified(), error=True)
        return outcome

    def untouched(self, outcome: Any) -> bool:
        """Nothing was done to the disk: refused at erase time, or cancelled before its first
        method started (and no host protected area was removed)."""
        if outcome is None or self._hpa_removed or self.result.image_status is not None:
            return False
        return outcome.status == "refused" or (outcome.status == "incomplete"
                                               and not outcome.attempts)

    def close_untouched(self) -> None:
        """No certificate for a disk nothing was done to; its journal entry is closed."""
        if self.result.erase_status == "refused":
            reason = _("refused: nothing was done to this disk, no certificate")
        else:
            reason = _("stopped before anything was written: this disk is untouched, "
                       "no certificate")
        self.result.errors.append(reason)
        self.say(reason, error=True)
        try:
            self.run.journal.close(self.job_id, None, "untouched: " + self.result.erase_status)
        except Exception as exc:  # the next start reports it INCOMPLETE: safe, says why
            log.warning("journal of %s not closed: %s", self.job_id, exc)
        self.result.untouched = True

    def remove_hpa(self) -> bool:
        """Give the hidden sectors back before erasing (config: erase.remove_hpa)."""
        from erasure.probe import remove_hpa

        self.say(_("removing the host protected area"))
        problem = remove_hpa(self.disk)
        if problem:
            self.result.errors.append(tr(problem))
            self.say(tr(problem), error=True)
        return not problem

    def write_image(self) -> Any:
        from appliance.imaging import write_image

        manifest = self.run.config.image.manifest
        assert manifest is not None
        self.enter("imaging", manifest=manifest)
        self.say(_("writing the image {manifest}").format(manifest=manifest))
        image = write_image(manifest, self.disk.path, list(self.run.trust_keys()),
                            progress=self.progress, cancel=self.run.cancel,
                            allow_external=self.run.config.erase.allow_external)
        self.result.image_status = image.status
        for error in image.errors:
            self.result.errors.append(tr(error))
            self.say(tr(error), error=True)
        self.say(_("system image: {status}").format(status=image_word(image.status)),
                 error=image.status != "imaged")
        return image.certificate_image()

    def certify(self, outcome: Any, image: Any) -> None:
        try:
            from appliance import certify

            document = certify.build_certificate(
                outcome=outcome if outcome is not None else self.fallback_outcome(),
                host=self.run.host, context=self.run.cert_context(), image=image,
                job_id=self.job_id)
            self.run.post(StepStarted(self.job_id, "certified"))
            # issue() journals "certified" before signing and "spooled" once durable
            path = certify.issue(document, self.run.data_dir, journal=self.run.journal,
                                 job_id=self.job_id)
            self.step = "spooled"
            self.result.certificate_id = str(document.get("id"))
            self.result.certificate_path = str(path)
            self.run.post(StepStarted(self.job_id, "spooled"))
            self.say(_("certificate {id} written").format(id=self.result.certificate_id))
        except Exception as exc:
            log.exception("certificate for %s", self.job_id)
            self.result.errors.append(_("no certificate: {error}").format(error=exc))
            self.say(_("no certificate: {error}").format(error=exc), error=True)

    def fallback_outcome(self) -> dict[str, Any]:
        """What the certificate says when the erase never produced an outcome."""
        return {"disk": self.disk, "plan": self.target.plan, "method": self.target.method or None,
                "level": self.target.level, "status": self.result.erase_status,
                "errors": list(self.result.errors), "seconds": self.result.seconds}


# --- a run: every selected disk in parallel ------------------------------------------------

class RunBusy(Exception):
    """Another run (another console, or `ardoise run`) is working on this machine."""


def claim(data_dir: Path) -> int:
    """One run at a time per machine: an flock on the journal folder, released at the end
    (or by the kernel when the process dies)."""
    import fcntl
    import os

    directory = data_dir / "journal"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / ".run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise RunBusy(_("another run is already erasing disks of this computer")) from exc
    return fd


class Run:
    """One pass over the selected disks. `start()` returns at once; `wait()` joins."""

    def __init__(self, config: Config, data_dir: Path, targets: list[Target],
                 sink: EventSink, cancel: threading.Event | None = None,
                 host: Any = None, journal: Any = None, claimed: int | None = None):
        from appliance.journal import Journal, new_run_id

        self.config = config
        self.data_dir = data_dir
        self.sink = sink
        self.cancel = cancel or threading.Event()
        # `claimed`: the lock a front end already holds (an unattended countdown took it)
        self._lock_fd: int | None = claimed if claimed is not None else claim(data_dir)
        self.run_id = new_run_id()
        # rack machines pass their RAM journal, mirrored to the ledger (appliance.rack); a
        # config fetched from the network without it would erase with no enrolled key, and
        # its certificates would die with the RAM: refused before anything is touched
        if journal is None and config.source.startswith(("http://", "https://")):
            raise ValueError(_("a config from the network runs only in rack mode, enrolled at "
                               "the ledger (ardoise run --unattended)"))
        self.journal = journal if journal is not None else Journal(data_dir)
        self.host = host if host is not None else collect_host()
        self._lock = threading.Lock()
        self.jobs: list[Job] = []
        for target in targets:
            if target.selected:
                self.jobs.append(Job(self, target))
        self._threads: list[threading.Thread] = []
        self.results: list[JobResult] = []

    def post(self, event: Event) -> None:
        with self._lock:
            try:
                self.sink(event)
            except Exception:  # a front end's bug never stops the erasure
                log.exception("event sink failed")

    def trust_keys(self) -> list[Path]:
        if self.config.image.trust:
            return list(self.config.image.trust)
        return sorted((self.data_dir / "keys" / "trusted").glob("*.pem"))

    def cert_context(self) -> Any:
        return cert_context(self.config)

    def start(self) -> None:
        for job in self.jobs:
            thread = threading.Thread(target=job, name=f"job-{job.disk.path}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def wait(self) -> list[JobResult]:
        for thread in self._threads:
            thread.join()
        return self.finish()

    def finish(self) -> list[JobResult]:
        """After every job returned (own threads, or a front end's workers)."""
        self.results = [job.result for job in self.jobs]
        self.release()
        self.post(RunFinished(tuple(self.results), self.cancel.is_set()))
        return self.results

    def release(self) -> None:
        import os

        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            os.close(fd)
            self._lock_fd = None

    def __del__(self) -> None:
        self.release()

    def status(self) -> list[dict[str, Any]]:
        """Per-disk state for heartbeats (the ledger's rack view: step, progress, rate)."""
        out = []
        for j in self.jobs:
            latest = j.latest if j.latest is not None and j.latest.step == j.step else None
            out.append({
                "disk_id": j.disk.id, "model": j.disk.model, "serial": j.disk.serial,
                "size_bytes": j.disk.size_bytes, "step": j.step,
                "progress": round(min(max(latest.fraction, 0.0), 1.0), 4) if latest else 0.0,
                "rate": max(latest.rate_bytes_per_s, 0.0) if latest else None,
                "eta": max(latest.eta_seconds, 0.0) if latest and latest.eta_seconds is not None
                else None,
                "method": j.result.method or None,
                "status": j.result.erase_status if j.finished else "running",
            })
        return out


def run_jobs(config: Config, data_dir: Path, targets: list[Target], sink: EventSink,
             cancel: threading.Event | None = None, host: Any = None) -> list[JobResult]:
    """Run every selected target to its end; blocks. The one entry the front ends use."""
    run = Run(config, data_dir, targets, sink, cancel, host)
    run.start()
    return run.wait()


def cert_context(config: Config) -> Any:
    """The site facts a certificate carries (appliance.certify.CertContext)."""
    from appliance.certify import CertContext

    c = config
    return CertContext(organisation=c.organisation or None, location=c.location or None,
                       operator=c.operator or None, batch=c.batch or None,
                       donor=c.donor or None, destination=c.destination or None,
                       appliance_version=__version__)


def collect_host() -> Any:
    from appliance import inventory

    try:
        return inventory.collect()
    except Exception as exc:
        log.warning("host facts unavailable: %s", exc)
        return inventory.Host()


def recover_unfinished(data_dir: Path, config: Config) -> list[str]:
    """Jobs a power cut interrupted: issue their INCOMPLETE certificates (exactly one each).
    Returns the certificates' paths.

    The live image starts a session on every console at once: the first one recovers under
    the journal's recovery lock while the others wait, then they find nothing unfinished and
    report the certificates issued since this boot, so every console tells the technician.
    Jobs of a run under way (its lock is taken: see claim()) are live, never recovered."""
    import fcntl
    import os

    from appliance import certify
    from appliance.journal import Journal
    from appliance.spool import Spool

    journal = Journal(data_dir)
    lock = os.open(journal.directory / ".recover.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not journal.unfinished():
            spool = Spool(data_dir)
            return [str(spool.path(cert_id)) for cert_id in closed_since_boot(journal)
                    if spool.contains(cert_id)]
        try:
            run_lock = claim(data_dir)
        except RunBusy:
            return []
        try:
            done = certify.incomplete_certificates(journal, data_dir, host=collect_host(),
                                                   context=cert_context(config))
        finally:
            os.close(run_lock)
    finally:
        os.close(lock)
    return [str(path) for path in done]


def closed_since_boot(journal: Any, uptime: str = "/proc/uptime") -> list[str]:
    """Certificate ids of the interrupted jobs this boot's recovery closed."""
    import time
    from datetime import UTC, datetime

    try:
        booted = time.time() - float(Path(uptime).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    ids = []
    for job in journal.jobs():
        event = job.history[-1] if job.history else {}
        if job.state != "closed" or not event.get("certificate_id") \
                or not str(event.get("reason", "")).startswith("interrupted"):
            continue  # (a job whose own certificate was spooled before the cut is not one)
        at = datetime.fromisoformat(str(event["at"]).replace("Z", "+00:00"))
        if at.replace(tzinfo=at.tzinfo or UTC).timestamp() >= booted:
            ids.append(str(event["certificate_id"]))
    return ids
