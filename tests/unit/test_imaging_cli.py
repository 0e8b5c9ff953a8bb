"""`ardoise image` argument handling and `image build` through the CLI (no devices)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import private_pem
from appliance.cli import main, requested_command
from appliance.commands.image import raw_partitions
from tests.conftest import FakeRunner
from tests.unit.ext4_fixture import add_ext4_fixture_commands

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imaging"


def test_requested_command() -> None:
    assert requested_command(["--lang", "fr", "image", "write"]) == "image"
    assert requested_command(["--lang", "image", "disks"]) == "disks"
    assert requested_command(["--version"]) is None
    assert requested_command(["bogus"]) is None


def test_write_to_something_that_is_not_a_block_device(tmp_path: Path) -> None:
    assert main(["image", "write", "x.manifest.json", str(tmp_path)]) == 2
    assert main(["image", "write", "x.manifest.json", str(tmp_path / "missing")]) == 2
    assert main(["image", "hash", str(tmp_path), "--manifest", "x.manifest.json"]) == 2


def test_build_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               fake_runner: FakeRunner) -> None:
    img = tmp_path / "disk.img"
    with open(FIXTURES / "gpt-ext4.img.zst", "rb") as src, open(img, "wb") as dst:
        zstandard.ZstdDecompressor().copy_stream(src, dst)
    add_ext4_fixture_commands(fake_runner, img)
    key = tmp_path / "publisher.key"
    key.write_bytes(private_pem(Ed25519PrivateKey.generate()))
    rc = main(["image", "build", str(img), "--out", str(tmp_path / "out"), "--name", "fx",
               "--version", "2", "--sign-key", str(key), "--json", "--chunk-mib", "1"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["name"], doc["version"], doc["signed"]) == ("fx", "2", True)
    assert doc["mapped_bytes"] + doc["must_zero_bytes"] == 64 << 20
    assert doc["free_bytes"] > 35 << 20
    assert [p["fstype"] for p in doc["partitions"]] == ["ext4"]
    assert (tmp_path / "out" / "fx.manifest.json").exists()


def test_build_usage_errors(tmp_path: Path) -> None:
    assert main(["image", "build", str(tmp_path / "none.img"), "--out", str(tmp_path)]) == 2
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("nope")
    img = tmp_path / "a.img"
    img.write_bytes(bytes(4096))
    assert main(["image", "build", str(img), "--out", str(tmp_path), "--sign-key",
                 str(bad_key)]) == 2


def test_version_answers_without_importing_the_commands() -> None:
    import subprocess
    import sys

    code = ("import sys; from appliance.cli import main; rc = main(['--version']); "
            "print(sorted(m for m in sys.modules if m.startswith('appliance.commands.'))); "
            "sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].startswith("ardoise ")
    assert out[1] == "[]"


def test_raw_partition_names() -> None:
    assert raw_partitions(["2", "/dev/sda3", "/dev/nvme0n1p4", "all"]) == ["2", "3", "4", "all"]


def test_unmappable_disk_is_refused_and_raw_copies_it(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      fake_runner: FakeRunner) -> None:
    img = tmp_path / "blob.img"
    img.write_bytes(b"\x5a" * 65536)
    fake_runner.add(["blkid", "-p", "-o", "export", "-O", "0", "-S", "65536", str(img)],
                    returncode=2)
    assert main(["image", "build", str(img), "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "no file system found (--raw all copies it whole" in err
    assert main(["image", "build", str(img), "--out", str(tmp_path / "out"), "--raw", "all",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mapped_bytes"] == 65536 and doc["partitions"][0]["action"] == "raw"
    assert main(["image", "build", str(img), "--out", str(tmp_path / "out"), "--raw",
                 "sda"]) == 2
