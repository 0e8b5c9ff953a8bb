"""Power cut: a writer of 1,000 certificates killed with SIGKILL at random moments (24
times, restarted after each) never leaves a torn or stray file, and after every restart
each certificate it reported as written is in the spool exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance import certificate, certify
from appliance.spool import Spool

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000
KILLS = 24


def start_writer(data: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.powercut_writer",
                             str(data), str(TOTAL)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "READY\n", proc.stderr.read() if proc.stderr else ""
    return proc


def reported(output: str) -> tuple[set[str], set[str]]:
    """Ids from whole lines only (a line cut by the kill reports nothing)."""
    put, sent = set(), set()
    for line in output.splitlines(keepends=True):
        if line.endswith("\n") and line[:2] in ("P ", "S "):
            (put if line[0] == "P" else sent).add(line[2:].strip())
    return put, sent


@pytest.mark.integration
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    data = tmp_path / "data"
    certify.generate_key(data / "keys")
    keys = certify.trusted_keys(data)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    all_put: set[str] = set()
    all_sent: set[str] = set()
    verified: set[str] = set()
    per_item = 0.01  # seconds, refined from each run
    kills = mid_run = runs = 0
    while True:
        runs += 1
        proc = start_writer(data)
        started = time.monotonic()
        if kills < KILLS:
            remaining = TOTAL - len(all_put)
            time.sleep(rng.uniform(0, 2 * remaining * per_item / (KILLS - kills + 1)))
            if proc.poll() is None:
                mid_run += 1
            proc.send_signal(signal.SIGKILL)
            kills += 1
        out, err = proc.communicate(timeout=300)
        put, sent = reported(out)
        if put:
            per_item = (time.monotonic() - started) / len(put)
        all_put |= put
        all_sent |= sent

        spool = Spool(data)  # the restart: recovery runs here
        assert list(spool.tmp_dir.iterdir()) == []
        pending = {p.stem for p in spool.pending_dir.glob("*.json")}
        on_sent = {p.stem for p in spool.sent_dir.glob("*.json")}
        assert not pending & on_sent, "a certificate in both pending/ and sent/"
        everything = pending | on_sent
        for cert_id in everything - verified:  # whole, valid, signed, named by its id
            doc = json.loads(spool.path(cert_id).read_bytes())
            assert doc["id"] == cert_id
            certificate.verify(doc, keys)
            verified.add(cert_id)
        assert all_put <= everything, "a reported certificate is missing"
        assert all_sent <= on_sent, "a certificate reported sent is not in sent/"
        assert len(everything - all_put) <= kills, "more unreported files than kills"
        strays = [p.name for d in (spool.pending_dir, spool.sent_dir)
                  for p in d.iterdir() if not p.name.endswith(".json")]
        assert strays == []
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err
    assert len(everything) == TOTAL
    assert kills == KILLS and mid_run >= KILLS * 3 // 4, (kills, mid_run)
    print(f"seed {seed}: {kills} kills ({mid_run} mid-write), {runs} runs, "
          f"{len(all_put)} reported, {len(everything)} files, all verified")
