"""Audit mode: the disk read end to end, then PASS or FAIL in plain words (FR and EN)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import Static

from appliance import audit
from appliance.i18n import set_language
from erasure.disk import Disk
from tui.audit import AuditApp, AuditScreen

pytestmark = pytest.mark.asyncio
FIXTURES = Path(__file__).parent.parent / "fixtures" / "audit"
MiB = 1 << 20


def _plan(tmp_path: Path, planted: bool) -> audit.Plan:
    path = tmp_path / "disk.img"
    with open(path, "wb") as fh:
        fh.truncate(16 * MiB)
        if planted:
            fh.seek(9 * MiB)
            fh.write((FIXTURES / "jpeg-jfif.bin").read_bytes())
    disk = Disk(path=str(path), id="file-disk", model="FILE", serial="F1",
                size_bytes=16 * MiB, logical_block_size=512, transport="loop")
    return audit.prepare(disk)


async def _finish(app: AuditApp, pilot: object) -> AuditScreen:
    screen = app.screen
    assert isinstance(screen, AuditScreen)
    for _ in range(200):
        if screen.record is not None:
            break
        await asyncio.sleep(0.05)
    await pilot.pause()  # type: ignore[attr-defined]
    return screen


def _text(screen: AuditScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_a_clean_disk_passes_and_leaves_a_record(tmp_path: Path) -> None:
    app = AuditApp(_plan(tmp_path, False), tmp_path / "data", "B. Gagnon")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _finish(app, pilot)
        assert _text(screen, "#word") == "PASS"
        assert "This disk may leave" in _text(screen, "#verdict")
        assert "no pattern to compare" in _text(screen, "#verdict")
        await pilot.press("q")
    assert app.return_code == 0 and app.return_value == 0
    (record,) = (tmp_path / "data" / "validations" / "pending").glob("*.json")
    doc = json.loads(record.read_text())
    assert doc["result"] == "pass" and doc["validator"]["operator"] == "B. Gagnon"


async def test_a_planted_jpeg_fails_with_its_offset_in_french(tmp_path: Path) -> None:
    set_language("fr")
    app = AuditApp(_plan(tmp_path, True), tmp_path / "data")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _finish(app, pilot)
        assert _text(screen, "#word") == "ÉCHEC"
        assert f"position {9 * MiB}" in _text(screen, "#findings")
        assert "mettez-le de côté" in _text(screen, "#verdict")
        await pilot.press("f2")
        await pilot.pause()
        assert _text(app.screen, "#word") == "FAIL"
        await pilot.press("q")
    assert app.return_code == 1 and app.return_value == 1
