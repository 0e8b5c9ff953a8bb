"""ATA adapters over real hdparm captures: frozen, rejected, locked, sanitize polling."""

from __future__ import annotations

from typing import Any

from erasure import methods, runner
from erasure.disk import Disk
from erasure.methods.base import EraseContext
from erasure.probe import ProbeOutputs, disk_from_outputs
from tests.conftest import FIXTURES

MICRON = (FIXTURES / "hdparm/micron-5300-frozen.txt").read_text()
INTEL = (FIXTURES / "hdparm/intel-ssdsc2bb480g7k-not-frozen.txt").read_text()
# The same real capture with the security state lines changed the way hdparm prints them
# after SECURITY SET PASSWORD (enabled) and after a power cycle (enabled + locked).
INTEL_ENABLED = INTEL.replace("        not     enabled\n", "                enabled\n")
INTEL_LOCKED = INTEL_ENABLED.replace("        not     locked\n", "                locked\n")
SANITIZE_RUNNING = (FIXTURES / "hdparm/sanitize-status-in-process.txt").read_text()
# hdparm's printout once the drive reports SD0 with the "operation succeeded" flag
SANITIZE_DONE = (FIXTURES / "hdparm/sanitize-status-done.txt").read_text()
SANITIZE_IDLE = (FIXTURES / "hdparm/sanitize-status-idle.txt").read_text()
PERSISTENT = {"password_journal_persistent": True}
STATUS = ["hdparm", "--sanitize-status", "/dev/sda"]


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps = 0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.sleeps += 1


def sequence(*outputs: str) -> Any:
    """A callable answering successive calls with successive outputs (last one repeats)."""
    state = {"i": 0}

    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        i = min(state["i"], len(outputs) - 1)
        state["i"] += 1
        return runner.Result(tuple(argv), 0, outputs[i], "", 0.0)
    return answer


def sata(text: str) -> Disk:
    disk = disk_from_outputs(ProbeOutputs(hdparm_identify=text), path="/dev/sda")
    disk.eligible = True
    return disk


def test_frozen_drive_is_refused_with_the_remedy(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "-I", "/dev/sda"], MICRON)
    result = methods.get("ata-secure-erase").run(sata(MICRON), EraseContext(journal=lambda e, d: None))
    assert result.status == "failed"
    assert "frozen" in result.errors[0] and "rtcwake -m mem -s 5" in result.errors[0]
    assert result.details["remedy"] == "rtcwake -m mem -s 5"
    assert fake_runner.calls == [("hdparm", "-I", "/dev/sda")]


def test_password_journaled_before_set_pass_and_rejection_detected(fake_runner) -> None:  # type: ignore[no-untyped-def]
    # QEMU's disk answers SET PASSWORD with exit 0 and a bad sense: hdparm's exit status
    # cannot be trusted, the state is read again
    journal: list[tuple[str, dict[str, Any], int]] = []
    fake_runner.add(["hdparm", "-I", "/dev/sda"], INTEL)
    fake_runner.add(STATUS, SANITIZE_IDLE)

    def record(event: str, details: dict[str, Any]) -> None:
        journal.append((event, details, len(fake_runner.calls)))
        if not details:  # the password forgotten once the drive is seen without it
            return
        fake_runner.add(["hdparm", "--user-master", "u", "--security-set-pass",
                         details["password"], "/dev/sda"],
                        fixture="hdparm/qemu-7.2-sata-set-pass.txt",
                        stderr=(FIXTURES / "hdparm/qemu-7.2-sata-set-pass.stderr.txt").read_text())

    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        journal=record, options=dict(PERSISTENT)))
    assert result.status == "failed"
    assert any("did not accept SECURITY SET PASSWORD" in e for e in result.errors)
    event, details, calls_before = journal[0]
    assert event == "ata-password" and details["password"].startswith("ardoise-")
    assert fake_runner.calls[calls_before][3] == "--security-set-pass"  # journal came first
    shown = [c["argv"] for c in result.details["commands"]]
    assert all(details["password"] not in argv for argv in shown)
    # the state read again shows no password: nothing to disable, the journal forgets it
    assert result.details["password_cleared"] is True and journal[-1][:2] == ("ata-password", {})
    assert not any("--security-disable" in c for c in fake_runner.calls)


def test_no_journal_no_password(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "-I", "/dev/sda"], INTEL)
    fake_runner.add(STATUS, SANITIZE_IDLE)
    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        options=dict(PERSISTENT)))
    assert result.status == "failed" and "journal" in result.errors[0]
    assert len(fake_runner.calls) == 2  # IDENTIFY and the sanitize state: nothing sent


