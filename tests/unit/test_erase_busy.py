"""erase_disk never starts a second method while the drive still works on an operation,
and names the method and technique the drive says actually ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from erasure import methods
from erasure.disk import Disk
from erasure.erase import erase_disk
from erasure.methods.base import EraseContext, EraseResult

MiB = 1 << 20


def _nvme_file(tmp_path: Path, names: list[str]) -> Disk:
    path = tmp_path / "nvme.img"
    path.write_bytes(b"donor data " * (4 * MiB // 11) + b"x" * (4 * MiB % 11))
    return Disk(path=str(path), id="nvme-file", model="file", serial="S1", size_bytes=4 * MiB,
                logical_block_size=512, transport="nvme", eligible=True, methods=names)


class Scripted:
    """A sanitize-like method whose result is given; records that it ran."""

    family = "nvme"

    def __init__(self, name: str, technique: str, status: str, details: dict[str, Any],
                 fill: int | None = None):
        self.name, self.technique, self.status, self.details = name, technique, status, details
        self.fill, self.ran = fill, 0

    def supported(self, disk: Disk) -> bool:
        return True

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        self.ran += 1
        if self.fill is not None:
            Path(disk.path).write_bytes(bytes([self.fill]) * disk.size_bytes)
        errors = [] if self.status == "erased" else ["sanitize did not complete within 60 s"]
        return EraseResult(self.name, self.status, self.technique, errors=errors,
                           details=dict(self.details))


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    methods.names()

    def put(method: Scripted) -> Scripted:
        monkeypatch.setitem(methods._REGISTRY, method.name, method)  # type: ignore[arg-type]
        return method

    return put


def test_a_busy_drive_stops_the_fall_through(tmp_path: Path, install) -> None:  # type: ignore[no-untyped-def]
    first = install(Scripted("nvme-sanitize-crypto", "cryptographic erase", "failed",
                             {"drive_busy": True, "action_ran": "crypto",
                              "resumed_in_progress": False}))
    second = install(Scripted("nvme-sanitize-block", "block erase", "erased",
                              {"expect": "zero"}, fill=0))
    disk = _nvme_file(tmp_path, ["nvme-sanitize-crypto", "nvme-sanitize-block"])
    out = erase_disk(disk, "purge", "auto", "zero", "sample")
    assert first.ran == 1 and second.ran == 0
    assert out.status == "failed"
    assert out.method == "nvme-sanitize-crypto" and out.methods_tried == ["nvme-sanitize-crypto"]
    assert ("the drive is still busy with an operation: nvme-sanitize crypto; not starting "
            "another method") in out.errors


def test_a_busy_drive_when_cancelled_is_incomplete(tmp_path: Path, install) -> None:  # type: ignore[no-untyped-def]
    second = install(Scripted("nvme-sanitize-block", "block erase", "erased", {}))
    disk = _nvme_file(tmp_path, ["nvme-sanitize-crypto", "nvme-sanitize-block"])
    ctx = EraseContext()

    class CancelAfter(Scripted):
        def run(self, disk: Disk, c: EraseContext) -> EraseResult:
            c.cancel.set()
            return super().run(disk, c)

    install(CancelAfter("nvme-sanitize-crypto", "cryptographic erase", "failed",
                        {"drive_busy": True}))
    out = erase_disk(disk, "purge", "auto", "zero", "sample", ctx)
    assert out.status == "incomplete" and second.ran == 0
    assert any("still busy" in e for e in out.errors)


def test_a_plain_failure_still_falls_through(tmp_path: Path, install) -> None:  # type: ignore[no-untyped-def]
    install(Scripted("nvme-sanitize-crypto", "cryptographic erase", "failed", {}))
    second = install(Scripted("nvme-sanitize-block", "block erase", "erased",
                              {"expect": "zero"}, fill=0))
    disk = _nvme_file(tmp_path, ["nvme-sanitize-crypto", "nvme-sanitize-block"])
    out = erase_disk(disk, "purge", "auto", "zero", "sample")
    assert second.ran == 1 and out.status == "erased" and out.method == "nvme-sanitize-block"


def test_the_action_that_ran_names_method_and_technique(tmp_path: Path, install) -> None:  # type: ignore[no-untyped-def]
    # asked for a crypto erase, the drive was already block-erasing (resumed): the zeros
    # it leaves are checked, and the record says block erase
    install(Scripted("nvme-sanitize-crypto", "cryptographic erase", "erased",
                     {"action_ran": "block", "resumed_in_progress": True, "expect": "zero"},
                     fill=0))
    disk = _nvme_file(tmp_path, ["nvme-sanitize-crypto"])
    out = erase_disk(disk, "purge", "auto", "zero", "sample")
    assert out.status == "erased"
    assert out.method == "nvme-sanitize-block"
    assert out.erase is not None and out.erase.technique == "block erase"
    assert out.erase.method == "nvme-sanitize-block"
    assert out.erase.details["method_asked"] == "nvme-sanitize-crypto"
