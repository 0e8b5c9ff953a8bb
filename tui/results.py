"""Results: a large PASS or FAIL per disk in plain words, the certificate, whether it has
reached the ledger, and a QR code to its record there. Next machine = power off."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from appliance import unattended as unattended_mode
from appliance.delivery import REJECTED, SENT, WAITING, Delivery, DeliverySummary, summarize
from appliance.i18n import N_, _, format_size, ngettext
from appliance.jobs import JobResult
from appliance.verdict import not_verified
from tui.widgets.keybar import KeyBar
from tui.widgets.qr import QrCode

if TYPE_CHECKING:
    from tui.app import ArdoiseApp


WIDE = 120  # columns from which the QR code sits beside the results


class QrScreen(ModalScreen[None]):
    """The QR code alone (80-column consoles): any key closes it."""

    DEFAULT_CSS = """
    QrScreen { align: center middle; }
    QrScreen > Vertical { width: auto; height: auto; background: ansi_black; padding: 0 1; }
    """

    def __init__(self, url: str, result: JobResult) -> None:
        super().__init__()
        self.url = url
        self.result = result

    def compose(self) -> ComposeResult:
        with Vertical():
            yield QrCode(self.url)
            yield Static(_("{path}: scan to open the certificate at the ledger").format(
                path=self.result.path), classes="hint")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        self.dismiss(None)


def verdict_words(r: JobResult) -> str:
    """What happened, for a trainee: what to do with the disk."""
    if r.passed:
        text = _("Erased and checked.")
        if r.image_status == "imaged":
            text += " " + _("A fresh system is installed.")
        return text + " " + _("This disk may leave.")
    if r.erase_status == "unverified":
        return not_verified() + ". " + _("Erase it again with verification.")
    if r.erase_status == "incomplete" and r.untouched:
        return _("Stopped before anything was written: this disk is untouched, NOT erased. "
                 "Erase it again.")
    if r.erase_status == "incomplete":
        return _("Stopped before the end: NOT erased. Erase it again.")
    if r.erase_status == "erased" and r.verify_result != "fail":
        return _("Erased and checked, but the system could not be installed. "
                 "Erase it again or tell your supervisor.")
    if r.verify_result == "fail":
        return _("The check found old data: NOT erased. Keep this disk apart and tell "
                 "your supervisor.")
    if r.erase_status == "refused":
        return _("Left alone for safety: NOT erased. Tell your supervisor.")
    return _("The erasure failed: NOT erased. Keep this disk apart and tell your supervisor.")


def where_words(d: Delivery | None) -> str:
    """Where one certificate is, in plain words (the delivery block of a result)."""
    if d is None or d.state == WAITING:
        reason = d.reason if d is not None else _("no ledger is configured")
        return _("waiting on the stick ({reason})").format(reason=reason)
    if d.state == SENT:
        return _("sent to the ledger")
    return _("REJECTED by the ledger: {reason}").format(reason=d.reason)


def delivery_text(summary: DeliverySummary) -> Text:
    """The session's delivery summary: a rejected certificate in red, with what to do."""
    styles = {SENT: "bright_green", WAITING: "yellow", REJECTED: "bold bright_red"}
    text = Text()
    for i, (state, line) in enumerate(summary.lines() if summary.items else []):
        text.append(("\n" if i else "") + line, style=styles[state])
    return text


