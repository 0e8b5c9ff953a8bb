"""Link state for the dashboard: which network interfaces have a carrier (from sysfs), and,
where NetworkManager runs, what is connected (wired or the Wi-Fi SSID, with its address)
and how the configured Wi-Fi networks fared (appliance.wifi)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from appliance.i18n import _, tr
from erasure import runner

SYS_NET = Path("/sys/class/net")
VIRTUAL_PREFIXES = ("lo", "docker", "veth", "br-", "virbr", "tun", "tap", "wg", "ifb")


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # wired | wireless
    up: bool


@dataclass(frozen=True)
class Connected:
    """An active NetworkManager connection (`nmcli --terse device status`)."""

    device: str
    kind: str  # wired | wireless
    name: str  # the profile: the SSID for the networks appliance.wifi joins
    address: str = ""  # first IPv4 address, CIDR


@dataclass(frozen=True)
class WifiTry:
    """How a configured network fared (appliance.wifi.JoinResult, without its secrets)."""

    ssid: str
    index: int
    outcome: str


@dataclass(frozen=True)
class NetworkState:
    links: tuple[Link, ...] = field(default_factory=tuple)
    connected: tuple[Connected, ...] = field(default_factory=tuple)
    wifi: tuple[WifiTry, ...] = field(default_factory=tuple)
    joining: bool = False  # the configured Wi-Fi networks are being tried now

    @property
    def online(self) -> bool:
        return bool(self.connected) or any(link.up for link in self.links)

    def describe(self) -> str:
        if self.connected:
            return "; ".join(_describe(c) for c in self.connected)
        if self.joining:
            return _("joining the Wi-Fi networks of the config...")
        refused = [w for w in self.wifi if w.outcome == "wrong-secret"]
        if refused:
            w = refused[0]
            return _("Wi-Fi {ssid}: wrong passphrase or credentials; correct wifi[{index}] in "
                     "ardoise.yaml, then restart (certificates stay on the stick)").format(
                ssid=w.ssid, index=w.index)
        if self.wifi:
            from appliance.wifi import OUTCOMES

            w = self.wifi[-1]
            return _("Wi-Fi {ssid}: {why}; plug in a network cable or check wifi: in "
                     "ardoise.yaml (certificates stay on the stick)").format(
                ssid=w.ssid, why=tr(OUTCOMES.get(w.outcome, OUTCOMES["failed"])))
        if not self.links:
            return _("no network interface")
        up = [link.name for link in self.links if link.up]
        if not up:
            return _("no network: plug in a network cable, or list the site's Wi-Fi under "
                     "wifi: in ardoise.yaml and restart (certificates stay on the stick)")
        return _("link up: {names}").format(names=", ".join(up))


def _describe(c: Connected) -> str:
    where = f", {c.address}" if c.address else ""
    if c.kind == "wireless":
        return _("Wi-Fi {ssid} ({device}){address}").format(ssid=c.name, device=c.device,
                                                            address=where)
    return _("wired ({device}){address}").format(device=c.device, address=where)


def split_terse(line: str) -> list[str]:
    """One line of `nmcli --terse` output: fields split on ':', '\\:' is a colon in a value."""
    fields, current, escaped = [], [], False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    fields.append("".join(current))
    return fields


def read_connected(timeout: float = 5.0) -> tuple[Connected, ...]:
    """Devices NetworkManager reports connected, with their first IPv4 address."""
    status = runner.run(["nmcli", "--terse", "device", "status"], timeout=timeout, check=False)
    if status.returncode != 0:
        return ()
    out: list[Connected] = []
    for line in status.stdout.splitlines():
        parts = split_terse(line)
        if len(parts) < 4 or parts[2] != "connected" or parts[1] not in ("wifi", "ethernet"):
            continue
        device, kind, name = parts[0], parts[1], parts[3]
        shown = runner.run(["nmcli", "--terse", "device", "show", device], timeout=timeout,
                           check=False)
        address = ""
        for row in shown.stdout.splitlines() if shown.returncode == 0 else []:
            key, _sep, value = row.partition(":")
            if key.startswith("IP4.ADDRESS"):
                address = value
                break
        out.append(Connected(device, "wireless" if kind == "wifi" else "wired", name, address))
    return tuple(out)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def read_state(root: Path = SYS_NET, nm: bool | None = None) -> NetworkState:
    """`nm`: ask NetworkManager too (default: when nmcli is installed)."""
    links: list[Link] = []
    if root.is_dir():
        for iface in sorted(root.iterdir()):
            if iface.name.startswith(VIRTUAL_PREFIXES) or not (iface / "device").exists():
                continue  # virtual interfaces (bridges, ifb, veth...) have no device
            kind = "wireless" if (iface / "wireless").exists() or (iface / "phy80211").exists() else "wired"
            up = _read(iface / "operstate") == "up" or (
                _read(iface / "operstate") == "unknown" and _read(iface / "carrier") == "1")
            links.append(Link(iface.name, kind, up))
    if nm is None:
        nm = shutil.which("nmcli") is not None
    if not nm:
        return NetworkState(tuple(links))
    from appliance import wifi

    joiner = wifi.current()
    tries = tuple(WifiTry(r.ssid, r.index, r.outcome) for r in joiner.results()) \
        if joiner is not None else ()
    try:
        connected = read_connected()
    except (runner.CommandNotFound, runner.CommandTimeout):
        connected = ()
    return NetworkState(tuple(links), connected, tries,
                        joining=joiner is not None and joiner.running)
