"""Confirmation before anything is touched (DESIGN.md safety rule 3).

Interactive: the technician types the words shown, which name the number of disks.
Unattended: a countdown; any key cancels it.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from appliance.i18n import _, ngettext
from tui.widgets.keybar import KeyBar


def expected_words(count: int) -> str:
    return _("ERASE {n}").format(n=count)


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 70; max-width: 100%; height: auto;
        border: ascii ansi_bright_red; background: ansi_black; padding: 0 1; }
    ConfirmScreen Input { border: ascii ansi_white; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, count: int, countdown: int | None = None) -> None:
        super().__init__()
        self.count = count
        self.remaining = countdown

    def compose(self) -> ComposeResult:
        with Vertical():
            what = ngettext("{n} disk will be erased for good.",
                            "{n} disks will be erased for good.", self.count).format(n=self.count)
            yield Static(what, classes="danger")
            if self.remaining is None:
                yield Static(_("Everything on them is lost. To go on, type {words} and press "
                               "Enter.").format(words=expected_words(self.count)))
                yield Input(placeholder=expected_words(self.count), id="words")
                yield Static("", id="mismatch", classes="warning")
            else:
                yield Static(self.countdown_text(), id="countdown", classes="warning")
        yield KeyBar([("Esc", _("Cancel"))] if self.remaining is None
                     else [(_("any key"), _("Cancel"))])

    def countdown_text(self) -> str:
        return _("Unattended mode: erasure starts in {n} s. Press any key to cancel.").format(
            n=self.remaining)

    def on_mount(self) -> None:
        self.timer = self.set_interval(1.0, self.tick) if self.remaining is not None else None

    def tick(self) -> None:
        assert self.remaining is not None
        self.remaining -= 1
        if self.remaining <= 0:
            self.dismiss(True)
            return
        self.query_one("#countdown", Static).update(self.countdown_text())

    def on_key(self, event: events.Key) -> None:
        if self.remaining is not None:  # unattended: any key cancels
            event.stop()
            self.dismiss(False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if " ".join(event.value.split()).upper() == expected_words(self.count).upper():
            self.dismiss(True)
        else:
            event.input.value = ""
            self.query_one("#mismatch", Static).update(
                _("That is not {words}: nothing was touched. Type it again, or Esc to go back.")
                .format(words=expected_words(self.count)))

    def action_cancel(self) -> None:
        self.dismiss(False)
