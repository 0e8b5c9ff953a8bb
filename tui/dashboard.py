"""Dashboard: the machine, every disk with its plan (or why it is left alone), power,
network, ledger and image, and the preflight checks (appliance.preflight: image, ledger) in
plain words. Enter asks for confirmation, offered only while no check is a problem; nothing
is touched before.

Rack mode adds the site, the ledger, the enrollment and the last heartbeat delivered, and
offers no erasure (nor the unattended countdown) until the machine is enrolled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from appliance import __version__
from appliance.i18n import _, format_size, get_language, ngettext, tr
from appliance.jobs import Target
from appliance.network import NetworkState
from appliance.preflight import OK, PROBLEM, WARNING, Preflight
from appliance.unattended import RackStatus
from appliance.words import verify_mode_word
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from tui.app import ArdoiseApp


def level_name(level: str) -> str:
    return {"clear": _("NIST Clear"), "purge": _("NIST Purge")}.get(level, level)


def other_language() -> str:
    return "English" if get_language().startswith("fr") else "Fran\u00e7ais"


def host_line(host: object) -> str:
    maker = getattr(host, "manufacturer", None) or ""
    product = getattr(host, "product", None) or ""
    serial = getattr(host, "serial", None) or _("unknown")
    name = f"{maker} {product}".strip() or _("unknown model")
    return _("Computer: {name}, serial {serial}").format(name=name, serial=serial)


def disk_table(targets: list[Target]) -> Table:
    table = Table(box=box.ASCII, expand=True, show_edge=True, pad_edge=False)
    table.add_column(_("Disk"), no_wrap=True)
    table.add_column(_("Size"), justify="right", no_wrap=True)
    table.add_column(_("Bus"), no_wrap=True)
    table.add_column(_("Model / serial"), ratio=2)
    table.add_column(_("What will happen"), ratio=3)
    for t in targets:
        d = t.disk
        model = f"{d.model}\n{d.serial or '-'}"
        if t.selected:
            plan = Text(_("ERASE: {method}").format(method=t.method) + "\n"
                        + level_name(t.level), style="bold bright_green")
            if t.fallback:
                plan.append("\n" + _("(purge unreachable: clear, as configured)"), style="yellow")
        else:
            plan = Text(_("LEFT ALONE: {reason}").format(reason=tr(t.reason)), style="yellow")
        table.add_row(d.path.removeprefix("/dev/"), format_size(d.size_bytes), d.transport, model, plan)
    return table


def age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return ngettext("{n} second ago", "{n} seconds ago", seconds).format(n=seconds)
    minutes = seconds // 60
    return ngettext("{n} minute ago", "{n} minutes ago", minutes).format(n=minutes)


def rack_lines(status: RackStatus, now: datetime) -> Text:
    """The rack block of the dashboard: mode, site, ledger, enrollment, last heartbeat."""
    text = Text()
    text.append(_("RACK MODE: started from the network, no stick; results are kept in memory "
                  "until the ledger has them"), style="bold bright_cyan")
    text.append("\n" + _("Site: {site}").format(site=status.site))
    text.append("\n" + _("Ledger: {url}").format(url=status.ledger or _("none")))
    text.append("\n" + _("Enrollment: "))
    if status.enrolled:
        text.append(_("enrolled (appliance key {key})").format(key=status.key_id[:16]),
                    style="bold bright_green")
    elif status.enrollment == "refused":
        text.append(_("refused: {reason}").format(reason=status.reason), style="bold bright_red")
    else:
        text.append(_("waiting for the ledger..."), style="bold bright_yellow")
        if status.reason:
            text.append(" " + status.reason, style="yellow")
    text.append("\n" + _("Last heartbeat: "))
    if status.last_delivery is None:
        text.append(_("none delivered yet"), style="yellow")
    else:
        when = status.last_delivery.astimezone(UTC)
        text.append(_("delivered at {time} UTC ({age})").format(
            time=when.strftime("%H:%M:%S"), age=age((now - when).total_seconds())))
    if status.undelivered:
        text.append("  " + ngettext("({n} not delivered since)", "({n} not delivered since)",
                                    status.undelivered).format(n=status.undelivered),
                    style="yellow")
    return text


def preflight_lines(result: Preflight) -> Text:
    """The preflight block: every check in plain words, what to do under a problem."""
    text = Text(_("Before erasing:"), style="bold")
    words = {OK: (_("ok"), "bright_green"), WARNING: (_("WARNING"), "bold bright_yellow"),
             PROBLEM: (_("PROBLEM"), "bold bright_red")}
    for c in result.checks:
        word, style = words[c.state]
        text.append(f"\n{word:8} ", style=style)
        text.append(c.text, style="bright_red" if c.state == PROBLEM else "")
        if c.action:
            text.append("\n         " + _("What to do: {action}").format(action=c.action),
                        style="bright_red" if c.state == PROBLEM else "yellow")
    return text


def on_serial_console() -> bool:
    import os

    try:
        return os.ttyname(0).startswith(("/dev/ttyS", "/dev/ttyAMA", "/dev/hvc"))
    except OSError:
        return False


class DashboardScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "erase", "erase"),
        Binding("r", "refresh", "refresh"),
        Binding("n", "network", "network"),
        Binding("q", "quit", "quit"),
    ]

    @property
    def ardoise(self) -> ArdoiseApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        s = self.ardoise.survey
        yield Static(_("Ardoise {version} - erase, check, reinstall").format(version=__version__),
                     classes="title")
        rack = self.ardoise.rack_status
        if rack is not None:
            yield Static(rack_lines(rack, self.ardoise.now()), classes="facts", id="rack")
        yield Static(self.facts_text(), classes="facts", id="facts")
        if s.preflight is not None and s.preflight.checks:
            yield Static(preflight_lines(s.preflight), classes="facts", id="preflight")
        if s.recovered:
            yield Static(ngettext(
                "{n} disk was interrupted last time (power cut?): reported INCOMPLETE, "
                "erase it again.",
                "{n} disks were interrupted last time (power cut?): reported INCOMPLETE, "
                "erase them again.", len(s.recovered)).format(n=len(s.recovered)),
                classes="danger", id="recovered")
        if s.hidden:
            yield Static("\n".join(_("HIDDEN: {what}").format(what=tr(h.describe()))
                                   for h in s.hidden), classes="danger", id="hidden")
        with VerticalScroll(id="disks"):
            yield Static(disk_table(s.targets), id="disk-table")
        count = len(s.selected)
        yield Static(self.verdict(), classes="warning", id="verdict")
        keys = [("Enter", _("Erase")), ("R", _("Refresh")), ("F2", other_language()), ("Q", _("Quit"))]
        yield KeyBar(keys if count and self.may_erase() else keys[1:])

    def facts_text(self) -> str:
        s = self.ardoise.survey
        cfg = s.config
        image = cfg.image.manifest or _("none (erase only)")
        ledger = cfg.ledger.url or _("none (certificates stay on the stick)")
        rack = self.ardoise.rack_status
        lines = [host_line(s.host),
                 _("Power: {state}").format(state=s.battery.describe()),
                 _("Network: {state}").format(state=s.network.describe())
                 + ("" if s.network.online else "  " + _("(N: choose a Wi-Fi network)"))]
        if rack is None:  # in rack mode the ledger is in the rack block
            lines.append(_("Ledger: {url}").format(url=ledger) + self.spool_note())
        lines += [_("Image: {image}").format(image=image),
                  _("Erase: {level}, verification {verify}").format(
                      level=level_name(cfg.erase.level), verify=verify_mode_word(cfg.erase.verify))]
        return "\n".join(lines)

    def action_network(self) -> None:
        from tui.network import NetworkScreen

        self.app.push_screen(NetworkScreen())

    def on_screen_resume(self) -> None:
        for widget in self.query("#facts").results(Static):
            widget.update(self.facts_text())  # a network joined on the network screen

    def refresh_network(self) -> None:
        """What is connected now (a Wi-Fi joined after the start shows up here)."""
        from appliance.network import read_state

        state = read_state()  # nmcli: off the screen's thread
        self.app.call_from_thread(self._show_network, state)

    def _show_network(self, state: NetworkState) -> None:
        from dataclasses import replace

        self.ardoise.survey = replace(self.ardoise.survey, network=state)
        for widget in self.query("#facts").results(Static):
            widget.update(self.facts_text())

    def may_erase(self) -> bool:
        """Rack mode erases nothing before the ledger enrolled this machine, and nothing is
        erased while a preflight problem stands."""
        rack = self.ardoise.rack_status
        return (rack is None or rack.enrolled) and not self.preflight_blocks()

    def preflight_blocks(self) -> bool:
        """A preflight problem (image, ledger): no confirmation is offered until it is fixed."""
        result = self.ardoise.survey.preflight
        return result is not None and result.blocked

    def verdict(self) -> str:
        count = len(self.ardoise.survey.selected)
        if not count:
            return _("No disk can be erased on this computer.")
        if self.preflight_blocks():
            return ngettext("{n} disk can be erased once the problems above are fixed "
                            "(then press R).",
                            "{n} disks can be erased once the problems above are fixed "
                            "(then press R).", count).format(n=count)
        if not self.may_erase():
            return ngettext("{n} disk can be erased once the ledger has enrolled this computer.",
                            "{n} disks can be erased once the ledger has enrolled this computer.",
                            count).format(n=count)
        return ngettext("{n} disk will be erased. Press Enter to start.",
                        "{n} disks will be erased. Press Enter to start.", count).format(n=count)

    def rack_changed(self) -> None:
        """The rack link changed (enrolled, a heartbeat): redraw; start what waited."""
        if self._waiting_for_rack and self.may_erase():
            self._waiting_for_rack = False
            self.refresh(recompose=True)  # the Enter key and the verdict appear
            self.start_countdown()
        else:
            self.update_rack()

    def update_rack(self) -> None:
        rack = self.ardoise.rack_status
        if rack is not None:
            for widget in self.query("#rack").results(Static):
                widget.update(rack_lines(rack, self.ardoise.now()))

    def spool_note(self) -> str:
        from appliance.spool import Spool

        directory = self.ardoise.survey.data_dir / "spool"
        if not directory.is_dir():
            return ""
        pending = Spool(self.ardoise.survey.data_dir).counts().get("pending", 0)
        if not pending:
            return ""
        return "  " + ngettext("({n} certificate waiting to be sent)",
                               "({n} certificates waiting to be sent)", pending).format(n=pending)

    _waiting_for_rack = False

    def on_mount(self) -> None:
        if self.ardoise.launch_jobs:  # tests and training show the survey as it was taken
            self.set_interval(5.0, lambda: self.run_worker(self.refresh_network, thread=True,
                                                           group="network",
                                                           exclusive=True))
        if self.ardoise.rack_status is not None:
            self.set_interval(1.0, self.update_rack)  # the heartbeat's age
            if not self.may_erase():
                self._waiting_for_rack = True  # rack_changed redraws once enrolled
                return
        self.start_countdown()

    def start_countdown(self) -> None:
        s = self.ardoise.survey
        if s.config.unattended.enabled and s.selected and self.ardoise.auto_countdown:
            self.ardoise.auto_countdown = False  # once: a cancelled countdown stays cancelled
            # tty1 and the serial console both run the session: the screen drives, the
            # serial line only when no screen took the machine within a minute and a half
            # (a slow machine, or a busy VM, may need that long to draw the first screen)
            delay = 90.0 if on_serial_console() and self.ardoise.launch_jobs else 0.0
            self.set_timer(delay or 0.01, self.start_unattended)

    def start_unattended(self) -> None:
        if not self.ardoise.launch_jobs or self.ardoise.claim_run():
            self.action_erase(unattended=True)
        else:
            self.query_one("#verdict", Static).update(
                _("Another console is running this computer unattended."))

    def action_erase(self, unattended: bool = False) -> None:
        from tui.confirm import ConfirmScreen

        count = len(self.ardoise.survey.selected)
        if not count or not self.may_erase():
            return

        def decided(go: bool | None) -> None:
            if not go:
                self.ardoise.release_claim()
            if go:
                from tui.progress import ProgressScreen

                self.app.switch_screen(ProgressScreen(unattended=unattended,
                                                      launch=self.ardoise.launch_jobs))

        seconds = self.ardoise.survey.config.unattended.countdown_seconds
        self.app.push_screen(ConfirmScreen(count, countdown=seconds if unattended else None),
                             decided)

    def action_refresh(self) -> None:
        from appliance import survey

        s = self.ardoise.survey
        if s.config_error is None:
            self.ardoise.survey = survey.take(s.config.source or None, s.data_dir, s.devices)
        self.ardoise.show_dashboard()

    def action_quit(self) -> None:
        self.app.exit(0)
