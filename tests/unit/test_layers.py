"""Layering checked a second time (import-linter is the first): importing erasure and
appliance must not load textual."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["erasure.discovery", "appliance.cli", "appliance.certificate"])
def test_no_textual_below_tui(module: str) -> None:
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_runner_refuses_in_unit_tests() -> None:
    from erasure import runner
    from tests.conftest import UnexpectedCommand

    with pytest.raises(UnexpectedCommand):
        runner.run(["true"], timeout=5)


def test_runner_requires_list_and_timeout(real_commands: None) -> None:
    from erasure import runner

    with pytest.raises(TypeError):
        runner.run("true", timeout=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        runner.run(["true"], timeout=0)
    with pytest.raises(runner.CommandTimeout):
        runner.run(["sleep", "5"], timeout=0.2)
    with pytest.raises(runner.CommandNotFound):
        runner.run(["/nonexistent/tool"], timeout=5)
    with pytest.raises(runner.CommandError):
        runner.run(["false"], timeout=5)
    assert runner.run(["echo", "hi"], timeout=5).stdout == "hi\n"
