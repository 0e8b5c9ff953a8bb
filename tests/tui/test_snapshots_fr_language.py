"""The TUI in French: chosen by `language:` in ardoise.yaml or by F2 on any screen; the French
words are the ones typed and pressed; every key line fits the 80-column console."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.widgets import Input, Static

from appliance.i18n import get_language, set_language
from tests.tui.conftest import GOOD_CONFIG, make_survey, results_fixture
from tests.tui.test_snapshots import SCREENS
from tui.app import ArdoiseApp
from tui.confirm import ConfirmScreen, expected_words
from tui.dashboard import DashboardScreen
from tui.progress import ProgressScreen, StopScreen
from tui.results import ResultsScreen
from tui.widgets.keybar import KeyBar

pytestmark = pytest.mark.asyncio


def screen_text(app: ArdoiseApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def test_config_language_starts_the_dashboard_in_french(tmp_path: Path) -> None:
    app = ArdoiseApp(make_survey(tmp_path, "language: fr\n" + GOOD_CONFIG), launch_jobs=False)
    async with app.run_test(size=(80, 25)):
        assert get_language().startswith("fr")
        text = screen_text(app)
        assert "Ordinateur" in text and "Alimentation" in text
        assert "2 disques seront effacés. Appuyez sur Entrée" in text
        assert "English" in text  # F2 offers the way back


async def test_config_language_en_keeps_english(tmp_path: Path) -> None:
    set_language("fr")  # e.g. from the kernel command line
    app = ArdoiseApp(make_survey(tmp_path, "language: en\n" + GOOD_CONFIG), launch_jobs=False)
    async with app.run_test(size=(80, 25)):
        assert "2 disks will be erased" in screen_text(app)


async def test_french_confirmation_words(app_for: Callable[..., ArdoiseApp]) -> None:
    set_language("fr")
    assert expected_words(2) == "EFFACER 2"
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert "tapez EFFACER 2" in " ".join(screen_text(app).split())
        await pilot.press(*"EFFACER 1", "enter")  # wrong count: refused, still asking
        assert isinstance(app.screen, ConfirmScreen)
        assert "rien n’a été touché" in str(app.screen.query_one("#mismatch", Static).render())
        assert app.screen.query_one(Input).value == ""
        await pilot.press(*"effacer 2", "enter")  # case does not matter
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)


async def test_french_stop_dialog_answers_to_o_and_n(app_for: Callable[..., ArdoiseApp]) -> None:
    set_language("fr")
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.press("enter", *expected_words(2), "enter")
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, StopScreen)
        assert "O : arrêter   N : continuer" in screen_text(app).replace("\u00a0", " ")
        await pilot.press("n")  # "non": the run goes on
        assert isinstance(app.screen, ProgressScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, StopScreen)
        await pilot.press("o")  # "oui": every disk stops
        await pilot.pause()
        assert not isinstance(app.screen, StopScreen)


@pytest.mark.parametrize("name", list(SCREENS))
async def test_f2_switches_every_screen(tmp_path: Path, name: str) -> None:
    """F2 on each screen: the words change language, and change back."""
    from tests.tui.test_snapshots_fr import SCREENS_FR

    make, before = SCREENS_FR[name]
    app = ArdoiseApp(make(tmp_path), launch_jobs=False, auto_countdown=name != "countdown")
    async with app.run_test(size=(170, 48)) as pilot:
        if name == "countdown":
            app.screen.action_erase(unattended=True)  # type: ignore[attr-defined]
            await pilot.pause()
            app.screen.timer.pause()  # type: ignore[attr-defined]
        elif name != "results":
            await before(pilot)
        else:
            app.switch_screen(ResultsScreen(results_fixture(), cancelled=False))
            await pilot.pause()
        english = screen_text(app)
        await pilot.press("f2")
        await pilot.pause()
        assert get_language().startswith("fr")
        french = screen_text(app)
        assert french != english
        await pilot.press("f2")
        await pilot.pause()
        assert get_language().startswith("en")
        assert screen_text(app) != french


@pytest.mark.parametrize("name", list(SCREENS))
async def test_french_key_line_fits_the_console(tmp_path: Path, name: str) -> None:
    from tests.tui.test_snapshots_fr import SCREENS_FR

    set_language("fr")
    make, before = SCREENS_FR[name]
    app = ArdoiseApp(make(tmp_path), launch_jobs=False)
    async with app.run_test(size=(80, 25)) as pilot:
        if name == "countdown":
            await pilot.pause()
            app.screen.timer.pause()  # type: ignore[attr-defined]
        else:
            await before(pilot)
        bars = list(app.screen.query(KeyBar))
        assert bars
        for bar in bars:
            words = str(bar.render())
            width = cell_len(words.rstrip())
            assert any(w in words for w in ("Quitter", "Annuler", "Arrêter")), words
            assert width <= 80, f"{name}: key line is {width} columns: {words!r}"


async def test_results_screen_in_french(app_for: Callable[..., ArdoiseApp]) -> None:
    set_language("fr")
    app = app_for()
    async with app.run_test(size=(170, 48)) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False))
        await pilot.pause()
        text = screen_text(app)
        assert "Terminé — disques réussis\u00a0: 1 sur 2" in text
        assert "Effacé et vérifié." in text and "PAS effacé" in text
        assert "RÉUSSI" in text and "ÉCHEC" in text
        assert isinstance(app.screen, ResultsScreen)


async def test_language_switch_keeps_the_dashboard(app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.press("f2")
        assert isinstance(app.screen, DashboardScreen)
        assert "Aucun disque" not in screen_text(app)
        assert "Effacer" in screen_text(app) and "Quitter" in screen_text(app)
        await pilot.press("f2")


def test_other_language_label(monkeypatch: Any) -> None:
    from tui.dashboard import other_language

    set_language("fr")
    assert other_language() == "English"
    set_language("en")
    assert other_language() == "Fran\u00e7ais"
