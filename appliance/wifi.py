"""Join the Wi-Fi networks of `ardoise.yaml` (`wifi:`) through NetworkManager's nmcli.

One profile per network, named by its SSID, tried in the order the config lists them until
one connects:

    nmcli connection delete id SSID                      (an older profile of that name)
    nmcli connection add type wifi con-name SSID ifname * ssid SSID connection.autoconnect no
          [802-11-wireless.hidden yes] wifi-sec.key-mgmt wpa-psk|sae wifi-sec.psk-flags 2
          | wifi-sec.key-mgmt wpa-eap 802-1x.eap peap|ttls 802-1x.phase2-auth mschapv2
            802-1x.identity ID 802-1x.ca-cert /stick/ca.pem 802-1x.password-flags 2
    nmcli --wait 90 connection up id SSID passwd-file /run/ardoise-wifi/SSID-HASH.secrets

The secrets never appear in argv: the profile marks them "not saved" (flags 2, so
NetworkManager writes no secret under /etc/NetworkManager/system-connections), and nmcli's
own secret agent reads them at activation from a passwd-file (nmcli(1), `connection up ...
passwd-file`: `802-11-wireless-security.psk:...`, `802-1x.password:...`). That file lives
in /run (tmpfs, mode 0600 in a 0700 folder) only while `connection up` runs, and is removed
in every case. Exit codes and texts are nmcli's (src/nmcli/nmcli.h NMCResultCode,
connections.c check_activated, libnmc-base/nm-client-utils.c device state reasons).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from appliance.config import WifiNetwork
from appliance.i18n import N_
from erasure import runner

log = logging.getLogger(__name__)

SECRETS_DIR = Path("/run/ardoise-wifi")
# nmcli --wait for one activation: its own default. A wrong passphrase is only reported once
# NetworkManager gave up asking for it (connection.auth-retries, 3 by default; then
# NO_SECRETS, nm-device-wifi.c supplicant_connection_timeout_cb / handle_auth_or_fail)
WAIT_SECONDS = 90

# nmcli exit codes (src/nmcli/nmcli.h)
NMC_TIMEOUT, NMC_ACTIVATION, NMC_NOT_RUNNING, NMC_NOT_FOUND = 3, 4, 8, 10
# device state reasons that mean the network refused the passphrase or the credentials
# (libnmc-base/nm-client-utils.c: NO_SECRETS, SUPPLICANT_FAILED, SUPPLICANT_TIMEOUT)
WRONG_SECRET_REASONS = ("Secrets were required, but not provided", "802.1X supplicant failed",
                        "802.1X supplicant took too long to authenticate")

OUTCOMES = {  # stable code → what a person reads (translated where shown)
    "connected": N_("connected"),
    "wrong-secret": N_("the network refused the passphrase or the credentials"),
    "not-found": N_("the network was not found (out of range, or a hidden SSID without "
                    "hidden: true)"),
    "timeout": N_("no connection in time"),
    "failed": N_("the connection failed"),
    "no-networkmanager": N_("NetworkManager is not running"),
    "no-nmcli": N_("nmcli is not installed"),
}


@dataclass(frozen=True)
class JoinResult:
    ssid: str
    index: int  # position in the config's wifi list
    outcome: str  # a key of OUTCOMES
    detail: str = ""  # nmcli's own reason (English, for the log), never a secret

    @property
    def ok(self) -> bool:
        return self.outcome == "connected"


def add_argv(net: WifiNetwork) -> list[str]:
    argv = ["nmcli", "connection", "add", "type", "wifi", "con-name", net.ssid,
            "ifname", "*", "ssid", net.ssid, "connection.autoconnect", "no"]
    if net.hidden:
        argv += ["802-11-wireless.hidden", "yes"]
    if net.enterprise:
        assert net.eap and net.identity and net.ca_cert  # config.py checked them
        argv += ["wifi-sec.key-mgmt", "wpa-eap", "802-1x.eap", net.eap,
                 "802-1x.phase2-auth", net.phase2, "802-1x.identity", net.identity,
                 "802-1x.ca-cert", str(net.ca_cert.resolve()), "802-1x.password-flags", "2"]
    elif net.psk is not None:
        argv += ["wifi-sec.key-mgmt", "sae" if net.wpa3 else "wpa-psk",
                 "wifi-sec.psk-flags", "2"]
    return argv


def secret_lines(net: WifiNetwork) -> list[str]:
    """The passwd-file lines (nmcli(1) `passwd-file`)."""
    if net.enterprise and net.password is not None:
        return [f"802-1x.password:{net.password}"]
    if net.psk is not None:
        return [f"802-11-wireless-security.psk:{net.psk}"]
    return []


def secrets_path(net: WifiNetwork, secrets_dir: Path) -> Path:
    """Named by a hash of the SSID: any SSID is a safe file name."""
    return secrets_dir / (hashlib.sha256(net.ssid.encode()).hexdigest()[:16] + ".secrets")


def up_argv(net: WifiNetwork, secrets: Path | None) -> list[str]:
    argv = ["nmcli", "--wait", str(WAIT_SECONDS), "connection", "up", "id", net.ssid]
    return argv + (["passwd-file", str(secrets)] if secrets is not None else [])


def classify(result: runner.Result) -> tuple[str, str]:
    """nmcli's exit code and message → (outcome, its reason in one line)."""
    text = (result.stderr or result.stdout).strip()
    first = text.splitlines()[0] if text else ""
    reason = first.removeprefix("Error: ").removeprefix("Connection activation failed: ")
    if result.returncode == 0:
        return "connected", ""
    if result.returncode == NMC_ACTIVATION and any(r in first for r in WRONG_SECRET_REASONS):
        return "wrong-secret", reason
    if result.returncode == NMC_ACTIVATION and "could not be found" in first:
        return "not-found", reason
    codes = {NMC_TIMEOUT: "timeout", NMC_NOT_RUNNING: "no-networkmanager",
             NMC_NOT_FOUND: "not-found"}
    return codes.get(result.returncode, "failed"), reason


