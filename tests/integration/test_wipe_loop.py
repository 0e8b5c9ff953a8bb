"""`ardoise wipe` on real loop devices (direct-io): every byte checked afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from erasure import blockdev, runner
from erasure.discovery import resolve
from erasure.erase import erase_disk
from erasure.methods import get
from erasure.methods.base import EraseContext
from erasure.pattern import Pattern
from erasure.verify import verify
from tests.integration.loopdev import (
    Loops,
    MiB,
    count_markers,
    read_chunks,
    sha256,
)

pytestmark = pytest.mark.integration
SIZE = 64 * MiB


def ardoise(*argv: str, input: str | None = None) -> runner.Result:
    return runner.run([sys.executable, "-m", "appliance.cli", "--lang", "en", *argv],
                      timeout=300, check=False, input=input)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keys, journal and spool of the runs under test (never the machine's own)."""
    data = tmp_path / "data"
    monkeypatch.setenv("ARDOISE_DATA", str(data))
    return data


def all_zero(path: Path) -> bool:
    zero = bytes(8 * MiB)
    return all(chunk == zero[:len(chunk)] for chunk in read_chunks(path))


def test_zero_wipe_erases_every_byte_and_every_marker(loops: Loops, data_dir: Path) -> None:
    dev, backing = loops.make(SIZE)
    assert count_markers(backing) == SIZE // (64 * 1024)
    res = ardoise("wipe", dev, "--yes", "--json", "--verify", "full")
    assert res.returncode == 0, res.stderr
    (result,) = json.loads(res.stdout)["results"]
    assert result["status"] == "erased" and result["method"] == "overwrite"
    assert result["bytes_written"] == SIZE
    assert result["verify"]["result"] == "pass" and result["verify"]["bytes_checked"] == SIZE
    certificate = Path(result["certificate"])
    assert certificate.parent == data_dir / "spool" / "pending"
    document = json.loads(certificate.read_text())
    assert document["sanitization"]["status"] == "erased"
    assert document["verification"]["result"] == "pass"
    assert document["media"]["size_bytes"] == SIZE
    check = ardoise("cert", "verify", str(certificate), "--data", str(data_dir))
    assert check.returncode == 0, check.stderr
    assert count_markers(backing) == 0
    assert all_zero(backing)


def test_random_wipe_equals_the_regenerated_stream(loops: Loops) -> None:
    dev, backing = loops.make(SIZE)
    ctx = EraseContext(key=bytes(range(16)))
    outcome = erase_disk(resolve(dev), "clear", "auto", "random", "full", ctx)
    assert outcome.status == "erased", outcome.errors
    assert outcome.verify.result == "pass" and outcome.verify.bytes_checked == SIZE
    pattern = Pattern("random", bytes(range(16)))
    offset = 0
    for chunk in read_chunks(backing):
        assert chunk == pattern.bytes_at(offset, len(chunk)), f"differs in [{offset}, +8 MiB)"
        offset += len(chunk)
    assert offset == SIZE and count_markers(backing) == 0


def test_two_disks_in_parallel_after_typed_confirmation(loops: Loops) -> None:
    (a, fa), (b, fb) = loops.make(SIZE), loops.make(SIZE)
    before = sha256(fa), sha256(fb)
    refused = ardoise("wipe", a, b, input="ERASE 1\n")
    assert refused.returncode == 3 and "nothing was written" in refused.stderr
    assert (sha256(fa), sha256(fb)) == before
    res = ardoise("wipe", a, b, "--pattern", "random", "--json", input="ERASE 2\n")
    assert res.returncode == 0, res.stderr
    results = json.loads(res.stdout)["results"]
    assert [r["path"] for r in results] == [a, b]
    for r in results:
        assert r["status"] == "erased" and r["pattern"] == "random"
        assert r["verify"]["mode"] == "sample" and r["verify"]["result"] == "pass"
        assert r["verify"]["sample_share"] >= 0.10 and r["verify"]["subsections"] >= 1000
    assert count_markers(fa) == count_markers(fb) == 0


