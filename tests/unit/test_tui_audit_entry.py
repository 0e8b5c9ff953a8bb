"""`ardoise tui --audit DEV` opens the audit screen (tui.audit) after the same checks as the
other entries: bad input is one sentence and its exit code, before any screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main


def test_audit_mode_of_a_missing_disk_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    assert main(["tui", "--audit", "/dev/nosuch", "--data", str(tmp_path)]) == 2
    assert "/dev/nosuch" in capsys.readouterr().err


def test_audit_options_without_audit_mode_are_refused(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    assert main(["tui", "--operator", "B. Gagnon", "--data", str(tmp_path)]) == 2
    assert "--audit" in capsys.readouterr().err


def test_audit_mode_hands_its_options_to_the_audit_screen(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    import tui.audit
    from appliance.commands import tui as command

    seen: dict[str, Any] = {}
    monkeypatch.setattr(command, "check_devices", lambda paths: seen.setdefault("paths", paths))
    monkeypatch.setattr(tui.audit, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    assert main(["tui", "--audit", "/dev/sdz", "--operator", "B. Gagnon", "--certificate",
                 "abc", "--data", str(tmp_path), "--lang", "fr"]) == 0
    assert seen["paths"] == ["/dev/sdz"]
    assert seen["argv"] == ["/dev/sdz", "--data", str(tmp_path), "--lang", "fr",
                            "--certificate", "abc", "--operator", "B. Gagnon"]
