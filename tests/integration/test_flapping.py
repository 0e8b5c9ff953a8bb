"""Flapping ledger: 1,000 certificates delivered to a real HTTP server on 127.0.0.1 that is
killed and restarted at random intervals and sometimes answers 500, hangs, or stores a
certificate and loses the answer. At the end: exactly 1,000 stored, 0 duplicates, 0 lost,
the spool empty."""

from __future__ import annotations

import copy
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from appliance import certificate, certify
from appliance.spool import Spool
from appliance.uplink import Backoff, Uplink
from tests.tools.ledger_server import read_log
from tests.unit import certsample

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FlappingLedger:
    """tests/tools/ledger_server.py with chaos: 500s, hangs, answers lost after storing."""

    seconds_allowed = 150.0
    up_seconds = (1.0, 5.0)  # how long it stays up, counted from when it listens

    def __init__(self, workdir: Path, pubkey: Path, seed: int):
        self.store, self.pubkey, self.seed = workdir / "ledger", pubkey, seed
        self.port = free_port()
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
        if not line.startswith("PORT "):
            self.kill()
            raise AssertionError(f"the test ledger did not start: {line!r}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stored_ids(self, ids: set[str]) -> list[str]:
        """Every certificate the ledger stored, once per time it stored it."""
        return [d["id"] for d in read_log(self.store)]


class RealLedger(FlappingLedger):
    """`ardoise-ledger serve` on SQLite, killed and restarted the same way (no injected
    500s or hangs: those come from the kills alone). It takes seconds to start."""

    seconds_allowed = 600.0
    up_seconds = (4.0, 12.0)

    def __init__(self, workdir: Path, pubkey: Path, seed: int):
        super().__init__(workdir, pubkey, seed)
        self.db = f"sqlite:///{workdir / 'ledger.db'}"
        cli = [sys.executable, "-m", "ledger.cli"]
        subprocess.run([*cli, "enroll", "--name", "flapping", "--pubkey", str(pubkey),
                        "--db", self.db], cwd=ROOT, check=True, timeout=120,
                       stdout=subprocess.DEVNULL)
        self.token = subprocess.run([*cli, "token", "create", "--db", self.db], cwd=ROOT,
                                    check=True, timeout=120, capture_output=True,
                                    text=True).stdout.strip()

    def start(self) -> None:
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "serve", "--db", self.db, "--port",
             str(self.port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.kill()
        raise AssertionError("the ledger did not start")

    def stored_ids(self, ids: set[str]) -> list[str]:
        self.start()
        try:
            auth = {"Authorization": f"Bearer {self.token}"}
            root = requests.get(self.url + "/api/v1/log/root", headers=auth, timeout=10).json()
            found = [i for i in sorted(ids) if requests.get(
                f"{self.url}/api/v1/certificates/{i}", headers=auth, timeout=10).ok]
            # the log only grows by new certificates: its size counts every stored one
            return found + ["<extra log entry>"] * (int(root["tree_size"]) - len(found))
        finally:
            self.kill()


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


@pytest.fixture
def ram_dir(tmp_path: Path) -> Iterator[Path]:
    """Spool and ledger store in RAM when /dev/shm exists: this test is about delivery
    over a flapping network; durability on disk is the power-cut test's subject, and a
    disk shared with other work makes every fsync slow."""
    if not Path("/dev/shm").is_dir():
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="ardoise-flapping-", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


LEDGERS = {"test-server": FlappingLedger, "real-ledger": RealLedger}


@pytest.mark.integration
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", [
    "test-server",
    pytest.param("real-ledger", marks=pytest.mark.skipif(
        os.environ.get("ARDOISE_TEST_REAL_LEDGER") != "1",
        reason="set ARDOISE_TEST_REAL_LEDGER=1 to run against `ardoise-ledger serve`")),
])
def test_exactly_once_through_a_flapping_ledger(ram_dir: Path, kind: str) -> None:
    tmp_path = ram_dir
    data = tmp_path / "data"
    ids = fill_spool(data)
    spool = Spool(data)
    assert len(spool.pending()) == TOTAL
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    ledger = LEDGERS[kind](tmp_path, data / "keys" / "appliance.pub.pem", seed)
    ledger.start()
    uplink = Uplink(spool, ledger.url, timeout=(0.5, 1.0), check_link=False, idle_poll=0.2,
                    backoff=Backoff(base=0.02, cap=0.3, rng=random.Random(seed)))
    start = time.monotonic()
    uplink.start()
    errors: set[str] = set()
    try:
        deadline = start + ledger.seconds_allowed
        while spool.pending() and time.monotonic() < deadline:
            time.sleep(rng.uniform(*ledger.up_seconds))
            errors.add(str(uplink.state().last_error).split(" ")[0][:40])
            ledger.kill()
            time.sleep(rng.uniform(0.0, 0.5))  # down
            ledger.start()
        while spool.pending() and time.monotonic() < deadline:
            time.sleep(0.1)  # the last stretch with the ledger up
        seconds = time.monotonic() - start
    finally:
        uplink.stop()
        ledger.kill()

    stored_ids = ledger.stored_ids(ids)
    state = uplink.state()
    print(f"{kind} seed {seed}: {TOTAL} certificates in {seconds:.1f}s, ledger started "
          f"{ledger.starts} times, stored {len(stored_ids)}, distinct {len(set(stored_ids))}, "
          f"pending {state.pending}; errors seen: {sorted(errors)}")
    assert spool.pending() == [], "spool not empty"
    assert len(stored_ids) == TOTAL, "stored count"
    assert len(set(stored_ids)) == TOTAL, "duplicates at the ledger"
    assert set(stored_ids) == ids, "lost certificates"
    assert sorted(spool.sent()) == sorted(ids)
    assert ledger.starts >= 5, "the ledger did not flap"
