"""Battery refusal and link state from sysfs trees (kernel ABI: sysfs-class-power/-net)."""

from __future__ import annotations

from pathlib import Path

from appliance.battery import read_state
from appliance.network import read_state as read_network
from tests.conftest import FIXTURES

POWER = FIXTURES / "power_supply"


def test_low_battery_without_ac_is_refused() -> None:
    state = read_state(POWER / "low-battery")
    assert state.present and state.percent == 12 and not state.on_ac
    reason = state.refusal(30)
    assert reason is not None and "12%" in reason and "30%" in reason
    assert state.refusal(10) is None  # above the configured threshold


def test_charging_or_no_battery_is_fine() -> None:
    assert read_state(POWER / "charging").on_ac
    assert read_state(POWER / "charging").refusal(99) is None
    desktop = read_state(POWER / "ac-only")
    assert not desktop.present and desktop.refusal(100) is None
    assert read_state(Path("/nonexistent")).refusal(100) is None


def test_network_links(tmp_path: Path) -> None:
    for name, oper, wireless in (("enp1s0", "up", False), ("wlp2s0", "down", True),
                                 ("lo", "unknown", False), ("ifb0", "down", False)):
        iface = tmp_path / name
        iface.mkdir()
        (iface / "operstate").write_text(oper + "\n")
        if name not in ("lo", "ifb0"):
            (iface / "device").mkdir()
        if wireless:
            (iface / "wireless").mkdir()
    state = read_network(tmp_path)
    assert [(link.name, link.kind, link.up) for link in state.links] == [
        ("enp1s0", "wired", True), ("wlp2s0", "wireless", False)]
    assert state.online and "enp1s0" in state.describe()
