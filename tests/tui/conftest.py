"""Fixtures for the TUI tests: a Survey built from captured facts, never from this machine.

Disks: `ardoise disks --all --json` captured on a test VM with two loop devices and the
VM's root disk; host: a captured `dmidecode` of a ThinkPad A485; battery: power_supply
trees laid out per the kernel's sysfs-class-power ABI. Nothing here starts a job unless a
test asks for it (`launch_jobs=False` walks the screens without work).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance import battery, config, inventory, jobs
from appliance.network import Link, NetworkState
from appliance.survey import Survey
from erasure.disk import Disk
from erasure.text import Msg
from tests.conftest import FIXTURES
from tui.app import ArdoiseApp

TUI_FIXTURES = FIXTURES / "tui"
POWER = FIXTURES / "power_supply"
SIZES = {"console": (80, 25), "laptop": (170, 48)}
LANGS = ["en"]  # French snapshots come with the translated catalog: add "fr" here

GOOD_CONFIG = """\
organisation: OPEQ
location: Québec
operator: trainee-07
batch: "2026-11"
donor: Acme Inc.
erase:
  level: clear
  verify: sample
image:
  manifest: https://images.example.org/debian-12.manifest.json
ledger:
  url: https://ledger.example.org
battery:
  min_percent: 30
"""


# The captured JSON holds the English text of discovery's Msg reasons; the appliance itself
# gets the Msg from erasure.discovery (shown in the reader's language): rebuilt here.
REASONS = [(re.compile(r"mounted: (?P<node>\S+) on (?P<mount>\S+)$"), "mounted: {node} on {mount}")]


def reason_msg(text: str | None) -> str | None:
    for pattern, template in REASONS:
        if text and (m := pattern.match(text)):
            return Msg(template, **m.groupdict())
    return text


def load_disks(name: str = "disks-loop-vda.json") -> list[Disk]:
    data = json.loads((TUI_FIXTURES / name).read_text())
    disks = [Disk(**{k: v for k, v in d.items() if k != "plan"}) for d in data["disks"]]
    for disk in disks:
        disk.excluded_reason = reason_msg(disk.excluded_reason)
    return disks


def make_survey(tmp_path: Path, text: str = GOOD_CONFIG, power: str = "ac-only",
                disks: list[Disk] | None = None) -> Survey:
    # the source as the appliance names it (snapshots must not show a temporary path)
    cfg = config.parse(text, source="/run/ardoise/data/ardoise.yaml", base=tmp_path)
    host = inventory.parse_dmidecode((FIXTURES / "dmidecode" / "thinkpad-a485.txt").read_text())
    return Survey(
        config=cfg, data_dir=tmp_path / "data", host=host,
        targets=jobs.plan_targets(disks if disks is not None else load_disks(), cfg),
        battery=battery.read_state(POWER / power),
        network=NetworkState((Link("enp1s0", "wired", True), Link("wlp2s0", "wireless", False))),
        power_supply=POWER / power,
    )


def results_fixture() -> list[jobs.JobResult]:
    data = json.loads((TUI_FIXTURES / "run-loop-pass-fail.json").read_text())
    return [jobs.JobResult.from_json(r) for r in data["results"]]


def recorded_events() -> list[dict[str, Any]]:
    lines = (TUI_FIXTURES / "run-loop-events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] != "RunFinished"]


def event_from_json(data: dict[str, Any], job_ids: dict[str, str]) -> jobs.Event:
    """A recorded event, re-addressed to the job ids of the run under test."""
    data = dict(data)
    kind = data.pop("type")
    data["job_id"] = job_ids[data["job_id"]]
    if kind == "StepStarted":
        return jobs.StepStarted(**data)
    if kind == "StepProgress":
        return jobs.StepProgress(**data)
    if kind == "LogLine":
        return jobs.LogLine(**data)
    result = dict(data.pop("result"))
    result["job_id"] = data["job_id"]
    return jobs.JobFinished(data["job_id"], jobs.JobResult(**result))


@pytest.fixture
def survey(tmp_path: Path) -> Survey:
    return make_survey(tmp_path)


@pytest.fixture
def app_for(tmp_path: Path) -> Callable[..., ArdoiseApp]:
    def build(s: Survey | None = None, **kwargs: Any) -> ArdoiseApp:
        kwargs.setdefault("launch_jobs", False)
        return ArdoiseApp(s or make_survey(tmp_path), **kwargs)
    return build


@pytest.fixture(autouse=True)
def english() -> Any:
    from appliance.i18n import set_language

    set_language("en")
    yield
    set_language("en")
