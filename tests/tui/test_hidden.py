"""A machine with an NVMe drive hidden by Intel RST: the dashboard shows it and the
results never read as "every disk erased" (fake sysfs: tests/fixtures/hidden/rst-sys)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Static

from erasure.hidden import find_hidden
from tests.conftest import FIXTURES
from tests.tui.conftest import make_survey, results_fixture
from tui.app import ArdoiseApp
from tui.dashboard import DashboardScreen
from tui.results import ResultsScreen

pytestmark = pytest.mark.asyncio


def screen_text(app: ArdoiseApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_dashboard_shows_the_hidden_drive_and_how_to_show_it(
        tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    survey = make_survey(tmp_path)
    survey.hidden = find_hidden(FIXTURES / "hidden" / "rst-sys")
    app = app_for(survey)
    async with app.run_test(size=(170, 48)):
        assert isinstance(app.screen, DashboardScreen)
        line = str(app.screen.query_one("#hidden", Static).render())
        assert "1 NVMe drive(s) hidden by Intel RST (RAID mode) behind 0000:00:17.0" in line
        assert "NOT erased" in line and "from RAID to AHCI" in line


async def test_results_with_a_hidden_drive_never_say_all_erased(
        tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    survey = make_survey(tmp_path)
    survey.hidden = find_hidden(FIXTURES / "hidden" / "rst-sys")
    passed = [r for r in results_fixture() if r.passed]
    assert passed
    app = app_for(survey)
    async with app.run_test(size=(170, 48)) as pilot:
        app.switch_screen(ResultsScreen(passed, cancelled=False))
        await pilot.pause()
        text = screen_text(app)
        assert f"{len(passed)} of {len(passed)} disks passed" in text
        assert "Hidden drives were NOT erased" in text


async def test_no_hidden_line_on_an_ordinary_machine(tmp_path: Path,
                                                     app_for: Callable[..., ArdoiseApp]) -> None:
    survey = make_survey(tmp_path)
    survey.hidden = find_hidden(FIXTURES / "hidden" / "ahci-sys")
    app = app_for(survey)
    async with app.run_test(size=(170, 48)):
        assert not app.screen.query("#hidden")