def test_a_corrupted_byte_after_the_wipe_fails_full_verify(loops: Loops) -> None:
    dev, _backing = loops.make(SIZE)
    assert ardoise("wipe", dev, "--yes", "--verify", "none").returncode == 1  # unverified
    bad = 37 * MiB + 4096 * 3 + 1234
    fd = blockdev.open_device(dev, write=True)
    buf = blockdev.AlignedBuffer(4096)
    try:
        buf.view[1234] = 0x42
        blockdev.pwrite_all(fd, buf.view[:4096], bad - 1234)
        blockdev.flush(fd)
    finally:
        buf.close()
        os.close(fd)
    result = verify(dev, Pattern("zero"), "full")
    assert result.result == "fail" and result.mismatches == [bad]
    assert verify(dev, Pattern("zero"), "sample").result in ("pass", "fail")  # may miss it


def test_a_mounted_loop_device_is_refused_and_untouched(loops: Loops, tmp_path: Path) -> None:
    dev, backing = loops.make(SIZE, markers=False)
    runner.run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", dev],
               timeout=60)
    loops.mount(dev, tmp_path / "mnt", options="ro")  # read-only: no background writes
    before = sha256(backing)
    res = ardoise("wipe", dev, "--yes")
    assert res.returncode == 3
    assert "mounted" in res.stderr and "nothing was written" in res.stderr
    # the engine's own last guard: O_EXCL fails while the filesystem holds the device
    direct = get("overwrite").run(resolve(dev), EraseContext())
    assert direct.status == "failed" and "cannot open" in direct.errors[0]
    assert sha256(backing) == before


def test_a_partition_path_is_refused_and_untouched(loops: Loops, tmp_path: Path) -> None:
    backing = tmp_path / "parted.img"
    with open(backing, "wb") as fh:
        fh.truncate(SIZE)
    runner.run(["sgdisk", "-o", "-n", "1:2048:+16M", str(backing)], timeout=30)
    dev, _ = loops.make(SIZE, backing=backing, partscan=True)
    part = loops.partition(dev, 1)
    before = sha256(backing)
    res = ardoise("wipe", part, "--yes")
    assert res.returncode == 3 and "partition" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert sha256(backing) == before


def test_file_and_missing_paths_and_bad_input(tmp_path: Path, real_commands: None) -> None:
    plain = tmp_path / "plain.img"
    plain.write_bytes(b"data" * 1024)
    for argv, code in [((str(plain), "--yes"), 2), ((str(tmp_path / "none"), "--yes"), 2),
                       (("/dev/loop0", "--method", "dd"), 2),
                       (("/dev/loop0", "--block-size", "4X"), 2),
                       (("/dev/loop0", "--level", "purge", "--method", "overwrite"), 2)]:
        res = ardoise("wipe", *argv)
        assert res.returncode == code, (argv, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert plain.read_bytes() == b"data" * 1024


def test_write_errors_name_the_failing_range(loops: Loops, tmp_path: Path) -> None:
    """A loop device on a full tmpfs: writes into the file's hole fail with ENOSPC."""
    fs = tmp_path / "tmpfs"
    fs.mkdir()
    size = 16 * MiB
    runner.run(["mount", "-t", "tmpfs", "-o", f"size={size - 2 * MiB}", "tmpfs", str(fs)],
               timeout=30)
    loops.mounts.append(str(fs))
    backing = fs / "disk.img"
    with open(backing, "wb") as fh:
        fh.truncate(size)
        for off in range(0, size, MiB):
            if off not in (4 * MiB, 5 * MiB):  # leave a 2 MiB hole; the tmpfs is now full
                fh.seek(off)
                fh.write(b"\x99" * MiB)
    dev, _ = loops.make(size, backing=backing)
    res = ardoise("wipe", dev, "--yes", "--json", "--verify", "none", "--block-size", "8M")
    assert res.returncode == 1, res.stderr
    (result,) = json.loads(res.stdout)["results"]
    assert result["status"] == "failed"
    assert result["io_errors"] == [{"offset": 4 * MiB, "length": 2 * MiB,
                                    "error": "No space left on device"}]
    assert any("4194304-6291455" in e for e in result["errors"])
    assert result["bytes_written"] == size - 2 * MiB
    data = backing.read_bytes()
    assert data[:4 * MiB] == bytes(4 * MiB) and data[6 * MiB:] == bytes(size - 6 * MiB)


def test_a_wipe_killed_mid_erase_is_certified_incomplete_at_the_next_start(
        loops: Loops, data_dir: Path) -> None:
    """Power cut during `ardoise wipe`: the next run issues a signed INCOMPLETE certificate
    for the interrupted disk (never "erased"), then erases it for real."""
    import signal
    import subprocess
    import time

    dev, backing = loops.make(512 * MiB)
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "wipe", dev, "--yes", "--json",
         "--pattern", "random", "--verify", "full", "--block-size", "1M",
         "--queue-depth", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = data_dir / "journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [json.loads(p.read_text())["state"] for p in journal.glob("*.json")]
        if "erasing" in states or "verifying" in states:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the wipe never journaled its erasing step")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not list((data_dir / "spool" / "pending").glob("*.json"))

    res = ardoise("wipe", dev, "--yes", "--json")
    assert res.returncode == 0, res.stderr
    assert "INCOMPLETE" in res.stderr
    docs = [json.loads(p.read_text()) for p in (data_dir / "spool" / "pending").glob("*.json")]
    statuses = sorted(d["sanitization"]["status"] for d in docs)
    assert statuses == ["erased", "incomplete"]
    interrupted = next(d for d in docs if d["sanitization"]["status"] == "incomplete")
    assert not any("unknown method" in e for e in interrupted["sanitization"]["errors"])
    assert interrupted["verification"]["mode"] == "full"  # what the interrupted run asked
    for path in (data_dir / "spool" / "pending").glob("*.json"):
        check = ardoise("cert", "verify", str(path), "--data", str(data_dir))
        assert check.returncode == 0, check.stderr
    assert all_zero(backing)


# --- verdicts: unverified, interrupted, refused, dry run ----------------------------------

NOT_VERIFIED = ("NOT VERIFIED: the erase command ran but nothing was read back; this disk is "
                "not certified as erased")


def pending(data: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p.read_text()) for p in (data / "spool" / "pending").glob("*.json")]


