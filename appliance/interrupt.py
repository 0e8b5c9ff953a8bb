"""SIGINT (Ctrl-C) and SIGTERM during the work of `wipe`, `image write` and `run`.

Both signals take the same path: the cancel Event the work checks is set (the erase
methods, the verification and the image writer stop at their next safe point), one line
is said, and the command goes on to issue its INCOMPLETE certificates at once, then exits
130 (SIGINT) or 143 (SIGTERM). No KeyboardInterrupt is raised, so no thread join is cut
short and no traceback reaches a person.

    with interrupt.Stopper(cancel) as stop:
        ... the work, which checks cancel ...
        ... the certificates ...
    if stop.interrupted:
        return stop.exit_code

Later signals while the command stops are taken as the same request (the certificates
are being written: a second Ctrl-C must not lose them). Handlers can only be installed
from the main thread; elsewhere the Stopper does nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from appliance.i18n import _
from appliance.output import warn

SIGNALS = (signal.SIGINT, signal.SIGTERM)
NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 SIGINT, 143 SIGTERM)."""
    return 128 + signum


class Stopper:
    """Turns SIGINT and SIGTERM into `cancel.set()` while the `with` block runs."""

    def __init__(self, cancel: threading.Event | None = None, message: str | None = None):
        self.cancel = cancel if cancel is not None else threading.Event()
        self.message = message
        self.signum: int | None = None
        self._saved: dict[int, Any] = {}

    @property
    def interrupted(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum) if self.signum is not None else 0

    @property
    def name(self) -> str | None:
        return NAMES.get(signal.Signals(self.signum)) if self.signum is not None else None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        self.cancel.set()
        if first:
            try:
                warn(self.message or _("ardoise: interrupted: stopping; every disk being "
                                       "worked on gets an INCOMPLETE certificate"))
            except (OSError, RuntimeError):  # stderr gone, or busy in this very thread
                pass

    def __enter__(self) -> Stopper:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, previous in self._saved.items():
            signal.signal(sig, previous)
        self._saved.clear()
