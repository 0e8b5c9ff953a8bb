"""Planning per disk (what the dashboard shows) and the results' JSON."""

from __future__ import annotations

import json

from appliance import jobs
from appliance.config import parse
from erasure.disk import Disk
from tests.conftest import FIXTURES


def captured_disks() -> list[Disk]:
    data = json.loads((FIXTURES / "tui" / "disks-loop-vda.json").read_text())
    return [Disk(**d) for d in data["disks"]]


def test_eligible_disks_get_a_plan_and_excluded_ones_a_reason() -> None:
    targets = jobs.plan_targets(captured_disks(), parse("erase:\n  level: clear\n"))
    by_path = {t.disk.path: t for t in targets}
    assert by_path["/dev/loop2"].selected and by_path["/dev/loop2"].method == "overwrite"
    assert by_path["/dev/loop2"].level == "clear"
    assert not by_path["/dev/vda"].selected
    assert by_path["/dev/vda"].reason == "mounted: vda on /"


def test_purge_unreachable_is_never_silently_downgraded() -> None:
    strict = jobs.plan_targets(captured_disks(), parse("erase:\n  level: purge\n"))
    loop = next(t for t in strict if t.disk.path == "/dev/loop2")
    assert not loop.selected and "cannot reach Purge" in loop.reason  # the NIST name, for people
    allowed = jobs.plan_targets(captured_disks(), parse(
        "erase:\n  level: purge\n  fallback_to_clear: true\n"))
    loop = next(t for t in allowed if t.disk.path == "/dev/loop2")
    assert loop.selected and loop.fallback and loop.level == "clear"


def test_forced_method_the_drive_lacks_is_refused() -> None:
    targets = jobs.plan_targets(captured_disks(), parse("erase:\n  method: nvme-format-crypto\n"))
    loop = next(t for t in targets if t.disk.path == "/dev/loop2")
    assert not loop.selected and "nvme-format-crypto" in loop.reason


def test_results_round_trip_and_pass_needs_verification() -> None:
    data = json.loads((FIXTURES / "tui" / "run-loop-pass-fail.json").read_text())
    results = [jobs.JobResult.from_json(r) for r in data["results"]]
    assert [r.passed for r in results] == [True, False]
    assert [r.to_json()["passed"] for r in results] == [r["passed"] for r in data["results"]]
    unverified = jobs.JobResult.from_json({**data["results"][0], "verify": {"result": "not-done"}})
    assert not unverified.passed  # never a pass without verification evidence


def test_one_run_at_a_time_per_machine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from appliance.inventory import Host

    cfg = parse("")
    first = jobs.Run(cfg, tmp_path, [], lambda e: None, host=Host())
    with pytest.raises(jobs.RunBusy):
        jobs.Run(cfg, tmp_path, [], lambda e: None, host=Host())  # a second console
    events: list[jobs.Event] = []
    first.sink = events.append
    assert first.wait() == [] and isinstance(events[-1], jobs.RunFinished)
    jobs.Run(cfg, tmp_path, [], lambda e: None, host=Host()).finish()  # free again