@pytest.mark.parametrize(("lang", "words"), [
    ("en", NOT_VERIFIED),
    ("fr", "NON VÉRIFIÉ\u00a0: la commande d’effacement a été exécutée mais rien n’a été relu, "
           "ce disque n’est pas certifié effacé")])
def test_verify_none_is_not_verified_and_exits_1(loops: Loops, data_dir: Path, lang: str,
                                                  words: str) -> None:
    dev, backing = loops.make(SIZE)
    res = runner.run([sys.executable, "-m", "appliance.cli", "--lang", lang, "wipe", dev,
                      "--yes", "--verify", "none"], timeout=300, check=False)
    assert res.returncode == 1, res.stderr
    assert words in res.stdout and "Traceback" not in res.stderr
    assert count_markers(backing) == 0  # the erase ran; it is just not checked
    as_json = ardoise("wipe", dev, "--yes", "--verify", "none", "--json")
    assert as_json.returncode == 1
    (result,) = json.loads(as_json.stdout)["results"]
    assert result["status"] == "unverified" and result["verify"]["result"] == "not-done"
    assert NOT_VERIFIED in as_json.stderr
    docs = pending(data_dir)
    assert [d["sanitization"]["status"] for d in docs] == ["unverified", "unverified"]
    for path in (data_dir / "spool" / "pending").glob("*.json"):
        assert ardoise("cert", "verify", str(path), "--data", str(data_dir)).returncode == 0


