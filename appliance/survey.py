"""Everything a front end shows before anything is touched: the dashboard's model.

Config (or the reason it is unusable), host facts, every disk with its plan or the reason
it is excluded, battery, network and ledger state. Reading it never writes to a disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from appliance.battery import POWER_SUPPLY, BatteryState
from appliance.battery import read_state as read_battery
from appliance.config import Config, ConfigError, load_from, locate
from appliance.jobs import Target, collect_host, discover_targets, recover_unfinished
from appliance.network import NetworkState
from appliance.network import read_state as read_network
from appliance.preflight import Preflight
from appliance.preflight import check as check_preflight
from erasure.hidden import HiddenDrives, find_hidden

log = logging.getLogger(__name__)


@dataclass
class Survey:
    config: Config
    data_dir: Path
    host: Any = None  # appliance.inventory.Host
    targets: list[Target] = field(default_factory=list)
    battery: BatteryState = field(default_factory=lambda: BatteryState(present=False))
    network: NetworkState = field(default_factory=NetworkState)
    config_error: ConfigError | None = None
    devices: list[str] | None = None  # only these disks (tests, `ardoise run --device`)
    power_supply: Path = POWER_SUPPLY
    recovered: list[str] = field(default_factory=list)  # INCOMPLETE certificates issued now
    hidden: list[HiddenDrives] = field(default_factory=list)  # drives the firmware hides
    preflight: Preflight | None = None  # image and ledger, checked before any confirmation

    @property
    def selected(self) -> list[Target]:
        return [t for t in self.targets if t.selected]

    @property
    def battery_refusal(self) -> str | None:
        return self.battery.refusal(self.config.battery.min_percent)

    def refresh_power(self) -> Survey:
        return replace(self, battery=read_battery(self.power_supply), network=read_network())


def take(config_location: str | None, data_dir: Path, devices: list[str] | None = None) -> Survey:
    """Load the config; if it is good, look at the machine and its disks."""
    try:
        config = load_from(config_location)
    except ConfigError as exc:
        return Survey(Config(), data_dir, config_error=exc, battery=read_battery(),
                      network=read_network())
    data = config.data or data_dir
    recovered: list[str] = []
    try:  # jobs a power cut interrupted: reported INCOMPLETE, their disks offered again
        recovered = recover_unfinished(data, config)
    except Exception as exc:  # no data partition yet: the run will say so
        log.warning("interrupted jobs not checked: %s", exc)
    targets = discover_targets(config, devices)
    network = read_network()
    return Survey(config, data, host=collect_host(), targets=targets, battery=read_battery(),
                  network=network, devices=devices, recovered=recovered,
                  hidden=find_hidden(),
                  preflight=check_preflight(config, data, [t for t in targets if t.selected],
                                            link_up=lambda: network.online))


def locate_config(explicit: Path | None, data_dir: Path) -> str | None:
    from appliance.cli import kernel_cmdline_value

    return locate(explicit, data_dir, kernel_cmdline_value("ardoise.config"))
