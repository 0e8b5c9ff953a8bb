"""Crypto erase verification by markers: written (journaled first) before the erase, all
gone afterwards. A blank drive's crypto erase now passes; a drive that ignored the erase
keeps its markers and fails; a crypto erase found in progress reads as the documented
deallocated value (NVMe DLFEAT) or as ciphertext."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from erasure import firmware, methods, nvme_sysfs, runner
from erasure.disk import Disk
from erasure.erase import deallocated_values, erase_disk
from erasure.methods.base import EraseContext, EraseResult
from erasure.parse_nvme import parse_id_ns
from erasure.probe import ProbeOutputs, disk_from_outputs
from tests.conftest import FIXTURES
from tests.unit.sysfs_tree import ensure_namespace

SIZE = 4 * 1024 * 1024
FORMAT_OUT = (FIXTURES / "nvme/qemu-7.2-format-ses1.txt").read_text()
FORMAT_SES2 = ["nvme", "format", "{image}", "--ses=2", "--lbaf=0", "--force",
               "--timeout=600000"]


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.fixture(autouse=True)
def no_version_cache() -> Iterator[None]:
    firmware.tool_version.cache_clear()
    yield
    firmware.tool_version.cache_clear()


def sn730_on(image: Path, content: bytes) -> Disk:
    image.write_bytes(content)
    disk = disk_from_outputs(ProbeOutputs(nvme_id_ctrl=fx("nvme/wdc-sn730-id-ctrl.json"),
                                          nvme_id_ns=fx("nvme/qemu-7.2-id-ns.json")),
                             path=str(image))
    disk.size_bytes, disk.eligible, disk.excluded_reason = SIZE, True, None
    ensure_namespace(nvme_sysfs.SYSFS, str(image), disk.serial)  # controller nvme0
    return disk


def format_does(image: Path, effect: bytes | None) -> Any:
    """`nvme format --ses=2` answering QEMU's success text; `effect` is what the media then
    holds (None: a drive that ignores the erase)."""
    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        if effect is not None:
            with open(image, "r+b") as fh:
                fh.write(effect)
        return runner.Result(tuple(argv), 0, FORMAT_OUT, "", 0.0)
    return answer


def argv(image: Path, fake_runner: Any = None) -> list[str]:
    """The format's argv; with `fake_runner`, also the sanitize log the method reads first
    (the SN730 has Sanitize: a running one would forbid the format)."""
    if fake_runner is not None:
        fake_runner.add(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                        fixture="nvme/sanitize-log-2.13-never.json")
    return [a.format(image=image) for a in FORMAT_SES2]


def test_blank_drive_crypto_erase_passes(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "blank.img"
    disk = sn730_on(image, bytes(SIZE))  # new or TRIMmed: reads zeros before
    fake_runner.add_callable(argv(image, fake_runner), format_does(image, bytes(SIZE)))  # and after
    out = erase_disk(disk, level="purge", method="nvme-format-crypto", verify_mode="sample")
    assert out.status == "erased", out.errors
    assert out.verify.result == "pass" and out.verify.method == "markers"
    assert out.verify.subsections == 256 and out.verify.bytes_checked == 256 * 4096


def test_drive_that_ignored_the_erase_keeps_its_markers(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "liar.img"
    disk = sn730_on(image, bytes(SIZE))
    fake_runner.add_callable(argv(image, fake_runner), format_does(image, None))
    out = erase_disk(disk, level="purge", method="nvme-format-crypto", verify_mode="sample")
    assert out.status == "failed" and out.verify.result == "fail"
    assert len(out.verify.mismatches) == 10  # the first ten of 256 reported
    assert ("the drive ignored the erase: marker blocks written before it are still there "
            "(first at byte 0)") in out.errors


def test_markers_are_journaled_before_they_are_written(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "data.img"
    original = b"donor data 0123" * (SIZE // 15) + b"x" * (SIZE % 15)
    disk = sn730_on(image, original)
    seen: list[tuple[str, dict[str, Any], bool]] = []

    def journal(event: str, details: dict[str, Any]) -> None:
        seen.append((event, details, image.read_bytes() == original))

    fake_runner.add_callable(argv(image, fake_runner), format_does(image, os.urandom(SIZE)))
    out = erase_disk(disk, level="purge", method="nvme-format-crypto", verify_mode="sample",
                     ctx=EraseContext(journal=journal))
    assert out.status == "erased", out.errors
    assert seen == [("crypto-markers", {"path": str(image), "count": 256, "length": 4096}, True)]


def test_markers_distinct_per_offset_and_per_run(tmp_path: Path) -> None:
    image = tmp_path / "m.img"
    disk = sn730_on(image, bytes(SIZE))
    first = EraseResult("nvme-format-crypto", "failed", "cryptographic erase")
    assert firmware.take_before_samples(disk, first, EraseContext())
    data = image.read_bytes()
    a, b = first.details["sample_offsets"][:2]
    assert data[a:a + 4096] != data[b:b + 4096] and data[a:a + 4096] != bytes(4096)
    second = EraseResult("nvme-format-crypto", "failed", "cryptographic erase")
    assert firmware.take_before_samples(disk, second, EraseContext())
    assert image.read_bytes()[a:a + 4096] != data[a:a + 4096]


class Resumed:
    """A crypto sanitize found in progress (no markers); the media then holds `fill`."""

    name, family, technique = "nvme-sanitize-crypto", "nvme", "cryptographic erase"

    def __init__(self, fill: bytes):
        self.fill = fill

    def supported(self, disk: Disk) -> bool:
        return True

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        Path(disk.path).write_bytes(self.fill)
        return EraseResult(self.name, "erased", self.technique, details={
            "resumed_in_progress": True, "action_ran": "crypto", "expect": "zero-or-ones"})


@pytest.fixture
def resumed(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    methods.names()

    def put(fill: bytes) -> None:
        monkeypatch.setitem(methods._REGISTRY, "nvme-sanitize-crypto", Resumed(fill))  # type: ignore[arg-type]
    return put


@pytest.mark.parametrize("fill, dlfeat, result", [
    (os.urandom(SIZE), 1, "pass"),  # the scramble reads as ciphertext
    (bytes(SIZE), 1, "pass"),  # DLFEAT 001b: deallocated blocks read zeros
    (b"\xff" * SIZE, 2, "pass"),  # DLFEAT 010b: 0xFF
    (bytes(SIZE), 2, "fail"),  # zeros where the drive documents 0xFF
    (b"Dear donor, here is my tax return. " * (SIZE // 35) + bytes(SIZE % 35), 1, "fail"),
])
def test_resumed_crypto_reads_random_or_documented_fill(tmp_path: Path, resumed, fill: bytes,  # type: ignore[no-untyped-def]
                                                        dlfeat: int, result: str) -> None:
    resumed(fill)
    disk = sn730_on(tmp_path / "r.img", bytes(SIZE))
    disk.extra["nvme_dlfeat"] = dlfeat
    out = erase_disk(disk, level="purge", method="nvme-sanitize-crypto", verify_mode="sample")
    assert out.verify.result == result and out.verify.method == "scrambled-or-fill"
    assert out.status == ("erased" if result == "pass" else "failed")
    assert not any("uniform" in e for e in out.errors)


def test_dlfeat_from_id_ns() -> None:
    assert parse_id_ns(fx("nvme/qemu-7.2-id-ns.json")).dlfeat == 1
    probed = disk_from_outputs(ProbeOutputs(nvme_id_ctrl=fx("nvme/qemu-7.2-id-ctrl.json"),
                                            nvme_id_ns=fx("nvme/qemu-7.2-id-ns.json")))
    assert probed.extra["nvme_dlfeat"] == 1
    assert deallocated_values(probed) == (0x00,)
    probed.extra["nvme_dlfeat"] = 0x0a  # bit 3 (write zeroes) set, read value 010b
    assert deallocated_values(probed) == (0xFF,)
    probed.extra["nvme_dlfeat"] = 0
    assert deallocated_values(probed) == (0x00, 0xFF)
