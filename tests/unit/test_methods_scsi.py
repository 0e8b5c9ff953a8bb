"""SCSI SANITIZE: the state decoded from REQUEST SENSE as sg_requests 1.46/1.48 prints it."""

from __future__ import annotations

from typing import Any

import pytest

from erasure import methods, runner
from erasure.methods.base import EraseContext
from erasure.parse_scsi import parse_sg_requests, sanitize_state
from tests.unit.test_methods_ata import FakeClock
from tests.unit.test_methods_other import fx, sas

START = ["sg_sanitize", "--overwrite", "--quick", "--early", "--zero"]


def requests(name: str) -> tuple[str, str]:
    return fx(f"sg/sg_requests-1.46-{name}.txt"), fx(f"sg/sg_requests-1.46-{name}.stderr.txt")


def replies(*outputs: tuple[str, str]) -> Any:
    """Successive sg_requests answers (stdout, stderr), exit 0 as sg_requests.c returns."""
    state = {"i": 0}

    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        out, err = outputs[min(state["i"], len(outputs) - 1)]
        state["i"] += 1
        return runner.Result(tuple(argv), 0, out, err, 0.0)
    return answer


@pytest.mark.parametrize(("name", "state", "progress"), [
    ("sanitize-running", "running", 0.1249),
    ("sanitize-running-desc", "running", 0.25),
    ("no-sense", "done", None),
    ("sanitize-failed", "failed", None),
    ("unit-attention", "retry", None),
])
def test_sense_decoded_by_sg_requests(name: str, state: str, progress: float | None) -> None:
    out, err = requests(name)
    sense = parse_sg_requests(out + "\n" + err)
    assert sense is not None
    assert sanitize_state(sense) == state
    assert sense.progress == (pytest.approx(progress) if progress is not None else None)


def test_failed_sanitize_is_failed_with_the_drives_reason(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add([*START, "--count=1", "/dev/sdb"])
    fake_runner.add_callable(["sg_requests", "/dev/sdb"], replies(
        requests("sanitize-running"), requests("sanitize-failed")))
    result = methods.get("scsi-sanitize-overwrite").run(sas(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "failed"
    assert result.errors == ["the drive reports that the sanitize operation failed",
                             "the drive reports: Medium Error, Sanitize command failed"]
    assert "drive_busy" not in result.details
    assert result.details["polls"] == 2


def test_sanitize_done_after_progress(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add([*START, "--count=3", "/dev/sdb"])
    fake_runner.add_callable(["sg_requests", "/dev/sdb"], replies(
        requests("sanitize-running-desc"), requests("unit-attention"), requests("no-sense")))
    disk = sas()
    result = methods.get("scsi-sanitize-overwrite").run(disk, EraseContext(
        options={"clock": FakeClock(), "overwrite_passes": 3}))
    assert result.status == "erased" and result.errors == []
    assert result.details["overwrite_passes"] == 3
    assert result.details["timeout_basis"] == "capacity"
    expected = max(2 * 3600, int(disk.size_bytes * 3 / 50e6 * 1.5))
    assert result.details["timeout_seconds"] == expected
    assert result.details["polls"] == 3


def test_request_sense_itself_failing_medium_error(fake_runner) -> None:  # type: ignore[no-untyped-def]
    # sg_requests.c: REQUEST SENSE terminated with CHECK CONDITION, MEDIUM ERROR: the
    # category string on stdout, exit status SG_LIB_CAT_MEDIUM_HARD (3)
    fake_runner.add([*START, "--count=1", "/dev/sdb"])
    out, err = requests("check-condition-medium")
    fake_runner.add(["sg_requests", "/dev/sdb"], out, returncode=3, stderr=err)
    result = methods.get("scsi-sanitize-overwrite").run(sas(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "failed"
    assert result.errors[-1] == "the drive reports: Medium Error, Sanitize command failed"


def test_request_sense_failing_without_sense_text(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add([*START, "--count=1", "/dev/sdb"])
    fake_runner.add(["sg_requests", "/dev/sdb"], "Medium or hardware error\n", returncode=3,
                    stderr="sg_requests failed: Medium or hardware error\n")
    result = methods.get("scsi-sanitize-overwrite").run(sas(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "failed"
    assert result.errors[-1] == "the drive reports: sg_requests failed: Medium or hardware error"


def test_overwrite_passes_outside_sg_sanitize_range_is_refused(fake_runner) -> None:  # type: ignore[no-untyped-def]
    result = methods.get("scsi-sanitize-overwrite").run(sas(), EraseContext(
        options={"overwrite_passes": 40}))
    assert result.status == "failed" and "1 to 31" in result.errors[0]
    assert fake_runner.calls == []


def test_sanitize_refused_while_one_runs_leaves_the_drive_busy(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add([*START, "--count=1", "/dev/sdb"],
                    fixture="sg/qemu-7.2-scsi-sanitize-rejected.txt", returncode=2,
                    stderr=fx("sg/sg_sanitize-1.46-not-ready.stderr.txt"))
    out, err = requests("sanitize-running")
    fake_runner.add(["sg_requests", "/dev/sdb"], out, stderr=err)
    result = methods.get("scsi-sanitize-overwrite").run(sas(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "failed" and result.details["drive_busy"] is True
    assert result.errors == ["sg_sanitize failed: sg_sanitize failed: Device not ready",
                             "the drive is already sanitizing: wait for it to finish, then "
                             "erase it again"]
