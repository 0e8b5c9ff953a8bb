"""One honest verdict: "unverified" without read-back, SIGINT/SIGTERM as a cancel, no
certificate for a disk nothing was done to, a dry run that writes nothing.

Disks are regular files (the overwrite engine and the read-back really run on them); the
job pipeline, the journal, the certificates and the spool are the real ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from appliance import jobs
from appliance.commands import run as run_command
from appliance.commands import wipe
from appliance.config import parse
from appliance.i18n import set_language
from appliance.interrupt import Stopper, exit_code
from appliance.inventory import Host
from appliance.journal import Journal
from appliance.spool import Spool
from appliance.verdict import not_verified, status_word
from erasure.disk import Disk
from erasure.erase import STATUSES, Outcome
from erasure.plan import make_plan

MiB = 1 << 20
NOT_VERIFIED = ("NOT VERIFIED: the erase command ran but nothing was read back; this disk is "
                "not certified as erased")


def file_disk(tmp_path: Path, name: str = "media", eligible: bool = True,
              size: int = 4 * MiB) -> Disk:
    path = tmp_path / f"{name}.img"
    path.write_bytes(b"donor secret " * (size // 13) + b"x" * (size % 13))
    return Disk(path=str(path), id=f"file-{name}", model="file", serial=f"S-{name}",
                size_bytes=size, logical_block_size=512, transport="loop", eligible=eligible,
                excluded_reason=None if eligible else f"mounted: {name} on /mnt")


def spooled(data: Path) -> list[dict]:  # type: ignore[type-arg]
    spool = Spool(data)
    return [json.loads(spool.path(i).read_text()) for i in spool.pending()]


# --- the status --------------------------------------------------------------------------


def test_unverified_is_a_status_everywhere_and_has_plain_words() -> None:
    assert "unverified" in STATUSES
    set_language("en")
    assert not_verified() == NOT_VERIFIED and status_word("unverified") == "NOT VERIFIED"
    try:
        set_language("fr")
        assert status_word("unverified") == "NON VÉRIFIÉ"
        assert not_verified().startswith("NON VÉRIFIÉ") and "relu" in not_verified()
    finally:
        set_language("en")


# --- signals -----------------------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_set_the_cancel_event_and_give_the_exit_code(
        signum: int, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signum)
    with Stopper(message="stopping") as stop:
        assert not stop.interrupted and not stop.cancel.is_set()
        os.kill(os.getpid(), signum)  # handled in this (the main) thread before kill returns
        os.kill(os.getpid(), signum)  # a second one is the same request: one line only
        assert stop.cancel.is_set()
    assert stop.interrupted and stop.exit_code == code == exit_code(signum)
    assert stop.name == signal.Signals(signum).name
    assert capsys.readouterr().err == "stopping\n"
    assert signal.getsignal(signum) == before  # the previous handler is back


def test_no_signal_no_exit_code() -> None:
    with Stopper() as stop:
        pass
    assert not stop.interrupted and stop.exit_code == 0 and stop.name is None


# --- the job pipeline (ardoise run, the TUI) ---------------------------------------------


def one_job(tmp_path: Path, disk: Disk, config: str = "", cancel: threading.Event | None = None,
            ) -> tuple[jobs.JobResult, list[jobs.Event]]:
    events: list[jobs.Event] = []
    cfg = parse("erase:\n  level: clear\n" + config)
    target = jobs.Target(disk, make_plan(disk, "clear"), True)
    run = jobs.Run(cfg, tmp_path / "data", [target], events.append, cancel, host=Host())
    run.start()
    [result] = run.wait()
    return result, events


def test_verify_none_job_is_unverified_never_a_pass(tmp_path: Path) -> None:
    disk = file_disk(tmp_path)
    result, events = one_job(tmp_path, disk, "  verify: none\n")
    assert result.erase_status == "unverified" and not result.passed
    assert Path(disk.path).read_bytes() == bytes(disk.size_bytes)  # the erase did run
    [doc] = spooled(tmp_path / "data")
    assert doc["sanitization"]["status"] == "unverified"
    assert doc["sanitization"]["method"] == "overwrite"
    said = [e.text for e in events if isinstance(e, jobs.LogLine) and e.error]
    assert NOT_VERIFIED in said
    assert result.to_json()["status"] == "unverified"


def test_a_job_cancelled_before_any_method_gets_no_certificate(tmp_path: Path) -> None:
    disk = file_disk(tmp_path)
    before = Path(disk.path).read_bytes()
    cancel = threading.Event()
    cancel.set()  # SIGTERM came before the first write
    result, _events = one_job(tmp_path, disk, cancel=cancel)
    assert result.erase_status == "incomplete" and result.untouched
    assert result.certificate_id is None and result.to_json()["certificate"] is None
    assert Path(disk.path).read_bytes() == before
    data = tmp_path / "data"
    assert spooled(data) == []
    [job] = Journal(data).jobs()
    assert job.state == "closed"  # closed: no INCOMPLETE certificate at the next start
    assert jobs.recover_unfinished(data, parse("")) == []
    assert spooled(data) == []


def test_a_disk_refused_at_erase_time_gets_no_certificate(tmp_path: Path) -> None:
    disk = file_disk(tmp_path, eligible=False)
    before = Path(disk.path).read_bytes()
    result, events = one_job(tmp_path, disk)
    assert result.erase_status == "refused" and result.untouched and not result.passed
    assert result.certificate_id is None
    assert any("nothing was done to this disk" in e.text for e in events
               if isinstance(e, jobs.LogLine))
    assert spooled(tmp_path / "data") == [] and Path(disk.path).read_bytes() == before
    assert Journal(tmp_path / "data").unfinished() == []


def test_a_job_cancelled_mid_erase_is_certified_incomplete_once(tmp_path: Path) -> None:
    disk = file_disk(tmp_path, size=64 * MiB)
    cancel = threading.Event()
    events: list[jobs.Event] = []

    def sink(event: jobs.Event) -> None:
        events.append(event)
        if isinstance(event, jobs.StepProgress) and event.step == "erasing":
            cancel.set()

    cfg = parse("erase:\n  level: clear\n  verify: full\n")
    run = jobs.Run(cfg, tmp_path / "data", [jobs.Target(disk, make_plan(disk, "clear"), True)],
                   sink, cancel, host=Host())
    run.start()
    [result] = run.wait()
    assert result.erase_status == "incomplete" and not result.untouched
    assert [d["sanitization"]["status"] for d in spooled(tmp_path / "data")] == ["incomplete"]
    assert Journal(tmp_path / "data").unfinished() == []
    assert jobs.recover_unfinished(tmp_path / "data", parse("")) == []  # none a second time


def test_run_lists_excluded_disks_without_certificate(tmp_path: Path) -> None:
    disks = [file_disk(tmp_path, "boot", eligible=False)]
    targets = jobs.plan_targets(disks, parse(""))
    assert run_command._excluded(targets) == [{
        "path": disks[0].path, "id": "file-boot", "model": "file", "serial": "S-boot",
        "size_bytes": 4 * MiB, "status": "refused", "reason": "mounted: boot on /mnt",
        "certificate": None}]


# --- ardoise wipe -----------------------------------------------------------------------


def wipe_args(data: Path, **kw: object) -> argparse.Namespace:
    values = {"level": "clear", "method": "auto", "pattern": None, "verify": "sample",
              "passes": None, "block_size": None, "queue_depth": None, "dry_run": False,
              "yes": True, "json": True, "data": data, "remove_hpa": False}
    values.update(kw)
    return argparse.Namespace(**values)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_refused_wipe_writes_no_certificate_no_key_no_journal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: bool) -> None:
    good, bad = file_disk(tmp_path, "good"), file_disk(tmp_path, "bad", eligible=False)
    data = tmp_path / "data"
    code = wipe._refuse(wipe_args(data, dry_run=dry_run), [good, bad], [bad], "zero")
    assert code == 3
    out = capsys.readouterr()
    document = json.loads(out.out)
    assert document.get("dry_run", False) is dry_run
    assert [(r["path"], r["status"], r["certificate"]) for r in document["results"]] == [
        (good.path, "refused", None), (bad.path, "refused", None)]
    assert document["results"][1]["errors"] == ["mounted: bad on /mnt"]
    assert f"refused {bad.path}: mounted: bad on /mnt" in out.err
    assert "nothing was written" in out.err
    assert not data.exists()


def test_a_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disk = file_disk(tmp_path)
    before = Path(disk.path).read_bytes()
    data = tmp_path / "data"
    data.mkdir()
    assert wipe._dry_run(wipe_args(data, dry_run=True, verify="none"), [disk]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["dry_run"] is True
    [entry] = document["results"]
    assert entry["status"] == "planned" and entry["methods"] == ["overwrite"]
    assert entry["certificate"] is None and entry["verify"] == "none"
    assert list(data.iterdir()) == [] and Path(disk.path).read_bytes() == before


def test_a_wipe_cancelled_before_it_starts_certifies_nothing_and_loses_no_disk(
        tmp_path: Path) -> None:
    disks = [file_disk(tmp_path, "a"), file_disk(tmp_path, "b")]
    data = tmp_path / "data"
    recorder = wipe.Recorder(data)
    recorder._host = Host()
    cancel = threading.Event()
    cancel.set()
    outcomes = wipe._erase_all(wipe_args(data), disks, "zero", {}, recorder, cancel)
    assert [o.disk.path for o in outcomes] == [d.path for d in disks]  # never a KeyError
    assert {o.status for o in outcomes} == {"incomplete"}
    assert [recorder.certify(o) for o in outcomes] == [None, None]
    assert spooled(data) == [] and Journal(data).unfinished() == []
    assert all("untouched" in str(o.errors[-1]) for o in outcomes)


def test_a_wipe_outcome_that_wrote_is_certified(tmp_path: Path) -> None:
    disk = file_disk(tmp_path)
    data = tmp_path / "data"
    recorder = wipe.Recorder(data)
    recorder._host = Host()
    outcomes = wipe._erase_all(wipe_args(data, verify="none"), [disk], "zero", {}, recorder,
                               threading.Event())
    [outcome] = outcomes
    assert outcome.status == "unverified"
    path = recorder.certify(outcome)
    assert path is not None
    assert json.loads(Path(path).read_text())["sanitization"]["status"] == "unverified"
    assert Journal(data).unfinished() == []


def test_the_wipe_report_says_not_verified(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    disk = file_disk(tmp_path)
    outcome = Outcome(disk, "clear", None, "overwrite", "zero", "unverified")
    wipe._report(outcome)
    out = capsys.readouterr().out
    assert f"{disk.path}: NOT VERIFIED" in out and NOT_VERIFIED in out
    try:
        set_language("fr")
        wipe._report(outcome)
        assert "NON VÉRIFIÉ" in capsys.readouterr().out
    finally:
        set_language("en")


# --- the certificate PDF ------------------------------------------------------------------


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils not installed")
@pytest.mark.parametrize(("lang", "word", "never"), [("en", "NOT VERIFIED", "ERASED"),
                                                     ("fr", "NON VÉRIFIÉ", "EFFACÉ")])
def test_the_pdf_of_an_unverified_disk_says_not_verified(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], lang: str, word: str,
        never: str) -> None:
    from appliance import certify
    from appliance.cli import main
    from erasure.verify import VerifyResult
    from tests.unit import certsample

    outcome = certsample.nvme_outcome(status="unverified", verify_result="not-done")
    outcome.verify = VerifyResult(mode="none", result="not-done")
    path = certify.issue(certsample.document(outcome=outcome, image=None), tmp_path)
    out = tmp_path / "unverified.pdf"
    assert main(["--lang", lang, "cert", "pdf", str(path), "--out", str(out),
                 "--data", str(tmp_path)]) == 0
    capsys.readouterr()
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert word in text and never not in text
