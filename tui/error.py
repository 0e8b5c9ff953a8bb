"""Screens that stop before anything is touched: a bad config, a refused rack machine, a low
battery, a problem."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from appliance.config import ConfigError
from appliance.i18n import _
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from tui.app import ArdoiseApp

CSS = """
{name} > Vertical {{ border: ascii ansi_bright_red; height: auto; margin: 1 2; padding: 0 1; }}
"""


class ConfigErrorScreen(Screen[None]):
    DEFAULT_CSS = CSS.format(name="ConfigErrorScreen")
    BINDINGS = [Binding("r", "retry", "retry"), Binding("q", "quit", "quit")]

    def __init__(self, error: ConfigError) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        yield Static(_("Ardoise cannot start: the configuration is wrong"), classes="title")
        with Vertical():
            yield Static(_("Nothing was touched. No disk will be erased until the "
                           "configuration is fixed."), classes="danger")
            yield Static(_("File: {source}").format(source=self.error.source))
            if self.error.line:
                yield Static(_("Line: {line}").format(line=self.error.line))
            if self.error.key:
                yield Static(_("Setting: {key}").format(key=self.error.key))
            yield Static(_("Problem: {reason}").format(reason=self.error.reason), id="reason")
            yield Static(_("Ask your supervisor to correct ardoise.yaml on the stick, then "
                           "press R."), classes="hint")
        yield KeyBar([("R", _("Read the configuration again")), ("F2", _("other language")),
                      ("Q", _("Quit"))])

    def action_retry(self) -> None:
        from appliance import survey

        app: ArdoiseApp = self.app  # type: ignore[assignment]
        s = app.survey
        app.survey = survey.take(self.error.source, s.data_dir, s.devices)
        app.show_dashboard()

    def action_quit(self) -> None:
        self.app.exit(2)


class RackRefusedScreen(Screen[None]):
    """Rack mode refused: a site config that failed its check, or an enrollment the ledger
    refused. Shows the reason on the machine's screen; nothing is erased."""

    DEFAULT_CSS = CSS.format(name="RackRefusedScreen")
    BINDINGS = [Binding("r", "retry", "retry"), Binding("q", "quit", "quit")]

    def __init__(self, what: str, where: str, reason: str, reported: bool | None = None) -> None:
        super().__init__()
        self.what = what  # "config" | "enrollment"
        self.where = where  # the config URL, or the ledger URL
        self.reason = reason
        self.reported = reported

    def compose(self) -> ComposeResult:
        if self.what == "config":
            title = _("Rack mode: the site configuration was refused")
            where = _("Configuration: {url}").format(url=self.where)
            hint = _("The configuration must be signed by the site key this image trusts. "
                     "Ask your supervisor to fix it, then press R or restart the computer.")
        else:
            title = _("Rack mode: the ledger refused this computer")
            where = _("Ledger: {url}").format(url=self.where)
            hint = _("The site configuration must carry a valid enrollment token. Ask your "
                     "supervisor to fix it, then press R or restart the computer.")
        yield Static(title, classes="title")
        with Vertical():
            yield Static(_("Nothing was touched. No disk will be erased on this computer."),
                         classes="danger")
            yield Static(where)
            yield Static(_("Reason: {reason}").format(reason=self.reason), id="reason")
            if self.reported is True:
                yield Static(_("The ledger's log has the reason too."), id="reported")
            elif self.reported is False:
                yield Static(_("The ledger could not be told: only this screen has the reason."),
                             id="reported")
            yield Static(hint, classes="hint")
        yield KeyBar([("R", _("Try again")), ("F2", _("other language")), ("Q", _("Quit"))])

    def action_retry(self) -> None:
        from appliance import survey

        app: ArdoiseApp = self.app  # type: ignore[assignment]
        s = app.survey
        if self.what == "config":
            app.survey = survey.take(self.where, s.data_dir, s.devices)
            app.rack_status = None
            if app.survey.config_error is None:
                from appliance.unattended import rack_status

                app.rack_status = rack_status(app.survey.config)
                if app.launch_jobs and app.rack_status is not None:
                    app.start_rack()
        elif app.launch_jobs:
            app.start_rack()
        elif app.rack_status is not None:
            return  # nothing to try again without a rack link (tests, training)
        app.show_dashboard()

    def action_quit(self) -> None:
        self.app.exit(3)


class BatteryScreen(Screen[None]):
    """Refuses a long job on a low battery without AC; re-checks by itself."""

    DEFAULT_CSS = CSS.format(name="BatteryScreen")
    BINDINGS = [Binding("r", "recheck", "recheck"), Binding("q", "quit", "quit")]

    @property
    def ardoise(self) -> ArdoiseApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        s = self.ardoise.survey
        yield Static(_("Plug the charger in"), classes="title")
        with Vertical():
            yield Static(s.battery_refusal or "", classes="danger", id="refusal")
            yield Static(_("Power: {state}").format(state=s.battery.describe()), id="state")
            yield Static(_("An erasure cut short by a flat battery leaves the disk half "
                           "erased. Erasing starts once the charger is plugged in."),
                         classes="hint")
        yield KeyBar([("R", _("Check again")), ("F2", _("other language")), ("Q", _("Quit"))])

    def on_mount(self) -> None:
        self.set_interval(5.0, self.action_recheck)

    def action_recheck(self) -> None:
        app = self.ardoise
        app.survey = app.survey.refresh_power()
        if not app.survey.battery_refusal:
            app.show_dashboard()
        else:
            self.query_one("#refusal", Static).update(app.survey.battery_refusal or "")
            self.query_one("#state", Static).update(
                _("Power: {state}").format(state=app.survey.battery.describe()))

    def action_quit(self) -> None:
        self.app.exit(3)


class ProblemScreen(Screen[None]):
    """Something the appliance cannot work around (e.g. the data partition is missing)."""

    DEFAULT_CSS = CSS.format(name="ProblemScreen")
    BINDINGS = [Binding("q", "quit", "quit")]

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        yield Static(_("Ardoise stopped"), classes="title")
        with Vertical():
            yield Static(_("Nothing more will be done. Tell your supervisor."), classes="danger")
            yield Static(self.detail)
        yield KeyBar([("Q", _("Quit"))])

    def action_quit(self) -> None:
        self.app.exit(1)
