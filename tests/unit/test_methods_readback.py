"""Firmware methods through erase_disk: the read-back after the drive's own erase.

The drive is replaced by its captured answer (QEMU 7.2's `nvme format` output) and by what
the capture showed it doing to the media (the namespace read back as zeros afterwards);
a drive that answers "success" but keeps the data (Wei et al., FAST'11) must fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from erasure import firmware, nvme_sysfs, runner
from erasure.disk import Disk
from erasure.erase import erase_disk
from erasure.probe import ProbeOutputs, disk_from_outputs
from tests.conftest import FIXTURES
from tests.unit.sysfs_tree import ensure_namespace

SIZE = 4 * 1024 * 1024
FORMAT_OUT = (FIXTURES / "nvme/qemu-7.2-format-ses1.txt").read_text()


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.fixture(autouse=True)
def nvme_cli_version(fake_runner) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """erase_disk records the version of the tool that ran (nvme-cli 2.3 here)."""
    firmware.tool_version.cache_clear()
    fake_runner.add(["nvme", "version"], fx("versions/nvme-cli-2.3-version.stdout"))
    yield
    firmware.tool_version.cache_clear()


def nvme_on(image: Path, id_ctrl: str = "nvme/qemu-7.2-id-ctrl.json") -> Disk:
    image.write_bytes(b"ARDOISE-MARKER--" * (SIZE // 16))
    disk = disk_from_outputs(ProbeOutputs(nvme_id_ctrl=fx(id_ctrl),
                                          nvme_id_ns=fx("nvme/qemu-7.2-id-ns.json")),
                             path=str(image))
    disk.size_bytes = SIZE
    disk.eligible = True
    disk.excluded_reason = None
    ensure_namespace(nvme_sysfs.SYSFS, str(image), disk.serial)  # controller nvme0
    return disk


def drive(image: Path, effect: bytes | None) -> Any:
    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        if effect is not None:
            with open(image, "r+b") as fh:
                fh.write(effect)
        return runner.Result(tuple(argv), 0, FORMAT_OUT, "", 0.0)
    return answer


def test_format_user_erase_verified_by_readback(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "nvme.img"
    disk = nvme_on(image)
    fake_runner.add_callable(["nvme", "format", str(image), "--ses=1", "--lbaf=0", "--force",
                              "--timeout=600000"],
                             drive(image, bytes(SIZE)))
    out = erase_disk(disk, level="purge", method="auto", verify_mode="sample")
    assert out.status == "erased", out.errors
    assert out.method == "nvme-format-user" and out.verify.result == "pass"
    assert out.verify.bytes_checked > 0
    assert out.erase is not None
    assert out.erase.details["tool_version"] == "nvme version 2.3 (git 2.3)"


def test_format_that_lies_fails_verification(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "nvme.img"
    disk = nvme_on(image)
    fake_runner.add_callable(["nvme", "format", str(image), "--ses=1", "--lbaf=0", "--force",
                              "--timeout=600000"],
                             drive(image, None))
    out = erase_disk(disk, level="purge", method="auto", verify_mode="sample")
    assert out.status == "failed"
    assert out.verify.result == "fail" and out.verify.mismatches


def test_crypto_format_readback_compares_before_and_after(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "nvme.img"
    disk = nvme_on(image, "nvme/wdc-sn730-id-ctrl.json")
    fake_runner.add(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                    fixture="nvme/sanitize-log-2.13-never.json")
    fake_runner.add_callable(["nvme", "format", str(image), "--ses=2", "--lbaf=0", "--force",
                              "--timeout=600000"],
                             drive(image, os.urandom(SIZE)))
    out = erase_disk(disk, level="purge", method="nvme-format-crypto", verify_mode="sample")
    assert out.status == "erased", out.errors
    assert out.verify.result == "pass" and out.verify.method == "markers"
    assert out.erase is not None and out.erase.details["expect"] == "markers"


def test_crypto_format_that_lies_fails(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "nvme.img"
    disk = nvme_on(image, "nvme/wdc-sn730-id-ctrl.json")
    fake_runner.add(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                    fixture="nvme/sanitize-log-2.13-never.json")
    fake_runner.add_callable(["nvme", "format", str(image), "--ses=2", "--lbaf=0", "--force",
                              "--timeout=600000"],
                             drive(image, None))
    out = erase_disk(disk, level="purge", method="nvme-format-crypto", verify_mode="sample")
    assert out.status == "failed" and out.verify.result == "fail"


def test_forced_method_the_drive_lacks(tmp_path: Path) -> None:
    disk = nvme_on(tmp_path / "nvme.img")
    out = erase_disk(disk, level="purge", method="nvme-sanitize-crypto")
    assert out.status == "failed"
    assert any("does not support nvme-sanitize-crypto" in e for e in out.errors)
