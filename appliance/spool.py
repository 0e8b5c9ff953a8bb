"""The certificate spool on the data partition: nothing lost between the site and the ledger.

Layout (DESIGN.md): ``DATA/spool/pending/ID.json`` → ``DATA/spool/sent/ID.json``; files
being written live in ``DATA/spool/tmp/`` until they are complete. Every write is
tmp + fsync + rename + fsync(dir), so a kill -9 or a power cut at any moment leaves either
the whole previous state or the whole new one: never a torn file, never the same
certificate twice. The uplink's last answer per certificate (conflict, rejected) is kept
beside it in ``DATA/spool/notes/ID.json`` so `ardoise spool list` can show it after a
restart.

    spool = Spool(data_dir)
    path = spool.put(signed_document)       # durable when it returns
    for cert_id in spool.pending(): ...
    spool.mark_sent(cert_id)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PENDING = "pending"
SENT = "sent"
_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")


class SpoolError(Exception):
    """A certificate cannot be spooled (bad id, or the same id with different content)."""


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, tmp_dir: Path | None = None, mode: int = 0o640) -> None:
    """Write `path` so that after a crash it holds either its old content or `data`, whole.

    tmp + fsync + rename + fsync(dir). `tmp_dir` must be on the same filesystem.
    """
    tmp_dir = tmp_dir or path.parent
    tmp = tmp_dir / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def encode(document: dict[str, Any]) -> bytes:
    """How a certificate is stored on disk: readable, stable, UTF-8."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@dataclass
class SpoolEntry:
    id: str
    state: str  # pending | sent
    path: Path
    note: dict[str, Any] | None = None  # last uplink answer kept for a pending certificate

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "path": str(self.path), "note": self.note}


class Spool:
    def __init__(self, data_dir: Path | str, directory: Path | str | None = None):
        self.root = Path(directory) if directory is not None else Path(data_dir) / "spool"
        self.pending_dir = self.root / PENDING
        self.sent_dir = self.root / SENT
        self.tmp_dir = self.root / "tmp"
        self.notes_dir = self.root / "notes"
        for d in (self.pending_dir, self.sent_dir, self.tmp_dir, self.notes_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._recover()

    def _recover(self) -> None:
        """Drop temporary files a crash left behind (their certificate was never reported
        as spooled), and settle a certificate found in both places (a copy of sent/ made by
        an older writer) in favour of sent/. Files of a live writer (this process's other
        threads, another process) are left alone."""
        for d in (self.tmp_dir, self.pending_dir, self.sent_dir, self.notes_dir):
            for tmp in d.glob(".*.tmp"):
                if not _writer_alive(tmp):
                    tmp.unlink(missing_ok=True)
        for path in self.pending_dir.glob("*.json"):
            if (self.sent_dir / path.name).exists():
                path.unlink()
        fsync_dir(self.pending_dir)

    @staticmethod
    def _check_id(cert_id: str) -> str:
        if not isinstance(cert_id, str) or not _ID.match(cert_id):
            raise SpoolError(f"invalid certificate id: {cert_id!r}")
        return cert_id

    def put(self, document: dict[str, Any]) -> Path:
        """Store a signed certificate in pending/. Durable when this returns.

        Putting the same certificate again is a no-op (returns where it is); the same id with
        different content raises SpoolError.
        """
        cert_id = self._check_id(str(document.get("id", "")))
        data = encode(document)
        for existing in (self.pending_dir / f"{cert_id}.json", self.sent_dir / f"{cert_id}.json"):
            if existing.exists():
                if json.loads(existing.read_bytes()) != json.loads(data):
                    raise SpoolError(f"certificate {cert_id} already spooled with other content")
                return existing
        path = self.pending_dir / f"{cert_id}.json"
        write_atomic(path, data, tmp_dir=self.tmp_dir)
        return path

    def pending(self) -> list[str]:
        """Ids waiting for delivery, oldest first."""
        return [p.stem for p in _by_age(self.pending_dir)]

    def sent(self) -> list[str]:
        return [p.stem for p in _by_age(self.sent_dir)]

    def path(self, cert_id: str) -> Path:
        """Where the certificate is now (pending or sent); FileNotFoundError if nowhere."""
        self._check_id(cert_id)
        for d in (self.pending_dir, self.sent_dir):
            p = d / f"{cert_id}.json"
            if p.exists():
                return p
        raise FileNotFoundError(cert_id)

    def load(self, cert_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path(cert_id).read_bytes())
        return data

    def contains(self, cert_id: str) -> bool:
        try:
            self.path(cert_id)
        except FileNotFoundError:
            return False
        return True

    def mark_sent(self, cert_id: str, sync: bool = True) -> Path:
        """Move a delivered certificate to sent/ (one atomic rename; idempotent).

        `sync=False` leaves the fsync of the directories to a later `sync()` (the uplink
        syncs once per flush): a move lost in a power cut only means the certificate is
        offered again, and the ledger answers 200 (identical duplicate).
        """
        self._check_id(cert_id)
        src = self.pending_dir / f"{cert_id}.json"
        dst = self.sent_dir / f"{cert_id}.json"
        if not src.exists() and dst.exists():
            return dst
        os.replace(src, dst)
        (self.notes_dir / f"{cert_id}.json").unlink(missing_ok=True)
        if sync:
            self.sync()
        return dst

    def sync(self) -> None:
        """Make earlier moves durable."""
        fsync_dir(self.sent_dir)
        fsync_dir(self.pending_dir)

    def note(self, cert_id: str, note: dict[str, Any]) -> None:
        """Remember the ledger's last answer for a certificate kept in pending/."""
        self._check_id(cert_id)
        write_atomic(self.notes_dir / f"{cert_id}.json", encode(note), tmp_dir=self.tmp_dir)

    def get_note(self, cert_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.notes_dir / f"{cert_id}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return data

    def entries(self) -> Iterator[SpoolEntry]:
        for cert_id in self.pending():
            yield SpoolEntry(cert_id, PENDING, self.pending_dir / f"{cert_id}.json",
                             self.get_note(cert_id))
        for cert_id in self.sent():
            yield SpoolEntry(cert_id, SENT, self.sent_dir / f"{cert_id}.json")

    def list(self) -> list[SpoolEntry]:
        return list(self.entries())

    def counts(self) -> dict[str, int]:
        return {PENDING: len(list(self.pending_dir.glob("*.json"))),
                SENT: len(list(self.sent_dir.glob("*.json")))}


def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temporary file's name (.NAME.PID.tmp) still runs."""
    try:
        pid = int(tmp.name.rsplit(".", 2)[-2])
    except (ValueError, IndexError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _by_age(directory: Path) -> list[Path]:
    paths = []
    for p in directory.glob("*.json"):
        try:
            paths.append((p.stat().st_mtime_ns, p.name, p))
        except FileNotFoundError:  # moved to sent/ meanwhile
            continue
    return [p for _, _, p in sorted(paths)]
