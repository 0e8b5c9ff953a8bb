"""Rack sessions: heartbeats built from journal transitions, signed, in the ledger's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import jobs, rack
from appliance.certificate import verify_signature
from appliance.certify import load_key
from appliance.config import Config, LedgerSettings
from ledger.api.models import Heartbeat
from tests.unit.test_rack_siteconfig import Site

DISK = {"path": "/dev/nvme0n1", "id": "nvme-eui.0025385b71b0d5a1", "model": "Samsung PM981",
        "serial": "S4EWNX0M123456", "size_bytes": 256_060_514_304, "transport": "nvme"}


@pytest.fixture
def ledger() -> Iterator[Site]:
    site = Site()
    yield site
    site.close()


def session(tmp_path: Path, url: str) -> rack.RackSession:
    config = Config(batch="rack-7", source=url + "/netboot/rack.yaml",
                    ledger=LedgerSettings(url=url, enroll_token="arde_x", heartbeat_seconds=30))
    s = rack.RackSession(config, tmp_path / "ram", host={"serial": "PF2ABC", "product":
                         "ThinkPad T480", "maker": "LENOVO", "mac": "52:54:00:12:34:56"},
                         say=lambda text: None)
    s.key = load_key(s.data_dir)
    from appliance.certificate import key_id

    s.key_id = key_id(s.key.public_key())
    return s


def test_rack_mode_needs_a_ledger_and_a_token(tmp_path: Path) -> None:
    assert not rack.wanted(Config(source="/run/ardoise/data/ardoise.yaml"))
    assert rack.wanted(Config(source="https://site.example/rack.yaml"))
    with pytest.raises(rack.RackError, match="ledger.url"):
        rack.RackSession(Config(source="http://x/r.yaml"), tmp_path, host={})
    with pytest.raises(rack.RackError, match="enroll_token"):
        rack.RackSession(Config(source="http://x/r.yaml",
                                ledger=LedgerSettings(url="http://x")), tmp_path, host={})


def test_every_transition_is_mirrored_before_the_step(tmp_path: Path, ledger: Site) -> None:
    s = session(tmp_path, ledger.url)
    job = s.journal.start(DISK, "run1")
    s.journal.transition(job, "planned", level="clear", methods=["nvme-format-user"])
    s.journal.transition(job, "erasing", method="nvme-format-user", ata_password="secret")
    posts = [body for path, body in ledger.posts if path == rack.HEARTBEATS]
    assert [p["jobs"][0]["step"] for p in posts] == ["discovered", "planned", "erasing"]
    last = posts[-1]
    Heartbeat.model_validate(last)  # the ledger's own request model
    verify_signature(last, s.key.public_key())
    assert last["appliance"]["key_id"] == s.key_id == last["signature"]["key_id"]
    assert last["journal"] == "ram" and last["batch"] == "rack-7"
    assert last["host"]["serial"] == "PF2ABC"
    assert last["jobs"][0] == {"disk_id": DISK["id"], "model": DISK["model"],
                               "serial": DISK["serial"], "size_bytes": DISK["size_bytes"],
                               "step": "erasing", "progress": 0.0, "rate": None, "eta": None,
                               "method": "nvme-format-user", "status": "running"}
    assert "secret" not in str(posts)


def test_progress_and_results_reach_the_heartbeat(tmp_path: Path, ledger: Site) -> None:
    s = session(tmp_path, ledger.url)
    seen: list[object] = []
    sink = s.sink(seen.append)
    job = s.journal.start(DISK, "run2")
    s.journal.transition(job, "erasing", method="overwrite")
    sink(jobs.StepProgress(job, "erasing", 50, 200, 1.5e8, 12.0))
    beat = s.heartbeat()["jobs"][0]
    assert (beat["progress"], beat["rate"], beat["eta"]) == (0.25, 1.5e8, 12.0)
    result = jobs.JobResult(job_id=job, path="/dev/nvme0n1", disk_id=DISK["id"], model="m",
                            serial="s", size_bytes=1, erase_status="erased",
                            verify_result="pass", certificate_id="c-1")
    sink(jobs.JobFinished(job, result))
    assert len(seen) == 2  # the front end still gets every event
    beat = s.heartbeat()["jobs"][0]
    assert beat["status"] == "erased" and beat["progress"] == 1.0


@pytest.mark.parametrize(("erase", "verify", "image", "expected"), [
    ("erased", "pass", None, "erased"),
    ("erased", "pass", "imaged", "erased"),
    ("erased", "fail", None, "failed"),  # never "erased" without verification evidence
    ("erased", "not-done", None, "failed"),
    ("erased", "pass", "failed", "failed"),
    ("failed", "not-done", None, "failed"),
    ("incomplete", "not-done", None, "incomplete"),
    ("refused", "not-done", None, "refused"),
    ("unverified", "not-done", None, "unverified"),  # verify: none, shown as such
    ("unverified", "not-done", "imaged", "unverified"),
])
def test_rack_status_never_claims_success(erase: str, verify: str, image: str | None,
                                          expected: str) -> None:
    result = jobs.JobResult(job_id="j", path="p", disk_id="d", model="", serial="",
                            size_bytes=0, erase_status=erase, verify_result=verify,
                            image_status=image)
    assert rack.status_of(result) == expected


def test_delivered_certificate_shows_as_sent(tmp_path: Path) -> None:
    view = rack.JobView(job_id="j", disk_id="d", step="spooled", status="erased",
                        certificate_id="c-9")
    assert view.to_json(set())["step"] == "spooled"
    assert view.to_json({"c-9"})["step"] == "sent"
    running = rack.JobView(job_id="j", disk_id="d", step="spooled", certificate_id="c-9")
    assert running.to_json({"c-9"})["step"] == "spooled"
