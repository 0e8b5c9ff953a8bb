"""erase_disk orchestration on files: statuses, forced methods, read-back after firmware methods.

The firmware-style methods below really change (or, for the lying drive, really do not
change) the bytes of a file, so the read-back checks run against real data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from erasure import methods, verify
from erasure.disk import Disk
from erasure.erase import erase_disk
from erasure.methods.base import EraseContext, EraseResult

MiB = 1 << 20


def _disk(tmp_path: Path, size: int = 8 * MiB, eligible: bool = True) -> Disk:
    path = tmp_path / "media.img"
    path.write_bytes(b"secret data " * (size // 12) + b"x" * (size % 12))
    return Disk(path=str(path), id="file", model="file", serial="S1", size_bytes=size,
                logical_block_size=512, transport="loop", eligible=eligible,
                excluded_reason=None if eligible else "mounted: media on /mnt")


class FileFill:
    """A block-erase-like method: fills the file with `value` (or leaves it, if lying)."""

    family = "mmc"
    technique = "block erase"

    def __init__(self, name: str, value: int | None, expect: str):
        self.name, self.value, self.expect = name, value, expect

    def supported(self, disk: Disk) -> bool:
        return True

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        if self.value is not None:
            Path(disk.path).write_bytes(bytes([self.value]) * disk.size_bytes)
        return EraseResult(self.name, "erased", self.technique, disk.size_bytes,
                           details={"expect": self.expect})


class FileCrypto:
    """A crypto-erase-like method: records before-samples, then replaces the bytes."""

    name, family, technique = "opal-psid-revert", "opal", "cryptographic erase"

    def supported(self, disk: Disk) -> bool:
        return True

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        length = verify.sample_length(disk.size_bytes)
        offsets = verify.sample_offsets(disk.size_bytes, length)
        before = verify.read_samples(disk.path, offsets, length)
        Path(disk.path).write_bytes(bytes(range(256)) * (disk.size_bytes // 256))
        return EraseResult(self.name, "erased", self.technique, details={
            "expect": "changed", "before_samples": before, "sample_offsets": offsets,
            "sample_length": length})


@pytest.fixture
def fake_method(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    methods.names()  # load the real registry first

    def install(method: object) -> None:
        monkeypatch.setitem(methods._REGISTRY, method.name, method)  # type: ignore[attr-defined]

    return install


def test_an_ineligible_disk_is_refused_untouched(tmp_path: Path) -> None:
    disk = _disk(tmp_path, eligible=False)
    before = Path(disk.path).read_bytes()
    out = erase_disk(disk, "clear", "auto", "zero", "full")
    assert out.status == "refused" and out.errors == ["mounted: media on /mnt"]
    assert out.attempts == [] and Path(disk.path).read_bytes() == before


def test_verify_none_is_unverified_never_erased(tmp_path: Path) -> None:
    disk = _disk(tmp_path)
    out = erase_disk(disk, "clear", "overwrite", "zero", "none")
    assert out.status == "unverified" and out.verify.result == "not-done"
    assert out.method == "overwrite" and out.methods_tried == ["overwrite"]
    assert out.to_json()["status"] == "unverified"
    assert out.to_json()["verify"]["result"] == "not-done"
    assert Path(disk.path).read_bytes() == bytes(disk.size_bytes)  # the write did happen


def test_random_full_verify_passes_and_reports(tmp_path: Path) -> None:
    disk = _disk(tmp_path)
    out = erase_disk(disk, "clear", "auto", "random", "full")
    assert out.status == "erased" and out.method == "overwrite"
    assert out.verify.result == "pass" and out.verify.bytes_checked == disk.size_bytes
    data = out.to_json()
    assert data["bytes_written"] == disk.size_bytes and data["errors"] == []
    assert out.methods_tried == ["overwrite"] and out.ended_at >= out.started_at


def test_unknown_and_unsupported_forced_methods_fail_clearly(tmp_path: Path,
                                                              fake_method) -> None:  # type: ignore[no-untyped-def]
    disk = _disk(tmp_path)
    out = erase_disk(disk, "clear", "shred", "zero", "sample")
    assert out.status == "failed" and "unknown method shred" in out.errors[0]

    class Never(FileFill):
        def supported(self, disk: Disk) -> bool:
            return False

    fake_method(Never("nvme-format-crypto", 0, "zero"))
    out = erase_disk(disk, "purge", "nvme-format-crypto", "zero", "sample")
    assert out.status == "failed" and "does not support nvme-format-crypto" in out.errors[0]
    assert out.attempts == []


def test_a_drive_that_lies_is_not_erased(tmp_path: Path, fake_method) -> None:  # type: ignore[no-untyped-def]
    disk = _disk(tmp_path)
    fake_method(FileFill("mmc-erase", None, "zero"))  # claims success, changes nothing
    out = erase_disk(disk, "purge", "mmc-erase", "zero", "sample")
    assert out.status == "failed" and out.verify.result == "fail"
    assert out.verify.mismatches[0] == 0
    assert any("mismatching" in e for e in out.errors)


@pytest.mark.parametrize("value,expect", [(0xFF, "ones"), (0x00, "zero-or-ones"),
                                          (0x00, "zero")])
def test_block_erase_read_back(tmp_path: Path, fake_method, value: int, expect: str) -> None:  # type: ignore[no-untyped-def]
    disk = _disk(tmp_path)
    fake_method(FileFill("mmc-erase", value, expect))
    out = erase_disk(disk, "purge", "mmc-erase", "zero", "sample")
    assert out.status == "erased", out.errors
    assert out.verify.mode == "sample" and out.verify.sample_share >= 0.10


def test_crypto_erase_read_back_compares_with_before(tmp_path: Path, fake_method) -> None:  # type: ignore[no-untyped-def]
    disk = _disk(tmp_path)
    fake_method(FileCrypto())
    out = erase_disk(disk, "purge", "opal-psid-revert", "zero", "sample")
    assert out.status == "erased" and out.verify.result == "pass"
