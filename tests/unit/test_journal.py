"""The per-disk journal: durable transitions, secrets, interrupted jobs → INCOMPLETE."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from appliance import certificate, certify
from appliance.journal import Journal, JournalError
from appliance.spool import Spool
from tests.unit import certsample


def test_transitions_are_on_disk_before_returning(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    job = journal.start(certsample.sata_disk(), "run1")
    journal.transition(job, "planned", level="purge", methods=["ata-secure-erase"])
    journal.transition(job, "erasing", method="ata-secure-erase")
    on_disk = json.loads((tmp_path / "journal" / f"{job}.json").read_bytes())
    assert on_disk["state"] == "erasing"
    assert [e["state"] for e in on_disk["history"]] == ["discovered", "planned", "erasing"]
    assert on_disk["details"]["method"] == "ata-secure-erase"
    assert on_disk["disk"]["serial"] == "WD-WXK1A6879JZT"
    assert list((tmp_path / "journal").glob(".*tmp")) == []


def test_states_only_move_forward(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    job = journal.start(certsample.sata_disk(), "run1")
    journal.transition(job, "verifying")
    journal.transition(job, "verifying")  # a second pass is allowed
    with pytest.raises(JournalError, match="cannot go back"):
        journal.transition(job, "erasing")
    with pytest.raises(JournalError, match="unknown state"):
        journal.transition(job, "done")


def test_first_transition_opens_a_job(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.transition("r7-00", "erasing", disk=certsample.nvme_disk(), method="overwrite")
    job = journal.get("r7-00")
    assert job.disk_id == "nvme-eui.0025385b91b0f0a1" and job.state == "erasing"


def test_secrets_are_kept_private_and_dropped_on_close(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    job = journal.start(certsample.sata_disk(), "run1")
    journal.record(job, "ata_password", "ardoise-5f2a")
    path = tmp_path / "journal" / f"{job}.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert journal.get(job).secrets == {"ata_password": "ardoise-5f2a"}
    assert "ata_password" in journal.get(job).to_json()["secrets"]  # name only
    assert "ardoise-5f2a" not in json.dumps(journal.get(job).to_json())
    journal.close(job, None, "test")
    assert "ardoise-5f2a" not in path.read_text()


def test_mirror_sees_every_transition_before_it_returns(tmp_path: Path) -> None:
    seen: list[dict] = []
    journal = Journal(directory=tmp_path / "ram", mirror=seen.append)
    job = journal.start(certsample.nvme_disk(), "run1")
    journal.record(job, "ata_password", "x")
    journal.transition(job, "erasing", method="nvme-format-crypto", ata_password="x")
    assert [s["state"] for s in seen] == ["discovered", "erasing"]
    assert seen[-1]["serial"] == "X9PPT1MFQBB1"
    assert "ata_password" not in seen[-1]["details"]
    assert (tmp_path / "ram" / f"{job}.json").exists()


def test_unfinished_jobs_become_signed_incomplete_certificates(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    done = journal.start(certsample.nvme_disk(), "run1")
    certify.issue(certsample.document(job_id=done), tmp_path, journal=journal, job_id=done)
    cut = journal.start(certsample.sata_disk(), "run1")
    journal.transition(cut, "planned", level="purge")
    journal.transition(cut, "erasing", method="ata-secure-erase")
    assert [j.job_id for j in journal.unfinished()] == [cut]

    paths = certify.incomplete_certificates(journal, tmp_path, host=certsample.host(),
                                            context=certsample.context())
    assert len(paths) == 1
    doc = certificate.load(paths[0])
    certificate.verify(doc, certify.trusted_keys(tmp_path))
    assert doc["sanitization"]["status"] == "incomplete"
    assert doc["sanitization"]["method"] == "ata-secure-erase"
    assert doc["sanitization"]["level"] == "purge"
    assert doc["verification"]["result"] == "not-done"
    assert "interrupted while erasing" in doc["sanitization"]["errors"][0]
    assert doc["media"]["serial"] == "WD-WXK1A6879JZT" and doc["job_id"] == cut
    assert journal.unfinished() == []
    assert journal.get(cut).state == "closed"
    # a second start-up issues nothing more
    assert certify.incomplete_certificates(journal, tmp_path, host=certsample.host()) == []
    assert len(Spool(tmp_path).pending()) == 2


def test_interrupted_after_spooling_gets_no_second_certificate(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    job = journal.start(certsample.nvme_disk(), "run1")
    doc = certsample.document(job_id=job)
    journal.transition(job, "certified", certificate_id=doc["id"])
    Spool(tmp_path).put(certify.sign_document(doc, certify.load_key(tmp_path)))
    # power cut here: the "spooled" transition was never written
    assert certify.incomplete_certificates(journal, tmp_path, host=certsample.host()) == []
    assert Spool(tmp_path).pending() == [doc["id"]]
    assert journal.get(job).state == "closed"


def test_interrupted_before_spooling_is_incomplete(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    job = journal.start(certsample.nvme_disk(), "run1")
    journal.transition(job, "certified", certificate_id="4c1f9a52-7f0e-4d7b-9a55-0a1e2b3c4d5e")
    paths = certify.incomplete_certificates(journal, tmp_path, host=certsample.host())
    assert len(paths) == 1
    assert certificate.load(paths[0])["sanitization"]["status"] == "incomplete"


def test_journaled_ata_password_outlives_the_interrupted_job(tmp_path: Path) -> None:
    """A drive an interruption left locked is unlocked at the next start with the password
    journaled before SECURITY SET PASSWORD, even after its INCOMPLETE certificate closed the
    job; other secrets are dropped on close."""
    disk = certsample.sata_disk()
    journal = Journal(tmp_path)
    job = journal.start(disk, "run1")
    journal.transition(job, "erasing", method="ata-secure-erase-enhanced")
    journal.record(job, "ata-password", {"path": "/dev/sda", "password": "ardoise-0123abcd"})
    journal.record(job, "other", "dropped")
    assert journal.journaled_password(journal.get(job).disk_id) == "ardoise-0123abcd"
    certify.incomplete_certificates(Journal(tmp_path), tmp_path, host=certsample.host())
    reopened = Journal(tmp_path)
    assert reopened.unfinished() == []
    assert reopened.journaled_password(reopened.get(job).disk_id) == "ardoise-0123abcd"
    assert "dropped" not in (tmp_path / "journal" / f"{job}.json").read_text()
    assert reopened.journaled_password("another-disk") is None


def _recover_in_child(data_dir: str, out: str) -> None:
    from appliance import jobs
    from appliance.config import Config

    Path(out).write_text(json.dumps(jobs.recover_unfinished(Path(data_dir), Config())))


def test_two_consoles_recovering_at_once_issue_one_incomplete_certificate(tmp_path: Path) -> None:
    """The live image starts a session on tty1 and on ttyS0 at the same moment: a power cut's
    interrupted job must get one INCOMPLETE certificate, and both consoles must report it."""
    import multiprocessing

    journal = Journal(tmp_path)
    for n in range(3):
        cut = journal.start(certsample.sata_disk(), f"run{n}")
        journal.transition(cut, "planned", level="clear")
        journal.transition(cut, "erasing", method="overwrite")
    # and one cut after its own certificate reached the spool: closed, not INCOMPLETE
    spooled = journal.start(certsample.nvme_disk(), "run3")
    doc = certsample.document(job_id=spooled)
    journal.transition(spooled, "certified", certificate_id=doc["id"])
    Spool(tmp_path).put(certify.sign_document(doc, certify.load_key(tmp_path)))
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_recover_in_child, args=(str(tmp_path), str(tmp_path / f"o{i}")))
                for i in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    reports = [sorted(json.loads((tmp_path / f"o{i}").read_text())) for i in range(4)]
    assert len(Spool(tmp_path).pending()) == 4  # 3 INCOMPLETE + the one spooled before
    assert journal.unfinished() == []
    assert all(report == reports[0] for report in reports), reports  # every console tells
    assert len(reports[0]) == 3 and not any(doc["id"] in path for path in reports[0])


def test_a_live_run_is_never_recovered(tmp_path: Path) -> None:
    from appliance import jobs
    from appliance.config import Config

    journal = Journal(tmp_path)
    live = journal.start(certsample.sata_disk(), "run1")
    journal.transition(live, "erasing", method="overwrite")
    held = jobs.claim(tmp_path)  # another console's run is under way
    try:
        assert jobs.recover_unfinished(tmp_path, Config()) == []
        assert [j.job_id for j in journal.unfinished()] == [live]
    finally:
        os.close(held)
    assert len(jobs.recover_unfinished(tmp_path, Config())) == 1
