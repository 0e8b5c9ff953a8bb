"""Preflight and delivery on real loop devices and a real ledger on 127.0.0.1.

`ardoise run` refuses (exit 2) before the confirmation when a required image is missing,
untrusted or too small, or when the ledger does not know the appliance key: no journal job,
no certificate, every marker still on the disk. A certificate the ledger rejects ends the
session with exit 1 and says REJECTED (run and wipe), never "not sent yet".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import key_id, load_public_pem, public_pem
from appliance.journal import Journal
from appliance.spool import Spool
from tests.integration.loopdev import Loops, MiB, count_markers, loop_box
from tests.integration.test_rack_ledger import LedgerProcess

pytestmark = pytest.mark.integration
SIZE = 24 * MiB
CONFIG = "organisation: OPEQ\nerase:\n  level: clear\n  verify: sample\n"


@pytest.fixture
def loops(real_commands: None) -> Iterator[Loops]:
    with loop_box("ardpre-") as box:
        yield box


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    process = LedgerProcess(tmp_path_factory.mktemp("ledger")).start()
    try:
        yield process
    finally:
        process.stop()


def ardoise(*args: str, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **(env or {})})


def image(tmp_path: Path, size: int = 16 * MiB) -> Path:
    """A signed image built with `ardoise image build`; returns the publisher's public key."""
    source = tmp_path / "os.img"
    with open(source, "wb") as fh:
        fh.write(os.urandom(MiB))
        fh.truncate(size)
    from appliance.certify import private_pem

    key = Ed25519PrivateKey.generate()
    (tmp_path / "publisher.key").write_bytes(private_pem(key))
    (tmp_path / "publisher.pem").write_bytes(public_pem(key.public_key()))
    build = ardoise("image", "build", str(source), "--out", str(tmp_path / "images"),
                    "--name", "demo-os", "--version", "1", "--raw", "all",  # no file system
                    "--sign-key", str(tmp_path / "publisher.key"))
    assert build.returncode == 0, build.stderr
    return tmp_path / "publisher.pem"


def untouched(data: Path, disk_file: Path, markers: int) -> None:
    assert not (data / "journal").is_dir() or not Journal(data).jobs()
    assert not (data / "spool").exists() or not Spool(data).list()
    assert count_markers(disk_file) == markers


@pytest.mark.parametrize("case", ["missing", "untrusted", "too-small"])
def test_run_refuses_a_required_image_it_cannot_write(loops: Loops, tmp_path: Path,
                                                     case: str) -> None:
    dev, disk_file = loops.make(SIZE, "donor")
    markers = count_markers(disk_file)
    pub = image(tmp_path, 32 * MiB if case == "too-small" else 16 * MiB)
    manifest = "images/nothing.manifest.json" if case == "missing" else \
        "images/demo-os.manifest.json"
    trust = "" if case == "untrusted" else f"  trust: [{pub}]\n"
    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text(CONFIG + f"image:\n  manifest: {manifest}\n  required: true\n{trust}")
    data = tmp_path / "data"
    proc = ardoise("run", "--config", str(cfg), "--data", str(data), "--device", dev, "--yes",
                   "--json")
    assert proc.returncode == 2, proc.stderr
    document = json.loads(proc.stdout)
    assert document["results"] == [] and document["preflight"]["blocked"] is True
    problems = [c for c in document["preflight"]["checks"] if c["state"] == "problem"]
    expected = {"missing": "image-unreadable", "untrusted": "image-untrusted",
                "too-small": "image-too-small"}[case]
    assert [c["code"] for c in problems] == [expected], problems
    words = {"missing": "The system image cannot be read",
             "untrusted": "is not signed by a publisher this appliance trusts",
             "too-small": f"{dev} holds"}[case]
    assert f"PROBLEM  {words}" in proc.stderr or words in proc.stderr
    assert "PROBLEM" in proc.stderr and "What to do:" in proc.stderr
    assert "problem must be fixed before erasing: nothing was touched" in proc.stderr
    assert "Traceback" not in proc.stderr
    untouched(data, disk_file, markers)


