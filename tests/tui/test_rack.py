"""Rack mode in the TUI, against the REAL ledger (`ardoise-ledger serve --netboot`) on
127.0.0.1: a netbooted machine's dashboard shows rack mode, the site, the ledger, its
enrollment and the last heartbeat the ledger took; a refused enrollment and a config with a
bad signature stop on a screen with the reason, and the ledger's log has it too.

No disk is touched: the disks are the captured ones of tests/tui/conftest.py and the
countdown is held; rack mode erases nothing before enrollment anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import config, jobs, survey
from appliance.unattended import RACK_PENDING
from tests.integration.test_rack_ledger import Site, open_site
from tests.tui.conftest import load_disks, make_survey
from tests.tui.test_flow import screen_text, text_of
from tests.tui.test_snapshots_rack import BAD_SIGNATURE, REFUSED_ENROLLMENT
from tui.app import ArdoiseApp
from tui.dashboard import DashboardScreen
from tui.error import RackRefusedScreen

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with open_site("ardtui-") as opened:
        yield opened


@pytest.fixture
def netbooted(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """This process stands for a netbooted machine: the image's site keys, no stick."""
    monkeypatch.setenv("ARDOISE_SITE_KEYS", str(site.keys))
    return site


def rack_text(site: Site, token: str) -> str:
    # no unattended section: the machine waits for a person even once enrolled
    return site.rack_yaml("tui-rack", token).replace(
        "unattended:\n  enabled: true\n  countdown_seconds: 0\n  after: stay\n", "")


def rack_survey(tmp_path: Path, url: str) -> survey.Survey:
    """What survey.take makes of the served config, with the captured host and disks."""
    monkeyed = make_survey(tmp_path)
    cfg = config.load_from(url)  # fetched and checked against the site key, for real
    return survey.Survey(cfg, tmp_path / "ram", host=monkeyed.host,
                         targets=jobs.plan_targets(load_disks(), cfg),
                         battery=monkeyed.battery, network=monkeyed.network,
                         power_supply=monkeyed.power_supply)


async def settle(app: ArdoiseApp, pilot: object, seconds: float = 30.0) -> None:
    """Wait until the rack link has enrolled or been refused (it runs in a thread)."""
    for _ in range(int(seconds * 10)):
        status = app.rack_status
        if status is not None and status.enrollment != RACK_PENDING:
            await pilot.pause()  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the rack link neither enrolled nor was refused")


async def test_enrolled_machine_shows_rack_mode_and_heartbeats(netbooted: Site,
                                                               tmp_path: Path) -> None:
    site = netbooted
    url = site.publish("tui-ok.yaml", rack_text(site, site.ledger.token()))
    app = ArdoiseApp(rack_survey(tmp_path, url), auto_countdown=False)
    async with app.run_test(size=(80, 25)) as pilot:
        assert isinstance(app.screen, DashboardScreen)
        await settle(app, pilot)
        assert app.rack_status is not None and app.rack_status.enrolled, app.rack_status
        assert app.rack_status.last_delivery is not None  # the first heartbeat was taken
        rack = text_of(app, "#rack")
        assert "RACK MODE" in rack
        assert "Site: OPEQ - Montréal rack A" in rack
        assert f"Ledger: {site.ledger.url}" in rack
        assert "Enrollment: enrolled (appliance key " in rack
        assert "Last heartbeat: delivered at " in rack
        assert "2 disks will be erased" in text_of(app, "#verdict")
        assert "Enter" in screen_text(app)
        key_id = app.rack_status.key_id
    # the ledger's rack view has the machine, by its heartbeat
    rows = site.ledger.rack("tui-rack")
    assert any(row.get("key_id") == key_id or key_id[:16] in str(row) for row in rows), rows
    assert any(line.get("msg") == "enrolled" and line.get("key_id") == key_id
               for line in site.ledger.log_lines())


async def test_refused_enrollment_stops_with_the_reason(netbooted: Site, tmp_path: Path) -> None:
    site = netbooted
    url = site.publish("tui-badtoken.yaml", rack_text(site, "arde_not-a-token"))
    app = ArdoiseApp(rack_survey(tmp_path, url), auto_countdown=False)
    async with app.run_test(size=(80, 25)) as pilot:
        await settle(app, pilot)
        await pilot.pause()
        assert isinstance(app.screen, RackRefusedScreen)
        assert text_of(app, "#reason") == "Reason: " + REFUSED_ENROLLMENT  # as in the snapshot
        assert "Nothing was touched" in screen_text(app)
        await pilot.press("enter")  # no key erases anything from here
        assert isinstance(app.screen, RackRefusedScreen)
    log = site.ledger.log_lines()
    assert any(line.get("msg") == "enrollment refused" for line in log)
    assert any(line.get("msg") == "machine refused to work"
               and line.get("code") == "enrollment_refused" for line in log), log[-5:]


async def test_config_with_a_bad_signature_stops_with_the_reason(
        netbooted: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = netbooted
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    url = site.publish("tui-forged.yaml", rack_text(site, site.ledger.token()),
                       signer=Ed25519PrivateKey.generate())
    monkeypatch.setenv("ARDOISE_CMDLINE", f"boot=live ardoise.config={url}")
    taken = survey.take(url, tmp_path / "ram")
    assert taken.config_error is not None
    app = ArdoiseApp(taken, auto_countdown=False)
    async with app.run_test(size=(80, 25)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RackRefusedScreen)
        assert text_of(app, "#reason") == "Reason: " + BAD_SIGNATURE  # as in the snapshot
        assert "The ledger's log has the reason too." in text_of(app, "#reported")
        assert app.rack is None  # no key was made, no enrollment tried
    assert not (tmp_path / "ram" / "keys").exists()
    log = site.ledger.log_lines()
    assert any(line.get("msg") == "machine refused to work" and line.get("code") == "bad_config"
               and BAD_SIGNATURE in str(line.get("reason")) for line in log), log[-5:]

