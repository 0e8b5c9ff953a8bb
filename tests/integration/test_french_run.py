"""`ardoise --lang fr run` on real loop devices (one that erases, one read-only whose writes
fail): every line a person reads is French, with no English code (tests/english_words.py).
What the kernel says (strerror: "Operation not permitted") stays as the kernel says it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.english_words import english_words
from tests.integration.loopdev import Loops, loop_box
from tests.integration.test_run_loop import SIZE, ardoise, read_only_loop, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def loops(real_commands: None) -> Iterator[Loops]:
    with loop_box("ardfr-") as box:
        yield box


def test_a_french_run_speaks_french(loops: Loops, tmp_path: Path) -> None:
    good, _good_file = loops.make(SIZE, "good")
    bad, _bad_file = read_only_loop(loops)
    proc = ardoise("--lang", "fr", "run", "--config", str(write_config(tmp_path)),
                   "--data", str(tmp_path / "data"), "--device", good, "--device", bad, "--yes")
    assert proc.returncode == 1, proc.stderr[-3000:]
    said = (proc.stdout + proc.stderr).replace("Operation not permitted", "")
    assert "effacement" in said and "vérification" in said
    assert english_words(said) == [], said


def test_a_french_wipe_speaks_french(loops: Loops, tmp_path: Path) -> None:
    good, _good_file = loops.make(SIZE, "good")
    proc = ardoise("--lang", "fr", "wipe", good, "--verify", "sample", "--data",
                   str(tmp_path / "data"), "--yes")
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = proc.stdout + proc.stderr
    assert "effacé" in said and "relecture par échantillons" in said
    assert english_words(said) == [], said
