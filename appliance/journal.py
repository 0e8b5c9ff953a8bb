"""Per-disk job journal: what each disk went through, durable before each step starts.

One JSON file per job (``DATA/journal/JOB_ID.json``, mode 0600: it may hold the ATA
temporary password), rewritten tmp + fsync + rename + fsync(dir) on every transition.
A disk's journey (DESIGN.md):

    discovered → planned → erasing → verifying → imaging → hashing → certified → spooled → sent

`transition(job, state)` is called BEFORE the work the state names starts, so a job found
at start-up in a non-terminal state was interrupted: `unfinished()` lists them and
`appliance.certify.incomplete_certificates()` turns each into a signed INCOMPLETE
certificate, then `close()`s it; its disk is offered again.

    journal = Journal(data_dir)                       # or Journal(data_dir, directory="/run/...")
    job = journal.start(disk, run_id)                 # state "discovered"
    journal.transition(job, "planned", level="purge", methods=[...])
    journal.record(job, "ata_password", pw)           # before SECURITY SET PASSWORD
    journal.transition(job, "erasing", method="ata-secure-erase")
    ...
    certify.issue(document, data_dir, journal=journal, job_id=job)   # certified → spooled

Netbooted machines keep the journal in RAM (pass `directory` under /run) and mirror every
transition to the ledger: pass `mirror=uplink.send_heartbeat`, called after the write and
before `transition` returns (so before the work starts).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.spool import write_atomic

STATES = ("discovered", "planned", "erasing", "verifying", "imaging", "hashing",
          "certified", "spooled", "sent")
CLOSED = "closed"  # an interrupted job, reported by an INCOMPLETE certificate
TERMINAL = frozenset({"spooled", "sent", CLOSED})
_ORDER = {name: i for i, name in enumerate(STATES)}


class JournalError(Exception):
    pass


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "disk"


@dataclass
class JobRecord:
    job_id: str
    run_id: str
    disk_id: str
    state: str
    created_at: str
    updated_at: str
    disk: dict[str, Any] = field(default_factory=dict)  # Disk.to_json() at discovery
    details: dict[str, Any] = field(default_factory=dict)  # every transition's details, merged
    history: list[dict[str, Any]] = field(default_factory=list)  # [{"state", "at", ...}]
    secrets: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def certificate_id(self) -> str | None:
        value = self.details.get("certificate_id") or self.details.get("certificate")
        return str(value) if value else None

    def started_at(self, state: str) -> str | None:
        """When the job first entered `state`."""
        for event in self.history:
            if event["state"] == state:
                return str(event["at"])
        return None

    def to_json(self, with_secrets: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_secrets:
            data["secrets"] = sorted(self.secrets)
        return data


class Journal:
    def __init__(self, data_dir: Path | str | None = None, directory: Path | str | None = None,
                 mirror: Callable[[dict[str, Any]], Any] | None = None):
        if directory is None:
            if data_dir is None:
                raise JournalError("a data directory or a journal directory is needed")
            directory = Path(data_dir) / "journal"
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.mirror = mirror
        self._lock = threading.Lock()

    def _path(self, job_id: str) -> Path:
        if _safe(job_id) != job_id:
            raise JournalError(f"invalid job id {job_id!r}")
        return self.directory / f"{job_id}.json"

    def _write(self, job: JobRecord) -> None:
        data = json.dumps(job.to_json(with_secrets=True), indent=1, sort_keys=True).encode()
        write_atomic(self._path(job.job_id), data, mode=0o600)

    def get(self, job_id: str) -> JobRecord:
        try:
            data = json.loads(self._path(job_id).read_bytes())
        except FileNotFoundError as exc:
            raise JournalError(f"no such job {job_id}") from exc
        return JobRecord(**data)

    def start(self, disk: Any, run_id: str | None = None, **details: Any) -> str:
        """Open a job for one disk (a Disk, or its JSON dict); durable in state "discovered".

        (A caller with its own job ids may skip this: the first `transition(job_id, state,
        disk=disk)` opens the job.)"""
        disk_json = _disk_json(disk)
        run_id = run_id or new_run_id()
        job_id = f"{_safe(run_id)[:40]}.{_safe(str(disk_json.get('id') or 'disk'))[-80:]}"
        with self._lock:
            if self._path(job_id).exists():
                raise JournalError(f"job {job_id} exists already")
            job = self._new(job_id, disk=disk_json, run_id=run_id)
            job.details.update(details)
            job.history[0].update(details)
            self._write(job)
        self._mirror(job, details)
        return job_id

    def _new(self, job_id: str, disk: Any, run_id: str | None) -> JobRecord:
        disk_json = _disk_json(disk) if disk is not None else {}
        now = utc_now()
        return JobRecord(job_id=job_id, run_id=run_id or job_id, state="discovered",
                         disk_id=str(disk_json.get("id") or disk_json.get("path") or job_id),
                         created_at=now, updated_at=now, disk=disk_json,
                         history=[{"state": "discovered", "at": now}])

    def transition(self, job_id: str, state: str, **details: Any) -> JobRecord:
        """Record that the step `state` is starting. Durable when this returns."""
        if state not in _ORDER:
            raise JournalError(f"unknown state {state!r}")
        disk = details.pop("disk", None)
        with self._lock:
            if self._path(job_id).exists():
                job = self.get(job_id)
            else:  # a job opened by its first transition
                job = self._new(job_id, disk=disk, run_id=details.get("run_id"))
            if disk is not None:
                job.disk = _disk_json(disk)
                job.disk_id = str(job.disk.get("id") or job.disk_id)
            if job.state == CLOSED:
                raise JournalError(f"job {job_id} is closed")
            if _ORDER[state] < _ORDER[job.state]:
                raise JournalError(f"job {job_id}: {job.state} cannot go back to {state}")
            now = utc_now()
            job.state = state
            job.updated_at = now
            job.details.update(details)
            job.history.append({"state": state, "at": now, **details})
            self._write(job)
        self._mirror(job, details)
        return job

    def record(self, job_id: str, key: str, value: Any) -> None:
        """Keep a secret the job may need after a crash (ATA temporary password); durable when
        this returns. `value=None` forgets it."""
        with self._lock:
            job = self.get(job_id)
            if value is None:
                job.secrets.pop(key, None)
            else:
                job.secrets[key] = value
            job.updated_at = utc_now()
            self._write(job)

    def close(self, job_id: str, certificate_id: str | None, reason: str) -> JobRecord:
        """End an interrupted job (after its INCOMPLETE certificate is spooled)."""
        with self._lock:
            job = self.get(job_id)
            now = utc_now()
            job.state = CLOSED
            job.updated_at = now
            job.history.append({"state": CLOSED, "at": now, "reason": reason,
                                "certificate_id": certificate_id})
            # the ATA password stays: a drive an interruption left locked is unlocked with it
            # and the sanitize action started: the drive goes on with it after a power cycle
            job.secrets = {k: v for k, v in job.secrets.items()
                           if k in ("ata-password", "ata-sanitize")}
            self._write(job)
        self._mirror(job, {"reason": reason, "certificate_id": certificate_id})
        return job

    def jobs(self) -> list[JobRecord]:
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                out.append(JobRecord(**json.loads(path.read_bytes())))
            except (ValueError, TypeError):
                continue  # not ours; atomic writes never leave a torn job file
        return sorted(out, key=lambda j: (j.created_at, j.job_id))

    def journaled_password(self, disk_id: str, serial: str | None = None,
                           wwn: str | None = None) -> str | None:
        """The newest temporary ATA password journaled for this disk, if any: matched on the
        stable id, or on the serial or WWN (behind a USB bridge, or after a move to another
        port, the by-id path differs but the drive's serial and WWN do not)."""
        secret = self._newest("ata-password", disk_id, serial, wwn)
        return str(secret["password"]) if secret and secret.get("password") else None

    def journaled_sanitize(self, disk_id: str, serial: str | None = None,
                           wwn: str | None = None) -> str | None:
        """The ATA sanitize action last started on this disk (the drive does not say which
        one runs), matched like `journaled_password`."""
        entry = self._newest("ata-sanitize", disk_id, serial, wwn, last_job_only=True)
        return str(entry["action"]) if entry and entry.get("action") else None

    def _newest(self, key: str, disk_id: str, serial: str | None, wwn: str | None,
                last_job_only: bool = False) -> dict[str, Any] | None:
        """The newest `key` secret of a job on this disk. `last_job_only`: only the last
        ended job on it counts (jobs still open, like the caller's own, are skipped), so a
        sanitize a later job saw finish is not taken for one still running."""
        def same(a: Any, b: str | None) -> bool:
            return bool(a) and bool(b) and str(a).strip().lower() == str(b).strip().lower()

        for job in reversed(self.jobs()):
            entry = job.secrets.get(key)
            found = isinstance(entry, dict) and bool(entry)
            if last_job_only and not job.finished:
                continue
            known = entry if isinstance(entry, dict) else {}
            if not (job.disk_id == disk_id or same(known.get("serial") or job.disk.get("serial"),
                                                   serial) or
                    same(known.get("wwn") or job.disk.get("wwn"), wwn)):
                continue
            if found:
                return known
            if last_job_only:
                return None
        return None

    @property
    def persistent(self) -> bool:
        """Whether what is journaled outlives a power cycle (see `journal_storage`)."""
        return journal_storage(self.directory)[0]

    def erase_options(self, disk: Any) -> dict[str, Any]:
        """What an erase method needs from the journal (EraseContext.options): the password
        and sanitize action journaled for this drive, and whether the journal is persistent
        (ATA security commands are refused otherwise: the heartbeats of rack mode never
        carry the password, so a journal in RAM is lost with it)."""
        disk_id, serial, wwn = (getattr(disk, "id", ""), getattr(disk, "serial", None),
                                getattr(disk, "wwn", None))
        options: dict[str, Any] = {"password_journal_persistent": self.persistent}
        password = self.journaled_password(disk_id, serial, wwn)
        if password:  # a drive an interruption left locked: unlock it and erase again
            options["journaled_password"] = password
        action = self.journaled_sanitize(disk_id, serial, wwn)
        if action:
            options["journaled_sanitize_action"] = action
        return options

    def unfinished(self) -> list[JobRecord]:
        """Jobs an interruption left in a non-terminal state (to report INCOMPLETE)."""
        return [job for job in self.jobs() if not job.finished]

    def _mirror(self, job: JobRecord, details: dict[str, Any]) -> None:
        if self.mirror is None:
            return
        self.mirror({"job_id": job.job_id, "run_id": job.run_id, "disk_id": job.disk_id,
                     "serial": job.disk.get("serial"), "state": job.state,
                     "at": job.updated_at, "details": _public(details)})


VOLATILE_FS = frozenset({"tmpfs", "ramfs", "overlay", "squashfs", "iso9660", "zram"})


def journal_storage(directory: Path, mountinfo: str = "/proc/self/mountinfo") -> tuple[bool, str]:
    """(persistent, filesystem type) of the mount holding `directory`: not persistent on a
    RAM filesystem (tmpfs, ramfs, a live system's overlay root) or a read-only mount."""
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return False, "unknown"
    target = str(Path(directory).resolve())
    best: tuple[int, str, bool] | None = None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields_, rest = left.split(), right.split()
        if len(fields_) < 6 or len(rest) < 3:
            continue
        point = fields_[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            read_only = "ro" in fields_[5].split(",") or "ro" in rest[2].split(",")
            best = (len(point), rest[0], read_only)
    if best is None:
        return False, "unknown"
    _, fstype, read_only = best
    return not read_only and fstype not in VOLATILE_FS, fstype


def _disk_json(disk: Any) -> dict[str, Any]:
    data = disk.to_json() if hasattr(disk, "to_json") else dict(disk)
    return {k: v for k, v in data.items() if k not in ("plan", "methods")} | {
        "methods": list(data.get("methods") or [])}


def _public(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if "password" not in k and "key" not in k}
