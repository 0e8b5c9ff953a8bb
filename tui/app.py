"""The technician's appliance: a table of screens and keys, nothing more.

Flow: bad config → ErrorScreen; low battery without AC → BatteryScreen; else Dashboard →
Confirm (typed, or the unattended countdown) → Progress → Results. F2 switches French /
English at any time; F4 opens the technician's intake of the machine (tui.intake), whose
answers go into its signed device record. The App never touches a disk: ProgressScreen's workers drive
appliance.jobs and post messages back.

Rack mode (a netbooted machine whose config came from the network): a refused site config
shows RackRefusedScreen; otherwise appliance.unattended.RackLink enrolls in the background,
the dashboard shows its status (site, ledger, enrollment, last heartbeat delivered) and
offers no erasure until the machine is enrolled; a refused enrollment shows
RackRefusedScreen with the ledger's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from appliance import wifi
from appliance.i18n import _, get_language, set_language
from appliance.intake import Intake
from appliance.survey import Survey
from appliance.unattended import RackLink, RackStatus, make_uplink, rack_status
from tui.dashboard import DashboardScreen
from tui.error import BatteryScreen, ConfigErrorScreen, RackRefusedScreen
from tui.intake import IntakeScreen

log = logging.getLogger(__name__)


class RackChanged(Message):
    """Posted from the rack link's threads (post_message is thread-safe)."""


class ArdoiseApp(App[int]):
    CSS_PATH = "ardoise.tcss"
    TITLE = "Ardoise"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("f2", "toggle_language", "language", show=False, priority=True),
                Binding("f4", "intake", "intake", show=False, priority=True)]

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
        # rack mode: the status the screens show, and the link that keeps it (None when
        # jobs are not launched: tests and training set `rack_status` themselves)
        self.rack_status: RackStatus | None = (
            rack_status(survey.config) if survey.config_error is None else None)
        self.rack: RackLink | None = None
        # the technician's intake (F4): the operator is asked once a session; recording
        # collects the machine's facts and signs its device record (None: training, tests)
        self.operator: str | None = survey.config.operator or None
        self.record_device: Callable[[Intake], str] | None = (
            self._record_device if launch_jobs else None)

    def on_mount(self) -> None:
        self.theme = "ansi-dark"
        if self.survey.config.language:
            set_language(self.survey.config.language)
        if self.launch_jobs and self.survey.config_error is None:
            if self.rack_status is not None:
                self.start_rack()  # enrollment first; the rack session sends certificates
            else:
                self.uplink = make_uplink(self.survey.config, self.survey.data_dir)
                if self.uplink is not None:
                    self.uplink.start()  # certificates leave as soon as a network is there
                # the configured Wi-Fi, in the background; the uplink tries as soon as it is up
                wifi.start_configured(self.survey.config.wifi,
                                      then=self.uplink.wake if self.uplink else None)
        self.push_screen(self.first_screen())

    def on_unmount(self) -> None:
        if self.uplink is not None:
            self.uplink.stop(timeout=2)
        if self.rack is not None:
            import threading

            link, self.rack = self.rack, None
            link.on_change = lambda status: None
            threading.Thread(target=link.close, name="rack-close", daemon=True).start()

    def now(self) -> datetime:
        """The clock the screens show ages with (a still picture in tests)."""
        return datetime.now(UTC)

    def start_rack(self) -> None:
        host = None
        if self.survey.host is not None:
            from appliance.siteconfig import primary_mac

            h = self.survey.host
            host = {"serial": h.serial or "", "product": h.product or "",
                    "maker": h.manufacturer or "", "mac": primary_mac()}
        self.rack = RackLink(self.survey.config, self.survey.data_dir, host=host,
                             on_change=lambda status: self.post_message(RackChanged()))
        self.rack_status = self.rack.status
        self.rack.start()

    def on_rack_changed(self, message: RackChanged) -> None:
        status = self.rack_status
        if status is None:
            return
        if status.enrollment == "refused":
            if not isinstance(self.screen, RackRefusedScreen):
                self.switch_screen(self.first_screen())
            return
        if isinstance(self.screen, DashboardScreen):
            self.screen.rack_changed()

    def first_screen(self) -> ConfigErrorScreen | BatteryScreen | DashboardScreen | RackRefusedScreen:
        error = self.survey.config_error
        if error is not None and error.source.startswith(("http://", "https://")):
            from appliance.siteconfig import refusal_reported

            return RackRefusedScreen("config", error.source, error.reason,
                                     reported=refusal_reported(error))
        if error is not None:
            return ConfigErrorScreen(error)
        if self.rack_status is not None and self.rack_status.enrollment == "refused":
            return RackRefusedScreen("enrollment", self.rack_status.ledger,
                                     self.rack_status.reason)
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

    def action_intake(self) -> None:
        if isinstance(self.screen, IntakeScreen):
            return
        self.push_screen(IntakeScreen(Intake(operator=self.operator)), self._intake_done)

    def _intake_done(self, intake: Intake | None) -> None:
        if intake is None:
            return
        self.operator = intake.operator
        if self.record_device is None:
            self.notify(_("Training mode: the intake was not recorded."))
            return
        self.run_worker(lambda: self._record_and_tell(intake), thread=True, group="intake")

    def _record_and_tell(self, intake: Intake) -> None:
        assert self.record_device is not None
        try:
            record_id = self.record_device(intake)
        except Exception as exc:  # noqa: BLE001 - one sentence on screen, details in the log
            log.warning("device record failed", exc_info=True)
            self.call_from_thread(self.notify, _("The device record could not be made: "
                                                 "{error}").format(error=exc), severity="error")
            return
        self.call_from_thread(self.notify, _("Device record {id} signed and kept").format(
            id=record_id[:8]))

    def _record_device(self, intake: Intake) -> str:
        from appliance import device
        from appliance.jobs import cert_context

        facts = device.collect()
        record = device.build_record(facts, cert_context(self.survey.config), intake=intake)
        return str(device.issue(record, self.survey.data_dir)[0]["id"])

    async def action_toggle_language(self) -> None:
        set_language("en" if get_language().startswith("fr") else "fr")
        for screen in self.screen_stack:
            await screen.recompose()


def main(survey: Survey) -> int:
    app = ArdoiseApp(survey)
    code = app.run()
    return int(code) if code is not None else 0
