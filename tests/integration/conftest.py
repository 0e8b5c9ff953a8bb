"""Integration fixtures: `loops`, loop devices made in the test's own folder (real
commands), detached at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.loopdev import Loops


@pytest.fixture
def loops(real_commands: None, tmp_path: Path) -> Iterator[Loops]:
    box = Loops(tmp_path)
    try:
        yield box
    finally:
        box.close()