def test_run_refuses_while_the_ledger_does_not_know_the_key(loops: Loops, tmp_path: Path,
                                                           ledger: LedgerProcess) -> None:
    dev, disk_file = loops.make(SIZE, "donor")
    markers = count_markers(disk_file)
    data = tmp_path / "data"
    assert ardoise("keygen", "--data", str(data)).returncode == 0
    pub = data / "keys" / "appliance.pub.pem"
    kid = key_id(load_public_pem(pub.read_bytes()))
    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text(CONFIG + f"ledger:\n  url: {ledger.url}\n")
    proc = ardoise("run", "--config", str(cfg), "--data", str(data), "--device", dev, "--yes")
    assert proc.returncode == 2, proc.stderr
    command = f"ardoise-ledger enroll --name ardoise-{kid[:8]} --pubkey {pub}"
    assert f"What to do: On the ledger server, run: {command}" in proc.stderr
    untouched(data, disk_file, markers)
    ledger.cli(*command.split()[1:])  # the command as printed, against this ledger
    proc = ardoise("run", "--config", str(cfg), "--data", str(data), "--device", dev, "--yes",
                   "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answers and knows this appliance" in proc.stderr
    assert json.loads(proc.stdout)["delivery"]["sent"] == 1
    assert "Certificates: 1 sent, 0 waiting, 0 rejected." in proc.stderr


def test_run_with_a_rejected_certificate_exits_1(loops: Loops, tmp_path: Path,
                                                 ledger: LedgerProcess) -> None:
    """The key is enrolled at the confirmation and revoked before the certificate arrives."""
    dev, _disk_file = loops.make(SIZE, "donor")
    data = tmp_path / "data"
    assert ardoise("keygen", "--data", str(data)).returncode == 0
    pub = data / "keys" / "appliance.pub.pem"
    kid = ledger.cli("enroll", "--name", "atelier-rejected", "--pubkey", str(pub))
    cfg = tmp_path / "ardoise.yaml"
    cfg.write_text(CONFIG + f"ledger:\n  url: {ledger.url}\n")
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "run", "--config", str(cfg),
                             "--data", str(data), "--device", dev, "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stdin is not None
    seen = []
    for line in proc.stderr:  # preflight, then the typed confirmation waits for us
        seen.append(line)
        if "Type 'ERASE 1' to go on" in line:
            break
    assert any("answers and knows this appliance" in s for s in seen), seen
    ledger.cli("revoke", kid)
    out, err = proc.communicate("ERASE 1\n", timeout=300)
    assert proc.returncode == 1, err[-2000:]
    document = json.loads(out)
    assert document["results"][0]["passed"] is True  # the disk is fine: its record is not
    assert document["delivery"]["rejected"] == 1
    [entry] = document["delivery"]["certificates"]
    assert entry["state"] == "rejected"
    assert (entry["why"], entry["http"]) == ("key-not-enrolled", 403)  # revoked since
    assert entry["answer"] == "the signing key is unknown or revoked"  # the ledger's words
    assert "REJECTED by the ledger" in err and "not sent yet" not in err


def test_wipe_ends_with_the_delivery_summary(loops: Loops, tmp_path: Path,
                                            ledger: LedgerProcess) -> None:
    dev, _disk_file = loops.make(SIZE, "donor")
    data = tmp_path / "data"
    assert ardoise("keygen", "--data", str(data)).returncode == 0
    env = {"ARDOISE_LEDGER": ledger.url}
    proc = ardoise("wipe", dev, "--yes", "--data", str(data), env=env)
    assert proc.returncode == 1, proc.stderr  # erased, but the ledger refused the record
    assert "Certificates: 0 sent, 0 waiting, 1 rejected." in proc.stderr
    assert "REJECTED by the ledger" in proc.stderr and "HTTP 403" in proc.stderr
    assert "ardoise-ledger enroll --name ardoise-" in proc.stderr
    ledger.cli("enroll", "--name", "atelier-wipe", "--pubkey",
               str(data / "keys" / "appliance.pub.pem"))
    proc = ardoise("wipe", dev, "--yes", "--data", str(data), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)["delivery"]
    assert summary["sent"] == 1 and summary["rejected"] == 0
    # the earlier rejected certificate went too, now that the key is known
    assert len(Spool(data).sent()) == 2 and not Spool(data).pending()
