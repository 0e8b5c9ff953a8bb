"""Joining the configured Wi-Fi through nmcli: the argv, the passwd-file, nmcli's answers
(tests/fixtures/nmcli, from NetworkManager's own sources and test expectations), the
dashboard's network line, and secrets that never leave the stick."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from appliance import jobs, network, wifi
from appliance.config import ConfigError, parse
from appliance.i18n import set_language
from appliance.inventory import Host
from appliance.network import Connected, NetworkState, WifiTry
from erasure import runner
from erasure.plan import make_plan
from tests.conftest import FIXTURES, FakeRunner
from tests.unit.test_verdicts import file_disk

PSK = "S3cret-passphrase-42"
EAP_PASSWORD = "Corp-pa55word-77"
UP_FAILED = (FIXTURES / "nmcli/up-no-secrets.stderr.txt").read_text()
SUPPLICANT = (FIXTURES / "nmcli/up-supplicant-failed.stderr.txt").read_text()
ADDED = (FIXTURES / "nmcli/add-ok.txt").read_text()
UP_OK = (FIXTURES / "nmcli/up-ok.txt").read_text()


@pytest.fixture(autouse=True)
def _english() -> None:
    set_language("en")


def config_text(tmp_path: Path) -> str:
    (tmp_path / "corp-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return (f"wifi:\n"
            f"  - ssid: atelier\n    psk: {PSK}\n"
            f"  - ssid: cachee\n    psk: {PSK}\n    hidden: true\n    wpa3: true\n"
            f"  - ssid: corp\n    eap: peap\n    identity: ardoise@corp\n"
            f"    password: {EAP_PASSWORD}\n    ca_cert: corp-ca.pem\n"
            f"  - ssid: campus\n    eap: ttls\n    phase2: pap\n    identity: u\n"
            f"    password: {EAP_PASSWORD}\n    ca_cert: {tmp_path}/corp-ca.pem\n")


def networks(tmp_path: Path) -> tuple[wifi.WifiNetwork, ...]:
    return parse(config_text(tmp_path), base=tmp_path).wifi


def unknown(ssid: str) -> str:
    """`nmcli connection delete id X` without such a profile, exit 10 (connections.c
    do_connection_delete + nmc_find_connection's "unknown connection '%s'")."""
    return f"Error: unknown connection '{ssid}'.\nError: not all connections found.\n"


def reply(fake: FakeRunner, argv: Sequence[str], code: int = 0, out: str = "", err: str = "",
          seen: list[str] | None = None) -> None:
    """Answer argv; `seen` gets the passwd-file's text as nmcli would read it."""
    def answer(a: Sequence[str], timeout: float, input: str | None = None) -> runner.Result:
        if seen is not None and "passwd-file" in a:
            seen.append(Path(a[a.index("passwd-file") + 1]).read_text())
        return runner.Result(tuple(a), code, out, err, 0.0)
    fake.add_callable(argv, answer)


def script(fake: FakeRunner, net: wifi.WifiNetwork, secrets: Path, code: int = 0,
           err: str = "", seen: list[str] | None = None) -> None:
    reply(fake, ["nmcli", "connection", "delete", "id", net.ssid], 10, err=unknown(net.ssid))
    reply(fake, wifi.add_argv(net), out=ADDED)
    path = wifi.secrets_path(net, secrets) if wifi.secret_lines(net) else None
    reply(fake, wifi.up_argv(net, path), code, out=UP_OK if code == 0 else "", err=err,
          seen=seen)


# --- the config ---------------------------------------------------------------------------

def test_the_config_reads_personal_hidden_and_enterprise_networks(tmp_path: Path) -> None:
    atelier, cachee, corp, campus = networks(tmp_path)
    assert (atelier.psk, atelier.hidden, atelier.wpa3) == (PSK, False, False)
    assert (cachee.hidden, cachee.wpa3) == (True, True)
    assert (corp.eap, corp.phase2, corp.ca_cert) == ("peap", "mschapv2", tmp_path / "corp-ca.pem")
    assert (campus.eap, campus.phase2) == ("ttls", "pap")
    assert PSK not in repr(atelier) and EAP_PASSWORD not in repr(corp)


@pytest.mark.parametrize(("text", "line", "key", "reason"), [
    ("wifi:\n  - ssid: a\n    eap: peap\n    identity: u\n    password: p\n",
     2, "wifi[0].ca_cert", "ca_cert"),
    ("wifi:\n  - ssid: a\n    eap: peap\n    identity: u\n    password: p\n    ca_cert: no.pem\n",
     6, "wifi[0].ca_cert", "file not found"),
    ("wifi:\n  - ssid: a\n    eap: tls\n", 3, "wifi[0].eap", "peap, ttls"),
    ("wifi:\n  - ssid: a\n    psk: longenough\n    eap: peap\n", 4, "wifi[0].eap", "not psk"),
    ("wifi:\n  - ssid: a\n    psk: longenough\n    identity: u\n", 4, "wifi[0].identity",
     "only meaningful with eap"),
    ("wifi:\n  - ssid: a\n    wpa3: true\n", 3, "wifi[0].wpa3", "needs a psk"),
    ("wifi:\n  - ssid: a\n    hiden: true\n", 3, "wifi[0].hiden", "unknown key"),
    ("wifi:\n  - ssid: " + "x" * 33 + "\n", 2, "wifi[0].ssid", "32 bytes"),
])
def test_wifi_config_errors_name_line_and_key(tmp_path: Path, text: str, line: int, key: str,
                                              reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, source="ardoise.yaml", base=tmp_path)
    assert (info.value.line, info.value.key) == (line, key)
    assert reason in info.value.reason


# --- nmcli --------------------------------------------------------------------------------

def test_the_argv_per_kind_of_network_and_no_secret_in_it(tmp_path: Path) -> None:
    atelier, cachee, corp, campus = networks(tmp_path)
    assert wifi.add_argv(atelier) == [
        "nmcli", "connection", "add", "type", "wifi", "con-name", "atelier", "ifname", "*",
        "ssid", "atelier", "connection.autoconnect", "no",
        "wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk-flags", "2"]
    hidden = wifi.add_argv(cachee)
    assert hidden[hidden.index("802-11-wireless.hidden") + 1] == "yes"
    assert hidden[hidden.index("wifi-sec.key-mgmt") + 1] == "sae"
    peap = wifi.add_argv(corp)
    assert peap[peap.index("wifi-sec.key-mgmt"):] == [
        "wifi-sec.key-mgmt", "wpa-eap", "802-1x.eap", "peap", "802-1x.phase2-auth", "mschapv2",
        "802-1x.identity", "ardoise@corp", "802-1x.ca-cert", str(tmp_path / "corp-ca.pem"),
        "802-1x.password-flags", "2"]
    ttls = wifi.add_argv(campus)
    assert ttls[ttls.index("802-1x.eap") + 1:ttls.index("802-1x.eap") + 4] == [
        "ttls", "802-1x.phase2-auth", "pap"]
    for net in (atelier, cachee, corp, campus):
        argv = wifi.add_argv(net) + wifi.up_argv(net, wifi.secrets_path(net, tmp_path))
        assert PSK not in " ".join(argv) and EAP_PASSWORD not in " ".join(argv)
    assert wifi.secret_lines(atelier) == [f"802-11-wireless-security.psk:{PSK}"]
    assert wifi.secret_lines(corp) == [f"802-1x.password:{EAP_PASSWORD}"]


def test_join_gives_the_secret_through_a_passwd_file_removed_after(
        tmp_path: Path, fake_runner: FakeRunner) -> None:
    atelier = networks(tmp_path)[0]
    secrets = tmp_path / "run"
    seen: list[str] = []
    script(fake_runner, atelier, secrets, seen=seen)
    result = wifi.join(atelier, 0, secrets)
    assert result.ok and result.outcome == "connected"
    assert seen == [f"802-11-wireless-security.psk:{PSK}\n"]
    assert list(secrets.iterdir()) == []  # removed once nmcli read it
    assert os.stat(secrets).st_mode & 0o777 == 0o700
    assert fake_runner.calls[-1][:5] == ("nmcli", "--wait", "90", "connection", "up")


def test_a_wrong_passphrase_is_reported_as_such(tmp_path: Path, fake_runner: FakeRunner) -> None:
    atelier = networks(tmp_path)[0]
    script(fake_runner, atelier, tmp_path, code=4, err=UP_FAILED)
    result = wifi.join(atelier, 0, tmp_path)
    assert result.outcome == "wrong-secret"
    assert result.detail == "Secrets were required, but not provided"
    assert not list(tmp_path.glob("*.secrets"))  # removed on failure too
    state = NetworkState(wifi=(WifiTry("atelier", 0, result.outcome),))
    set_language("en")
    assert state.describe() == ("Wi-Fi atelier: wrong passphrase or credentials; correct "
                                "wifi[0] in ardoise.yaml, then restart (certificates stay on "
                                "the stick)")
    set_language("fr")
    try:
        assert "mauvaise phrase de passe" in state.describe()
    finally:
        set_language("en")


def test_enterprise_credentials_refused_by_the_supplicant(tmp_path: Path,
                                                          fake_runner: FakeRunner) -> None:
    corp = networks(tmp_path)[2]
    seen: list[str] = []
    script(fake_runner, corp, tmp_path, code=4, err=SUPPLICANT, seen=seen)
    result = wifi.join(corp, 2, tmp_path)
    assert (result.outcome, result.detail) == ("wrong-secret", "802.1X supplicant failed")
    assert seen == [f"802-1x.password:{EAP_PASSWORD}\n"]


def test_networks_are_tried_in_order_until_one_connects(tmp_path: Path,
                                                        fake_runner: FakeRunner) -> None:
    nets = networks(tmp_path)
    script(fake_runner, nets[0], tmp_path, code=4, err=UP_FAILED)
    # a hidden SSID out of range: association timeout, SSID_NOT_FOUND (nm-device-wifi.c)
    script(fake_runner, nets[1], tmp_path, code=4,
           err="Error: Connection activation failed: The Wi-Fi network could not be found\n")
    script(fake_runner, nets[2], tmp_path)
    results = wifi.Joiner(nets, tmp_path).run()
    assert [(r.ssid, r.outcome) for r in results] == [
        ("atelier", "wrong-secret"), ("cachee", "not-found"), ("corp", "connected")]
    assert not any(c[-1] == "campus" for c in fake_runner.calls)  # not tried after corp


def test_networkmanager_not_running_stops_at_once(tmp_path: Path,
                                                  fake_runner: FakeRunner) -> None:
    nets = networks(tmp_path)
    err = (FIXTURES / "nmcli/not-running.stderr.txt").read_text()
    reply(fake_runner, ["nmcli", "connection", "delete", "id", "atelier"], 8, err=err)
    reply(fake_runner, wifi.add_argv(nets[0]), 8, err=err)
    results = wifi.Joiner(nets, tmp_path).run()
    assert [(r.ssid, r.outcome) for r in results] == [("atelier", "no-networkmanager")]


def test_the_dashboard_line_says_what_is_connected(fake_runner: FakeRunner) -> None:
    fake_runner.add(["nmcli", "--terse", "device", "status"],
                    fixture="nmcli/dev-status-terse.txt")
    fake_runner.add(["nmcli", "--terse", "device", "show", "wlan0"],
                    fixture="nmcli/dev-show-wlan0-terse.txt")
    assert network.read_connected() == (
        Connected("wlan0", "wireless", "con-vpn-1", "192.168.228.18/32"),)
    set_language("en")
    assert NetworkState(connected=network.read_connected()).describe() == (
        "Wi-Fi con-vpn-1 (wlan0), 192.168.228.18/32")
    wired = NetworkState(connected=(Connected("enp1s0", "wired", "Wired", "10.0.2.15/24"),))
    assert wired.describe() == "wired (enp1s0), 10.0.2.15/24"
    assert NetworkState(links=(network.Link("enp1s0", "wired", False),)).describe() == (
        "no network: plug in a network cable, or list the site's Wi-Fi under wifi: in "
        "ardoise.yaml and restart (certificates stay on the stick)")


def test_terse_fields_unescape_colons() -> None:
    assert network.split_terse(r"AP[1]:x:C0\:E2\:BE:Infra") == ["AP[1]", "x", "C0:E2:BE", "Infra"]


# --- secrets stay on the stick --------------------------------------------------------------

def test_no_secret_in_logs_commands_journal_spool_or_heartbeat(
        tmp_path: Path, fake_runner: FakeRunner, caplog: pytest.LogCaptureFixture) -> None:
    """A wrong passphrase, an enterprise join, then a whole erase job with that config:
    neither secret appears in any log record, argv, file of the data folder (journal,
    certificates, spool, uplink state) or the heartbeat."""
    from appliance.unattended import heartbeat_document

    caplog.set_level("DEBUG")
    cfg = parse("erase:\n  level: clear\n  verify: full\n" + config_text(tmp_path),
                base=tmp_path)
    secrets = tmp_path / "run"
    script(fake_runner, cfg.wifi[0], secrets, code=4, err=UP_FAILED)
    script(fake_runner, cfg.wifi[1], secrets, code=4, err=UP_FAILED)
    script(fake_runner, cfg.wifi[2], secrets)
    assert [r.outcome for r in wifi.Joiner(cfg.wifi, secrets).run()][-1] == "connected"
    disk = file_disk(tmp_path)
    events: list[jobs.Event] = []
    data = tmp_path / "data"
    run = jobs.Run(cfg, data, [jobs.Target(disk, make_plan(disk, "clear"), True)],
                   events.append, None, host=Host())
    run.start()
    [result] = run.wait()
    assert result.passed
    beat = heartbeat_document(data, Host(), cfg.batch, run.status())
    haystacks = [caplog.text, repr(fake_runner.calls), repr(cfg), repr(beat),
                 repr([getattr(e, "text", e) for e in events])]
    files = [p for p in data.rglob("*") if p.is_file()] + list(secrets.rglob("*"))
    assert any(p.suffix == ".json" for p in files)  # the certificate and the journal
    haystacks += [p.read_bytes().decode("utf-8", "replace") for p in files if p.is_file()]
    for secret in (PSK, EAP_PASSWORD):
        assert not [h[:80] for h in haystacks if secret in h]


def test_a_passwd_file_left_by_an_interrupted_join_is_removed_at_exit(tmp_path: Path) -> None:
    atelier = networks(tmp_path)[0]
    path = wifi.secrets_path(atelier, tmp_path / "run")
    wifi._write_secrets(path, wifi.secret_lines(atelier))
    assert os.stat(path).st_mode & 0o777 == 0o600
    wifi.remove_secrets(tmp_path / "run")  # what start_configured registers with atexit
    assert not path.exists()


def test_the_scan_list_from_nmcli_common_fields(fake_runner: FakeRunner) -> None:
    fake_runner.add(wifi.SCAN_ARGV, fixture="nmcli/wifi-list-common-terse.txt")
    assert wifi.scan() == [
        wifi.Seen("wlan0-ap-2", 92, "WPA1 WPA2", False),
        wifi.Seen("wlan0-ap-1", 81, "WPA1", False),
        wifi.Seen("wlan0-ap-3", 55, "WPA3", False),
        wifi.Seen("wlan1-ap-4", 48, "WPA1 WPA2", False)]


def test_forget_deletes_the_profile(fake_runner: FakeRunner) -> None:
    reply(fake_runner, ["nmcli", "connection", "delete", "id", "atelier"],
          out="Connection 'atelier' (5f8f3b5e-1c1e-4d55-9d1b-0b8d3c1f2a61) successfully "
              "deleted.\n")
    assert wifi.forget("atelier")
    reply(fake_runner, ["nmcli", "connection", "delete", "id", "atelier"], 10,
          err=unknown("atelier"))
    assert not wifi.forget("atelier")
