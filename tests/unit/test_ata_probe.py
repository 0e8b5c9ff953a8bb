"""ATA parts of probing: security state from smartctl behind a USB bridge, HPA removal
checked against the kernel's size after a rescan."""

from __future__ import annotations

from pathlib import Path

import pytest

from erasure import probe
from erasure.disk import Hpa
from erasure.parse_smartctl import parse_smartctl, security_from_state
from erasure.probe import ProbeOutputs, disk_from_outputs, remove_hpa
from tests.conftest import FIXTURES


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_usb_bridge_security_state_comes_from_smartctl_and_overwrite_is_planned() -> None:
    # hdparm gets an empty IDENTIFY through the bridge; smartctl's SAT answer has word 128
    outputs = ProbeOutputs(smartctl=fx("smartctl/samsung-860evo-sata-ssd.json"),
                           hdparm_identify=fx("hdparm/qemu-7.2-usb-storage.txt"))
    disk = disk_from_outputs(outputs, path="/dev/sdc", transport="usb")
    sec = disk.ata_security
    assert sec is not None and sec.supported and not sec.enabled and not sec.frozen
    assert sec.enhanced_erase  # state 33 = 0x21: bit 5, enhanced erase supported
    assert disk.extra["ata_security_source"] == "smartctl"
    assert disk.methods == ["overwrite"]
    assert any("USB bridge" in n for n in disk.extra["probe_notes"])


def test_smartctl_security_words_as_ataprint_reports_them() -> None:
    # smartmontools ataprint.cpp print_ata_security_status: "locked" only when enabled,
    # "frozen" omitted when locked; the state word is always there
    locked = security_from_state(0x0007)
    assert (locked.supported, locked.enabled, locked.locked) == (True, True, True)
    frozen = security_from_state(0x0009)
    assert frozen.frozen and not frozen.enabled
    assert parse_smartctl(fx("smartctl/wdc-wd140edfz-sata-hdd.json")).security is None


def sysfs(tmp_path: Path, sectors_512: int) -> Path:
    (tmp_path / "sda" / "device").mkdir(parents=True)
    (tmp_path / "sda" / "size").write_text(f"{sectors_512}\n")
    return tmp_path


MICRON_NATIVE = 3750748848


def hpa_disk(fake_runner):  # type: ignore[no-untyped-def]
    disk = disk_from_outputs(ProbeOutputs(hdparm_identify=fx("hdparm/micron-5300-frozen.txt")),
                             path="/dev/sda")
    disk.hpa = Hpa(current_max_sectors=MICRON_NATIVE - 2048, native_max_sectors=MICRON_NATIVE)
    disk.size_bytes = (MICRON_NATIVE - 2048) * 512  # what the HPA left visible
    fake_runner.add(["hdparm", "--yes-i-know-what-i-am-doing", "-N", f"p{MICRON_NATIVE}",
                     "/dev/sda"], fixture="hdparm/set-native-max.txt")
    fake_runner.add(["hdparm", "-N", "/dev/sda"], fixture="hdparm/micron-N-after.txt")
    return disk


def test_hpa_removed_and_kernel_size_rescanned(fake_runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(probe, "SYS_BLOCK", sysfs(tmp_path, MICRON_NATIVE))
    disk = hpa_disk(fake_runner)
    assert remove_hpa(disk) is None
    assert disk.size_bytes == MICRON_NATIVE * 512
    assert (tmp_path / "sda" / "device" / "rescan").read_text() == "1\n"


@pytest.mark.parametrize("kernel_sectors", [MICRON_NATIVE - 2048, None])
def test_kernel_keeping_the_old_size_fails_before_any_overwrite(  # type: ignore[no-untyped-def]
        fake_runner, tmp_path, monkeypatch, kernel_sectors) -> None:
    if kernel_sectors is None:  # no sysfs entry at all
        monkeypatch.setattr(probe, "SYS_BLOCK", tmp_path)
    else:
        monkeypatch.setattr(probe, "SYS_BLOCK", sysfs(tmp_path, kernel_sectors))
    disk = hpa_disk(fake_runner)
    before = disk.size_bytes
    error = remove_hpa(disk)
    assert error is not None and "still sees" in error and "nothing is overwritten" in error
    assert disk.size_bytes == before
    # the planner still sees sectors an overwrite would miss: no plain overwrite is planned
    assert disk.hpa is not None and disk.hpa.enabled
    from erasure.plan import make_plan
    assert "overwrite" not in make_plan(disk, "clear").methods


def test_job_stops_before_overwriting_when_the_kernel_keeps_the_hpa_size(  # type: ignore[no-untyped-def]
        fake_runner, tmp_path, monkeypatch) -> None:
    from appliance import config, inventory, jobs
    from erasure.plan import make_plan

    size = 4 * 1024 * 1024
    image = tmp_path / "sata.img"
    image.write_bytes(b"ARDOISE-MARKER--" * (size // 16))
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/qemu-7.2-sata.json")),
                             path=str(image), transport="sata")
    disk.eligible, disk.excluded_reason = True, None
    disk.size_bytes, disk.logical_block_size = size, 512
    native = size // 512
    disk.hpa = Hpa(current_max_sectors=native - 2048, native_max_sectors=native)
    fake_runner.add(["hdparm", "--yes-i-know-what-i-am-doing", "-N", f"p{native}", str(image)])
    fake_runner.add(["hdparm", "-N", str(image)], f"\n{image}:\n max sectors   = {native}/"
                    f"{native}, HPA is disabled\n")  # hdparm.c get_native_max_sectors format
    monkeypatch.setattr(probe, "SYS_BLOCK", sysfs_named(tmp_path / "sys", "sata.img",
                                                        native - 2048))
    cfg = config.parse("organisation: OPEQ\nerase:\n  level: clear\n  remove_hpa: true\n",
                       source=str(tmp_path / "ardoise.yaml"), base=tmp_path)
    target = jobs.Target(disk, make_plan(disk, "clear", {"remove_hpa": True}), True)
    run = jobs.Run(cfg, tmp_path / "data", [target], lambda event: None, host=inventory.Host())
    try:
        [job] = run.jobs
        assert job.erase() is None
    finally:
        run.release()
    assert job.result.erase_status == "failed"
    assert any("still sees" in e for e in job.result.errors)
    assert image.read_bytes()[:16] == b"ARDOISE-MARKER--"  # nothing was overwritten


def sysfs_named(root: Path, name: str, sectors_512: int) -> Path:
    (root / name / "device").mkdir(parents=True)
    (root / name / "size").write_text(f"{sectors_512}\n")
    return root
