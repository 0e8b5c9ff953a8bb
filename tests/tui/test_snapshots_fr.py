"""French snapshots: every screen of test_snapshots.py, in French, at the Linux console size
(80x25) and a laptop console (170x48). The technician types the French confirmation words.
Update after a deliberate change with: pytest tests/tui --snapshot-update (then LOOK)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from appliance.i18n import set_language
from appliance.survey import Survey
from tests.tui.conftest import SIZES
from tests.tui.test_flow import replay
from tests.tui.test_snapshots import SCREENS
from tui.app import ArdoiseApp
from tui.confirm import expected_words
from tui.progress import ProgressScreen

Before = Callable[[Pilot[Any]], Awaitable[None]]


async def to_confirm_fr(pilot: Pilot[Any]) -> None:
    await pilot.press("enter", *expected_words(1), "enter")  # "EFFACER 1": wrong count
    await pilot.press(*expected_words(2))


async def to_progress_fr(pilot: Pilot[Any]) -> None:
    await pilot.press("enter", *expected_words(2), "enter")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ProgressScreen)
    await replay(pilot.app, screen, count=21)  # mid-run: one disk verifying, one failed
    await pilot.pause()
    screen.apply_progress()  # what the redraw timer does, without waiting for it
    await pilot.pause()


def screens_fr() -> dict[str, tuple[Callable[[Path], Survey], Before]]:
    screens = dict(SCREENS)
    screens["confirm"] = (SCREENS["confirm"][0], to_confirm_fr)
    screens["progress"] = (SCREENS["progress"][0], to_progress_fr)
    return screens


SCREENS_FR = screens_fr()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("screen", list(SCREENS_FR))
def test_screen_fr(snap_compare: Any, tmp_path: Path, screen: str, size: str) -> None:
    set_language("fr")
    make, before = SCREENS_FR[screen]
    app = ArdoiseApp(make(tmp_path), launch_jobs=False)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)



# ---------------------------------------------------------------- pictures for docs/

DOCS = {"console": ["dashboard", "confirm", "countdown", "progress", "results", "bad-config",
                    "battery"],
        "laptop": ["dashboard", "progress", "results"]}
WINDOW = {"console": "1000,700", "laptop": "2100,1250"}


def export_pictures(out: Path) -> list[Path]:
    """docs/tui-SCREEN-SIZE-fr.png from the French snapshots (headless Chromium draws the SVG
    that pytest-textual-snapshot stored), the same size as the English pictures."""
    snapshots = Path(__file__).parent / "__snapshots__" / "test_snapshots_fr"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for size, screens in DOCS.items():
        for screen in screens:
            png = out / f"tui-{screen}-{size}-fr.png"
            snapshot_png(snapshots / f"test_screen_fr[{screen}-{size}].raw", png, size)
            written.append(png)
    return written


def snapshot_png(raw: Path, png: Path, size: str) -> None:
    """One stored snapshot (an SVG) drawn by headless Chromium into a PNG of the docs' size."""
    import shutil
    import subprocess
    import tempfile

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is needed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        svg = Path(tmp) / "screen.svg"
        svg.write_bytes(raw.read_bytes())
        png.unlink(missing_ok=True)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--window-size={WINDOW[size]}",
                        f"--user-data-dir={tmp}/profile", f"--screenshot={png}",
                        svg.as_uri()], check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not png.is_file():
            raise SystemExit(f"chromium wrote no {png}")


if __name__ == "__main__":
    # .venv/bin/python -m tests.tui.test_snapshots_fr [OUT_DIR (default docs)]
    import sys

    for path in export_pictures(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
