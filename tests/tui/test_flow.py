"""Pilot tests: every screen and flow, keyboard only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Input, RichLog, Static

from appliance import config
from appliance.i18n import get_language
from appliance.survey import Survey
from tests.tui.conftest import (
    GOOD_CONFIG,
    POWER,
    event_from_json,
    make_survey,
    recorded_events,
    results_fixture,
)
from tui.app import ArdoiseApp
from tui.confirm import ConfirmScreen
from tui.dashboard import DashboardScreen
from tui.error import BatteryScreen, ConfigErrorScreen
from tui.progress import ProgressScreen, StopScreen
from tui.results import ResultsScreen

pytestmark = pytest.mark.asyncio


def text_of(app: ArdoiseApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def screen_text(app: ArdoiseApp) -> str:
    """What a person sees: the composited screen as plain text, line by line."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def test_dashboard_shows_host_disks_plans_and_exclusions(app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    async with app.run_test(size=(170, 48)):
        assert isinstance(app.screen, DashboardScreen)
        facts = text_of(app, "#facts")
        assert "LENOVO" in facts and "20MU" in facts  # captured dmidecode of a ThinkPad A485
        assert "link up: enp1s0" in facts
        assert "debian-12.manifest.json" in facts
        text = screen_text(app)
        assert "loop2" in text and "loop3" in text and "vda" in text
        assert "mounted: vda on /" in text  # the root disk is left alone, with the reason
        assert "2 disks will be erased" in text_of(app, "#verdict")


