"""The network screen (N on the dashboard), keyboard only: what is connected, the Wi-Fi
networks in range with their signal, Enter to join one (the passphrase is typed masked and
cleared at once), R to try the config's networks again, F to forget the chosen network.
nmcli runs in worker threads (appliance.wifi); the uplink is woken once a network joins."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static

from appliance import wifi
from appliance.config import WifiNetwork
from appliance.i18n import _, tr
from appliance.network import NetworkState, read_state
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from tui.app import ArdoiseApp


class NetworkScreen(Screen[None]):
    DEFAULT_CSS = """
    NetworkScreen #seen { height: auto; max-height: 14; margin: 1 2; }
    NetworkScreen #passphrase { display: none; margin: 0 2; }
    NetworkScreen #passphrase.asking { display: block; }
    """
    BINDINGS = [Binding("escape", "back", "back"), Binding("s", "scan", "scan"),
                Binding("r", "retry", "retry"), Binding("f", "forget", "forget")]

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[wifi.Seen] = []
        self.chosen: wifi.Seen | None = None

    @property
    def ardoise(self) -> ArdoiseApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(_("Network"), classes="title")
        yield Static(_("Now: {state}").format(state=self.ardoise.survey.network.describe()),
                     classes="facts", id="now")
        yield Static(_("Wi-Fi networks in range (looking...)"), id="seen-title")
        yield OptionList(id="seen")
        yield Input(password=True, id="passphrase",
                    placeholder=_("passphrase (8 to 63 characters), then Enter"))
        yield Static("", id="outcome")
        yield KeyBar([("Enter", _("Join")), ("S", _("Scan again")),
                      ("R", _("Retry the config's networks")), ("F", _("Forget")),
                      ("Esc", _("Back"))])

    def on_mount(self) -> None:
        self.action_scan()

    # ------------------------------------------------------------ nmcli, off the screen's thread

    def action_scan(self) -> None:
        self.run_worker(self._scan, thread=True, group="scan", exclusive=True)

    def _scan(self) -> None:
        seen = wifi.scan()
        self.app.call_from_thread(self.show_seen, seen)

    def show_seen(self, seen: list[wifi.Seen]) -> None:
        self.seen = seen
        options = self.query_one("#seen", OptionList)
        options.clear_options()
        options.add_options([self.label(s) for s in seen])
        self.query_one("#seen-title", Static).update(
            _("Wi-Fi networks in range:") if seen else
            _("No Wi-Fi network in range (or no Wi-Fi on this computer): S to look again."))
        if seen:
            options.highlighted = 0
            options.focus()

    @staticmethod
    def label(s: wifi.Seen) -> str:
        security = _("open") if s.open else s.security
        line = _("{ssid}  signal {signal}%  {security}").format(
            ssid=s.ssid, signal=s.signal, security=security)
        return line + ("  " + _("(connected)") if s.in_use else "")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.chosen = self.seen[event.option_index]
        if self.chosen.open:
            self.join(WifiNetwork(ssid=self.chosen.ssid))
            return
        box = self.query_one("#passphrase", Input)
        box.add_class("asking")
        box.value = ""
        box.focus()
        self.say(_("Passphrase for {ssid}:").format(ssid=self.chosen.ssid))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        typed, event.input.value = event.value, ""  # never kept on screen
        if self.chosen is None:
            return
        if not 8 <= len(typed) <= 63:
            self.say(_("A WPA passphrase has 8 to 63 characters: type it again."))
            return
        event.input.remove_class("asking")
        self.join(WifiNetwork(ssid=self.chosen.ssid, psk=typed,
                              wpa3=self.chosen.security == "WPA3"))

    def join(self, net: WifiNetwork) -> None:
        self.say(_("Joining {ssid}...").format(ssid=net.ssid))
        self.run_worker(lambda: self._join(net), thread=True, group="join", exclusive=True)

    def _join(self, net: WifiNetwork) -> None:
        result = wifi.join(net, -1)
        state = read_state()
        self.app.call_from_thread(self.joined, result, state)

    def joined(self, result: wifi.JoinResult, state: NetworkState) -> None:
        self.ardoise.survey = replace(self.ardoise.survey, network=state)
        self.query_one("#now", Static).update(_("Now: {state}").format(state=state.describe()))
        if result.ok:
            self.say(_("{ssid}: connected.").format(ssid=result.ssid))
            if self.ardoise.uplink is not None:
                self.ardoise.uplink.wake()  # the waiting certificates leave now
        elif result.outcome == "wrong-secret":
            self.say(_("{ssid}: wrong passphrase. Press Enter on the network to type it "
                       "again.").format(ssid=result.ssid))
        else:
            self.say(_("{ssid}: {why}.").format(ssid=result.ssid,
                                                why=tr(wifi.OUTCOMES[result.outcome])))
        self.query_one("#seen", OptionList).focus()

    def action_retry(self) -> None:
        networks = self.ardoise.survey.config.wifi
        if not networks:
            self.say(_("The config lists no Wi-Fi network (wifi: in ardoise.yaml)."))
            return
        uplink = self.ardoise.uplink
        wifi.start_configured(networks, then=uplink.wake if uplink is not None else None)
        self.say(_("Trying the config's networks again, in order..."))

    def action_forget(self) -> None:
        options = self.query_one("#seen", OptionList)
        if options.highlighted is None or not self.seen:
            return
        ssid = self.seen[options.highlighted].ssid
        self.run_worker(lambda: self._forget(ssid), thread=True, group="forget")

    def _forget(self, ssid: str) -> None:
        gone = wifi.forget(ssid)
        self.app.call_from_thread(self.say, _("{ssid}: forgotten.").format(ssid=ssid) if gone
                                  else _("{ssid}: nothing to forget.").format(ssid=ssid))

    def say(self, text: str) -> None:
        self.query_one("#outcome", Static).update(text)

    def action_back(self) -> None:
        self.dismiss(None)
