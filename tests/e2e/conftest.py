"""VM fixtures: the ISO is built (or taken from build.sh's cache) once per test run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.vm import ensure_image, ensure_stick


def _require_vm_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (live-build, loop-free image tools)")
    for tool in ("qemu-system-x86_64", "xorriso", "mksquashfs", "mkfs.exfat", "mount.exfat-fuse"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `make deps`")


@pytest.fixture(scope="session")
def ardoise_iso() -> Path:
    _require_vm_tools()
    return ensure_image()


@pytest.fixture(scope="session")
def stick_template(ardoise_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stick image (ISO + ARDOISE data partition); tests copy it before booting it."""
    return ensure_stick(ardoise_iso, tmp_path_factory.mktemp("stick") / "stick.img")
