"""The one place that runs external commands.

argv lists only, a timeout always, output captured. Unit tests replace the active runner
(`set_runner`) with a fake that replays captured outputs keyed on argv.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandError(Exception):
    """A command ran and exited non-zero (when check=True)."""

    def __init__(self, result: Result):
        self.result = result
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        super().__init__(f"{result.argv[0]} exited {result.returncode}: {tail[0]}")


class CommandTimeout(Exception):
    def __init__(self, argv: Sequence[str], timeout: float):
        self.argv = tuple(argv)
        self.timeout = timeout
        super().__init__(f"{argv[0]} did not finish within {timeout:g} s")


class CommandNotFound(Exception):
    def __init__(self, argv: Sequence[str]):
        self.argv = tuple(argv)
        super().__init__(f"command not found: {argv[0]}")


class Runner(Protocol):
    def __call__(
        self, argv: Sequence[str], timeout: float, input: str | None = None
    ) -> Result: ...


def subprocess_runner(argv: Sequence[str], timeout: float, input: str | None = None) -> Result:
    """Run argv for real."""
    start = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            errors="replace",
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeout(argv, timeout) from exc
    except FileNotFoundError as exc:
        raise CommandNotFound(argv) from exc
    return Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


_active: Runner = subprocess_runner


def set_runner(runner: Runner) -> Runner:
    """Install a runner; returns the previous one (tests restore it)."""
    global _active
    previous = _active
    _active = runner
    return previous


def run(
    argv: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    *,
    check: bool = True,
    input: str | None = None,
) -> Result:
    """Run a command through the active runner. Never a shell, never without a timeout."""
    if isinstance(argv, str):
        raise TypeError("argv must be a list, not a string")
    if timeout is None or timeout <= 0:
        raise ValueError("a positive timeout is required")
    log.debug("run %s (timeout %gs)", " ".join(argv), timeout)
    result = _active(tuple(argv), timeout, input)
    if check and result.returncode != 0:
        raise CommandError(result)
    return result
