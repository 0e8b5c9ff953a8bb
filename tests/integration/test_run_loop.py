"""The whole journey on real loop devices: `ardoise run`, the job pipeline, the TUI.

Two disks: one that erases, one read-only loop device whose writes fail (a failing disk
must never stop the other). Certificates are verified, journals read back, bytes grepped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance import config, jobs, survey
from appliance.journal import STATES, Journal
from appliance.spool import Spool
from erasure import runner
from tests.integration.loopdev import Loops, MiB, count_markers, loop_box, sha256, write_markers

pytestmark = pytest.mark.integration
SIZE = 64 * MiB

CONFIG = """\
organisation: OPEQ
location: Montréal
operator: trainee-07
batch: "2026-11"
erase:
  level: clear
  verify: sample
"""


@pytest.fixture
def loops(real_commands: None) -> Iterator[Loops]:
    with loop_box("ardrun-") as box:
        yield box


def read_only_loop(loops: Loops, size: int = SIZE) -> tuple[str, Path]:
    path = loops.workdir / f"readonly-{len(loops.devices)}.img"
    with open(path, "wb") as fh:
        fh.truncate(size)
    write_markers(path, size)
    dev = runner.run(["losetup", "-f", "--show", "--direct-io=on", "-r", str(path)],
                     timeout=30).stdout.strip()
    loops.devices.append(dev)  # detached by loops.close()
    return dev, path


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "ardoise.yaml"
    path.write_text(CONFIG + extra)
    return path


def ardoise(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


def certificate(path: str) -> dict:  # type: ignore[type-arg]
    return json.loads(Path(path).read_text())  # type: ignore[no-any-return]


def test_run_erases_one_disk_and_reports_the_failing_one(loops: Loops, tmp_path: Path) -> None:
    good, good_file = loops.make(SIZE, "good")
    bad, bad_file = read_only_loop(loops)
    assert count_markers(good_file) > 1000
    bad_before = sha256(bad_file)
    data = tmp_path / "data"
    proc = ardoise("run", "--config", str(write_config(tmp_path)), "--data", str(data),
                   "--device", good, "--device", bad, "--yes", "--json")
    assert proc.returncode == 1 and proc.stdout, proc.stderr[-3000:]  # one target failed
    results = {r["path"]: r for r in json.loads(proc.stdout)["results"]}
    assert results[good]["passed"] and results[good]["status"] == "erased"
    assert results[good]["verify"]["result"] == "pass"
    assert not results[bad]["passed"] and results[bad]["status"] == "failed"
    assert any("Operation not permitted" in e for e in results[bad]["errors"])
    assert count_markers(good_file) == 0  # the donor's data is gone
    assert sha256(bad_file) == bad_before  # nothing could be written there
    # one signed certificate per disk, success or not, in the spool
    for r in results.values():
        check = ardoise("cert", "verify", r["certificate"], "--data", str(data))
        assert check.returncode == 0, check.stdout + check.stderr
    assert certificate(results[good]["certificate"])["sanitization"]["status"] == "erased"
    assert certificate(results[bad]["certificate"])["sanitization"]["status"] == "failed"
    assert certificate(results[good]["certificate"])["organisation"] == "OPEQ"
    assert sorted(Spool(data).pending()) == sorted(r["certificate_id"] for r in results.values())
    # every step journaled, in order, each before the next
    for job in Journal(data).jobs():
        states = [h["state"] for h in job.history]
        assert states == sorted(states, key=STATES.index)
        assert states[0] == "discovered" and states[-1] == "spooled"
        assert "erasing" in states
    good_job = next(j for j in Journal(data).jobs() if j.disk["path"] == good)
    assert "verifying" in [h["state"] for h in good_job.history]


def test_cancel_reports_incomplete_never_erased(loops: Loops, tmp_path: Path) -> None:
    dev, _path = loops.make(1024 * MiB, "big", markers=False)
    cfg = config.parse(CONFIG.replace("verify: sample", "verify: full"), source="test")
    targets = jobs.discover_targets(cfg, [dev])
    events: list[jobs.Event] = []
    cancel = threading.Event()

    def sink(event: jobs.Event) -> None:
        events.append(event)
        if isinstance(event, jobs.StepProgress) and event.step == "erasing":
            cancel.set()  # the technician presses Esc mid-erase

    run = jobs.Run(cfg, tmp_path / "data", targets, sink, cancel)
    run.start()
    [result] = run.wait()
    assert result.erase_status == "incomplete" and not result.passed
    assert certificate(result.certificate_path or "")["sanitization"]["status"] == "incomplete"
    assert isinstance(events[-1], jobs.RunFinished) and events[-1].cancelled


def test_bad_config_stops_before_anything(loops: Loops, tmp_path: Path) -> None:
    dev, path = loops.make(SIZE, "keep")
    before = sha256(path)
    bad = tmp_path / "ardoise.yaml"
    bad.write_text(CONFIG + "unattended:\n  enabled: sure\n")
    proc = ardoise("run", "--config", str(bad), "--data", str(tmp_path / "d"), "--device", dev,
                   "--yes")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0  # one line
    assert f"{bad}:9: unattended.enabled" in proc.stderr
    assert sha256(path) == before


def test_unattended_needs_the_config_to_allow_it(loops: Loops, tmp_path: Path) -> None:
    dev, path = loops.make(SIZE, "keep")
    before = sha256(path)
    proc = ardoise("run", "--config", str(write_config(tmp_path)), "--data", str(tmp_path / "d"),
                   "--device", dev, "--unattended")
    assert proc.returncode == 3, proc.stderr
    assert "unattended" in proc.stderr
    assert sha256(path) == before


def test_typed_confirmation_refused(loops: Loops, tmp_path: Path) -> None:
    dev, path = loops.make(SIZE, "keep")
    before = sha256(path)
    proc = ardoise("run", "--config", str(write_config(tmp_path)), "--data", str(tmp_path / "d"),
                   "--device", dev, stdin="ERASE 2\n")  # wrong count
    assert proc.returncode == 3
    assert sha256(path) == before


def test_unattended_run_with_countdown(loops: Loops, tmp_path: Path) -> None:
    dev, path = loops.make(SIZE, "rack")
    cfg = write_config(tmp_path, "unattended:\n  enabled: true\n  countdown_seconds: 1\n"
                                 "  after: stay\n")
    proc = ardoise("run", "--config", str(cfg), "--data", str(tmp_path / "d"), "--device", dev,
                   "--unattended", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "starts in 1 s" in proc.stderr
    assert json.loads(proc.stdout)["results"][0]["passed"]
    assert count_markers(path) == 0


def test_power_cut_mid_erase_is_reported_incomplete(loops: Loops, tmp_path: Path) -> None:
    dev, _path = loops.make(1024 * MiB, "cut", markers=False)
    data = tmp_path / "data"
    cfg = write_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run", "--config", str(cfg),
                             "--data", str(data), "--device", dev, "--yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs_now = Journal(data).jobs() if (data / "journal").is_dir() else []
            if jobs_now and jobs_now[0].state == "erasing":
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # the power cut
    finally:
        proc.wait(timeout=30)
    [job] = Journal(data).jobs()
    assert job.state == "erasing"
    # next boot: the interrupted disk is reported INCOMPLETE (never erased) and offered again
    again = ardoise("run", "--config", str(cfg), "--data", str(data), "--device", dev, "--yes",
                    "--json")
    assert "INCOMPLETE" in again.stderr
    statuses = sorted(certificate(str(Spool(data).path(i)))["sanitization"]["status"]
                      for i in Spool(data).pending())
    assert statuses == ["erased", "incomplete"]
    assert again.returncode == 0


@pytest.mark.asyncio
async def test_tui_drives_real_jobs_to_results(loops: Loops, tmp_path: Path) -> None:
    from tui.app import ArdoiseApp
    from tui.results import ResultsScreen

    good, good_file = loops.make(SIZE, "good")
    bad, _ = read_only_loop(loops)
    snapshot = survey.take(str(write_config(tmp_path)), tmp_path / "data", [good, bad])
    app = ArdoiseApp(snapshot)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter", *"ERASE 2", "enter")
        for _ in range(600):
            await pilot.pause(0.1)
            if isinstance(app.screen, ResultsScreen):
                break
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        verdicts = {r.path: r.passed for r in screen.results}
        assert verdicts == {good: True, bad: False}
        assert all(r.certificate_id for r in screen.results)
    assert count_markers(good_file) == 0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_delivers_certificates_and_heartbeats_to_the_ledger(loops: Loops, tmp_path: Path) -> None:
    import sqlite3
    import urllib.request

    dev, _ = loops.make(SIZE, "rack")
    data = tmp_path / "data"
    assert ardoise("keygen", "--data", str(data)).returncode == 0
    db = tmp_path / "ledger.db"
    ledger_bin = Path(sys.executable).parent / "ardoise-ledger"
    enroll = subprocess.run([str(ledger_bin), "enroll", "--db", str(db), "--name", "rack-1",
                             "--pubkey", str(data / "keys" / "appliance.pub.pem")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert enroll.returncode == 0, enroll.stderr
    port = free_port()
    server = subprocess.Popen([str(ledger_bin), "serve", "--db", str(db), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(1200):  # a loaded CI machine may take a while to start it
            assert server.poll() is None, "the ledger did not start"
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the ledger never answered /healthz")
        cfg = write_config(tmp_path, "unattended:\n  enabled: true\n  countdown_seconds: 0\n"
                                     f"  after: stay\nledger:\n  url: {url}\n"
                                     "  heartbeat_seconds: 5\n")
        proc = ardoise("run", "--config", str(cfg), "--data", str(data), "--device", dev,
                       "--unattended", "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        document = json.loads(proc.stdout)
        assert document["pending_certificates"] == 0  # delivered
        assert Spool(data).pending() == [] and len(Spool(data).sent()) == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        [(count,)] = conn.execute("SELECT count(*) FROM certificates").fetchall()
        [(beats,)] = conn.execute("SELECT heartbeats FROM machines").fetchall()
    assert count == 1 and beats >= 2  # during the run and its last word


def test_run_writes_and_proves_the_os_image(loops: Loops, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    dev, disk_file = loops.make(SIZE, "donor")
    source = tmp_path / "os.img"
    with open(source, "wb") as fh:
        fh.write(os.urandom(4 * MiB))
        fh.truncate(16 * MiB)
    key = Ed25519PrivateKey.generate()
    (tmp_path / "publisher.key").write_bytes(key.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    (tmp_path / "publisher.pem").write_bytes(key.public_key().public_bytes(
        ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
    build = ardoise("image", "build", str(source), "--out", str(tmp_path / "images"),
                    "--name", "demo-os", "--version", "1", "--raw", "all",
                    "--sign-key", str(tmp_path / "publisher.key"))
    assert build.returncode == 0, build.stderr
    cfg = write_config(tmp_path, "image:\n  manifest: images/demo-os.manifest.json\n"
                                 "  trust: [publisher.pem]\n  required: true\n")
    data = tmp_path / "data"
    proc = ardoise("run", "--config", str(cfg), "--data", str(data), "--device", dev, "--yes",
                   "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    [result] = json.loads(proc.stdout)["results"]
    assert result["passed"] and result["image"] == "imaged"
    image = certificate(result["certificate"])["image"]
    assert image["verified"] and image["readback_hash"] == image["root_hash"]
    with open(disk_file, "rb") as disk, open(source, "rb") as src:
        assert disk.read(16 * MiB) == src.read()  # the fresh system, byte for byte
    assert count_markers(disk_file) == 0  # and nothing of the donor beyond it
    [job] = Journal(data).jobs()
    assert [h["state"] for h in job.history] == [
        "discovered", "planned", "erasing", "verifying", "imaging", "hashing", "certified",
        "spooled"]


def test_run_on_a_machine_with_a_hidden_drive_is_not_all_erased(
        loops: Loops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli import main
    from erasure import hidden
    from tests.conftest import FIXTURES

    monkeypatch.setattr(hidden, "SYS", FIXTURES / "hidden" / "rst-sys")  # Intel RST RAID mode
    good, good_file = loops.make(SIZE, "good")
    code = main(["run", "--config", str(write_config(tmp_path)), "--data",
                 str(tmp_path / "data"), "--device", good, "--yes", "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert [r["status"] for r in out["results"]] == ["erased"]  # the visible disk is erased
    assert count_markers(good_file) == 0
    assert out["hidden"] == [{"kind": "intel-rst-remapped", "controller": "0000:00:17.0",
                              "count": 1, "remedy": hidden.RST_REMEDY}]
    assert code == 1  # not every drive of this machine was erased
    assert "HIDDEN: 1 NVMe drive(s) hidden by Intel RST" in captured.err
    assert "Not every drive was erased" in captured.err


# --- verdicts: unverified, interrupted, excluded -------------------------------------------


def _spooled(data: Path) -> list[dict]:  # type: ignore[type-arg]
    spool = Spool(data)
    return [certificate(str(spool.path(i))) for i in spool.pending()]


def test_run_with_verify_none_is_not_verified_and_exits_1(loops: Loops, tmp_path: Path) -> None:
    dev, path = loops.make(SIZE, "fast")
    data = tmp_path / "data"
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text().replace("verify: sample", "verify: none"))
    proc = ardoise("--lang", "en", "run", "--config", str(cfg), "--data", str(data),
                   "--device", dev, "--yes", "--json")
    assert proc.returncode == 1, proc.stderr[-2000:]
    [result] = json.loads(proc.stdout)["results"]
    assert result["status"] == "unverified" and not result["passed"]
    assert ("NOT VERIFIED: the erase command ran but nothing was read back; this disk is not "
            "certified as erased") in proc.stderr
    assert [d["sanitization"]["status"] for d in _spooled(data)] == ["unverified"]
    assert count_markers(path) == 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_run_certifies_incomplete_at_once_and_exits_128_plus(
        loops: Loops, tmp_path: Path, signum: int, code: int) -> None:
    dev, backing = loops.make(2048 * MiB, "sig", markers=False)
    data = tmp_path / "data"
    assert ardoise("keygen", "--data", str(data)).returncode == 0
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text().replace("verify: sample", "verify: full\n  pattern: random"))
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "--lang", "en", "run",
                             "--config", str(cfg), "--data", str(data), "--device", dev,
                             "--yes", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it was interrupted"
            jobs_now = Journal(data).jobs()
            if jobs_now and jobs_now[0].state == "erasing" and os.stat(backing).st_blocks > 0:
                break  # bytes are being written
            time.sleep(0.005)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert err.count("cancelling: every disk stops at a safe point") == 1
    document = json.loads(out)
    assert document["interrupted"] == signal.Signals(signum).name and document["cancelled"]
    [result] = document["results"]
    assert result["status"] == "incomplete" and not result["passed"] and result["certificate"]
    assert [d["sanitization"]["status"] for d in _spooled(data)] == ["incomplete"]
    check = ardoise("cert", "verify", result["certificate"], "--data", str(data))
    assert check.returncode == 0, check.stderr
    assert Journal(data).unfinished() == []
    # the next start has nothing left to report, and erases the disk for real
    again = ardoise("run", "--config", str(write_config(tmp_path)), "--data", str(data),
                    "--device", dev, "--yes", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "INCOMPLETE" not in again.stderr
    assert sorted(d["sanitization"]["status"] for d in _spooled(data)) == ["erased", "incomplete"]


def test_an_excluded_named_disk_gets_no_certificate(loops: Loops, tmp_path: Path) -> None:
    dev, path = loops.make(SIZE, "mounted", markers=False)
    runner.run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", dev],
               timeout=60)
    loops.mount(dev, tmp_path / "mnt", options="ro")
    before = sha256(path)
    data = tmp_path / "data"
    proc = ardoise("--lang", "en", "run", "--config", str(write_config(tmp_path)), "--data",
                   str(data), "--device", dev, "--yes", "--json")
    assert proc.returncode == 3, proc.stderr
    assert "excluded: mounted" in proc.stderr and "nothing was touched" in proc.stderr
    assert not (data / "spool" / "pending").is_dir() or Spool(data).pending() == []
    assert sha256(path) == before