def test_full_secure_erase_with_timeout_from_drive_estimate(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(["hdparm", "-I", "/dev/sda"], sequence(INTEL, INTEL_ENABLED, INTEL))
    fake_runner.add(STATUS, SANITIZE_IDLE)
    timeouts: dict[str, float] = {}

    def record(event: str, details: dict[str, Any]) -> None:
        if not details:
            return
        pw = details["password"]
        fake_runner.add(["hdparm", "--user-master", "u", "--security-set-pass", pw, "/dev/sda"])

        def erase(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
            timeouts["erase"] = timeout
            return runner.Result(tuple(argv), 0, "", "", 0.0)
        fake_runner.add_callable(["hdparm", "--user-master", "u", "--security-erase", pw,
                                  "/dev/sda"], erase)

    result = methods.get("ata-secure-erase").run(sata(INTEL), EraseContext(
        journal=record, options=dict(PERSISTENT)))
    assert result.status == "erased", result.errors
    assert result.details["expect"] == "zero-or-ones"
    # past hdparm's own SG_IO timeout (get_erase_timeout_secs): max(4 + 60 min, 937703088
    # sectors / 2048 / 30 + 30 min = 17062 s), + 300 s
    assert timeouts["erase"] == result.details["timeout_seconds"] == 17062 + 300
    assert result.details["timeout_basis"] == "drive-estimate"
    assert result.details["estimate_seconds"] == 240
    assert result.details["password_cleared"] is True


def test_locked_drive_unlocked_with_journaled_password(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(["hdparm", "-I", "/dev/sda"],
                             sequence(INTEL_LOCKED, INTEL_ENABLED, INTEL))
    fake_runner.add(STATUS, SANITIZE_IDLE)
    pw = "ardoise-0123456789abcdef"
    fake_runner.add(["hdparm", "--user-master", "u", "--security-unlock", pw, "/dev/sda"])
    fake_runner.add(["hdparm", "--user-master", "u", "--security-erase", pw, "/dev/sda"])
    ctx = EraseContext(options={"journaled_password": pw})
    result = methods.get("ata-secure-erase").run(sata(INTEL_LOCKED), ctx)
    assert result.status == "erased", result.errors
    assert result.details["unlocked_with_journaled_password"] is True
    assert not any(c[3] == "--security-set-pass" for c in fake_runner.calls if len(c) > 3)


def test_locked_drive_without_journaled_password(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "-I", "/dev/sda"], INTEL_LOCKED)
    result = methods.get("ata-secure-erase").run(sata(INTEL_LOCKED), EraseContext())
    assert result.status == "failed" and "locked" in result.errors[0]
    assert fake_runner.calls == [("hdparm", "-I", "/dev/sda")]


SANITIZE_START = ["hdparm", "--yes-i-know-what-i-am-doing", "--sanitize-block-erase", "/dev/sda"]


def test_sanitize_never_completing_times_out(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(SANITIZE_START)
    fake_runner.add_callable(["hdparm", "--sanitize-status", "/dev/sda"],
                             sequence(SANITIZE_DONE, SANITIZE_RUNNING))
    clock = FakeClock()
    ctx = EraseContext(options={"clock": clock, "sanitize_timeout": 3600})
    result = methods.get("ata-sanitize-block").run(sata(MICRON), ctx)
    assert result.status == "failed"
    assert "did not complete within 3600 s" in result.errors[0]
    assert "running" in result.errors[0]
    assert clock.t == 3600 and result.details["polls"] == 361


def test_sanitize_polled_to_completion(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(SANITIZE_START)
    fake_runner.add_callable(["hdparm", "--sanitize-status", "/dev/sda"],
                             sequence(SANITIZE_DONE, SANITIZE_RUNNING, SANITIZE_RUNNING,
                                      SANITIZE_DONE))
    progress: list[Any] = []
    ctx = EraseContext(options={"clock": FakeClock()}, progress=progress.append)
    result = methods.get("ata-sanitize-block").run(sata(MICRON), ctx)
    assert result.status == "erased" and result.details["polls"] == 3
    assert result.details["expect"] == "zero-or-ones"
    assert progress[0].phase == "wait" and progress[0].done_bytes == int(0x41c2 / 65536 * (3750748848 * 512))


def test_sanitize_found_running_after_reboot_is_waited_for(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(["hdparm", "--sanitize-status", "/dev/sda"],
                             sequence(SANITIZE_RUNNING, SANITIZE_RUNNING, SANITIZE_DONE))
    # the drive does not say which action runs: the journal of the interrupted job does
    result = methods.get("ata-sanitize-block").run(sata(MICRON), EraseContext(
        options={"clock": FakeClock(), "journaled_sanitize_action": "block"}))
    assert result.status == "erased" and result.details["resumed_in_progress"] is True
    assert result.details["action_ran"] == "block"
    assert tuple(SANITIZE_START) not in fake_runner.calls
