"""Progress of `ardoise wipe` for people: a rich bar per disk on a terminal, a plain line
every 10% otherwise (on stderr; stdout keeps the report or the JSON document)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from appliance.i18n import _, format_rate
from appliance.output import warn
from erasure.disk import Disk
from erasure.methods.base import Progress


class Display:
    """Progress: a rich bar per disk on a terminal, a plain line every 10% otherwise."""

    def __init__(self, disks: list[Disk], quiet: bool):
        self.rich: Any = None
        self.tasks: dict[str, Any] = {}
        self.steps: dict[tuple[str, str], int] = {}
        self.phases: dict[str, str] = {}
        self.quiet = quiet
        self.lock = threading.Lock()
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.rich = Progress(TextColumn("{task.description}"), BarColumn(),
                                 DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True))
            for d in disks:
                self.tasks[d.path] = self.rich.add_task(d.path, total=d.size_bytes)

    def __enter__(self) -> Display:
        if self.rich is not None:
            self.rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rich is not None:
            self.rich.stop()

    def update(self, event: Progress) -> None:
        phase = _("erasing") if event.phase == "erase" else (
            _("verifying") if event.phase == "verify" else _("waiting"))
        if self.rich is not None:
            task = self.tasks[event.path]
            with self.lock:
                if self.phases.get(event.path) != event.phase:  # new phase: restart the bar
                    self.phases[event.path] = event.phase
                    self.rich.reset(task, total=event.total_bytes)
            self.rich.update(task, completed=event.done_bytes, total=event.total_bytes,
                             description=f"{event.path} {phase}")
            return
        if self.quiet:
            return
        if event.basis == "none":  # the drive reports nothing: say it is alive every 30 s
            tick = int((event.elapsed_seconds or 0) // 30)
            with self.lock:
                if self.steps.get((event.path, "wait"), -1) >= tick:
                    return
                self.steps[(event.path, "wait")] = tick
            warn(_("{path}: waiting for the drive, {seconds} s elapsed").format(
                path=event.path, seconds=int(event.elapsed_seconds or 0)))
            return
        step = int(event.fraction * 10)
        with self.lock:
            if self.steps.get((event.path, event.phase), -1) >= step:
                return
            self.steps[(event.path, event.phase)] = step
        warn(_("{path}: {phase} {percent}% ({rate})").format(
            path=event.path, phase=phase, percent=step * 10,
            rate=format_rate(event.rate_bytes_per_s)))
