"""SCSI, eMMC/SD and Opal adapters over real captures, and the method registry."""

from __future__ import annotations

from erasure import methods
from erasure.disk import Disk
from erasure.erase import METHOD_NAMES
from erasure.methods.base import EraseContext
from erasure.probe import ProbeOutputs, disk_from_outputs
from tests.conftest import FIXTURES
from tests.unit.test_methods_ata import FakeClock


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_every_method_name_of_the_cli_contract_is_registered() -> None:
    assert sorted(METHOD_NAMES) == methods.names()


def sas() -> Disk:
    return disk_from_outputs(ProbeOutputs(
        smartctl=fx("smartctl/seagate-st1200mm0088-sas.json"),
        sg_opcodes=fx("sg/seagate-st10000nm0226-opcodes-compact-excerpt.txt")), path="/dev/sdb")


def test_scsi_sanitize_rejected_by_the_drive(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["sg_sanitize", "--overwrite", "--quick", "--early", "--zero", "--count=1",
                     "/dev/sdb"],
                    fixture="sg/qemu-7.2-scsi-sanitize-rejected.txt", returncode=9,
                    stderr=fx("sg/qemu-7.2-scsi-sanitize-rejected.stderr.txt"))
    result = methods.get("scsi-sanitize-overwrite").run(sas(), EraseContext())
    assert result.status == "failed"
    assert result.errors == ["sg_sanitize failed: sg_sanitize failed: Illegal request, "
                             "Invalid opcode"]


def test_scsi_sanitize_never_completing(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["sg_sanitize", "--overwrite", "--quick", "--early", "--zero", "--count=1",
                     "/dev/sdb"])
    fake_runner.add(["sg_requests", "/dev/sdb"],
                    fixture="sg/sg_requests-1.46-sanitize-running.txt",
                    stderr=fx("sg/sg_requests-1.46-sanitize-running.stderr.txt"))
    clock = FakeClock()
    result = methods.get("scsi-sanitize-overwrite").run(sas(), EraseContext(
        options={"clock": clock, "sanitize_timeout": 600}))
    assert result.status == "failed" and "within 600 s" in result.errors[0]
    assert result.details["drive_busy"] is True
    assert result.details["timeout_seconds"] == 600
    assert result.details["timeout_basis"] == "config"


def test_scsi_unsupported_when_opcodes_unknown() -> None:
    disk = disk_from_outputs(ProbeOutputs(
        smartctl=fx("smartctl/qemu-7.2-virtio-scsi.json"),
        sg_opcodes=fx("sg/qemu-7.2-scsi-opcodes-rejected.txt")))
    assert not any(methods.get(f"scsi-sanitize-{a}").supported(disk)
                   for a in ("crypto", "block", "overwrite"))


def test_sd_card_sanitize_rejected(fake_runner) -> None:  # type: ignore[no-untyped-def]
    disk = disk_from_outputs(ProbeOutputs(mmc_extcsd=fx("mmc/qemu-7.2-sd-extcsd-read.stderr.txt"),
                                          mmc_type="SD"), path="/dev/mmcblk0", transport="mmc")
    assert not methods.get("mmc-sanitize").supported(disk)
    assert not methods.get("mmc-erase").supported(disk)
    fake_runner.add(["mmc", "sanitize", "/dev/mmcblk0"], returncode=1,
                    stderr=fx("mmc/qemu-7.2-sd-sanitize.stderr.txt"))
    result = methods.get("mmc-sanitize").run(disk, EraseContext())
    assert result.status == "failed"
    assert result.errors == ["mmc failed: Could not write 0x01 to EXT_CSD[165] in /dev/mmcblk0"]


def test_opal_psid_revert_needs_the_typed_psid(fake_runner) -> None:  # type: ignore[no-untyped-def]
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/samsung-860evo-sata-ssd.json"),
                                          sedutil_scan=fx("sedutil/scan-opal-archwiki.txt")),
                             path="/dev/sda")
    impl = methods.get("opal-psid-revert")
    assert impl.supported(disk)
    assert impl.run(disk, EraseContext()).errors[0].startswith("PSID revert needs the PSID")
    assert "32 letters" in impl.run(disk, EraseContext(options={"psid": "123"})).errors[0]
    assert fake_runner.calls == []


def emmc() -> Disk:
    disk = disk_from_outputs(ProbeOutputs(mmc_extcsd=fx("mmc/emmc-rock5b-extcsd-excerpt.txt"),
                                          mmc_type="MMC"), path="/dev/mmcblk0", transport="mmc")
    disk.size_bytes = 0x0733C000 * 512
    return disk


def test_emmc_extcsd_facts_and_clear_only_plan() -> None:
    from erasure.plan import make_plan

    disk = emmc()
    assert disk.extra["mmc"] == {"card_type": "MMC", "ext_csd_rev": "5.1",
                                 "sec_feature_support": 0x55, "sanitize": True,
                                 "secure_erase": True, "secure_trim": True}
    assert disk.methods == ["mmc-sanitize", "mmc-erase", "overwrite"]
    assert make_plan(disk, "clear").methods == ["mmc-sanitize", "mmc-erase", "overwrite"]
    assert not make_plan(disk, "purge").reachable


def test_emmc_sanitize_and_erase_commands(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["mmc", "sanitize", "/dev/mmcblk0"])
    assert methods.get("mmc-sanitize").run(emmc(), EraseContext()).status == "erased"
    fake_runner.add(["mmc", "erase", "secure-erase", "0", str(0x0733C000 - 1), "/dev/mmcblk0"])
    result = methods.get("mmc-erase").run(emmc(), EraseContext())
    assert result.status == "erased" and result.details["erase_type"] == "secure-erase"