def _wait_for_state(journal: Path, wanted: str, proc: subprocess.Popen[str],
                    backing: Path | None = None) -> None:
    """Until a job is journaled in state `wanted` (and, with `backing`, the sparse backing
    file of the loop device holds written blocks: the erase is really under way)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the wipe ended before {wanted}: {proc.stderr.read() if proc.stderr else ''}")
        states = []
        for p in journal.glob("*.json"):
            try:
                states.append(json.loads(p.read_text())["state"])
            except ValueError:
                continue  # (atomic renames: never torn, but the glob may race a rename)
        if wanted in states and (backing is None or os.stat(backing).st_blocks > 0):
            return
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"the wipe never journaled {wanted}")


@pytest.mark.parametrize("phase", ["erasing", "verifying"])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_wipe_certifies_incomplete_at_once_and_exits_128_plus(
        loops: Loops, data_dir: Path, signum: int, code: int, phase: str) -> None:
    """Ctrl-C (SIGINT) or a shutdown (SIGTERM) mid-erase or mid-verify: the work stops, the
    disk gets its INCOMPLETE certificate before the exit, one line is said, no traceback;
    the next run issues no second INCOMPLETE certificate."""
    assert ardoise("keygen", "--data", str(data_dir)).returncode == 0  # no key warning below
    dev, backing = loops.make(2048 * MiB, markers=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "--lang", "en", "wipe", dev, "--yes", "--json",
         "--pattern", "random", "--verify", "full", "--block-size", "1M", "--queue-depth", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_state(data_dir / "journal", phase, proc, backing if phase == "erasing" else None)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "KeyError" not in err
    assert err.strip().splitlines() == [
        "ardoise: interrupted: stopping; the disks are NOT erased, and every disk being worked "
        "on gets an INCOMPLETE certificate"]
    document = json.loads(out)
    assert document["interrupted"] == signal.Signals(signum).name
    (result,) = document["results"]
    assert result["status"] == "incomplete" and result["certificate"]
    docs = pending(data_dir)
    assert [d["sanitization"]["status"] for d in docs] == ["incomplete"]
    assert docs[0]["sanitization"]["method"] == "overwrite"
    assert docs[0]["verification"]["result"] != "pass"
    check = ardoise("cert", "verify", result["certificate"], "--data", str(data_dir))
    assert check.returncode == 0, check.stderr
    journals = [json.loads(p.read_text()) for p in (data_dir / "journal").glob("*.json")]
    assert [j["state"] for j in journals] == ["spooled"]  # closed by its own certificate

    again = ardoise("wipe", dev, "--yes", "--json", "--verify", "sample")
    assert again.returncode == 0, again.stderr
    assert "INCOMPLETE" not in again.stderr  # nothing left over to report
    assert sorted(d["sanitization"]["status"] for d in pending(data_dir)) == [
        "erased", "incomplete"]


def test_a_refused_wipe_issues_no_certificate_and_says_why(loops: Loops,
                                                          tmp_path: Path) -> None:
    good, good_file = loops.make(SIZE)
    mounted, mounted_file = loops.make(SIZE, markers=False)
    runner.run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", mounted],
               timeout=60)
    loops.mount(mounted, tmp_path / "mnt", options="ro")
    before = sha256(good_file), sha256(mounted_file)
    data = tmp_path / "empty-data"
    data.mkdir()
    for extra in ((), ("--dry-run",)):
        res = ardoise("wipe", good, mounted, "--yes", "--json", "--data", str(data), *extra)
        assert res.returncode == 3, res.stderr
        document = json.loads(res.stdout)
        assert document.get("dry_run", False) is bool(extra)
        assert [(r["path"], r["status"], r["certificate"]) for r in document["results"]] == [
            (good, "refused", None), (mounted, "refused", None)]
        assert f"refused {mounted}: mounted" in res.stderr
        assert "nothing was written" in res.stderr and "Traceback" not in res.stderr
        assert list(data.iterdir()) == []  # no key, no journal, no spool
    assert (sha256(good_file), sha256(mounted_file)) == before


def test_a_dry_run_writes_nothing_at_all(loops: Loops, tmp_path: Path) -> None:
    dev, backing = loops.make(SIZE)
    before = sha256(backing)
    empty = tmp_path / "empty-data"
    empty.mkdir()
    res = ardoise("wipe", dev, "--dry-run", "--json", "--data", str(empty))
    assert res.returncode == 0, res.stderr
    document = json.loads(res.stdout)
    assert document["dry_run"] is True
    (entry,) = document["results"]
    assert entry["status"] == "planned" and entry["methods"] == ["overwrite"]
    assert entry["certificate"] is None
    assert list(empty.iterdir()) == []
    missing = tmp_path / "no-such-data"
    words = ardoise("wipe", dev, "--dry-run", "--verify", "none", "--data", str(missing))
    assert words.returncode == 0 and "would erase with overwrite" in words.stdout
    assert "NOT VERIFIED" in words.stdout and "dry run: nothing was written" in words.stdout
    assert not missing.exists()
    assert sha256(backing) == before
