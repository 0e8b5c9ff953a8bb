"""Flapping ledger: 1,000 certificates delivered to a real HTTP server on 127.0.0.1 that is
killed and restarted at random intervals and sometimes answers 500, hangs, or stores a
certificate and loses the answer. At the end: exactly 1,000 stored, 0 duplicates, 0 lost,
the spool empty."""

from __future__ import annotations

import copy
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from appliance import certificate, certify
from appliance.spool import Spool
from appliance.uplink import Backoff, Uplink
from tests.tools.ledger_server import read_log
from tests.unit import certsample

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000


class FlappingLedger:
    def __init__(self, store: Path, pubkey: Path, seed: int):
        self.store, self.pubkey, self.seed = store, pubkey, seed
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.tools.ledger_server", "--port", str(self.port),
             "--store", str(self.store), "--pubkey", str(self.pubkey),
             "--chaos", str(self.seed + self.starts), "--hang", "1.5"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def fill_spool(data: Path) -> set[str]:
    key = certify.load_key(data)
    template = certify.sign_document(certsample.document(), key)  # schema-checked once
    spool = Spool(data)
    ids = set()
    for i in range(TOTAL):
        doc = copy.deepcopy(template)
        doc["id"] = str(uuid.uuid4())
        doc["job_id"] = f"flapping-{i}"
        spool.put(certificate.sign(doc, key))
        ids.add(doc["id"])
    return ids


@pytest.mark.integration
def test_exactly_once_through_a_flapping_ledger(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids = fill_spool(data)
    spool = Spool(data)
    assert len(spool.pending()) == TOTAL
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    ledger = FlappingLedger(tmp_path / "ledger", data / "keys" / "appliance.pub.pem", seed)
    ledger.start()
    uplink = Uplink(spool, ledger.url, timeout=(0.5, 1.0), check_link=False, idle_poll=0.2,
                    backoff=Backoff(base=0.02, cap=0.3, rng=random.Random(seed)))
    start = time.monotonic()
    uplink.start()
    errors: set[str] = set()
    try:
        deadline = start + 150
        while spool.pending() and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.5, 3.0))  # up (counted from when it listens)
            errors.add(str(uplink.state().last_error).split(" ")[0][:40])
            ledger.kill()
            time.sleep(rng.uniform(0.0, 0.8))  # down
            ledger.start()
        while spool.pending() and time.monotonic() < deadline:
            time.sleep(0.1)  # the last stretch with the ledger up
        seconds = time.monotonic() - start
    finally:
        uplink.stop()
        ledger.kill()

    stored = read_log(tmp_path / "ledger")
    stored_ids = [d["id"] for d in stored]
    state = uplink.state()
    print(f"seed {seed}: {TOTAL} certificates in {seconds:.1f}s, ledger started "
          f"{ledger.starts} times, stored {len(stored_ids)}, distinct {len(set(stored_ids))}, "
          f"pending {state.pending}; errors seen: {sorted(errors)}")
    assert spool.pending() == [], "spool not empty"
    assert len(stored_ids) == TOTAL, "stored count"
    assert len(set(stored_ids)) == TOTAL, "duplicates at the ledger"
    assert set(stored_ids) == ids, "lost certificates"
    assert sorted(spool.sent()) == sorted(ids)
    assert ledger.starts >= 5, "the ledger did not flap"