def _write_secrets(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def join(net: WifiNetwork, index: int = 0, secrets_dir: Path | None = None) -> JoinResult:
    """Make the profile and activate it. Never raises for nmcli's failures."""
    secrets_dir = secrets_dir or SECRETS_DIR
    try:
        runner.run(["nmcli", "connection", "delete", "id", net.ssid], timeout=20, check=False)
        added = runner.run(add_argv(net), timeout=20, check=False)
        if added.returncode != 0:
            outcome, reason = classify(added)
            return _logged(JoinResult(net.ssid, index, outcome, reason))
        lines = secret_lines(net)
        path = secrets_path(net, secrets_dir) if lines else None
        try:
            if path is not None:
                _write_secrets(path, lines)
            up = runner.run(up_argv(net, path), timeout=WAIT_SECONDS + 15, check=False)
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
    except runner.CommandNotFound:
        return _logged(JoinResult(net.ssid, index, "no-nmcli"))
    except runner.CommandTimeout:
        return _logged(JoinResult(net.ssid, index, "timeout"))
    except OSError as exc:  # the passwd-file could not be written (/run full or read-only)
        return _logged(JoinResult(net.ssid, index, "failed", exc.strerror or type(exc).__name__))
    outcome, reason = classify(up)
    return _logged(JoinResult(net.ssid, index, outcome, reason))


def _logged(result: JoinResult) -> JoinResult:
    log.info("wifi %r (wifi[%d]): %s%s", result.ssid, result.index, result.outcome,
             f" ({result.detail})" if result.detail else "")
    return result


class Joiner:
    """The configured networks, tried in order in the background; the last results are
    kept for the dashboard (appliance.network)."""

    def __init__(self, networks: Sequence[WifiNetwork], secrets_dir: Path | None = None):
        self.networks = tuple(networks)
        self.secrets_dir = secrets_dir or SECRETS_DIR
        self._lock = threading.Lock()
        self._results: list[JoinResult] = []
        self.running = False
        self.thread: threading.Thread | None = None

    def run(self) -> list[JoinResult]:
        with self._lock:
            self._results, self.running = [], True
        try:
            for i, net in enumerate(self.networks):
                result = join(net, i, self.secrets_dir)
                with self._lock:
                    self._results.append(result)
                if result.ok or result.outcome in ("no-nmcli", "no-networkmanager"):
                    break
        finally:
            with self._lock:
                self.running = False
        return self.results()

    def start(self, then: object = None) -> threading.Thread:
        def work() -> None:
            self.run()
            if callable(then):
                then()
        self.thread = threading.Thread(target=work, name="ardoise-wifi", daemon=True)
        self.thread.start()
        return self.thread

    def results(self) -> list[JoinResult]:
        with self._lock:
            return list(self._results)


_current: Joiner | None = None


def remove_secrets(secrets_dir: Path | None = None) -> None:
    """Remove every passwd-file left behind: the process may end (its daemon thread cut
    short) while `connection up` is still waiting."""
    for path in (secrets_dir or SECRETS_DIR).glob("*.secrets"):
        path.unlink(missing_ok=True)


def start_configured(networks: Sequence[WifiNetwork], then: object = None) -> Joiner | None:
    """Join at start-up without blocking anything; `then` runs after (e.g. uplink.wake)."""
    global _current
    if not networks:
        return None
    _current = Joiner(networks)
    atexit.register(remove_secrets, _current.secrets_dir)
    _current.start(then)
    return _current


def current() -> Joiner | None:
    return _current


# --- the TUI's network screen: what is in range, forget a network ---------------------------

SCAN_ARGV = ["nmcli", "--terse", "-f", "COMMON", "device", "wifi", "list", "--rescan", "auto"]


@dataclass(frozen=True)
class Seen:
    """An access point in range (`nmcli --terse -f COMMON device wifi list`)."""

    ssid: str
    signal: int  # percent
    security: str  # "" for an open network, else e.g. "WPA2", "WPA1 WPA2", "WPA3"
    in_use: bool

    @property
    def open(self) -> bool:
        return not self.security or self.security == "--"


def parse_scan(stdout: str) -> list[Seen]:
    """One entry per SSID (its strongest access point), strongest first. The COMMON fields
    are IN-USE,BSSID,SSID,...,SIGNAL,BARS,SECURITY (devices.c; newer versions insert BAND
    in the middle), so the ends are read by position from each side."""
    from appliance.network import split_terse

    best: dict[str, Seen] = {}
    for line in stdout.splitlines():
        fields = split_terse(line)
        if len(fields) < 8 or not fields[2] or not fields[-3].isdigit():
            continue  # a blank line between devices, or a hidden network (no SSID)
        seen = Seen(fields[2], int(fields[-3]), fields[-1].strip(), fields[0].strip() == "*")
        old = best.get(seen.ssid)
        if old is None or seen.signal > old.signal or seen.in_use:
            best[seen.ssid] = Seen(seen.ssid, max(seen.signal, old.signal if old else 0),
                                   seen.security, seen.in_use or bool(old and old.in_use))
    return sorted(best.values(), key=lambda s: (-s.signal, s.ssid))


def scan(timeout: float = 30.0) -> list[Seen]:
    """What is in range now; [] when nmcli cannot say (no Wi-Fi, NetworkManager down)."""
    try:
        result = runner.run(SCAN_ARGV, timeout=timeout, check=False)
    except (runner.CommandNotFound, runner.CommandTimeout):
        return []
    return parse_scan(result.stdout) if result.returncode == 0 else []


def forget(ssid: str) -> bool:
    """Remove the profile (and so its settings) of a network; True if there was one."""
    try:
        result = runner.run(["nmcli", "connection", "delete", "id", ssid], timeout=20,
                            check=False)
    except (runner.CommandNotFound, runner.CommandTimeout):
        return False
    return result.returncode == 0
