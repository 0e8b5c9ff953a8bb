"""Shared fixtures.

Unit tests never run a real external command: an autouse fixture installs a runner that
raises. Tests that replay captured output use `fake_runner` (keyed on argv, not call
order); integration tests that really need commands are marked `integration` and opt in
with the `real_commands` fixture.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from erasure import runner

FIXTURES = Path(__file__).parent / "fixtures"


class UnexpectedCommand(AssertionError):
    pass


def _forbidden(argv: Sequence[str], timeout: float, input: str | None = None) -> runner.Result:
    raise UnexpectedCommand(f"unit test tried to run a real command: {list(argv)}")


class FakeRunner:
    """Replays captured outputs keyed on argv. Unknown argv raises."""

    def __init__(self) -> None:
        self.responses: dict[tuple[str, ...], runner.Result | Callable[..., runner.Result]] = {}
        self.calls: list[tuple[str, ...]] = []

    def add(self, argv: Sequence[str], stdout: str = "", returncode: int = 0, stderr: str = "",
            fixture: str | None = None) -> None:
        if fixture is not None:
            stdout = (FIXTURES / fixture).read_text()
        self.responses[tuple(argv)] = runner.Result(tuple(argv), returncode, stdout, stderr, 0.0)

    def add_callable(self, argv: Sequence[str], fn: Callable[..., runner.Result]) -> None:
        self.responses[tuple(argv)] = fn

    def __call__(self, argv: Sequence[str], timeout: float, input: str | None = None) -> runner.Result:
        key = tuple(argv)
        self.calls.append(key)
        if key not in self.responses:
            raise UnexpectedCommand(f"no captured output for {list(argv)}")
        response = self.responses[key]
        if callable(response):
            return response(argv, timeout, input)
        return response


@pytest.fixture(autouse=True)
def _no_real_commands(request: pytest.FixtureRequest) -> Iterator[None]:
    if "real_commands" in request.fixturenames:
        yield
        return
    previous = runner.set_runner(_forbidden)
    try:
        yield
    finally:
        runner.set_runner(previous)


@pytest.fixture(autouse=True)
def _english_by_default() -> Iterator[None]:
    """Every test starts in English, whatever language the test before it chose."""
    from appliance.i18n import set_language

    set_language(None)
    yield
    set_language(None)


@pytest.fixture(autouse=True)
def _ledger_log_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ledger a test starts without --log-key keeps its key in the test's own folder
    (never the system default path)."""
    monkeypatch.setenv("ARDOISE_LEDGER_LOG_KEY", str(tmp_path / "ledger-log-key.pem"))


@pytest.fixture(autouse=True)
def _own_nvme_sysfs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside integration/e2e tests the NVMe controller lookup never reads the machine's
    /sys: each test gets an empty root that helpers fill (tests/unit/sysfs_tree.py)."""
    if "real_commands" in request.fixturenames or any(
            request.node.get_closest_marker(m) for m in ("integration", "e2e")):
        return
    from erasure import nvme_sysfs

    monkeypatch.setattr(nvme_sysfs, "SYSFS", tmp_path_factory.mktemp("sys"))


@pytest.fixture
def real_commands() -> Iterator[None]:
    previous = runner.set_runner(runner.subprocess_runner)
    try:
        yield
    finally:
        runner.set_runner(previous)


@pytest.fixture
def fake_runner() -> Iterator[FakeRunner]:
    fake = FakeRunner()
    previous = runner.set_runner(fake)
    try:
        yield fake
    finally:
        runner.set_runner(previous)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root (loop devices, QEMU)")
        for item in items:
            if "integration" in item.keywords or "e2e" in item.keywords:
                item.add_marker(skip)
