"""Every screen in French holds no English code (tests/english_words.py): statuses, steps,
verification words and exclusion reasons are translated when shown.

The progress screen's log pane replays lines recorded from an English run
(tests/fixtures/tui/run-loop-events.jsonl): it is left out here; the same lines said in
French are checked by tests/integration/test_french_run.py on real loop devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import RichLog

from appliance.i18n import set_language
from erasure.text import Msg
from tests.english_words import english_words
from tests.tui.conftest import SIZES, load_disks, make_survey
from tests.tui.test_snapshots_fr import SCREENS_FR
from tui.app import ArdoiseApp

pytestmark = pytest.mark.asyncio


def screen_text(app: ArdoiseApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


@pytest.mark.parametrize("screen", list(SCREENS_FR))
async def test_every_screen_speaks_french(tmp_path: Path, screen: str) -> None:
    set_language("fr")
    make, before = SCREENS_FR[screen]
    app = ArdoiseApp(make(tmp_path), launch_jobs=False)
    async with app.run_test(size=SIZES["laptop"]) as pilot:
        await before(pilot)
        for log in app.screen.query(RichLog):
            log.display = False
        await pilot.pause()
        text = screen_text(app)
    assert text.strip()
    assert english_words(text) == [], text


async def test_a_mounted_disk_is_left_alone_in_french(tmp_path: Path) -> None:
    set_language("fr")
    disks = load_disks()
    vda = next(d for d in disks if d.path == "/dev/vda")
    vda.eligible = False
    vda.excluded_reason = Msg("mounted: {node} on {mount}", node="vda", mount="/")
    app = ArdoiseApp(make_survey(tmp_path, disks=disks), launch_jobs=False)
    async with app.run_test(size=SIZES["laptop"]) as pilot:
        await pilot.pause()
        text = screen_text(app)
    assert "LAISSÉ TEL QUEL\u00a0: monté\u00a0: vda sur /" in text
    assert english_words(text) == [], text


@pytest.fixture(autouse=True)
def english_afterwards() -> Any:
    yield
    set_language("en")


@pytest.mark.parametrize("lang, words", [("en", "P  Power off - next computer"),
                                         ("fr", "P  Éteindre - ordinateur suivant")])
async def test_results_key_bar_says_p_powers_off(tmp_path: Path, lang: str, words: str,
                                                 fake_runner: Any) -> None:
    from tests.tui.conftest import results_fixture
    from tui.results import ResultsScreen

    fake_runner.add(["systemctl", "poweroff"])
    set_language(lang)
    app = ArdoiseApp(make_survey(tmp_path), launch_jobs=False)
    async with app.run_test(size=SIZES["console"]) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False))
        await pilot.pause()
        assert words in screen_text(app).splitlines()[-1]
        await pilot.press("p")
        await app.workers.wait_for_complete()
    assert ("systemctl", "poweroff") in fake_runner.calls
