"""Snapshots of rack mode, English and French, at the Linux console size (80x25) and a laptop
console (170x48): the dashboard of an enrolled netbooted machine (site, ledger, enrollment,
last heartbeat), the dashboard while the ledger is not answering yet, a refused enrollment
and a site config with a bad signature. The reasons are the ones the ledger and
appliance.siteconfig give (tests/tui/test_rack.py checks them against the real ledger).
Update after a deliberate change with: pytest tests/tui --snapshot-update (then LOOK)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from appliance import config, jobs
from appliance.config import Config, ConfigError
from appliance.i18n import set_language
from appliance.siteconfig import SiteConfigError
from appliance.survey import Survey
from appliance.unattended import RACK_ENROLLED, RACK_REFUSED, RackStatus
from tests.tui.conftest import SIZES, load_disks, make_survey
from tests.tui.test_snapshots import nothing
from tui.app import ArdoiseApp

CONFIG_URL = "http://10.0.0.1:8000/netboot/rack.yaml"
LEDGER = "http://10.0.0.1:8000"
RACK_CONFIG = f"""\
organisation: OPEQ
location: Montréal rack A
batch: rack-2026-11
erase:
  level: clear
  verify: full
ledger:
  url: {LEDGER}
  enroll_token: arde_0123456789abcdef
  heartbeat_seconds: 5
"""
NOW = datetime(2026, 11, 25, 14, 2, 43, tzinfo=UTC)
KEY_ID = "5f0c9a3e71d24b86a1e0c4d2b7f9e813"
REFUSED_ENROLLMENT = ("the ledger refused this machine's enrollment: the enrollment token is "
                      "unknown or revoked")
BAD_SIGNATURE = ("bad signature: the config was changed or signed by a key this machine does "
                 "not trust (1 trusted site key)")
UNREACHABLE = "ledger not reachable (ConnectionError): trying again in 4 s"


def rack_survey(tmp_path: Path) -> Survey:
    base = make_survey(tmp_path)
    cfg = config.parse(RACK_CONFIG, source=CONFIG_URL)
    return Survey(cfg, tmp_path / "ram", host=base.host,
                  targets=jobs.plan_targets(load_disks(), cfg), battery=base.battery,
                  network=base.network, power_supply=base.power_supply)


def status(**changes: Any) -> RackStatus:
    s = RackStatus(site="OPEQ - Montréal rack A", config_url=CONFIG_URL, ledger=LEDGER)
    for key, value in changes.items():
        setattr(s, key, value)
    return s


def bad_signature(tmp_path: Path) -> Survey:
    """What appliance.config.fetch raises for it, after the ledger took the report."""
    refusal = SiteConfigError(BAD_SIGNATURE)
    refusal.reported = True
    error = ConfigError(CONFIG_URL, None, "", BAD_SIGNATURE)
    error.__cause__ = refusal
    return Survey(Config(), tmp_path / "ram", config_error=error)


CASES: dict[str, tuple[Callable[[Path], Survey], RackStatus | None]] = {
    "rack-enrolled": (rack_survey, status(enrollment=RACK_ENROLLED, key_id=KEY_ID,
                                          last_delivery=datetime(2026, 11, 25, 14, 2, 31,
                                                                 tzinfo=UTC))),
    "rack-waiting": (rack_survey, status(reason=UNREACHABLE)),
    "rack-refused": (rack_survey, status(enrollment=RACK_REFUSED, reason=REFUSED_ENROLLMENT)),
    "rack-bad-config": (bad_signature, None),
}


def build(tmp_path: Path, case: str) -> ArdoiseApp:
    make, rack = CASES[case]
    app = ArdoiseApp(make(tmp_path), launch_jobs=False, auto_countdown=False)
    app.now = lambda: NOW  # type: ignore[method-assign]  # a still clock: the heartbeat's age
    if rack is not None:
        app.rack_status = rack
    return app


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("case", list(CASES))
def test_rack_screen(snap_compare: Any, tmp_path: Path, case: str, size: str, lang: str) -> None:
    set_language(lang)
    assert snap_compare(build(tmp_path, case), terminal_size=SIZES[size], run_before=nothing)
