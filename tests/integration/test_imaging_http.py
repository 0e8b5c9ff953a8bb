"""`ardoise image write` over a real HTTP server on 127.0.0.1 onto loop devices: round trip,
resume after a dropped connection, a stalled server, corrupt data, untrusted or broken
manifests, a disk that is too small; and what the certificate says in each case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import blake3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import private_pem, public_pem
from appliance.imaging import build_image, hash_device, write_image
from appliance.imaging.manifest import parse_bytes, root_hash
from tests.integration.imaging_support import (
    Faults,
    MiB,
    device_digest,
    filled_file,
    fixture_image,
    http_server,
    loop_device,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]
FAST = {"read_timeout": 1.0, "connect_timeout": 2.0, "backoff": 0.05}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fixture disk image, built into a signed image (1 MiB chunks), plus keys."""
    root = tmp_path_factory.mktemp("published")
    source = fixture_image(root / "disk.img")
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    (root / "publisher.key").write_bytes(private_pem(key))
    (root / "publisher.pem").write_bytes(public_pem(key.public_key()))
    (root / "other.pem").write_bytes(public_pem(other.public_key()))
    www = root / "www"
    build_image(source, www, name="disk", version="3", sign_key=key, chunk_bytes=MiB)
    return {"root": root, "source": source, "www": www, "pub": root / "publisher.pem",
            "other": root / "other.pem", "key": root / "publisher.key",
            "manifest": www / "disk.manifest.json"}


