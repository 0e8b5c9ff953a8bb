"""Eligibility rules of erasure.discovery, fed captured /proc files."""

from __future__ import annotations

from pathlib import Path

import pytest

from erasure.discovery import NotAWholeDisk, decide, read_system_state, resolve
from erasure.disk import Disk

FIX = Path(__file__).parents[1] / "fixtures" / "discovery"


def _disk(**kw: object) -> Disk:
    base: dict[str, object] = dict(path="/dev/sda", id="wwn-0x5000", model="M", serial="S",
                                   size_bytes=10**9, logical_block_size=512, transport="sata")
    base.update(kw)
    return Disk(**base)  # type: ignore[arg-type]


def test_mounted_devices_and_swaps_from_captured_proc_files() -> None:
    state = read_system_state(str(FIX / "mountinfo-vm.txt"), str(FIX / "swaps-loop.txt"))
    assert state.mounted["254:0"] == "/"
    assert state.mounted["7:4"] == "/tmp/ardoise-mnt"
    assert not any(d.startswith("0:") for d in state.mounted)  # proc, tmpfs, cgroup...
    assert state.swaps == {"7:4"}
    assert state.live == set()
    empty = read_system_state(str(FIX / "mountinfo-vm.txt"), str(FIX / "swaps-empty.txt"))
    assert empty.swaps == set()


def test_live_medium_and_anonymous_device_numbers(tmp_path: Path) -> None:
    """The live medium mount marks its device; a btrfs-style 0:N mount counts its source."""
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "60 27 7:5 / /run/live/medium ro,relatime - iso9660 /dev/loop5 ro\n"
        "61 27 0:55 / /srv rw,relatime - btrfs /dev/loop6 rw,space_cache=v2\n"
        "62 27 0:56 / /run/x rw,relatime - tmpfs tmpfs rw\n"
    )
    state = read_system_state(str(mountinfo), str(FIX / "swaps-empty.txt"))
    assert state.live == {"7:5"}
    assert state.mounted["7:6"] == "/srv"  # /dev/loop6 is block device 7:6
    assert "0:56" not in state.mounted and "0:55" not in state.mounted


def test_decide() -> None:
    assert decide(_disk()).eligible
    boot = decide(_disk(boot_medium=True, excluded_reason="mounted: sda1 on /run/live/medium"))
    assert not boot.eligible and boot.excluded_reason.startswith("boot medium")
    busy = decide(_disk(excluded_reason="mounted: sda2 on /home"))
    assert not busy.eligible and busy.excluded_reason == "mounted: sda2 on /home"
    usb = decide(_disk(transport="usb"))
    assert not usb.eligible and usb.excluded_reason.startswith("external")
    assert decide(usb, allow_external=True).eligible
    assert not decide(_disk(removable=True)).eligible
    assert not decide(_disk(path="/dev/sr0", transport="scsi")).eligible
    mounted_usb = decide(_disk(transport="usb", excluded_reason="mounted: sdb1 on /media"),
                         allow_external=True)
    assert not mounted_usb.eligible


def test_resolve_rejects_what_is_not_a_disk(tmp_path: Path) -> None:
    with pytest.raises(NotAWholeDisk, match="no such device"):
        resolve(str(tmp_path / "missing"))
    plain = tmp_path / "plain.img"
    plain.write_bytes(b"x")
    with pytest.raises(NotAWholeDisk, match="not a block device"):
        resolve(str(plain))
    with pytest.raises(NotAWholeDisk, match="not a block device"):
        resolve("/dev/null")


@pytest.mark.parametrize(("name", "reason"), [
    ("mmcblk0boot0", "eMMC boot partition"), ("mmcblk0boot1", "eMMC boot partition"),
    ("mmcblk1rpmb", "eMMC RPMB partition")])
def test_emmc_boot_and_rpmb_partitions_are_never_eligible(name: str, reason: str) -> None:
    # the names drivers/mmc/core/block.c gives the hardware partitions of an eMMC
    disk = decide(_disk(path=f"/dev/{name}", transport="mmc", id=f"mmc-X_0x1-{name}"),
                  allow_external=True)
    assert not disk.eligible and disk.excluded_reason.startswith(reason)


def test_emmc_user_area_and_general_purpose_partitions_stay_disks() -> None:
    assert decide(_disk(path="/dev/mmcblk0", transport="mmc")).eligible
    assert decide(_disk(path="/dev/mmcblk0gp0", transport="mmc")).eligible
