"""The dashboard's network line once the configured Wi-Fi is joined in the background
(appliance.wifi through nmcli, replayed from tests/fixtures/nmcli), and the passphrase
nowhere on the screen."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from appliance import network, wifi
from appliance.config import WifiNetwork
from tests.conftest import FakeRunner
from tests.tui.conftest import GOOD_CONFIG, make_survey
from tests.tui.test_flow import screen_text, text_of
from tests.unit.test_wifi import PSK, UP_FAILED, script
from tui.app import ArdoiseApp
from tui.dashboard import DashboardScreen
from tui.network import NetworkScreen

pytestmark = pytest.mark.asyncio


async def test_the_dashboard_shows_the_joined_wifi_and_never_the_passphrase(
        tmp_path: Path, fake_runner: FakeRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    text = GOOD_CONFIG + (f"wifi:\n  - ssid: atelier\n    psk: {PSK}\n"
                          f"  - ssid: con-vpn-1\n    psk: {PSK}\n    hidden: true\n")
    survey = make_survey(tmp_path, text)
    first, second = survey.config.wifi
    secrets = tmp_path / "run"
    monkeypatch.setattr(wifi, "SECRETS_DIR", secrets)  # not this machine's /run
    script(fake_runner, first, secrets, code=4, err=UP_FAILED)
    script(fake_runner, second, secrets)
    fake_runner.add(["nmcli", "--terse", "device", "status"],
                    fixture="nmcli/dev-status-terse.txt")
    fake_runner.add(["nmcli", "--terse", "device", "show", "wlan0"],
                    fixture="nmcli/dev-show-wlan0-terse.txt")
    monkeypatch.setattr(network.shutil, "which", lambda name: f"/usr/bin/{name}")
    app = ArdoiseApp(survey, launch_jobs=True, auto_countdown=False)
    async with app.run_test(size=(170, 48)) as pilot:
        assert isinstance(app.screen, DashboardScreen)
        joiner = wifi.current()
        assert joiner is not None and joiner.thread is not None
        await asyncio.to_thread(joiner.thread.join, 60)
        assert [r.outcome for r in joiner.results()] == ["wrong-secret", "connected"]
        await asyncio.to_thread(app.screen.refresh_network)  # what the 5 s timer does
        await pilot.pause()
        facts = text_of(app, "#facts")
        assert "Network: Wi-Fi con-vpn-1 (wlan0), 192.168.228.18/32" in facts
        assert PSK not in screen_text(app) and PSK not in app.export_screenshot()
    assert secrets.is_dir() and list(secrets.iterdir()) == []  # the passwd-file is gone


async def test_the_network_screen_scans_joins_with_a_masked_passphrase_and_retries(
        tmp_path: Path, fake_runner: FakeRunner, monkeypatch: pytest.MonkeyPatch,
        app_for: Any) -> None:
    secrets = tmp_path / "run"
    monkeypatch.setattr(wifi, "SECRETS_DIR", secrets)
    monkeypatch.setattr(network.shutil, "which", lambda name: f"/usr/bin/{name}")
    fake_runner.add(wifi.SCAN_ARGV, fixture="nmcli/wifi-list-common-terse.txt")
    fake_runner.add(["nmcli", "--terse", "device", "status"],
                    fixture="nmcli/dev-status-terse.txt")
    fake_runner.add(["nmcli", "--terse", "device", "show", "wlan0"],
                    fixture="nmcli/dev-show-wlan0-terse.txt")
    chosen = WifiNetwork(ssid="wlan0-ap-2", psk=PSK)  # the strongest, listed first
    wrong = "not-the-passphrase"
    seen: list[str] = []
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, NetworkScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "wlan0-ap-2  signal 92%  WPA1 WPA2" in text and "wlan1-ap-4" in text
        await pilot.press("enter")  # the highlighted network: asks for its passphrase
        assert app.screen.query_one("#passphrase", Input).has_focus
        script(fake_runner, WifiNetwork(ssid="wlan0-ap-2", psk=wrong), secrets, code=4,
               err=UP_FAILED, seen=seen)
        await pilot.press(*wrong, "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "wlan0-ap-2: wrong passphrase" in text_of(app, "#outcome")
        assert seen == [f"802-11-wireless-security.psk:{wrong}\n"]
        script(fake_runner, chosen, secrets, seen=seen)
        await pilot.press("enter")
        await pilot.press(*PSK)
        assert PSK not in screen_text(app)  # typed masked
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "wlan0-ap-2: connected." in text_of(app, "#outcome")
        assert "Now: Wi-Fi con-vpn-1 (wlan0), 192.168.228.18/32" in text_of(app, "#now")
        assert PSK not in screen_text(app) and wrong not in screen_text(app)
        await pilot.press("r")  # the config lists no Wi-Fi network
        assert "lists no Wi-Fi network" in text_of(app, "#outcome")
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        assert "Wi-Fi con-vpn-1 (wlan0)" in text_of(app, "#facts")
    assert list(secrets.iterdir()) == []
