"""Image-write progress through the job pipeline, on a real loop device.

The real imaging writer writes a signed image (random data followed by a zero run the
manifest lists as must_zero) after a real erase; the events appliance.jobs posts are
recorded with the heartbeat status (the ledger's rack view) seen at each of them. The
writer's batches are made small so that the read-back of one batch overlaps the write of
the next, as it does with a real multi-gigabyte image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import config, inventory, jobs
from appliance.imaging import writer
from appliance.imaging.build import build_image
from tests.integration.loopdev import Loops, MiB, loop_box

pytestmark = pytest.mark.integration


@pytest.fixture
def loops(real_commands: None) -> Iterator[Loops]:
    with loop_box("ardprog-") as box:
        yield box


def test_image_step_reports_growing_bytes_to_every_front_end(loops: Loops, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "BATCH_BYTES", 4 * MiB)
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL", 0.0)  # every event, however fast the disk
    dev, _ = loops.make(64 * MiB, "donor")
    source = tmp_path / "os.img"
    with open(source, "wb") as fh:
        fh.write(os.urandom(12 * MiB))
        fh.truncate(40 * MiB)  # a zero run the disk must read back as zero
    key = Ed25519PrivateKey.generate()
    built = build_image(source, tmp_path / "images", name="demo-os", sign_key=key,
                        raw=["all"])  # no file system: copied whole
    manifest = built.manifest
    zero_bytes = sum(z.length for z in manifest.must_zero)
    assert zero_bytes > 0 and len(manifest.chunks) >= 3
    (tmp_path / "publisher.pem").write_bytes(key.public_key().public_bytes(
        ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
    cfg = config.parse(
        "organisation: OPEQ\nerase:\n  level: clear\n  verify: sample\n"
        f"image:\n  manifest: {built.manifest_path}\n  trust: [publisher.pem]\n"
        "  required: true\n", source=str(tmp_path / "ardoise.yaml"), base=tmp_path)
    targets = jobs.discover_targets(cfg, [dev])
    events: list[jobs.Event] = []
    beats: list[dict[str, Any]] = []
    box: dict[str, jobs.Run] = {}

    def sink(event: jobs.Event) -> None:
        events.append(event)
        if isinstance(event, jobs.StepProgress) and event.step == "imaging" and "run" in box:
            beats.extend(box["run"].status())  # what the next heartbeat would carry

    run = jobs.Run(cfg, tmp_path / "data", targets, sink, host=inventory.Host())
    box["run"] = run
    run.start()
    [result] = run.wait()
    assert result.passed and result.image_status == "imaged", result.errors

    imaging = [e for e in events if isinstance(e, jobs.StepProgress) and e.step == "imaging"]
    done = [e.done_bytes for e in imaging]
    # the start, the zeroed run, each 4 MiB chunk
    assert len(done) >= 2 + len(manifest.chunks) and done == sorted(done) and done[0] == 0
    # zeroing counts: the step is over when zeroed + written bytes are all done
    assert imaging[-1].total_bytes == manifest.mapped_bytes + zero_bytes == done[-1]
    assert all(e.rate_bytes_per_s > 0 for e in imaging if e.done_bytes)
    # the read-back overlapping the write never takes the step away from "imaging"
    order = [(e.step, getattr(e, "done_bytes", None)) for e in events
             if isinstance(e, jobs.StepStarted | jobs.StepProgress)]
    hashing_at = order.index(("hashing", None))
    assert all(step != "imaging" for step, _ in order[hashing_at:])
    assert order.index(("imaging", done[-1])) < hashing_at
    checked = [e for e in events if isinstance(e, jobs.StepProgress) and e.step == "hashing"]
    assert checked and checked[-1].done_bytes == checked[-1].total_bytes
    # the rack view: step imaging with a growing fraction and a rate
    seen = [b for b in beats if b["step"] == "imaging"]
    assert seen and seen[-1]["progress"] == 1.0 and seen[-1]["rate"] > 0
    assert any(0 < b["progress"] < 1 for b in seen)