@pytest.fixture
def target(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A loop device the size of the image, filled with 0x5A (what an erase left)."""
    backing = filled_file(tmp_path / "target.img", 64 * MiB)
    with loop_device(backing) as dev:
        yield dev


def _manifest(published: dict[str, Path]):  # type: ignore[no-untyped-def]
    return parse_bytes(published["manifest"].read_bytes())


def _assert_image_on_disk(dev: str, published: dict[str, Path]) -> None:
    m = _manifest(published)
    with open(dev, "rb") as fh, open(published["source"], "rb") as src:
        for c in m.chunks:
            got = os.pread(fh.fileno(), c.length, c.disk_offset)
            assert blake3.blake3(got).hexdigest() == c.blake3, c.index
            # the source's bytes, except free parts of partly used blocks: zeros
            want = os.pread(src.fileno(), c.length, c.disk_offset)
            assert all(g == w or g == 0 for g, w in zip(got, want, strict=True)), c.index
        for z in m.must_zero:
            assert os.pread(fh.fileno(), z.length, z.disk_offset).count(0) == z.length
    # nothing is left as it was (the 0x5A the "erase" left): free space is written as zeros
    assert m.mapped_bytes + m.zero_bytes == m.image_bytes


def _fsck_partition(dev: str) -> subprocess.CompletedProcess[str]:
    part = subprocess.run(["losetup", "-f", "--show", "-r", "-o", str(1 * MiB), dev],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    try:
        return subprocess.run(["e2fsck", "-fn", part], capture_output=True, text=True,
                              timeout=120)
    finally:
        subprocess.run(["losetup", "-d", part], check=False, timeout=60)


def test_round_trip_over_http_with_dropped_connections(published, target) -> None:  # type: ignore[no-untyped-def]
    with http_server(published["www"], Faults(drop=3)) as (url, faults):
        r = write_image(url + "disk.manifest.json", target, [published["pub"]], workers=3,
                        http_options=FAST)
    assert r.status == "imaged", r.errors
    assert r.verified and r.readback_root_hash == r.manifest_root_hash
    assert r.fetch["resumes"] >= 3  # each cut transfer went on from the last byte received
    # the follow-up requests start where the cut transfers stopped, not at a frame start
    starts = {c.data_offset for c in _manifest(published).chunks}
    resumed = [rng for path, rng in faults.log if path.endswith(".data")
               and int(rng.split("=")[1].split("-")[0]) not in starts]
    assert len(resumed) >= 3, faults.log
    _assert_image_on_disk(target, published)
    fsck = _fsck_partition(target)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # and later: the disk re-hashes to the manifest
    h = hash_device(target, str(published["manifest"]), [published["pub"]])
    assert (h.status, h.signature, h.readback_root_hash) == ("match", "verified", r.manifest_root_hash)


def test_stalled_server_is_retried(published, target) -> None:  # type: ignore[no-untyped-def]
    with http_server(published["www"], Faults(hang=2, hang_seconds=2.5)) as (url, _faults):
        r = write_image(url + "disk.manifest.json", target, [published["pub"]], workers=2,
                        http_options=FAST)
    assert r.status == "imaged", r.errors
    assert r.fetch["retries"] >= 2


def test_corrupt_chunk_names_the_chunk_and_is_not_imaged(published, target) -> None:  # type: ignore[no-untyped-def]
    m = _manifest(published)
    bad = m.chunks[len(m.chunks) // 2]
    with http_server(published["www"], Faults(corrupt={bad.data_offset})) as (url, faults):
        r = write_image(url + "disk.manifest.json", target, [published["pub"]], workers=2,
                        http_options=FAST)
    assert r.status == "failed" and not r.verified
    assert r.readback_root_hash is None
    assert any(f"chunk {bad.index} (disk offset {bad.disk_offset})" in e for e in r.errors), \
        r.errors
    # it was fetched a second time before giving up
    ranges = [rng for _, rng in faults.log if rng.startswith(f"bytes={bad.data_offset}-")]
    assert len(ranges) == 2
    # the corrupt chunk never reached the disk
    with open(target, "rb") as fh:
        assert os.pread(fh.fileno(), bad.length, bad.disk_offset).count(0x5A) == bad.length


def test_transient_corruption_is_fetched_again(published, target) -> None:  # type: ignore[no-untyped-def]
    m = _manifest(published)
    faults = Faults(corrupt={m.chunks[1].data_offset}, corrupt_times=1)
    with http_server(published["www"], faults) as (url, _f):
        r = write_image(url + "disk.manifest.json", target, [published["pub"]],
                        http_options=FAST)
    assert r.status == "imaged" and r.verified, r.errors


@pytest.mark.parametrize("case", ["unknown-key", "tampered", "unsigned", "truncated",
                                  "too-small"])
def test_refused_before_any_write(case: str, published, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    www = tmp_path / "www"
    www.mkdir()
    doc = json.loads(published["manifest"].read_text())
    trust = [published["pub"]]
    faults = Faults()
    size = 64 * MiB
    if case == "unknown-key":
        trust = [published["other"]]
    elif case == "tampered":
        doc["chunks"][0]["blake3"] = "0" * 64  # and fix the root hash, as an attacker would
        doc["root_hash"] = root_hash((c["disk_offset"], c["length"], bytes.fromhex(c["blake3"]))
                                     for c in doc["chunks"])
    elif case == "unsigned":
        doc.pop("signature")
    elif case == "truncated":
        faults.truncate_manifest = True
    elif case == "too-small":
        size = 48 * MiB
    (www / "disk.manifest.json").write_text(json.dumps(doc))
    os.link(published["www"] / "disk.data", www / "disk.data")
    backing = filled_file(tmp_path / "target.img", size)
    with loop_device(backing) as dev:
        before = device_digest(dev)
        with http_server(www, faults) as (url, log):
            r = write_image(url + "disk.manifest.json", dev, trust, http_options=FAST)
        assert device_digest(dev) == before
    assert r.status == "refused" and not r.verified and r.bytes_written == 0
    assert not [p for p, _ in log.log if p.endswith(".data")]  # no data was even fetched
    expected = {"unknown-key": "unknown key", "tampered": "signature does not verify",
                "unsigned": "not signed", "truncated": "not valid JSON (truncated",
                "too-small": "the image needs"}[case]
    assert any(expected in e for e in r.errors), r.errors


def test_local_source_and_cache(published, target, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    with http_server(published["www"]) as (url, _f):
        first = write_image(url + "disk.manifest.json", target, [published["pub"]],
                            cache_dir=cache, http_options=FAST)
    assert first.status == "imaged"
    # the cache is a complete local image now: write from it with the server gone
    second = write_image(str(cache / "disk.manifest.json"), target, [published["pub"]])
    assert second.status == "imaged" and second.readback_root_hash == first.readback_root_hash
    assert (cache / "disk.data").read_bytes() == (published["www"] / "disk.data").read_bytes()


def test_gpt_post_steps_on_a_larger_disk(published, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    backing = filled_file(tmp_path / "big.img", 80 * MiB)
    with loop_device(backing) as dev:
        r = write_image(str(published["manifest"]), dev, [published["pub"]], grow_last=True)
        assert r.status == "imaged", r.errors
        assert r.post_steps == ["sgdisk -e", "growpart 1"]
        out = subprocess.run(["sgdisk", "-v", dev], capture_output=True, text=True, timeout=60)
        assert "No problems found" in out.stdout, out.stdout
        last = subprocess.run(["sgdisk", "-i", "1", dev], capture_output=True, text=True,
                              timeout=60).stdout
        assert "Last sector: 163806" in last  # 80 MiB disk: grown up to the backup table
        h = hash_device(dev, str(published["manifest"]), [published["pub"]])
        assert h.status == "partition-table-adjusted"
        assert {mm.role for mm in h.mismatches} == {"partition-table"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_cli_build_write_hash_and_certificates(published, target, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, data = tmp_path / "out", tmp_path / "data"
    b = _cli("image", "build", str(published["source"]), "--out", str(out), "--name", "cli",
             "--version", "9", "--sign-key", str(published["key"]), "--json")
    assert b.returncode == 0, b.stderr
    built = json.loads(b.stdout)
    assert built["signed"] and built["chunks"] > 1
    manifest = str(out / "cli.manifest.json")

    w = _cli("image", "write", manifest, target, "--trust", str(published["pub"]), "--yes",
             "--json", "--data", str(data))
    assert w.returncode == 0, w.stderr
    res = json.loads(w.stdout)["results"][0]
    assert (res["status"], res["verified"], res["name"], res["version"]) == \
        ("imaged", True, "cli", "9")
    cert = json.loads(Path(res["certificate"]).read_text())
    assert cert["image"]["verified"] is True
    assert cert["image"]["readback_hash"] == cert["image"]["root_hash"] == built["root_hash"]

    h = _cli("image", "hash", target, "--manifest", manifest, "--json",
             "--trust", str(published["pub"]))
    assert h.returncode == 0 and json.loads(h.stdout)["status"] == "match"

    # untrusted: exit 3, nothing written, so no certificate: the output says why
    spooled = sorted((data / "spool" / "pending").glob("*.json"))
    refused = _cli("image", "write", manifest, target, "--trust", str(published["other"]),
                   "--yes", "--json", "--data", str(data))
    assert refused.returncode == 3
    res = json.loads(refused.stdout)["results"][0]
    assert res["status"] == "refused" and res["certificate"] is None
    assert any("unknown key" in e for e in res["errors"])
    assert sorted((data / "spool" / "pending").glob("*.json")) == spooled

    # no --yes and no typed confirmation: refused
    unconfirmed = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "image", "write", manifest, target,
         "--trust", str(published["pub"]), "--data", str(data)],
        input="no\n", capture_output=True, text=True, timeout=120)
    assert unconfirmed.returncode == 3


def test_cancel_stops_the_write(published, target) -> None:  # type: ignore[no-untyped-def]
    import threading

    cancel = threading.Event()
    events = []

    def progress(event) -> None:  # type: ignore[no-untyped-def]
        events.append(event)
        cancel.set()

    r = write_image(str(published["manifest"]), target, [published["pub"]], progress=progress,
                    cancel=cancel, workers=1)
    assert r.status == "failed" and not r.verified
    assert any("cancelled" in e for e in r.errors)
    assert events and events[0].phase == "image"
    assert r.bytes_written < _manifest(published).mapped_bytes
