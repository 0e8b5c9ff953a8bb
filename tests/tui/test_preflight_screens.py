"""Pilot: the dashboard shows every preflight check in plain words and offers no confirmation
while a problem blocks the run; the results screen shows the delivery summary, a certificate
the ledger rejected in red with what to do, and quits with status 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from appliance.config import parse
from appliance.i18n import set_language
from tests.conftest import FakeRunner
from tests.tui.conftest import GOOD_CONFIG, results_fixture
from tests.tui.preflight_cases import (
    MISSING_IMAGE,
    clean_snapshot_data,
    preflight_survey,
    rejected_survey,
    warning_survey,
)
from tests.tui.test_flow import screen_text, text_of
from tui.app import ArdoiseApp
from tui.confirm import ConfirmScreen
from tui.dashboard import DashboardScreen
from tui.results import ResultsScreen

pytestmark = pytest.mark.asyncio


@pytest.fixture
def snapshot_data() -> Iterator[None]:
    yield
    clean_snapshot_data()


async def test_a_problem_blocks_the_confirmation(tmp_path: Path) -> None:
    app = ArdoiseApp(preflight_survey(tmp_path), launch_jobs=False)
    async with app.run_test(size=(170, 48)) as pilot:
        assert isinstance(app.screen, DashboardScreen)
        block = text_of(app, "#preflight")
        assert block.startswith("Before erasing:")
        assert (f"PROBLEM  The system image cannot be read: cannot read manifest {MISSING_IMAGE}: "
                "no such file or directory.") in block
        assert "What to do: Copy the image (NAME.manifest.json and NAME.data) to the stick" in block
        assert ("WARNING  No network: the certificates will wait on the stick until a network "
                "is available.") in block
        assert text_of(app, "#verdict") == ("2 disks can be erased once the problems above are "
                                           "fixed (then press R).")
        keybar = screen_text(app).splitlines()[-1]
        assert "Enter" not in keybar and "Refresh" in keybar
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)  # no confirmation offered


async def test_problem_lines_are_red(tmp_path: Path) -> None:
    app = ArdoiseApp(preflight_survey(tmp_path), launch_jobs=False)
    async with app.run_test(size=(170, 48)):
        text = app.screen.query_one("#preflight", Static).render()
        styles = {str(span.style) for span in text.spans}  # type: ignore[union-attr]
        assert "ansi_bright_red bold" in styles and "ansi_bright_yellow bold" in styles


async def test_a_warning_only_still_offers_the_confirmation(tmp_path: Path) -> None:
    app = ArdoiseApp(warning_survey(tmp_path), launch_jobs=False)
    async with app.run_test(size=(170, 48)) as pilot:
        assert "WARNING  No network" in text_of(app, "#preflight")
        assert text_of(app, "#verdict") == "2 disks will be erased. Press Enter to start."
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)


async def test_dashboard_preflight_in_french(tmp_path: Path) -> None:
    set_language("fr")
    app = ArdoiseApp(preflight_survey(tmp_path), launch_jobs=False)
    async with app.run_test(size=(170, 48)):
        block = text_of(app, "#preflight")
        assert block.startswith("Avant d’effacer :")
        assert "PROBLÈME L’image système est illisible" in block
        assert "ATTENTION Pas de réseau : les certificats attendront sur la clé" in block


async def test_results_show_a_rejected_certificate_and_quit_with_1(
        tmp_path: Path, snapshot_data: None) -> None:
    app = ArdoiseApp(rejected_survey(tmp_path), launch_jobs=False)
    first, second = results_fixture()
    async with app.run_test(size=(170, 48)) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False))
        await pilot.pause()
        text = screen_text(app)
        about = str(app.screen.query_one("#result-0 .about", Static).render())
        assert (f"Certificate {first.certificate_id}: REJECTED by the ledger: this appliance's "
                "key is not enrolled there (HTTP 403: the signing key is not enrolled)") in about
        assert "not sent yet" not in text
        delivery = app.screen.query_one("#delivery", Static).render()
        lines = str(delivery).splitlines()
        assert lines[0] == "Certificates: 0 sent, 1 waiting, 1 rejected."
        assert lines[1] == (f"REJECTED by the ledger: {first.certificate_id}: this appliance's "
                            "key is not enrolled there (HTTP 403: the signing key is not "
                            "enrolled)")
        assert "ardoise-ledger enroll --name ardoise-" in lines[2]
        assert lines[3] == ("1 waiting on the stick: the ledger is unreachable. It is sent as "
                            "soon as the ledger answers.")
        red = [span for span in delivery.spans  # type: ignore[union-attr]
               if str(span.style) == "ansi_bright_red bold"]
        assert len(red) == 3
        assert f"Certificate {second.certificate_id}: waiting on the stick" in text
        await pilot.press("q")
    assert app.return_value == 1


async def test_results_all_sent_quit_follows_the_disks(tmp_path: Path) -> None:
    from appliance.spool import Spool

    survey = warning_survey(tmp_path)
    spool = Spool(survey.data_dir)
    results = [r for r in results_fixture() if r.passed]
    for r in results:
        assert r.certificate_id
        spool.put({"id": r.certificate_id})
        spool.mark_sent(r.certificate_id)
    app = ArdoiseApp(survey, launch_jobs=False)
    async with app.run_test(size=(170, 48)) as pilot:
        app.switch_screen(ResultsScreen(results, cancelled=False))
        await pilot.pause()
        assert str(app.screen.query_one("#delivery", Static).render()) == (
            "Certificates: 1 sent, 0 waiting, 0 rejected.")
        assert "sent to the ledger" in screen_text(app)
        await pilot.press("q")
    assert app.return_value == 0


async def test_a_passed_disk_with_a_rejected_certificate_quits_with_1(
        tmp_path: Path, snapshot_data: None) -> None:
    app = ArdoiseApp(rejected_survey(tmp_path), launch_jobs=False)
    first, _second = results_fixture()
    assert first.passed
    async with app.run_test(size=(170, 48)) as pilot:
        app.switch_screen(ResultsScreen([first], cancelled=False))
        await pilot.pause()
        assert "This disk may leave." in screen_text(app)
        await pilot.press("q")
    assert app.return_value == 1


POWEROFF = GOOD_CONFIG + "unattended:\n  enabled: true\n  countdown_seconds: 0\n  after: poweroff\n"


async def test_unattended_end_stays_on_with_a_rejected_certificate(
        tmp_path: Path, snapshot_data: None, fake_runner: FakeRunner) -> None:
    fake_runner.add(["systemctl", "poweroff"])
    app = ArdoiseApp(rejected_survey(tmp_path, text=POWEROFF), launch_jobs=False,
                     auto_countdown=False)
    async with app.run_test(size=(170, 48)) as pilot:
        screen = ResultsScreen(results_fixture(), cancelled=False, unattended=True)
        app.switch_screen(screen)
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert text_of(app, "#after") == ("The ledger rejected a certificate: this computer "
                                          "stays on.")
    assert ("systemctl", "poweroff") not in fake_runner.calls


async def test_unattended_end_powers_off_once_delivered(tmp_path: Path,
                                                        fake_runner: FakeRunner) -> None:
    from dataclasses import replace

    from appliance.spool import Spool

    fake_runner.add(["systemctl", "poweroff"])
    survey = replace(warning_survey(tmp_path), config=parse(POWEROFF, source="ardoise.yaml"))
    spool = Spool(survey.data_dir)
    for r in results_fixture():
        assert r.certificate_id
        spool.put({"id": r.certificate_id})
        spool.mark_sent(r.certificate_id)
    app = ArdoiseApp(survey, launch_jobs=False, auto_countdown=False)
    async with app.run_test(size=(170, 48)) as pilot:
        app.switch_screen(ResultsScreen(results_fixture(), cancelled=False, unattended=True))
        await pilot.pause()
        await app.workers.wait_for_complete()
    assert ("systemctl", "poweroff") in fake_runner.calls
