"""The technician's intake (F4), keyboard only: grade, missing charger, scanned asset tag;
the answers reach the signed device record; snapshots in English and French."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from appliance import device
from appliance.certify import generate_key, load_key
from appliance.i18n import set_language
from appliance.intake import Intake
from tests.conftest import FakeRunner
from tests.tui.conftest import SIZES, make_survey
from tests.unit.test_device_record import _machine
from tui.app import ArdoiseApp
from tui.intake import IntakeScreen


async def fill(pilot: Pilot[Any]) -> None:
    """F4, keep the config's operator, grade B, charger missing, a scanned tag, a note."""
    await pilot.press("f4")
    await pilot.pause()
    assert isinstance(pilot.app.screen, IntakeScreen)
    # focus starts on the grade (the operator is known): down to B, Enter selects it
    await pilot.press("down", "enter", "tab")
    await pilot.press("space")  # first missing part: the charger
    await pilot.press("tab", "tab", "tab", "tab", "tab", "tab")  # past the other parts
    await pilot.press(*"OPQ-004217", "enter")  # a barcode scanner types, then Enter
    await pilot.press(*"pen ok", "tab")
    await pilot.pause()


@pytest.mark.asyncio
async def test_intake_reaches_the_signed_record(tmp_path: Path, fake_runner: FakeRunner) -> None:
    survey = make_survey(tmp_path)
    app = ArdoiseApp(survey, launch_jobs=False)
    recorded: list[dict[str, Any]] = []
    generate_key(tmp_path / "keys")

    def record(intake: Intake) -> str:
        facts = device.collect(_machine(tmp_path / "m", fake_runner))
        doc = device.sign_record(device.build_record(facts, intake=intake),
                                 load_key(tmp_path))
        recorded.append(doc)
        return str(doc["id"])

    app.record_device = record
    async with app.run_test(size=SIZES["laptop"]) as pilot:
        await fill(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    (doc,) = recorded
    assert doc["intake"] == {"operator": "trainee-07", "grade": "B", "missing": ["charger"],
                             "asset_tag": "OPQ-004217", "notes": "pen ok"}
    assert doc["operator"] == "trainee-07"
    device.validate(doc)


@pytest.mark.asyncio
async def test_operator_asked_once_and_escape_records_nothing(tmp_path: Path) -> None:
    survey = make_survey(tmp_path, text="organisation: OPEQ\n")
    app = ArdoiseApp(survey, launch_jobs=False)
    seen: list[Intake] = []
    app.record_device = lambda intake: seen.append(intake) or "0" * 8
    async with app.run_test(size=SIZES["console"]) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("ctrl+s")  # no operator yet: refused with a sentence
        await pilot.pause()
        assert isinstance(app.screen, IntakeScreen)
        await pilot.press(*"Lea", "ctrl+s")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert app.operator == "Lea" and seen[0].operator == "Lea"
        await pilot.press("f4")
        await pilot.pause()
        assert app.screen.query_one("#operator").value == "Lea"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, IntakeScreen) and len(seen) == 1


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_intake_snapshot(snap_compare: Any, tmp_path: Path, lang: str, size: str) -> None:
    set_language(lang)
    app = ArdoiseApp(make_survey(tmp_path), launch_jobs=False)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=fill)
