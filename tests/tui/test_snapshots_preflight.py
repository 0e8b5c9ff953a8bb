"""Snapshots, English and French, at the Linux console size (80x25) and a laptop console
(170x48): the dashboard with a preflight problem (a required image that is missing, no
network) and the results screen with a certificate the ledger rejected (tests/tui/
preflight_cases.py says where each fact comes from).
Update after a deliberate change with: pytest tests/tui --snapshot-update (then LOOK).
Pictures for docs/: python -m tests.tui.test_snapshots_preflight [OUT_DIR (default docs)]."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.i18n import set_language
from appliance.survey import Survey
from tests.tui.conftest import SIZES
from tests.tui.preflight_cases import clean_snapshot_data, preflight_survey, rejected_survey
from tests.tui.test_snapshots import nothing, to_results
from tests.tui.test_snapshots_fr import snapshot_png
from tui.app import ArdoiseApp

CASES: dict[str, tuple[Callable[[Path], Survey], Any]] = {
    "preflight-problem": (preflight_survey, nothing),
    "results-rejected": (rejected_survey, to_results),
}


@pytest.fixture(autouse=True)
def snapshot_data() -> Iterator[None]:
    yield
    clean_snapshot_data()


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("case", list(CASES))
def test_preflight_screen(snap_compare: Any, tmp_path: Path, case: str, size: str,
                          lang: str) -> None:
    set_language(lang)
    make, before = CASES[case]
    app = ArdoiseApp(make(tmp_path), launch_jobs=False)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


def export_pictures(out: Path) -> list[Path]:
    """docs/tui-CASE-SIZE[-fr].png from the stored snapshots."""
    snapshots = Path(__file__).parent / "__snapshots__" / "test_snapshots_preflight"
    written = []
    for case in CASES:
        for size in SIZES:
            for lang in ("en", "fr"):
                png = out / f"tui-{case}-{size}{'-fr' if lang == 'fr' else ''}.png"
                snapshot_png(snapshots / f"test_preflight_screen[{case}-{size}-{lang}].raw", png,
                             size)
                written.append(png)
    return written


if __name__ == "__main__":
    import sys

    for path in export_pictures(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
