"""Progress while the drive erases by itself, over the captured outputs of the method tests.

- NVMe Format (QEMU 7.2 capture): no progress report and no time estimate: "wait" events
  carry the elapsed time only (basis "none");
- ATA SECURITY ERASE UNIT (Intel SSD capture, "4min for SECURITY ERASE UNIT"): the bar
  follows the drive's estimate and stays below 100% until the command returns;
- sanitize (NVMe SPROG in nvme-cli's sanitize-log layout, ATA "Progress: 0x...." in
  hdparm's capture): the drive's own progress, with a time left from its pace;
- through appliance.jobs: the format's waits become StepProgress of "erasing" with a log
  line "waiting for the drive", then the sampled read-back reports "verifying" progress.

The drive's clock is the injectable FakeClock; a runner answer moves it and waits until
the reporter has seen the new time (synchronisation only: nothing here measures time).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance import config, inventory, jobs
from erasure import firmware, methods, runner
from erasure.methods.base import EraseContext, Progress
from erasure.plan import make_plan
from tests.unit.test_methods_ata import (
    INTEL,
    INTEL_ENABLED,
    MICRON,
    SANITIZE_DONE,
    SANITIZE_IDLE,
    SANITIZE_RUNNING,
    FakeClock,
    sata,
    sequence,
)
from tests.unit.test_methods_nvme import log, qemu_nvme, sn730
from tests.unit.test_methods_readback import FORMAT_OUT, SIZE, nvme_on

FORMAT = ["nvme", "format", "/dev/nvme0n1", "--ses=1", "--lbaf=0", "--force", "--timeout=600000"]
PATIENCE = 30.0  # seconds a runner answer waits for the reporter thread (never reached)


class Seen:
    """Collects progress events; lets a runner answer wait for one that matches."""

    def __init__(self) -> None:
        self.events: list[Progress] = []
        self.changed = threading.Condition()

    def __call__(self, event: Progress) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, match: Callable[[Progress], bool]) -> Progress:
        with self.changed:
            assert self.changed.wait_for(lambda: any(match(e) for e in self.events), PATIENCE)
            return next(e for e in self.events if match(e))


def drive_takes(clock: FakeClock, seen: Seen, times: list[float], stdout: str = "") -> Any:
    """A runner answer: the drive works through `times` (seconds), then answers."""
    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        for t in times:
            clock.t = t
            seen.wait_for(lambda e, t=t: e.elapsed_seconds == t)  # type: ignore[misc]
        return runner.Result(tuple(argv), 0, stdout, "", 0.0)
    return answer


def test_nvme_format_reports_elapsed_time_while_the_drive_works(fake_runner) -> None:  # type: ignore[no-untyped-def]
    clock, seen = FakeClock(), Seen()
    fake_runner.add_callable(FORMAT, drive_takes(clock, seen, [30.0, 95.0],
                                                 FORMAT_OUT))
    ctx = EraseContext(progress=seen, options={"clock": clock, "wait_tick": 0.001})
    result = methods.get("nvme-format-user").run(qemu_nvme(), ctx)
    assert result.status == "erased", result.errors
    first = seen.events[0]  # at once, before the drive answered anything
    assert first.phase == "wait" and first.elapsed_seconds == 0.0 and first.basis == "none"
    assert first.message == "nvme-format-user: waiting for the drive"
    waits = [e for e in seen.events if e.phase == "wait"]
    assert {e.basis for e in waits} == {"none"}  # NVMe gives no estimate: no invented bar
    assert all(e.done_bytes == 0 and e.eta_seconds is None for e in waits)
    elapsed = [e.elapsed_seconds for e in waits]
    assert elapsed == sorted(elapsed) and 95.0 in elapsed  # type: ignore[type-var]
    assert result.details["estimate_seconds"] is None


def test_ata_secure_erase_bar_follows_the_drives_estimate(fake_runner) -> None:  # type: ignore[no-untyped-def]
    clock, seen = FakeClock(), Seen()
    fake_runner.add_callable(["hdparm", "-I", "/dev/sda"], sequence(INTEL, INTEL_ENABLED, INTEL))
    fake_runner.add(["hdparm", "--sanitize-status", "/dev/sda"], SANITIZE_IDLE)

    def record(event: str, details: dict[str, Any]) -> None:
        if not details:  # forgotten after the erase
            return
        pw = details["password"]
        fake_runner.add(["hdparm", "--user-master", "u", "--security-set-pass", pw, "/dev/sda"])
        # "4min for SECURITY ERASE UNIT": half way at 2 min, past it at 10 min
        fake_runner.add_callable(["hdparm", "--user-master", "u", "--security-erase", pw,
                                  "/dev/sda"], drive_takes(clock, seen, [120.0, 600.0]))

    ctx = EraseContext(journal=record, progress=seen,
                       options={"clock": clock, "wait_tick": 0.001,
                                "password_journal_persistent": True})
    disk = sata(INTEL)
    result = methods.get("ata-secure-erase").run(disk, ctx)
    assert result.status == "erased", result.errors
    assert result.details["estimate_seconds"] == 240
    half = seen.wait_for(lambda e: e.elapsed_seconds == 120.0)
    assert half.basis == "estimate" and half.eta_seconds == 120.0
    assert half.done_bytes == disk.size_bytes // 2
    late = seen.wait_for(lambda e: e.elapsed_seconds == 600.0)
    # the drive is slower than it said: never 100% before it answers, no time left shown
    assert late.done_bytes == int(firmware.ESTIMATE_CAP * disk.size_bytes)
    assert late.done_bytes < late.total_bytes and late.eta_seconds is None
    done = [e.done_bytes for e in seen.events]
    assert done == sorted(done)


def test_nvme_sanitize_reports_the_drives_own_progress(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                             sequence(log(0), log(2, 16384), log(2, 32768), log(2, 49152),
                                      log(1)))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"])
    seen = Seen()
    disk = sn730()
    result = methods.get("nvme-sanitize-block").run(disk, EraseContext(
        progress=seen, options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    assert [(e.basis, e.elapsed_seconds, e.done_bytes) for e in seen.events] == [
        ("drive", 0.0, disk.size_bytes // 4), ("drive", 10.0, disk.size_bytes // 2),
        ("drive", 20.0, disk.size_bytes * 3 // 4)]
    # a quarter of the drive every 10 s since the first poll
    assert [e.eta_seconds for e in seen.events] == [None, 20.0, 10.0]


def test_ata_sanitize_progress_from_hdparm_and_none_without_it(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["hdparm", "--yes-i-know-what-i-am-doing", "--sanitize-block-erase",
                     "/dev/sda"])
    no_progress = SANITIZE_RUNNING.replace("Progress:", "Step:")
    fake_runner.add_callable(["hdparm", "--sanitize-status", "/dev/sda"],
                             sequence(SANITIZE_DONE, SANITIZE_RUNNING, no_progress,
                                      SANITIZE_DONE))
    seen = Seen()
    result = methods.get("ata-sanitize-block").run(sata(MICRON), EraseContext(
        progress=seen, options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    drive, silent = seen.events
    assert drive.basis == "drive" and drive.fraction == pytest.approx(0x41C2 / 65536, abs=1e-9)
    assert silent.basis == "none" and silent.elapsed_seconds == 10.0


# --- through appliance.jobs ------------------------------------------------------------

CONFIG = "organisation: OPEQ\nerase:\n  level: purge\n  verify: sample\n"


def test_job_relays_the_drive_wait_then_the_read_back(fake_runner, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(firmware, "WAIT_TICK_S", 0.01)
    image = tmp_path / "nvme.img"
    disk = nvme_on(image)
    events: list[jobs.Event] = []
    posted = threading.Condition()

    def sink(event: jobs.Event) -> None:
        with posted:
            events.append(event)
            posted.notify_all()

    def waits() -> list[jobs.StepProgress]:
        return [e for e in events if isinstance(e, jobs.StepProgress) and e.waiting]

    def format_answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        with posted:  # three reports of the drive at work reach the front end
            assert posted.wait_for(lambda: len(waits()) >= 3, PATIENCE)
        with open(image, "r+b") as fh:  # what the capture showed: the namespace reads zero
            fh.write(bytes(SIZE))
        return runner.Result(tuple(argv), 0, FORMAT_OUT, "", 0.0)

    fake_runner.add_callable(["nvme", "format", str(image), "--ses=1", "--lbaf=0", "--force",
                              "--timeout=600000"], format_answer)
    cfg = config.parse(CONFIG, source=str(tmp_path / "ardoise.yaml"), base=tmp_path)
    target = jobs.Target(disk, make_plan(disk, "purge"), True)
    assert target.method == "nvme-format-user"
    run = jobs.Run(cfg, tmp_path / "data", [target], sink, host=inventory.Host())
    try:
        [job] = run.jobs
        outcome = job.erase()
    finally:
        run.release()
    assert outcome.status == "erased" and outcome.verify.result == "pass", outcome.errors
    relayed = waits()
    assert {e.step for e in relayed} == {"erasing"} and {e.basis for e in relayed} == {"none"}
    elapsed = [e.elapsed_seconds or 0.0 for e in relayed]
    assert elapsed == sorted(elapsed) and elapsed[-1] > elapsed[0]
    said = [e.text for e in events if isinstance(e, jobs.LogLine)]
    assert said.count("nvme-format-user: waiting for the drive") == 1
    steps = [e.step for e in events if isinstance(e, jobs.StepStarted)]
    assert steps[-2:] == ["erasing", "verifying"]
    checked = [e for e in events if isinstance(e, jobs.StepProgress) and e.step == "verifying"]
    assert checked and checked[-1].done_bytes == checked[-1].total_bytes > 0
    assert not any(e.waiting for e in checked)
