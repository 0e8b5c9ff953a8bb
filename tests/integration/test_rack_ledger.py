"""Rack mode against the REAL ledger on 127.0.0.1: signed site config served from the ledger's
--netboot directory, appliance key made at start, enrollment with the rack token, heartbeats
mirroring every journal transition, certificates delivered before the run returns.

Each `ardoise run --unattended` process here stands for one netbooted machine: its kernel
command line is given by ARDOISE_CMDLINE, its data directory is a fresh "RAM" folder, its
disk a loop device we create.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.demo import free_port, stop_server, wait_healthy
from appliance.siteconfig import generate_site_key, sign_bytes
from tests.integration.loopdev import Loops, MiB, count_markers, loop_box, sha256

pytestmark = pytest.mark.integration
LOST_AFTER = 4.0


@dataclass
class LedgerProcess:
    """`ardoise-ledger serve --netboot DIR` in a subprocess, on a free port of 127.0.0.1."""

    workdir: Path
    host: str = "127.0.0.1"
    lost_after: float = LOST_AFTER
    netboot_dir: Path | None = None

    def __post_init__(self) -> None:
        self.db = str(self.workdir / "ledger.db")
        self.netboot = self.netboot_dir or self.workdir / "netboot"
        self.netboot.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "ledger.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run([sys.executable, "-m", "ledger.cli", *args, "--db", self.db],
                              capture_output=True, text=True, timeout=60, check=check)
        return proc.stdout.strip()

    def token(self, enroll: bool = True) -> str:
        return self.cli("token", "create", *(["--enroll"] if enroll else []))

    def start(self) -> LedgerProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "serve", "--db", self.db, "--host", self.host,
             "--port", str(self.port), "--netboot", str(self.netboot),
             "--lost-after", str(self.lost_after)],
            stdout=self._log, stderr=self._log)
        try:
            wait_healthy(self.url, self.proc, self.log_path)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_server(self.proc)
        if getattr(self, "_log", None):
            self._log.close()

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def rack(self, batch: str) -> list[dict[str, Any]]:
        """The rack view's rows, as the page computes them."""
        from ledger.db import make_engine
        from ledger.store import Ledger
        from ledger.web.pages import rack_rows

        engine = make_engine(self.db)
        try:
            return rack_rows(Ledger(engine), batch, self.lost_after)
        finally:
            engine.dispose()

    def certificates(self, batch: str, admin: str) -> list[dict[str, Any]]:
        req = urllib.request.Request(f"{self.url}/api/v1/certificates?batch={batch}",
                                     headers={"Authorization": f"Bearer {admin}"})
        with urllib.request.urlopen(req, timeout=10) as response:
            return list(json.loads(response.read())["results"])

    def verify_log(self) -> dict[str, Any]:
        return dict(json.loads(self.cli("verify-log", "--json", check=False)))


@dataclass
class Site:
    ledger: LedgerProcess
    keys: Path  # the "image's" trusted site keys (ARDOISE_SITE_KEYS)
    key: Ed25519PrivateKey

    def publish(self, name: str, text: str, signer: Ed25519PrivateKey | None = None) -> str:
        data = text.encode()
        (self.ledger.netboot / name).write_bytes(data)
        (self.ledger.netboot / (name + ".sig")).write_bytes(sign_bytes(data, signer or self.key))
        return f"{self.ledger.url}/netboot/{name}"

    def rack_yaml(self, batch: str, token: str, **erase: str) -> str:
        lines = [f"organisation: OPEQ\nbatch: {batch}\nlocation: Montréal rack A\n",
                 "erase:\n  level: clear\n  verify: full\n",
                 *[f"  {k}: {v}\n" for k, v in erase.items()],
                 "unattended:\n  enabled: true\n  countdown_seconds: 0\n  after: stay\n",
                 f"ledger:\n  url: {self.ledger.url}\n  enroll_token: {token}\n",
                 "  heartbeat_seconds: 5\n"]
        return "".join(lines)


@contextmanager
def open_site(prefix: str) -> Iterator[Site]:
    """A real ledger on 127.0.0.1 and a fresh site key pair in a folder under /var/tmp; the
    private key is kept in memory only (the image carries the public key only)."""
    from appliance.certificate import load_private_pem

    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    ledger = LedgerProcess(workdir).start()
    key_path, _pub = generate_site_key(workdir / "site-keys")
    key = load_private_pem(key_path.read_bytes())
    key_path.unlink()
    try:
        yield Site(ledger, workdir / "site-keys", key)
    finally:
        ledger.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with open_site("ardrack-") as opened:
        yield opened


@pytest.fixture(scope="module")
def admin(site: Site) -> str:
    return site.ledger.token(enroll=False)


@pytest.fixture
def loops(real_commands: None) -> Iterator[Loops]:
    with loop_box("ardrk-") as box:
        yield box


