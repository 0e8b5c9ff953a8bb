"""ATA failure paths fed what hdparm 9.65 prints and returns in each state (exit code,
stdout, stderr; tests/fixtures/README.md says where each output comes from)."""

from __future__ import annotations

from typing import Any

import pytest

from erasure import methods, runner
from erasure.methods.base import EraseContext, EraseResult
from erasure.parse_ata import parse_sanitize_status
from tests.conftest import FIXTURES
from tests.unit.test_methods_ata import (
    INTEL,
    INTEL_ENABLED,
    MICRON,
    SANITIZE_DONE,
    SANITIZE_IDLE,
    SANITIZE_RUNNING,
    STATUS,
    FakeClock,
    sata,
    sequence,
)


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


FAILED_OUT, FAILED_ERR = fx("hdparm/sanitize-status-failed.txt"), fx(
    "hdparm/sanitize-status-failed.stderr.txt")
EIO = 5


def strings(value: Any) -> list[str]:
    """Every string inside `value` (errors, details, nested)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    return []


def assert_secret_absent(result: EraseResult, secret: str) -> None:
    shown = strings(result.errors) + strings(result.details)
    assert shown and not [s for s in shown if secret in s]


# --- 3. a failed sanitize fails at once, with the drive's reason ----------------------------

def test_sanitize_status_after_a_failed_sanitize_is_failed_not_unreadable() -> None:
    status = parse_sanitize_status(EIO, FAILED_OUT, FAILED_ERR)
    assert status.state == "failed"
    assert status.reason == "Last Sanitize Command completed unsuccessfully"
    assert parse_sanitize_status(0, SANITIZE_RUNNING).state == "running"
    assert parse_sanitize_status(0, SANITIZE_DONE).state == "done"
    assert parse_sanitize_status(0, SANITIZE_IDLE).state == "idle"
    # a device that cannot be opened (process_dev: perror(devname), exit errno)
    gone = parse_sanitize_status(2, "", "/dev/sdz: No such file or directory\n")
    assert gone.state == "unreadable"
    # EIO without the drive's reason (no IDENTIFY data: do_sanitize_cmd exits EIO silently)
    silent = parse_sanitize_status(EIO, fx("hdparm/loop-sanitize-status.txt"), "")
    assert silent.state == "unreadable"


def test_failed_sanitize_ends_at_the_first_poll_with_the_drives_reason(fake_runner) -> None:  # type: ignore[no-untyped-def]
    statuses = [runner.Result(tuple(STATUS), 0, SANITIZE_IDLE, "", 0.0),
                runner.Result(tuple(STATUS), EIO, FAILED_OUT, FAILED_ERR, 0.0)]

    def status(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        return statuses.pop(0) if len(statuses) > 1 else statuses[0]

    fake_runner.add_callable(STATUS, status)
    fake_runner.add(["hdparm", "--yes-i-know-what-i-am-doing", "--sanitize-block-erase",
                     "/dev/sda"])
    clock = FakeClock()
    result = methods.get("ata-sanitize-block").run(sata(MICRON), EraseContext(
        options={"clock": clock}))
    assert result.status == "failed" and result.details["polls"] == 1
    assert clock.sleeps == 0
    assert any("Last Sanitize Command completed unsuccessfully" in e for e in result.errors)
    assert "drive_busy" not in result.details


# --- 2. one overwrite pass, timeouts from capacity ------------------------------------------

def test_sanitize_overwrite_asks_one_pass_and_a_capacity_timeout(fake_runner) -> None:  # type: ignore[no-untyped-def]
    start = ["hdparm", "--yes-i-know-what-i-am-doing", "--sanitize-overwrite-passes", "1",
             "--sanitize-overwrite", "hex:00000000", "/dev/sda"]
    fake_runner.add(start, fixture="hdparm/sanitize-overwrite-started.txt")
    fake_runner.add_callable(STATUS, sequence(SANITIZE_IDLE, SANITIZE_RUNNING, SANITIZE_DONE))
    journal: list[tuple[str, dict[str, Any], int]] = []
    result = methods.get("ata-sanitize-overwrite").run(sata(MICRON), EraseContext(
        journal=lambda e, d: journal.append((e, d, len(fake_runner.calls))),
        options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    assert tuple(start) in fake_runner.calls
    # the action is journaled before the drive starts it, and forgotten once it ended
    (event, started, calls_before), (_e, ended, _n) = journal
    assert event == "ata-sanitize" and started["action"] == "overwrite" and ended == {}
    assert fake_runner.calls[calls_before] == tuple(start)
    assert result.details["overwrite_passes"] == 1
    # 3750748848 x 512 bytes at 40 MB/s x 1 pass x 1.5 + 30 min
    assert result.details["timeout_seconds"] == int(3750748848 * 512 / 40e6 * 1.5 + 1800)
    assert result.details["timeout_basis"] == "capacity"
    assert result.details["estimate_seconds"] is None
    assert result.details["action_ran"] == "overwrite"


@pytest.mark.parametrize(("passes", "count"), [(3, "3"), (16, "0")])
def test_sanitize_overwrite_passes_from_the_config(fake_runner, passes: int, count: str) -> None:  # type: ignore[no-untyped-def]
    start = ["hdparm", "--yes-i-know-what-i-am-doing", "--sanitize-overwrite-passes", count,
             "--sanitize-overwrite", "hex:00000000", "/dev/sda"]
    fake_runner.add(start, fixture="hdparm/sanitize-overwrite-started.txt")
    fake_runner.add_callable(STATUS, sequence(SANITIZE_IDLE, SANITIZE_DONE))
    result = methods.get("ata-sanitize-overwrite").run(sata(MICRON), EraseContext(
        options={"clock": FakeClock(), "overwrite_passes": passes}))
    assert result.status == "erased" and result.details["overwrite_passes"] == passes
    assert result.details["timeout_seconds"] == int(3750748848 * 512 / 40e6 * passes * 1.5
                                                    + 1800)


def test_overwrite_passes_hdparm_cannot_ask_are_refused(fake_runner) -> None:  # type: ignore[no-untyped-def]
    # hdparm 9.65: "--sanitize-overwrite-passes: Number of passes must be in range 0..7"
    result = methods.get("ata-sanitize-overwrite").run(sata(MICRON), EraseContext(
        options={"overwrite_passes": 9}))
    assert result.status == "failed" and "1 to 7 or 16" in result.errors[0]
    assert fake_runner.calls == []


# --- 6. never start another operation while the drive is busy --------------------------------

def test_sanitize_found_running_without_journal_is_not_adopted(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(STATUS, fixture="hdparm/sanitize-status-in-process.txt")
    result = methods.get("ata-sanitize-crypto").run(sata(MICRON), EraseContext(
        options={"journaled_sanitize_action": "block"}))
    assert result.status == "failed" and result.details["drive_busy"] is True
    assert result.details["resumed_in_progress"] is False
    assert "25%" in result.errors[0]
    assert fake_runner.calls == [tuple(STATUS)]


def test_security_erase_is_not_started_while_a_sanitize_runs(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "-I", "/dev/sda"], INTEL)
    fake_runner.add(STATUS, fixture="hdparm/sanitize-status-in-process.txt")
    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        journal=lambda e, d: None, options={"password_journal_persistent": True}))
    assert result.status == "failed" and result.details["drive_busy"] is True
    assert not any("--security-set-pass" in c for c in fake_runner.calls)


def test_timed_out_sanitize_leaves_the_drive_busy(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "--yes-i-know-what-i-am-doing", "--sanitize-block-erase",
                     "/dev/sda"])
    fake_runner.add_callable(STATUS, sequence(SANITIZE_IDLE, SANITIZE_RUNNING))
    result = methods.get("ata-sanitize-block").run(sata(MICRON), EraseContext(
        options={"clock": FakeClock(), "sanitize_timeout": 600}))
    assert result.status == "failed" and result.details["drive_busy"] is True
    assert result.details["timeout_basis"] == "config"


# --- 7. a failed security erase never leaves a password set ---------------------------------

def erase_run(fake_runner, erase: Any, identify_after: list[str],  # type: ignore[no-untyped-def]
              disable: tuple[int, str, str] | None = None) -> tuple[EraseResult, str,
                                                                    list[str]]:
    """Run ata-secure-erase on the Intel drive; `erase(pw)` answers SECURITY ERASE."""
    fake_runner.add_callable(["hdparm", "-I", "/dev/sda"],
                             sequence(INTEL, INTEL_ENABLED, *identify_after))
    fake_runner.add(STATUS, SANITIZE_IDLE)
    seen: dict[str, Any] = {"pw": "", "events": []}

    def record(event: str, details: dict[str, Any]) -> None:
        seen["events"].append(event if details else event + ":forget")
        if not details:
            return
        pw = seen["pw"] = details["password"]
        fake_runner.add(["hdparm", "--user-master", "u", "--security-set-pass", pw, "/dev/sda"],
                        fx("hdparm/security-set-pass.txt").replace("PASSWORD", pw))
        fake_runner.add_callable(["hdparm", "--user-master", "u", "--security-erase", pw,
                                  "/dev/sda"], erase(pw))
        code, out, err = disable or (0, fx("hdparm/security-disable.txt"), "")
        fake_runner.add(["hdparm", "--user-master", "u", "--security-disable", pw, "/dev/sda"],
                        out.replace("PASSWORD", pw), returncode=code, stderr=err)

    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        journal=record, options={"password_journal_persistent": True}))
    return result, seen["pw"], seen["events"]


def erase_fails(pw: str) -> Any:
    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        return runner.Result(tuple(argv), EIO, fx("hdparm/security-erase-failed.txt").replace(
            "PASSWORD", pw), fx("hdparm/security-erase-failed.stderr.txt"), 0.0)
    return answer


def erase_times_out(pw: str) -> Any:
    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        raise runner.CommandTimeout(argv, timeout)
    return answer


def erase_killed(pw: str) -> Any:
    """hdparm killed by a signal mid-erase: what it printed so far, nothing on stderr."""
    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        return runner.Result(tuple(argv), -9, fx("hdparm/security-erase-failed.txt").replace(
            "PASSWORD", pw), "", 0.0)
    return answer


@pytest.mark.parametrize("erase", [erase_fails, erase_times_out, erase_killed])
def test_failed_security_erase_disables_the_password(fake_runner, erase: Any) -> None:  # type: ignore[no-untyped-def]
    # after the failure: still enabled, then SECURITY DISABLE, then not enabled
    result, pw, events = erase_run(fake_runner, erase, [INTEL_ENABLED, INTEL])
    assert result.status == "failed"
    assert ("hdparm", "--user-master", "u", "--security-disable", pw, "/dev/sda") in \
        fake_runner.calls
    assert result.details["password_cleared"] is True
    assert events == ["ata-password", "ata-password:forget"]
    assert_secret_absent(result, pw)
    if erase is erase_killed:  # hdparm's echo of the password is the reason shown: masked
        assert any('password="***"' in e for e in result.errors)
    # timed out, the drive may still be erasing: no other method is started
    assert result.details.get("drive_busy") is (True if erase is erase_times_out else None)


def test_password_that_cannot_be_removed_is_said_plainly(fake_runner) -> None:  # type: ignore[no-untyped-def]
    disable = (EIO, fx("hdparm/security-disable-failed.txt"),
               fx("hdparm/security-disable-failed.stderr.txt"))
    result, pw, events = erase_run(fake_runner, erase_fails, [INTEL_ENABLED], disable)
    assert result.status == "failed" and result.details["password_cleared"] is False
    assert any("will lock at its next power cycle" in e for e in result.errors)
    assert events == ["ata-password"]  # the journal keeps it
    assert_secret_absent(result, pw)


def test_identify_failing_after_set_pass_still_disables(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(STATUS, SANITIZE_IDLE)
    calls = {"n": 0}

    def identify(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        calls["n"] += 1
        if calls["n"] in (2, 3):  # after SET PASSWORD, and the first look of the cleanup
            # an empty IDENTIFY, exit 0 (the capture through QEMU usb-storage)
            return runner.Result(tuple(argv), 0, fx("hdparm/qemu-7.2-usb-storage.txt"), "", 0.0)
        return runner.Result(tuple(argv), 0, INTEL, "", 0.0)

    fake_runner.add_callable(["hdparm", "-I", "/dev/sda"], identify)
    seen: dict[str, str] = {}

    def record(event: str, details: dict[str, Any]) -> None:
        if details:
            pw = seen["pw"] = details["password"]
            fake_runner.add(["hdparm", "--user-master", "u", "--security-set-pass", pw,
                             "/dev/sda"])
            fake_runner.add(["hdparm", "--user-master", "u", "--security-disable", pw,
                             "/dev/sda"], fx("hdparm/security-disable.txt").replace(
                                 "PASSWORD", pw))

    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        journal=record, options={"password_journal_persistent": True}))
    assert result.status == "failed" and result.details["password_cleared"] is True
    assert ("hdparm", "--user-master", "u", "--security-disable", seen["pw"], "/dev/sda") in \
        fake_runner.calls
    assert_secret_absent(result, seen["pw"])


def test_journaled_password_never_shown_when_unlock_fails(fake_runner) -> None:  # type: ignore[no-untyped-def]
    locked = INTEL_ENABLED.replace("        not     locked\n", "                locked\n")
    pw = "ardoise-0123456789abcdef"
    fake_runner.add(["hdparm", "-I", "/dev/sda"], locked)
    fake_runner.add(["hdparm", "--user-master", "u", "--security-unlock", pw, "/dev/sda"],
                    fx("hdparm/security-unlock-failed.txt").replace("PASSWORD", pw),
                    returncode=EIO, stderr=fx("hdparm/security-disable-failed.stderr.txt"))
    result = methods.get("ata-secure-erase").run(sata(locked), EraseContext(
        options={"journaled_password": pw, "password_journal_persistent": True}))
    assert result.status == "failed"
    assert_secret_absent(result, pw)


@pytest.mark.parametrize("persistent", [False, None])
def test_no_password_set_without_a_persistent_journal(fake_runner, persistent: Any) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "-I", "/dev/sda"], INTEL)
    fake_runner.add(STATUS, SANITIZE_IDLE)
    options = {} if persistent is None else {"password_journal_persistent": persistent}
    journal: list[str] = []
    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        journal=lambda e, d: journal.append(e), options=options))
    assert result.status == "failed" and "persistent storage" in result.errors[0]
    assert journal == [] and all("--security-set-pass" not in c for c in fake_runner.calls)


# --- 8. no ATA security or sanitize command through a USB bridge ----------------------------

@pytest.mark.parametrize("name", ["ata-secure-erase", "ata-secure-erase-enhanced",
                                  "ata-sanitize-crypto", "ata-sanitize-block"])
def test_usb_bridge_gets_no_ata_erase_command(fake_runner, name: str) -> None:  # type: ignore[no-untyped-def]
    disk = sata(MICRON if "sanitize" in name else INTEL)
    disk.transport = "usb"
    method = methods.get(name)
    assert not method.supported(disk)
    result = method.run(disk, EraseContext(journal=lambda e, d: None,
                                           options={"password_journal_persistent": True}))
    assert result.status == "failed" and result.details["usb_bridge"] is True
    assert "USB bridge" in result.errors[0] and fake_runner.calls == []


def test_security_erase_not_tried_on_a_drive_in_sanitize_failed_state(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "-I", "/dev/sda"], INTEL)
    fake_runner.add(STATUS, FAILED_OUT, returncode=EIO, stderr=FAILED_ERR)
    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        journal=lambda e, d: None, options={"password_journal_persistent": True}))
    assert result.status == "failed" and "last sanitize failed" in result.errors[0]
    assert "Last Sanitize Command completed unsuccessfully" in result.errors[0]
    assert fake_runner.calls == [("hdparm", "-I", "/dev/sda"), tuple(STATUS)]
