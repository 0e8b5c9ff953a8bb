"""Progress of a long read or write counted in bytes, shared by the engines (verification,
audit scan): adds from several threads, coalesced to one event per `interval` seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from erasure.methods.base import Progress


class Meter:
    def __init__(self, path: str, total: int, sink: Callable[[Progress], None] | None,
                 phase: str, interval: float = 0.1):
        self.path, self.total, self.sink, self.phase = path, total, sink, phase
        self.interval = interval
        self.done = 0
        self.start = self.last = time.monotonic()
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n
            now = time.monotonic()
            if now - self.last < self.interval:
                return
            self.last = now
        self.emit()

    def emit(self) -> None:
        if self.sink is None:
            return
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.sink(Progress(self.path, self.phase, self.done, self.total, rate, eta,
                           elapsed_seconds=elapsed))
