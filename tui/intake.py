"""The technician's intake of a machine, keyboard only: operator (asked once a session,
the config's name as default), cosmetic grade A-D with one-line definitions, missing parts,
asset tag (typed, or read by a USB barcode scanner, which types it and presses Enter),
notes. Tab moves between fields, arrows and Space choose, Ctrl+S or Enter on the notes
records, Esc leaves without recording.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static

from appliance.i18n import _, tr
from appliance.intake import GRADES, MISSING_PARTS, Intake
from tui.widgets.keybar import KeyBar


class IntakeScreen(ModalScreen[Intake | None]):
    DEFAULT_CSS = """
    IntakeScreen { align: center middle; }
    IntakeScreen > VerticalScroll { width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: ascii ansi_white; background: ansi_black; padding: 0 1; }
    IntakeScreen Input { border: none; height: 1; padding: 0 1; background: ansi_bright_black;
        margin-bottom: 1; }
    IntakeScreen Input:focus { background: ansi_blue; }
    IntakeScreen RadioSet { border: none; width: 100%; margin-bottom: 1; }
    IntakeScreen RadioSet:focus { background: ansi_blue; }
    IntakeScreen #missing { layout: grid; grid-size: 3; grid-rows: 1; height: auto;
        margin-bottom: 1; }
    IntakeScreen Checkbox { border: none; padding: 0; width: auto; height: 1; }
    IntakeScreen Checkbox:focus { background: ansi_blue; }
    IntakeScreen .title { text-style: bold; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel"),
                Binding("ctrl+s", "save", "save", priority=True)]

    def __init__(self, draft: Intake | None = None) -> None:
        super().__init__()
        self.draft = draft or Intake()

    def compose(self) -> ComposeResult:
        d = self.draft
        with VerticalScroll():
            yield Static(_("Intake of this machine"), classes="title")
            yield Label(_("Operator"))
            yield Input(d.operator or "", placeholder=_("your name"), id="operator")
            yield Label(_("Cosmetic grade"))
            with RadioSet(id="grade"):
                for grade, meaning in GRADES.items():
                    yield RadioButton(f"{grade}  {tr(meaning)}", value=d.grade == grade,
                                      name=grade)
            yield Label(_("Missing parts"))
            with Container(id="missing"):
                for part, label in MISSING_PARTS.items():
                    yield Checkbox(tr(label), value=part in d.missing, name=part)
            yield Label(_("Asset tag (type it or scan the barcode)"))
            yield Input(d.asset_tag or "", placeholder="OPQ-000123", id="asset")
            yield Label(_("Notes"))
            yield Input(d.notes or "", id="notes")
            yield Static("", id="problem", classes="warning")
        yield KeyBar([("Tab", _("next field")), (_("Space"), _("choose")),
                      ("Ctrl+S", _("Record")), ("Esc", _("Cancel"))])

    def on_mount(self) -> None:
        self.query_one("#operator" if not self.draft.operator else "#grade").focus()

    # the draft follows every field, so a language switch (F2, which recomposes) keeps it
    def on_input_changed(self, event: Input.Changed) -> None:
        field = {"operator": "operator", "asset": "asset_tag", "notes": "notes"}[event.input.id
                                                                                 or ""]
        setattr(self.draft, field, event.value)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.draft.grade = event.pressed.name

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        part = event.checkbox.name or ""
        missing = [p for p in self.draft.missing if p != part]
        self.draft.missing = missing + [part] if event.value else missing

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "notes":
            self.action_save()
        else:  # a barcode scanner ends with Enter: go on to the next field
            self.focus_next()

    def action_save(self) -> None:
        d = self.draft
        intake = Intake.clean(d.operator or "", d.grade, d.missing, d.asset_tag or "",
                              d.notes or "")
        if not intake.operator:
            self.query_one("#problem", Static).update(_("Type the operator's name first."))
            self.query_one("#operator").focus()
            return
        if intake.problems():
            self.query_one("#problem", Static).update(
                _("Asset tag or notes too long: shorten them."))
            return
        self.dismiss(intake)

    def action_cancel(self) -> None:
        self.dismiss(None)