def machine(site: Site, config_url: str, device: str, ram: Path,
            popen: bool = False) -> Any:
    """One netbooted machine: `ardoise run --unattended` with its kernel command line."""
    env = dict(os.environ, ARDOISE_CMDLINE=f"boot=live ardoise.config={config_url}",
               ARDOISE_SITE_KEYS=str(site.keys))
    argv = [sys.executable, "-m", "appliance.cli", "run", "--unattended", "--device", device,
            "--data", str(ram), "--json"]
    if popen:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_two_machines_enroll_report_and_deliver(site: Site, admin: str, loops: Loops,
                                                tmp_path: Path) -> None:
    batch = "rack-two"
    url = site.publish("two.yaml", site.rack_yaml(batch, site.ledger.token()))
    disks = [loops.make(24 * MiB, name=f"m{i}") for i in range(2)]
    procs = [machine(site, url, dev, tmp_path / f"ram{i}", popen=True)
             for i, (dev, _path) in enumerate(disks)]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "enrolled at the ledger" in err and "every certificate is at the ledger" in err
        result = json.loads(out)["results"][0]
        assert result["passed"] and json.loads(out)["pending_certificates"] == 0
    for _dev, path in disks:
        assert count_markers(path) == 0
    # every certificate at the ledger, verified on intake, in a log that verifies
    certs = site.ledger.certificates(batch, admin)
    assert len(certs) == 2 and {c["status"] for c in certs} == {"erased"}
    assert {c["verification"] for c in certs} == {"pass"}
    report = site.ledger.verify_log()
    assert report["ok"], report
    # the rack view: both machines done, every disk erased and its certificate sent
    rows = site.ledger.rack(batch)
    assert len(rows) == 2
    for row in rows:
        assert row["state"] == "done", row
        assert [(j["status"], j["step"]) for j in row["jobs"]] == [("erased", "sent")]
        assert row["m"].journal == "ram"
        # one heartbeat per journal transition at least (discovered → … → spooled: 8)
        assert row["m"].heartbeats >= 8
    # RAM data dirs: the key was made at start, the spool is empty
    for i in range(2):
        assert (tmp_path / f"ram{i}" / "keys" / "appliance.key").exists()
        assert not list((tmp_path / f"ram{i}" / "spool" / "pending").glob("*.json"))


def test_bad_signature_stops_everything(site: Site, admin: str, loops: Loops,
                                        tmp_path: Path) -> None:
    batch = "rack-badsig"
    stranger = Ed25519PrivateKey.generate()
    url = site.publish("badsig.yaml", site.rack_yaml(batch, site.ledger.token()), signer=stranger)
    dev, path = loops.make(8 * MiB, name="bs")
    before = sha256(path)
    proc = machine(site, url, dev, tmp_path / "ram")
    assert proc.returncode == 2, proc.stderr
    assert "bad signature" in proc.stderr  # the reason, on the machine's screen
    assert sha256(path) == before  # nothing erased
    assert not (tmp_path / "ram" / "keys").exists()  # not even a key made
    refusals = [e for e in site.ledger.log_lines() if e.get("msg") == "machine refused to work"
                and e.get("config") == url]
    assert refusals and refusals[-1]["code"] == "bad_config"
    assert "bad signature" in refusals[-1]["reason"]
    assert site.ledger.certificates(batch, admin) == []
    assert site.ledger.rack(batch) == []


def test_machine_without_valid_enrollment_is_refused(site: Site, admin: str, loops: Loops,
                                                     tmp_path: Path) -> None:
    batch = "rack-badtoken"
    revoked = site.ledger.token()
    site.ledger.cli("token", "revoke", revoked)
    url = site.publish("badtoken.yaml", site.rack_yaml(batch, revoked))
    dev, path = loops.make(8 * MiB, name="bt")
    before = sha256(path)
    proc = machine(site, url, dev, tmp_path / "ram")
    assert proc.returncode == 3, proc.stderr
    assert "refused this machine's enrollment" in proc.stderr
    assert sha256(path) == before
    log = site.ledger.log_lines()
    assert any(e.get("msg") == "enrollment refused" for e in log)
    assert any(e.get("msg") == "machine refused to work" and e.get("code") ==
               "enrollment_refused" for e in log)
    assert site.ledger.certificates(batch, admin) == []


def test_power_cut_shows_lost_contact_then_reboot_completes(site: Site, admin: str,
                                                            loops: Loops, tmp_path: Path) -> None:
    batch = "rack-cut"
    url = site.publish("cut.yaml", site.rack_yaml(batch, site.ledger.token(),
                                                  method="overwrite", pattern="random"))
    dev, path = loops.make(768 * MiB, name="cut", markers=False)
    proc = machine(site, url, dev, tmp_path / "ram1", popen=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = site.ledger.rack(batch)
            if rows and rows[0]["jobs"] and rows[0]["jobs"][0]["step"] == "erasing":
                break  # mirrored before the erase started: it is running now
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            time.sleep(0.2)
        else:
            pytest.fail("the machine never reported erasing")
    finally:
        proc.send_signal(signal.SIGKILL)  # the power cut
        proc.communicate(timeout=30)
    time.sleep(LOST_AFTER + 1.5)
    rows = site.ledger.rack(batch)
    assert len(rows) == 1 and rows[0]["state"] == "lost"
    job = rows[0]["jobs"][0]
    assert job["lost"] and job["status"] == "running" and job["step"] == "erasing"
    assert site.ledger.certificates(batch, admin) == []  # no false success anywhere

    # rebooted: a fresh RAM, a fresh key, enrolled again; the disk is erased to the end
    again = machine(site, url, dev, tmp_path / "ram2")
    assert again.returncode == 0, again.stderr[-3000:]
    states = {r["state"] for r in site.ledger.rack(batch)}
    assert states == {"lost", "done"}  # the interrupted boot stays lost, never erased
    certs = site.ledger.certificates(batch, admin)
    assert [c["status"] for c in certs] == ["erased"]
    assert site.ledger.verify_log()["ok"]
