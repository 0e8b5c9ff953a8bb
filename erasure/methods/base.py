"""The interface every erase-method family implements (one small adapter per family).

A method runs on one Disk, reports progress through a callback, stops when `cancel` is
set, and returns an EraseResult. It never decides eligibility (that was done before) and
never claims success without saying what was done; verification is separate (verify.py)
and recorded in the result by the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from erasure.disk import Disk


@dataclass
class Progress:
    """One progress event. `phase` is erase|verify|wait (a firmware command at work).

    `basis` says what `done_bytes` measures: "bytes" counted by the host (overwrite,
    verify, image); for a firmware erase ("wait"), "drive" (the drive's own progress
    report: NVMe SPROG, ATA/SCSI sense progress), "estimate" (elapsed time against the
    drive's own time estimate, capped below 100% until the command returns) or "none"
    (the drive reports nothing and gave no estimate: only `elapsed_seconds` moves).
    """

    path: str
    phase: str
    done_bytes: int
    total_bytes: int
    rate_bytes_per_s: float = 0.0
    eta_seconds: float | None = None
    message: str = ""
    elapsed_seconds: float | None = None  # since the firmware command started
    basis: str = "bytes"  # bytes | drive | estimate | none

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0


ProgressCallback = Callable[[Progress], None]


@dataclass
class IoErrorRange:
    offset: int
    length: int
    error: str


@dataclass
class EraseContext:
    """What the caller hands a method: options, progress sink, cancel flag, journal hook."""

    pattern: str = "zero"  # zero | random
    key: bytes | None = None  # key of the random stream (so verify regenerates it)
    passes: int = 1
    progress: ProgressCallback | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    # Called with (event, details) before a destructive or irreversible step, e.g.
    # ("ata-password", {"password": ...}); the appliance journals it with fsync.
    journal: Callable[[str, dict[str, Any]], None] | None = None
    timeout_margin: float = 1.5
    options: dict[str, Any] = field(default_factory=dict)

    def emit(self, event: Progress) -> None:
        if self.progress is not None:
            self.progress(event)


@dataclass
class EraseResult:
    method: str
    status: str  # erased | failed | incomplete (cancelled)
    technique: str  # NIST technique: overwrite | block erase | cryptographic erase
    bytes_written: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    io_errors: list[IoErrorRange] = field(default_factory=list)
    tool: str = ""  # the command (and version) that did it, for the certificate
    details: dict[str, Any] = field(default_factory=dict)


class EraseMethod(Protocol):
    name: str  # METHOD name from the CLI contract
    family: str  # overwrite | ata | nvme | scsi | mmc | opal
    technique: str

    def supported(self, disk: Disk) -> bool:
        """Whether the probed capabilities say this drive can do it."""
        ...

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult: ...
