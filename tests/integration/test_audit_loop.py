"""`ardoise audit` on loop devices wiped and imaged by the real `ardoise wipe` and
`ardoise image write`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import private_pem, public_pem, verify_signature
from appliance.certify import load_key
from appliance.imaging import build_image
from appliance.imaging.manifest import parse_bytes
from tests.integration.imaging_support import fixture_image
from tests.integration.loopdev import Loops, MiB, loop_box

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]
FIXTURES = Path(__file__).parent.parent / "fixtures" / "audit"
DISK = 96 * MiB  # larger than the 64 MiB image: the backup GPT moves to the end


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("published")
    key = Ed25519PrivateKey.generate()
    (root / "publisher.pem").write_bytes(public_pem(key.public_key()))
    (root / "publisher.key").write_bytes(private_pem(key))
    build_image(fixture_image(root / "disk.img"), root / "www", name="disk", version="1",
                sign_key=key, chunk_bytes=MiB)
    return {"pub": root / "publisher.pem", "manifest": root / "www" / "disk.manifest.json"}


@pytest.fixture
def loops() -> Iterator[Loops]:
    with loop_box("ardoise-audit-") as box:
        yield box


def ardoise(data: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance.cli", "--lang", "en", *argv,
                           "--data", str(data)], capture_output=True, text=True, timeout=600)


def wipe(data: Path, dev: str, pattern: str = "zero") -> Path:
    res = ardoise(data, "wipe", dev, "--yes", "--json", "--verify", "full", "--pattern", pattern)
    assert res.returncode == 0, res.stderr
    return Path(json.loads(res.stdout)["results"][0]["certificate"])


def image(data: Path, dev: str, published: dict[str, Path]) -> None:
    res = ardoise(data, "image", "write", str(published["manifest"]), dev, "--trust",
                  str(published["pub"]), "--yes", "--json")
    assert res.returncode == 0, res.stderr


def audit(data: Path, dev: str, *argv: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    res = ardoise(data, "audit", dev, "--json", "--operator", "B. Gagnon", *argv)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout), res.stderr


def wiped_and_imaged(loops: Loops, tmp_path: Path, published: dict[str, Path]
                     ) -> tuple[str, Path, Path]:
    data = tmp_path / "data"
    dev, _ = loops.make(DISK)
    cert = wipe(data, dev)
    image(data, dev, published)
    return dev, data, cert


def write_at(dev: str, offset: int, data: bytes) -> None:
    fd = os.open(dev, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def test_a_disk_wiped_and_imaged_passes(loops: Loops, tmp_path: Path,
                                        published: dict[str, Path]) -> None:
    dev, data, cert = wiped_and_imaged(loops, tmp_path, published)
    m = parse_bytes(published["manifest"].read_bytes())
    rc, record, stderr = audit(data, dev, "--manifest", str(published["manifest"]),
                               "--certificate", str(cert), "--trust", str(published["pub"]))
    assert rc == 0 and record["result"] == "pass", record["findings"]
    assert record["findings"] == [] and '"event": "progress"' in stderr
    cov = record["coverage"]
    assert cov["bytes_read"] == cov["size_bytes"] == DISK and cov["share"] == 1.0
    assert cov["image_bytes"] == m.mapped_bytes
    assert cov["pattern_bytes"] + cov["image_bytes"] + cov["table_bytes"] == DISK
    assert 0 < cov["table_bytes"] < MiB  # the backup GPT sgdisk -e moved to the end
    assert record["method"]["pattern"] == "zero" and record["method"]["pattern_compared"]
    assert record["method"]["image"]["signature"] == "verified"
    signed_cert = json.loads(cert.read_text())
    assert record["certificate"]["id"] == signed_cert["id"]
    assert record["certificate"]["signature"] == "verified"
    assert record["validator"]["operator"] == "B. Gagnon"
    assert record["media"]["size_bytes"] == DISK and record["media"]["path"] == dev
    spooled = Path(record["path"])
    assert spooled.parent == data / "validations" / "pending"
    on_disk = json.loads(spooled.read_text())
    verify_signature(on_disk, load_key(data).public_key())
    # the certificate can be named by its id in the spool too
    rc, again, _ = audit(data, dev, "--manifest", str(published["manifest"]),
                         "--certificate", signed_cert["id"])
    assert rc == 0 and again["certificate"]["id"] == signed_cert["id"]


@pytest.mark.parametrize("planted", ["pdf", "jpeg"])
def test_a_header_planted_past_the_image_fails_with_its_offset(
        loops: Loops, tmp_path: Path, published: dict[str, Path], planted: str) -> None:
    dev, data, cert = wiped_and_imaged(loops, tmp_path, published)
    offset = 64 * MiB + 5 * MiB + 7 * 512
    header = (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" if planted == "pdf"
              else (FIXTURES / "jpeg-jfif.bin").read_bytes()[:512])
    write_at(dev, offset, header)
    rc, record, _ = audit(data, dev, "--manifest", str(published["manifest"]),
                          "--certificate", str(cert))
    assert rc == 1 and record["result"] == "fail"
    found = {(f["kind"], f["offset"], f["what"]) for f in record["findings"]}
    assert found == {("pattern-mismatch", offset, "zero"), ("signature", offset, planted)}


def test_one_byte_flipped_inside_the_image_fails(loops: Loops, tmp_path: Path,
                                                 published: dict[str, Path]) -> None:
    dev, data, cert = wiped_and_imaged(loops, tmp_path, published)
    m = parse_bytes(published["manifest"].read_bytes())
    chunk = next(c for c in m.chunks[len(m.chunks) // 2:] if c.role is None)
    fd = os.open(dev, os.O_RDONLY)
    try:
        byte = os.pread(fd, 1, chunk.disk_offset + 1234)
    finally:
        os.close(fd)
    write_at(dev, chunk.disk_offset + 1234, bytes([byte[0] ^ 0x01]))
    rc, record, _ = audit(data, dev, "--manifest", str(published["manifest"]),
                          "--certificate", str(cert))
    assert rc == 1
    (finding,) = record["findings"]
    assert (finding["kind"], finding["offset"], finding["what"], finding["length"]) == \
        ("image-mismatch", chunk.disk_offset, f"chunk {chunk.index}", chunk.length)


def test_a_random_disk_without_signatures_passes_with_no_pattern_to_compare(
        loops: Loops, tmp_path: Path) -> None:
    data = tmp_path / "data"
    dev, _ = loops.make(64 * MiB)
    cert = wipe(data, dev, "random")
    rc, record, _ = audit(data, dev, "--certificate", str(cert))
    assert rc == 0 and record["result"] == "pass", record["findings"]
    assert record["method"]["pattern"] is None and not record["method"]["pattern_compared"]
    assert any(n.startswith("no pattern to compare") for n in record["notes"])
    assert record["coverage"]["searched_bytes"] == 64 * MiB
    # the same disk with a file header left on it fails
    write_at(dev, 10 * MiB, (FIXTURES / "jpeg-jfif.bin").read_bytes()[:512])
    rc, record, _ = audit(data, dev, "--certificate", str(cert))
    assert rc == 1 and [(f["kind"], f["offset"]) for f in record["findings"]] == \
        [("signature", 10 * MiB)]


def test_file_systems_made_by_their_tools_are_found(loops: Loops, tmp_path: Path) -> None:
    dev, backing = loops.make(64 * MiB, markers=False)
    with open(backing, "r+b") as fh:
        fh.write(random.Random(1).randbytes(64 * MiB))
    spots = {}
    for i, (tool, fs) in enumerate([(["mkfs.ext4", "-q", "-F"], "ext-superblock"),
                                    (["mkfs.vfat", "-F", "16"], "fat"),
                                    (["mkntfs", "-q", "-F", "-Q"], "ntfs")]):
        part = tmp_path / f"part{i}"
        part.write_bytes(b"")
        os.truncate(part, 16 * MiB)
        subprocess.run([*tool, str(part)], check=True, capture_output=True, timeout=120)
        offset = (4 + 20 * i) * MiB
        with open(backing, "r+b") as fh:
            fh.seek(offset)
            fh.write(part.read_bytes()[:8 * MiB])
        spots[offset + (1024 if fs == "ext-superblock" else 0)] = fs
    rc, record, _ = audit(tmp_path / "data", dev)
    assert rc == 1
    found = {f["offset"]: f["what"] for f in record["findings"] if f["kind"] == "signature"}
    assert {o: found.get(o) for o in spots} == spots


def test_a_mounted_disk_is_refused_and_a_wrong_certificate_is_bad_input(
        loops: Loops, tmp_path: Path) -> None:
    data = tmp_path / "data"
    dev, _ = loops.make(32 * MiB, markers=False)
    other, _ = loops.make(48 * MiB, markers=False)
    cert = wipe(data, other)
    res = ardoise(data, "audit", dev, "--certificate", str(cert))
    assert res.returncode == 2 and "certificate" in res.stderr
    res = ardoise(data, "audit", dev, "--certificate", "no-such-id")
    assert res.returncode == 2
    subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True, capture_output=True, timeout=120)
    loops.mount(dev, tmp_path / "mnt")
    res = ardoise(data, "audit", dev)
    assert res.returncode == 3 and "mounted" in res.stderr
    assert not (data / "validations" / "pending").exists() or \
        not list((data / "validations" / "pending").glob("*.json"))


def test_the_validation_reaches_a_real_ledger_only_from_another_appliance(
        loops: Loops, tmp_path: Path) -> None:
    import urllib.request

    from appliance.certify import generate_key
    from tests.integration.test_rack_ledger import LedgerProcess

    ledger = LedgerProcess(tmp_path / "ledger").start()
    try:
        erasing, auditing = tmp_path / "erasing", tmp_path / "auditing"
        for name, data in (("bench-1", erasing), ("audit-1", auditing)):
            _key, pub = generate_key(data / "keys")
            ledger.cli("enroll", "--name", name, "--pubkey", str(pub))
        dev, _ = loops.make(32 * MiB)
        cert = wipe(erasing, dev)
        cert_id = json.loads(cert.read_text())["id"]
        sent = ardoise(erasing, "spool", "flush", "--ledger", ledger.url, "--json")
        assert sent.returncode == 0 and json.loads(sent.stdout)["delivered"] == 1, sent.stderr
        cert = erasing / "spool" / "sent" / f"{cert_id}.json"
        # the appliance that erased cannot validate its own work
        own = ardoise(erasing, "audit", dev, "--certificate", cert_id, "--operator",
                      "B. Gagnon", "--ledger", ledger.url, "--json")
        assert own.returncode == 1
        delivery = json.loads(own.stdout)["delivery"]
        assert "erased the disk" in delivery["rejected"][json.loads(own.stdout)["id"]]
        # another appliance (its own key; the erasing one's public key among its trusted)
        trusted = auditing / "keys" / "trusted"
        trusted.mkdir()
        (trusted / "bench-1.pem").write_bytes((erasing / "keys" / "appliance.pub.pem")
                                              .read_bytes())
        res = ardoise(auditing, "audit", dev, "--certificate", str(cert), "--operator",
                      "B. Gagnon", "--ledger", ledger.url, "--json")
        assert res.returncode == 0, res.stderr
        record = json.loads(res.stdout)
        assert record["delivery"]["sent"] == [record["id"]]
        assert record["certificate"]["signature"] == "verified"
        assert (auditing / "validations" / "sent" / f"{record['id']}.json").exists()
        admin = ledger.token(enroll=False)
        req = urllib.request.Request(f"{ledger.url}/api/v1/certificates/{cert_id}/validations",
                                     headers={"Authorization": f"Bearer {admin}"})
        with urllib.request.urlopen(req, timeout=10) as response:
            stored = json.loads(response.read())["validations"]
        assert [(v["id"], v["result"]) for v in stored] == [(record["id"], "pass")]
    finally:
        ledger.stop()
