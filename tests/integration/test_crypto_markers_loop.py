"""Crypto erase verification by markers on real loop devices (direct-io): the markers are
written O_DIRECT and flushed before the erase, and must all be gone afterwards.

The drive's part is played by the loop device: a cryptographic erase that deallocates
(BLKDISCARD, after which the loop device reads zeros, as an NVMe drive with DLFEAT 001b
does), or a drive that answers success and does nothing.
"""

from __future__ import annotations

import os

import pytest

from erasure import blockdev, firmware, methods
from erasure.discovery import resolve
from erasure.disk import Disk
from erasure.erase import erase_disk
from erasure.methods.base import EraseContext, EraseResult
from tests.integration.loopdev import Loops, MiB, count_markers

pytestmark = pytest.mark.integration
SIZE = 64 * MiB


class LoopCrypto:
    """A crypto erase on the loop device: markers first (the real step), then the drive."""

    name, family, technique = "opal-psid-revert", "opal", "cryptographic erase"

    def __init__(self, deallocates: bool):
        self.deallocates = deallocates

    def supported(self, disk: Disk) -> bool:
        return True

    def run(self, disk: Disk, ctx: EraseContext) -> EraseResult:
        result = EraseResult(self.name, "failed", self.technique)
        if not firmware.take_before_samples(disk, result, ctx):
            return result
        if self.deallocates:
            fd = blockdev.open_device(disk.path, write=True)
            try:
                blockdev.discard(fd, 0, disk.size_bytes)
            finally:
                os.close(fd)
        result.status = "erased"
        return result


@pytest.fixture
def crypto(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    methods.names()

    def put(deallocates: bool) -> None:
        monkeypatch.setitem(methods._REGISTRY, "opal-psid-revert", LoopCrypto(deallocates))  # type: ignore[arg-type]
    return put


def test_blank_loop_crypto_erase_passes(loops: Loops, crypto) -> None:  # type: ignore[no-untyped-def]
    dev, backing = loops.make(SIZE, markers=False)  # a new drive: zeros everywhere
    crypto(deallocates=True)
    journaled: list[str] = []
    out = erase_disk(resolve(dev), "purge", "opal-psid-revert", "zero", "sample",
                     EraseContext(journal=lambda event, details: journaled.append(event)))
    assert out.status == "erased", out.errors
    assert out.verify.method == "markers" and out.verify.result == "pass"
    assert out.verify.subsections == 256
    assert journaled == ["crypto-markers"]
    assert backing.read_bytes() == bytes(SIZE)


def test_loop_that_ignores_the_erase_fails_with_its_markers_there(loops: Loops, crypto) -> None:  # type: ignore[no-untyped-def]
    dev, backing = loops.make(SIZE)
    before = count_markers(backing)
    crypto(deallocates=False)
    out = erase_disk(resolve(dev), "purge", "opal-psid-revert", "zero", "sample")
    assert out.status == "failed" and out.verify.result == "fail"
    assert out.verify.mismatches[0] == 0
    assert any(e.startswith("the drive ignored the erase") for e in out.errors)
    # the markers went to the media (O_DIRECT, flushed), over some of the donor's data
    data = backing.read_bytes()
    offsets = out.attempts[0].details["sample_offsets"]
    assert data[offsets[0]:offsets[0] + 4096] != bytes(4096)
    assert 0 < count_markers(backing) <= before
