"""Link state for the dashboard: which network interfaces have a carrier (from sysfs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from appliance.i18n import _

SYS_NET = Path("/sys/class/net")
VIRTUAL_PREFIXES = ("lo", "docker", "veth", "br-", "virbr", "tun", "tap", "wg", "ifb")


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # wired | wireless
    up: bool


@dataclass(frozen=True)
class NetworkState:
    links: tuple[Link, ...] = field(default_factory=tuple)

    @property
    def online(self) -> bool:
        return any(link.up for link in self.links)

    def describe(self) -> str:
        if not self.links:
            return _("no network interface")
        up = [link.name for link in self.links if link.up]
        if not up:
            return _("no network link (certificates stay on the stick)")
        return _("link up: {names}").format(names=", ".join(up))


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def read_state(root: Path = SYS_NET) -> NetworkState:
    links: list[Link] = []
    if root.is_dir():
        for iface in sorted(root.iterdir()):
            if iface.name.startswith(VIRTUAL_PREFIXES) or not (iface / "device").exists():
                continue  # virtual interfaces (bridges, ifb, veth...) have no device
            kind = "wireless" if (iface / "wireless").exists() or (iface / "phy80211").exists() else "wired"
            up = _read(iface / "operstate") == "up" or (
                _read(iface / "operstate") == "unknown" and _read(iface / "carrier") == "1")
            links.append(Link(iface.name, kind, up))
    return NetworkState(tuple(links))
