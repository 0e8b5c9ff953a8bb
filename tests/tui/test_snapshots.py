"""Snapshot tests: every screen at the Linux console size (80x25) and a laptop console
(170x48). English now; add "fr" to LANGS in conftest.py once the catalog is translated.
Update after a deliberate change with: pytest tests/tui --snapshot-update (then LOOK)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from appliance.config import Config, ConfigError, parse
from appliance.i18n import set_language
from appliance.survey import Survey
from tests.tui.conftest import GOOD_CONFIG, LANGS, SIZES, make_survey, results_fixture
from tests.tui.test_flow import replay
from tui.app import ArdoiseApp
from tui.confirm import ConfirmScreen
from tui.progress import ProgressScreen
from tui.results import ResultsScreen

Before = Callable[[Pilot[Any]], Awaitable[None]]


async def nothing(pilot: Pilot[Any]) -> None:
    await pilot.pause()


async def to_confirm(pilot: Pilot[Any]) -> None:
    await pilot.press("enter", *"ERASE 1", "enter")  # shows the refusal of a wrong count
    await pilot.press(*"ERASE 2")


async def to_progress(pilot: Pilot[Any]) -> None:
    await pilot.press("enter", *"ERASE 2", "enter")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ProgressScreen)
    await replay(pilot.app, screen, count=21)  # mid-run: one disk verifying, one failed
    await pilot.pause()
    screen.apply_progress()  # what the redraw timer does, without waiting for it
    await pilot.pause()


async def to_results(pilot: Pilot[Any]) -> None:
    pilot.app.switch_screen(ResultsScreen(results_fixture(), cancelled=False))
    await pilot.pause()


async def held_countdown(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ConfirmScreen) and screen.timer is not None
    screen.timer.pause()  # a still picture of the countdown
    screen.remaining = 30
    screen.query_one("#countdown").update(screen.countdown_text())  # type: ignore[attr-defined]
    await pilot.pause()


def bad_config_survey(tmp_path: Path) -> Survey:
    text = "organisation: OPEQ\nerase:\n  level: clear\n  verfy: full\n"
    try:
        parse(text, source="/run/ardoise/data/ardoise.yaml")
    except ConfigError as exc:
        return Survey(Config(), tmp_path, config_error=exc)
    raise AssertionError("the config should be refused")


SCREENS: dict[str, tuple[Callable[[Path], Survey], Before]] = {
    "dashboard": (lambda p: make_survey(p), nothing),
    "confirm": (lambda p: make_survey(p), to_confirm),
    "countdown": (lambda p: make_survey(
        p, GOOD_CONFIG + "unattended:\n  enabled: true\n  countdown_seconds: 30\n"), held_countdown),
    "progress": (lambda p: make_survey(p), to_progress),
    "results": (lambda p: make_survey(p), to_results),
    "bad-config": (bad_config_survey, nothing),
    "battery": (lambda p: make_survey(p, power="low-battery"), nothing),
}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare: Any, tmp_path: Path, screen: str, size: str, lang: str) -> None:
    set_language(lang)
    make, before = SCREENS[screen]
    app = ArdoiseApp(make(tmp_path), launch_jobs=False)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)
