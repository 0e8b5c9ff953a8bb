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


# `make test` boots the live system twice: the stick's safety (test_stick_vm.py) and the
# NVMe purge (test_firmware_vm.py). These modules boot it again for the longer scenarios
# (unattended, offline, power cut, two netbooted machines: 15-40 min each under TCG);
# `make test-vm` (ARDOISE_VM_TESTS=1) runs them too.
VM_BOOT_MODULES = {
    "test_unattended_vm.py", "test_offline_vm.py", "test_powercut_vm.py", "test_rack_vm.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ARDOISE_VM_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="boots the live system in QEMU: run `make test-vm`")
    for item in items:
        if item.path.name in VM_BOOT_MODULES:
            item.add_marker(skip)
