"""The progress screen while the drives erase themselves (firmware erase).

Disks from captured probes: QEMU 7.2's NVMe (Format NVM: no progress, no estimate) and an
Intel SATA SSD (sanitize: the drive reports its progress; security erase: a time
estimate). Events are the ones appliance.jobs posts for such waits; the screen's clock
is frozen so the running elapsed time and the moving block are still pictures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import RichLog, Static

from appliance import jobs
from appliance.survey import Survey
from tests.tui.conftest import GOOD_CONFIG, SIZES, make_survey
from tests.unit.test_methods_ata import INTEL, sata
from tests.unit.test_methods_nvme import qemu_nvme
from tui.app import ArdoiseApp
from tui.progress import ProgressScreen
from tui.widgets.bar import AsciiBar

T0 = 5000.0  # the frozen screen clock


def firmware_survey(tmp_path: Path) -> Survey:
    return make_survey(tmp_path, GOOD_CONFIG.replace("level: clear", "level: purge"),
                       disks=[qemu_nvme(), sata(INTEL)])


def drives_at_work(screen: ProgressScreen, sata_basis: str = "drive") -> None:
    """What the jobs post: both disks erasing, the drives working on their own."""
    assert screen.run is not None
    nvme, ssd = (job.job_id for job in screen.run.jobs)
    for step in ("discovered", "planned", "erasing"):
        for job_id in (nvme, ssd):
            screen.sink(jobs.StepStarted(job_id, step))
    screen.sink(jobs.LogLine(nvme, "nvme-format-user: waiting for the drive"))
    screen.sink(jobs.StepProgress(nvme, "erasing", 0, 268435456, elapsed_seconds=125.0,
                                  basis="none"))
    size = 480103981056
    screen.sink(jobs.StepProgress(ssd, "erasing", size * 3 // 8, size, eta_seconds=1500.0,
                                  elapsed_seconds=900.0, basis=sata_basis))


async def to_progress(pilot: Pilot[Any], sata_basis: str = "drive") -> ProgressScreen:
    await pilot.press("enter", *"ERASE 2", "enter")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ProgressScreen)
    screen.clock = lambda: T0  # type: ignore[method-assign]
    drives_at_work(screen, sata_basis)
    screen.apply_progress()  # before the StepStarted messages are handled: kept, not lost
    await pilot.pause()
    screen.apply_progress()  # what the redraw timer does
    await pilot.pause()
    return screen


def panel_texts(screen: ProgressScreen) -> list[tuple[str, str]]:
    out = []
    for index in range(len(screen.panels)):
        box = screen.query_one(f"#panel-{index}")
        step = str(box.query_one(".step", Static).render())
        bar = str(box.query_one(AsciiBar).render())
        out.append((step, bar))
    return out


@pytest.mark.asyncio
@pytest.mark.parametrize("basis", ["drive", "estimate"])
async def test_waiting_for_the_drive_with_elapsed_time_and_a_moving_bar(
        app_for: Callable[..., ArdoiseApp], tmp_path: Path, basis: str) -> None:
    app = app_for(firmware_survey(tmp_path))
    async with app.run_test(size=SIZES["console"]) as pilot:
        screen = await to_progress(pilot, basis)
        (nvme_step, nvme_bar), (ssd_step, ssd_bar) = panel_texts(screen)
        assert nvme_step == "erasing - waiting for the drive - 02:05 elapsed"
        assert "====" in nvme_bar and nvme_bar.endswith("--")  # no fraction to show
        assert ssd_step == "erasing - waiting for the drive - 15:00 elapsed, about 25:00 left"
        assert ssd_bar.endswith(" 38%") and "#" in ssd_bar
        # between two reports the clock goes on, and the block moves with it
        screen.clock = lambda: T0 + 3  # type: ignore[method-assign]
        screen.apply_progress()
        await pilot.pause()
        (nvme_later, nvme_bar_later), (ssd_later, _) = panel_texts(screen)
        assert "02:08 elapsed" in nvme_later and "15:03 elapsed" in ssd_later
        assert nvme_bar_later != nvme_bar and len(nvme_bar_later) == len(nvme_bar)
        log = "\n".join(str(line.text) for line in screen.query_one(RichLog).lines)
        assert "/dev/nvme0n1: nvme-format-user: waiting for the drive" in log


@pytest.mark.asyncio
async def test_progress_of_the_next_step_waits_for_its_start(
        app_for: Callable[..., ArdoiseApp], tmp_path: Path) -> None:
    """Progress of a new step posted before its StepStarted is handled is applied once it
    is; progress of a step already left is dropped."""
    app = app_for(firmware_survey(tmp_path))
    async with app.run_test(size=SIZES["console"]) as pilot:
        screen = await to_progress(pilot)
        assert screen.run is not None
        nvme = screen.run.jobs[0].job_id
        panel = screen.panels[nvme]
        screen.sink(jobs.StepStarted(nvme, "verifying"))
        screen.sink(jobs.StepProgress(nvme, "erasing", 0, 10, elapsed_seconds=130.0,
                                      basis="none"))  # stale: dropped
        screen.sink(jobs.StepProgress(nvme, "verifying", 4, 10, 1e6, 6.0))
        screen.apply_progress()
        assert panel.step == "erasing" and panel.fraction == 0.0  # message not handled yet
        await pilot.pause()
        screen.apply_progress()
        assert panel.step == "verifying" and panel.fraction == 0.4 and not panel.waiting
        step, bar = panel_texts(screen)[0]
        assert step.startswith("checking the erasure") and bar.endswith(" 40%")


@pytest.mark.parametrize("size", list(SIZES))
def test_snapshot_firmware_wait(snap_compare: Any, tmp_path: Path, size: str) -> None:
    app = ArdoiseApp(firmware_survey(tmp_path), launch_jobs=False)

    async def before(pilot: Pilot[Any]) -> None:
        await to_progress(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)
