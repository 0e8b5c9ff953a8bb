"""Audit mode: one disk read end to end, then a large PASS or FAIL in plain words.

    python -m tui.audit DEVICE [--certificate FILE|ID] [--manifest M] [--operator NAME]
                        [--data DIR] [--lang fr|en]

The same checks and the same signed record as `ardoise audit` (appliance.audit,
erasure.scan); the disk, certificate and manifest are checked first exactly as the command
does (exit 2 for bad input, 3 for a disk in use, with one sentence). F2 switches French /
English, q leaves once the audit is over (exit 0 pass, 1 fail).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from appliance.i18n import _, format_rate, format_size, get_language, set_language, tr
from erasure.methods.base import Progress


class AuditScreen(Screen[None]):
    DEFAULT_CSS = """
    AuditScreen > Vertical { padding: 1 2; }
    AuditScreen #word { height: 3; width: 12; content-align: center middle; text-style: bold; }
    AuditScreen #word.-pass { background: ansi_green; color: ansi_black; }
    AuditScreen #word.-fail { background: ansi_red; color: ansi_white; }
    """
    BINDINGS = [Binding("q", "leave", "quit")]

    def __init__(self, plan: Any, data_dir: Path, operator: str | None) -> None:
        super().__init__()
        self.plan, self.data_dir, self.operator = plan, data_dir, operator
        self.record: dict[str, Any] | None = None
        self.cancel = threading.Event()
        self.done_bytes = 0
        self.rate = 0.0

    def compose(self) -> ComposeResult:
        disk = self.plan.disk
        with Vertical():
            yield Static(_("Audit of {path}: {model}, serial {serial}, {size}").format(
                path=disk.path, model=disk.model or "-", serial=disk.serial or "-",
                size=format_size(disk.size_bytes)), id="title")
            yield ProgressBar(total=self.plan.size, show_eta=False, id="bar")
            yield Static(self._reading(), id="status")
            yield Static("", id="word")
            yield Static("", id="verdict")
            yield Static("", id="findings")
        if self.record is not None:
            self.call_after_refresh(self._show)

    def on_mount(self) -> None:
        if self.record is None:
            self.run_audit()

    def _reading(self) -> str:
        return _("Reading every byte: {done} of {size} ({rate})").format(
            done=format_size(self.done_bytes), size=format_size(self.plan.size),
            rate=format_rate(self.rate))

    def progress(self, event: Progress) -> None:
        self.done_bytes, self.rate = event.done_bytes, event.rate_bytes_per_s
        self.query_one("#bar", ProgressBar).update(progress=event.done_bytes)
        self.query_one("#status", Static).update(self._reading())

    @work(thread=True, exclusive=True)
    def run_audit(self) -> None:
        from appliance import audit
        from erasure import scan

        result = scan.scan(self.plan.disk.path, self.plan.regions, cancel=self.cancel,
                           progress=lambda e: self.app.call_from_thread(self.progress, e))
        record = audit.build_record(self.plan, result, operator=self.operator)
        signed, _path = audit.issue(record, self.data_dir)
        self.app.call_from_thread(self.finished, signed)

    def finished(self, record: dict[str, Any]) -> None:
        self.record = record
        self._show()

    def _show(self) -> None:
        record = self.record
        assert record is not None
        passed = record["result"] == "pass"
        word = self.query_one("#word", Static)
        word.update(_("PASS") if passed else _("FAIL"))
        word.set_class(passed, "-pass")
        word.set_class(not passed, "-fail")
        cov = record["coverage"]
        self.query_one("#bar", ProgressBar).update(progress=cov["bytes_read"])
        self.query_one("#status", Static).update(_("{read} read at {rate}").format(
            read=format_size(cov["bytes_read"]),
            rate=format_rate(record["throughput_bytes_per_s"])))
        text = (_("Nothing recoverable was found. This disk may leave.") if passed else
                _("Data is left on this disk: keep it apart and tell your supervisor."))
        notes = [tr(n) for n in self.plan.notes]
        self.query_one("#verdict", Static).update("\n".join([text, *notes]))
        kinds = {"signature": _("signature"), "image-mismatch": _("differs from the image"),
                 "pattern-mismatch": _("not the erase pattern"), "read-error": _("unreadable")}
        lines = [_("offset {offset}: {kind} ({what})").format(
            offset=f["offset"], kind=kinds.get(f["kind"], f["kind"]), what=f["what"])
            for f in record["findings"][:10]]
        lines.append(_("validation record {id}").format(id=record["id"]) + "  ·  " +
                     _("q: quit"))
        self.query_one("#findings", Static).update("\n".join(lines))

    def action_leave(self) -> None:
        if self.record is None:
            return  # the audit runs until the last byte: its record must exist
        code = 0 if self.record["result"] == "pass" else 1
        self.app.exit(code, return_code=code)


class AuditApp(App[int]):
    CSS_PATH = "ardoise.tcss"
    TITLE = "Ardoise"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("f2", "toggle_language", "language", show=False, priority=True)]

    def __init__(self, plan: Any, data_dir: Path, operator: str | None = None,
                 ansi_color: bool = True) -> None:
        super().__init__(ansi_color=ansi_color)
        self.plan, self.data_dir, self.operator = plan, data_dir, operator

    def on_mount(self) -> None:
        self.theme = "ansi-dark"
        self.push_screen(AuditScreen(self.plan, self.data_dir, self.operator))

    async def action_toggle_language(self) -> None:
        set_language("en" if get_language().startswith("fr") else "fr")
        for screen in self.screen_stack:
            await screen.recompose()


def main(argv: list[str] | None = None) -> int:
    from appliance.cli import kernel_cmdline_value
    from appliance.commands.audit import _certificate, _disk, _manifest
    from appliance.errors import Refused, UsageError
    from appliance.paths import default_data_dir

    p = argparse.ArgumentParser(prog="python -m tui.audit")
    p.add_argument("device")
    p.add_argument("--certificate", default=None)
    p.add_argument("--manifest", default=None)
    p.add_argument("--operator", default=None)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--lang", default=None)
    args = p.parse_args(argv)
    set_language(args.lang or os.environ.get("ARDOISE_LANG")
                 or kernel_cmdline_value("ardoise.lang"))
    data = args.data or default_data_dir()
    from appliance import audit

    try:
        disk = _disk(args.device)
        certificate, cert_sig = _certificate(args.certificate, data)
        manifest, manifest_sig = _manifest(args.manifest, [], data)
        plan = audit.prepare(disk, manifest=manifest, manifest_signature=manifest_sig,
                             certificate=certificate, certificate_signature=cert_sig)
    except (UsageError, Refused) as exc:
        print(f"ardoise: {exc}", file=sys.stderr)
        return exc.exit_code
    except audit.AuditInputError as exc:
        print(f"ardoise: {tr(exc.message)}", file=sys.stderr)
        return 2
    code = AuditApp(plan, data, args.operator).run()
    return int(code) if code is not None else 1


if __name__ == "__main__":
    sys.exit(main())