async def test_typed_confirmation_names_the_count(app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(*"ERASE 1", "enter")  # wrong count: refused, still asking
        assert isinstance(app.screen, ConfirmScreen)
        assert "nothing was touched" in text_of(app, "#mismatch")
        assert app.screen.query_one(Input).value == ""
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("enter", *"ERASE 2", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ProgressScreen)
        assert len(app.screen.panels) == 2


async def test_unattended_countdown_any_key_cancels(tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    text = GOOD_CONFIG + "unattended:\n  enabled: true\n  countdown_seconds: 30\n"
    app = app_for(make_survey(tmp_path, text))
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "starts in 30 s" in text_of(app, "#countdown")
        await pilot.press("x")
        assert isinstance(app.screen, DashboardScreen)  # nothing started
        await pilot.pause(0.2)
        assert isinstance(app.screen, DashboardScreen)  # and the countdown does not come back


async def test_unattended_countdown_runs_out_and_starts(tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    text = GOOD_CONFIG + "unattended:\n  enabled: true\n  countdown_seconds: 1\n"
    app = app_for(make_survey(tmp_path, text))
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        for _ in range(30):
            await pilot.pause(0.1)
            if isinstance(app.screen, ProgressScreen):
                break
        assert isinstance(app.screen, ProgressScreen)
        assert app.screen.unattended


async def test_bad_config_stops_before_anything(tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    bad = tmp_path / "ardoise.yaml"
    bad.write_text("organisation: OPEQ\nerase:\n  level: strong\n")
    try:
        config.load(bad)
    except config.ConfigError as exc:
        error = exc
    survey = Survey(config.Config(), tmp_path / "data", config_error=error)
    app = app_for(survey)
    async with app.run_test(size=(80, 25)) as pilot:
        assert isinstance(app.screen, ConfigErrorScreen)
        shown = screen_text(app)
        assert "Line: 3" in shown and "Setting: erase.level" in shown
        assert "must be one of clear, purge" in shown
        await pilot.press("enter")  # no way forward from here but R (re-read) or Q
        assert isinstance(app.screen, ConfigErrorScreen)
        await pilot.press("q")
    assert app.return_value == 2


async def test_low_battery_refused_until_charger(tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    survey = make_survey(tmp_path, power="low-battery")
    app = app_for(survey)
    async with app.run_test(size=(80, 25)) as pilot:
        assert isinstance(app.screen, BatteryScreen)
        assert "12%" in text_of(app, "#refusal") and "30%" in text_of(app, "#refusal")
        await pilot.press("enter")
        assert isinstance(app.screen, BatteryScreen)
        app.survey.power_supply = POWER / "charging"  # the charger goes in
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert "on AC power" in text_of(app, "#facts")


async def replay(app: App[Any], screen: ProgressScreen, count: int | None = None) -> None:
    """Feed a recorded real run's events through the screen's sink, as the jobs do."""
    assert screen.run is not None
    recorded = recorded_events()
    order: list[str] = []
    for event in recorded:
        if event["job_id"] not in order:
            order.append(event["job_id"])
    ids = dict(zip(order, [job.job_id for job in screen.run.jobs], strict=True))
    for event in recorded[:count]:
        screen.sink(event_from_json(event, ids))


async def test_progress_shows_steps_rates_and_a_failing_disk(app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    async with app.run_test(size=(170, 48)) as pilot:
        await pilot.press("enter", *"ERASE 2", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ProgressScreen)
        await replay(app, screen)
        await pilot.pause(0.4)  # coalesced progress is applied a few times a second
        panels = list(screen.panels.values())
        assert panels[0].finished and panels[0].passed
        assert panels[1].finished and not panels[1].passed  # the read-only disk failed
        log = "\n".join(str(line.text) for line in screen.query_one(RichLog).lines)
        assert "! /dev/loop3: write error" in log
        assert "/dev/loop2: checking the erasure" in log
        # the other disk went on to the end: one failure never stops the others
        assert "certificate" in log


async def test_progress_stop_asks_then_cancels(app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.press("enter", *"ERASE 2", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ProgressScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, StopScreen)
        await pilot.press("n")
        assert app.screen is screen and not screen.cancel.is_set()
        await pilot.press("escape", "y")
        assert app.screen is screen and screen.cancel.is_set()


async def test_results_plain_words_certificate_and_qr(tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    results = results_fixture()
    async with app.run_test(size=(170, 48)) as pilot:
        app.switch_screen(ResultsScreen(results, cancelled=False))
        await pilot.pause()
        text = screen_text(app)
        assert "1 of 2 disks passed" in text
        assert "This disk may leave." in text
        assert "The erasure failed: NOT erased." in text
        assert results[0].certificate_id and results[0].certificate_id in text
        assert "waiting on the stick (the ledger is unreachable)" in text
        assert app.screen.query("QrCode")
        await pilot.press("down")
        assert app.screen.selected == 1  # type: ignore[attr-defined]


async def test_results_power_off_goes_through_the_runner(app_for: Callable[..., ArdoiseApp], fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["systemctl", "poweroff"])
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False))
        await pilot.pause()
        await pilot.press("p")
        await app.workers.wait_for_complete()
    assert ("systemctl", "poweroff") in fake_runner.calls


async def test_language_switch_redraws_every_screen(app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.press("f2")
        assert get_language().startswith("fr")
        assert isinstance(app.screen, DashboardScreen)
        assert "English" in screen_text(app)  # the key now offers the way back
        await pilot.press("f2")
        assert get_language().startswith("en")
        assert "Fran\u00e7ais" in screen_text(app)


async def test_unattended_results_power_off_after_countdown(tmp_path: Path, fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["systemctl", "poweroff"])
    text = GOOD_CONFIG.replace("ledger:\n  url: https://ledger.example.org\n", "") + (
        "unattended:\n  enabled: true\n  countdown_seconds: 1\n  after: poweroff\n")
    app = ArdoiseApp(make_survey(tmp_path, text), auto_countdown=False, launch_jobs=False)
    async with app.run_test(size=(80, 25)) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False, unattended=True))
        await pilot.pause()
        await app.workers.wait_for_complete()
    assert ("systemctl", "poweroff") in fake_runner.calls


async def test_unattended_results_any_key_stays(tmp_path: Path, fake_runner) -> None:  # type: ignore[no-untyped-def]
    text = GOOD_CONFIG.replace("ledger:\n  url: https://ledger.example.org\n", "") + (
        "unattended:\n  enabled: true\n  countdown_seconds: 30\n  after: reboot\n")
    app = ArdoiseApp(make_survey(tmp_path, text), auto_countdown=False, launch_jobs=False)
    async with app.run_test(size=(80, 25)) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False, unattended=True))
        await pilot.pause(0.3)
        assert "Restarting in" in text_of(app, "#after")
        await pilot.press("space")
        await app.workers.wait_for_complete()
        assert text_of(app, "#after") == ""
    assert fake_runner.calls == []  # nobody rebooted


async def test_qr_code_on_a_narrow_console(app_for: Callable[..., ArdoiseApp]) -> None:
    app = app_for()
    async with app.run_test(size=(80, 25)) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False))
        await pilot.pause()
        assert not app.screen.query("QrCode")  # no room beside the results
        await pilot.press("c")
        assert app.screen.query("QrCode")
        await pilot.press("x")
        assert isinstance(app.screen, ResultsScreen)


async def test_dashboard_reports_jobs_a_power_cut_interrupted(tmp_path: Path, app_for: Callable[..., ArdoiseApp]) -> None:
    survey = make_survey(tmp_path)
    survey.recovered = [str(tmp_path / "data/spool/pending/x.json")]
    app = app_for(survey)
    async with app.run_test(size=(80, 25)):
        assert "reported INCOMPLETE" in text_of(app, "#recovered")


async def test_only_one_console_runs_unattended(tmp_path: Path) -> None:
    # tty1 and the serial console both start the session: the first takes the run lock
    text = GOOD_CONFIG.replace("ledger:\n  url: https://ledger.example.org\n", "") + (
        "unattended:\n  enabled: true\n  countdown_seconds: 30\n")
    survey = make_survey(tmp_path, text)
    first = ArdoiseApp(survey, launch_jobs=False)
    assert first.claim_run()
    second = ArdoiseApp(survey, launch_jobs=True)
    async with second.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        assert isinstance(second.screen, DashboardScreen)  # no countdown here
        assert "Another console" in text_of(second, "#verdict")
    first.release_claim()
    assert second.claim_run()
    second.release_claim()