class ResultsScreen(Screen[None]):
    DEFAULT_CSS = """
    ResultsScreen #body { height: 1fr; }
    ResultsScreen #list { width: 1fr; }
    ResultsScreen .result { height: auto; border: ascii ansi_white; padding: 0 1; }
    ResultsScreen .result.-selected { border: ascii ansi_bright_yellow; }
    ResultsScreen .word { width: 8; height: 3; content-align: center middle;
        text-style: bold; margin-right: 1; }
    ResultsScreen .pass .word { background: ansi_green; color: ansi_bright_white; }
    ResultsScreen .fail .word { background: ansi_red; color: ansi_bright_white; }
    ResultsScreen .about { width: 1fr; height: auto; }
    ResultsScreen #qr-side { width: auto; height: auto; padding: 0 1; }
    ResultsScreen #after { height: auto; padding: 0 1; }
    ResultsScreen #delivery { height: auto; padding: 0 1; }
    """
    # the key bar is made of these (descriptions translated when shown): P says it powers off
    BINDINGS = [
        Binding("up", "select(-1)", N_("previous"), show=False),
        Binding("down", "select(1)", N_("next"), show=False),
        Binding("p", "poweroff", N_("Power off - next computer")),
        Binding("c", "qr", N_("QR code")),
        Binding("q", "quit", N_("Quit")),
    ]

    def __init__(self, results: list[JobResult], cancelled: bool, unattended: bool = False):
        super().__init__()
        self.results = results
        self.cancelled = cancelled
        self.unattended = unattended
        self.selected = 0
        self.after_text = ""
        self.stop_after = threading.Event()

    @property
    def ardoise(self) -> ArdoiseApp:
        return self.app  # type: ignore[return-value]

    def delivery(self) -> DeliverySummary:
        """Where each certificate is: sent, waiting (why), rejected (the ledger's reason)."""
        s = self.ardoise.survey
        rack = self.ardoise.rack.session if self.ardoise.rack is not None else None
        uplink = self.ardoise.uplink or getattr(rack, "uplink", None)
        try:
            last_error = uplink.state().last_error if uplink is not None else None
        except Exception:
            last_error = None
        return summarize(s.data_dir, [r.certificate_id for r in self.results],
                         s.config.ledger.url, last_error, link_up=lambda: s.network.online)

    def compose(self) -> ComposeResult:
        passed = sum(r.passed for r in self.results)
        title = _("Finished: {passed} of {total} disks passed").format(
            passed=passed, total=len(self.results))
        if self.ardoise.survey.hidden:  # never "all erased" while the firmware hides a drive
            title += "  " + _("Hidden drives were NOT erased: see the dashboard.")
        yield Static(title, classes="title")
        sent = self.delivery()
        with Horizontal(id="body"):
            with VerticalScroll(id="list"):
                for i, r in enumerate(self.results):
                    with Horizontal(classes="result " + ("pass" if r.passed else "fail")
                                    + (" -selected" if i == self.selected else ""),
                                    id=f"result-{i}"):
                        yield Static(_("PASS") if r.passed else _("FAIL"), classes="word")
                        yield Static(self.describe(r, sent), classes="about", markup=False)
            url = self.selected_url()
            if url and self.wide:
                with Vertical(id="qr-side"):
                    yield QrCode(url)
                    yield Static(_("Scan: certificate\nat the ledger"), classes="hint")
        yield Static(delivery_text(sent), id="delivery")
        yield Static(self.after_text, id="after", classes="warning")
        keys = [(b.key.upper(), _(b.description)) for b in self.BINDINGS  # type: ignore[union-attr]
                if b.show and (b.key != "c" or (url and not self.wide))]  # type: ignore[union-attr]
        yield KeyBar([*keys[:-1], ("F2", _("other language")), keys[-1]])

    @property
    def wide(self) -> bool:
        """Room for the QR code beside the results (a laptop console, not 80 columns)."""
        return self.app.size.width >= WIDE

    def selected_url(self) -> str | None:
        return self.record_url(self.results[self.selected]) if self.results else None

    def action_qr(self) -> None:
        url = self.selected_url()
        if url:
            self.app.push_screen(QrScreen(url, self.results[self.selected]))

    def describe(self, r: JobResult, sent: DeliverySummary) -> str:
        lines = [f"{r.path}  {r.model}  [{r.serial or '-'}]  {format_size(r.size_bytes)}",
                 verdict_words(r)]
        if r.certificate_id:
            lines.append(_("Certificate {id}: {where}").format(
                id=r.certificate_id, where=where_words(sent.of(r.certificate_id))))
        elif r.untouched:
            lines.append(_("No certificate: nothing was done to this disk."))
        else:
            lines.append(_("No certificate could be written."))
        if r.errors and not r.passed:
            lines.append(_("Reason: {error}").format(error=r.errors[0]))
        return "\n".join(lines)

    def record_url(self, r: JobResult) -> str | None:
        base = self.ardoise.survey.config.ledger.url
        if not base or not r.certificate_id:
            return None
        return f"{base}/certificates/{r.certificate_id}"

    def on_mount(self) -> None:
        self.set_interval(5.0, self.refresh_sent)
        if self.unattended:
            self.finish_unattended()

    async def refresh_sent(self) -> None:
        self.show_delivery()

    def show_delivery(self) -> None:
        sent = self.delivery()
        for i, r in enumerate(self.results):
            about = self.query_one(f"#result-{i}").query_one(".about", Static)
            about.update(self.describe(r, sent))
        self.query_one("#delivery", Static).update(delivery_text(sent))

    async def action_select(self, step: int) -> None:
        if self.results:
            self.selected = (self.selected + step) % len(self.results)
            await self.recompose()

    # --- unattended end: deliver, then power off / reboot / stay --------------------------
    @work(thread=True, exit_on_error=False)
    def finish_unattended(self) -> None:
        s = self.ardoise.survey
        uplink = self.ardoise.uplink
        rack = self.ardoise.rack.session if self.ardoise.rack is not None else None
        if rack is not None:  # nothing is powered off with an undelivered certificate
            self.app.call_from_thread(self.say_after, _("Sending the certificates..."))
            pending = rack.finish(self.stop_after)
            if pending:
                self.app.call_from_thread(self.say_after, ngettext(
                    "{n} certificate is not at the ledger yet: this computer stays on.",
                    "{n} certificates are not at the ledger yet: this computer stays on.",
                    pending).format(n=pending))
                return
        elif uplink is not None:
            self.app.call_from_thread(self.say_after, _("Sending the certificates..."))
            unattended_mode.deliver(uplink, 300, self.stop_after)
        self.app.call_from_thread(self.show_delivery)
        if not self.delivery().ok:  # the red lines stay on screen until someone reads them
            self.app.call_from_thread(self.say_after, _(
                "The ledger rejected a certificate: this computer stays on."))
            return
        after = s.config.unattended.after
        if after == "stay":
            self.app.call_from_thread(self.say_after, "")
            return
        for left in range(s.config.unattended.countdown_seconds, 0, -1):
            words = (_("Powering off in {n} s: press any key to stay.") if after == "poweroff"
                     else _("Restarting in {n} s: press any key to stay.")).format(n=left)
            self.app.call_from_thread(self.say_after, words)
            if self.stop_after.wait(1.0):
                self.app.call_from_thread(self.say_after, "")
                return
        unattended_mode.power_action(after)

    def say_after(self, text: str) -> None:
        self.after_text = text
        self.query_one("#after", Static).update(text)

    def on_key(self, event: events.Key) -> None:
        if self.unattended and not self.stop_after.is_set():
            self.stop_after.set()  # any key: a person is here, stay
            self.say_after("")

    @work(thread=True, exit_on_error=False)
    def action_poweroff(self) -> None:
        self.stop_after.set()
        unattended_mode.power_action("poweroff")

    def action_quit(self) -> None:
        self.stop_after.set()
        self.app.exit(0 if all(r.passed for r in self.results) and self.delivery().ok else 1)
