"""The technician's appliance: a table of screens and keys, nothing more.

Flow: bad config → ErrorScreen; low battery without AC → BatteryScreen; else Dashboard →
Confirm (typed, or the unattended countdown) → Progress → Results. F2 switches French /
English at any time. The App never touches a disk: ProgressScreen's workers drive
appliance.jobs and post messages back.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.binding import Binding

from appliance.i18n import get_language, set_language
from appliance.survey import Survey
from appliance.unattended import make_uplink
from tui.dashboard import DashboardScreen
from tui.error import BatteryScreen, ConfigErrorScreen


class ArdoiseApp(App[int]):
    CSS_PATH = "ardoise.tcss"
    TITLE = "Ardoise"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("f2", "toggle_language", "language", show=False, priority=True)]

    def __init__(self, survey: Survey, auto_countdown: bool = True, launch_jobs: bool = True,
                 ansi_color: bool = True) -> None:
        super().__init__(ansi_color=ansi_color)
        self.survey = survey
        # The unattended countdown starts by itself (config allows it); tests may hold it.
        self.auto_countdown = auto_countdown
        # False walks through every screen without starting any job and without talking to
        # the ledger (training, tests).
        self.launch_jobs = launch_jobs
        self.uplink: Any = None  # appliance.uplink.Uplink, sending the spool in the background
        self.claimed: int | None = None  # the run lock, taken for an unattended countdown

    def on_mount(self) -> None:
        self.theme = "ansi-dark"
        if self.survey.config.language:
            set_language(self.survey.config.language)
        if self.launch_jobs and self.survey.config_error is None:
            self.uplink = make_uplink(self.survey.config, self.survey.data_dir)
            if self.uplink is not None:
                self.uplink.start()  # certificates leave as soon as a network is there
        self.push_screen(self.first_screen())

    def on_unmount(self) -> None:
        if self.uplink is not None:
            self.uplink.stop(timeout=2)

    def first_screen(self) -> ConfigErrorScreen | BatteryScreen | DashboardScreen:
        if self.survey.config_error is not None:
            return ConfigErrorScreen(self.survey.config_error)
        if self.survey.battery_refusal:
            return BatteryScreen()
        return DashboardScreen()

    def claim_run(self) -> bool:
        """Take the machine's run lock (only one console runs unattended)."""
        from appliance.jobs import RunBusy, claim

        try:
            self.claimed = claim(self.survey.data_dir)
        except (RunBusy, OSError):
            return False
        return True

    def release_claim(self) -> None:
        import os

        if self.claimed is not None:
            os.close(self.claimed)
            self.claimed = None

    def show_dashboard(self) -> None:
        self.switch_screen(self.first_screen())

    async def action_toggle_language(self) -> None:
        set_language("en" if get_language().startswith("fr") else "fr")
        for screen in self.screen_stack:
            await screen.recompose()


def main(survey: Survey) -> int:
    app = ArdoiseApp(survey)
    code = app.run()
    return int(code) if code is not None else 0
