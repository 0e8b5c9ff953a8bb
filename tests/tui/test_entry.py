"""`ardoise tui` in a real terminal (pty): the bad-config screen, then Q."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect


def test_ardoise_tui_shows_a_bad_config_and_quits(tmp_path: Path) -> None:
    bad = tmp_path / "ardoise.yaml"
    bad.write_text("erase:\n  level: strong\n")
    child = pexpect.spawn(sys.executable, ["-m", "appliance.cli", "tui", "--config", str(bad),
                                           "--data", str(tmp_path / "data")],
                          dimensions=(25, 80), timeout=60, env={"TERM": "linux", "PATH": "/usr/bin:/bin"})
    child.expect("configuration is wrong")
    child.expect("erase.level")
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
