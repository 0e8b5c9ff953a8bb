"""`ardoise image write` stopped by SIGTERM (a shutdown) or SIGINT (Ctrl-C) while the image
server stalls: the write stops, the disk's INCOMPLETE certificate is issued at once, the
exit status is 143 (130), and no traceback reaches the person."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import private_pem, public_pem
from appliance.imaging import build_image
from tests.integration.imaging_support import (
    Faults,
    MiB,
    filled_file,
    fixture_image,
    http_server,
    loop_device,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("published")
    source = fixture_image(root / "disk.img")
    key = Ed25519PrivateKey.generate()
    (root / "publisher.pem").write_bytes(public_pem(key.public_key()))
    (root / "publisher.key").write_bytes(private_pem(key))
    build_image(source, root / "www", name="disk", version="1", sign_key=key, chunk_bytes=MiB)
    return {"www": root / "www", "pub": root / "publisher.pem"}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_image_write_certifies_incomplete_and_exits_128_plus(
        published: dict[str, Path], tmp_path: Path, signum: int, code: int) -> None:
    data = tmp_path / "data"
    keygen = subprocess.run([sys.executable, "-m", "appliance.cli", "keygen", "--data",
                             str(data)], capture_output=True, text=True, timeout=60)
    assert keygen.returncode == 0, keygen.stderr
    backing = filled_file(tmp_path / "target.img", 64 * MiB)
    with loop_device(backing) as dev, \
            http_server(published["www"], Faults(hang=1, hang_seconds=4.0)) as (url, faults):
        proc = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", "--lang", "en", "image", "write",
             url + "disk.manifest.json", dev, "--trust", str(published["pub"]), "--yes",
             "--json", "--data", str(data), "--workers", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not any(path.endswith(".data") for path, _range in faults.log):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the writer never asked for the data"
                time.sleep(0.01)
            time.sleep(0.3)  # the server holds the first data request: the write waits
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert err.count("ardoise: interrupted: stopping") == 1
    [result] = json.loads(out)["results"]
    assert result["status"] != "imaged" and result["certificate"]
    pending = list((data / "spool" / "pending").glob("*.json"))
    assert [str(p) for p in pending] == [result["certificate"]]
    document = json.loads(pending[0].read_text())
    assert document["sanitization"]["status"] == "incomplete"
    assert document["image"]["verified"] is False
    check = subprocess.run([sys.executable, "-m", "appliance.cli", "cert", "verify",
                            result["certificate"], "--data", str(data)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
