"""SCSI, eMMC/SD and Opal adapters over real captures, and the method registry."""

from __future__ import annotations

from typing import Any

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


def test_sd_card_has_no_mmc_method() -> None:
    disk = disk_from_outputs(ProbeOutputs(mmc_extcsd=fx("mmc/qemu-7.2-sd-extcsd-read.stderr.txt"),
                                          mmc_type="SD"), path="/dev/mmcblk0", transport="mmc")
    assert not methods.get("mmc-sanitize").supported(disk)
    assert not methods.get("mmc-erase").supported(disk)


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


LAST = str(0x0733C000 - 1)


def erase_ok(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["mmc", "erase", "legacy", "0", LAST, "/dev/mmcblk0"],
                    fixture="mmc/mmc-utils-erase-legacy-succeed.txt",
                    stderr=fx("mmc/mmc-utils-erase-legacy.stderr.txt"))


def test_emmc_erase_then_sanitize_with_the_tool_timeout(fake_runner) -> None:  # type: ignore[no-untyped-def]
    disk = emmc()
    erase_ok(fake_runner)
    timeout = max(3600, int(disk.size_bytes / 10e6 * 1.5))
    fake_runner.add(["mmc", "sanitize", "/dev/mmcblk0", str(timeout * 1000)])
    result = methods.get("mmc-sanitize").run(disk, EraseContext())
    assert result.status == "erased", result.errors
    assert [c[1] for c in fake_runner.calls] == ["erase", "sanitize"]
    assert result.details["erase_type"] == "legacy"
    assert result.details["sanitize_timeout_ms"] == timeout * 1000
    assert (result.details["timeout_seconds"], result.details["timeout_basis"]) == (
        timeout, "capacity")


def test_emmc_sanitize_with_an_mmc_utils_without_timeout(fake_runner) -> None:  # type: ignore[no-untyped-def]
    erase_ok(fake_runner)
    fake_runner.add(["mmc", "sanitize", "/dev/mmcblk0", "7200000"], returncode=1,
                    stderr=fx("mmc/mmc-utils-20220624-sanitize-usage.stderr.txt"))
    fake_runner.add(["mmc", "sanitize", "/dev/mmcblk0"])
    result = methods.get("mmc-sanitize").run(emmc(), EraseContext(options={"mmc_timeout": 7200}))
    assert result.status == "erased" and result.errors == []
    assert result.details["sanitize_timeout_ms"] is None
    assert result.details["timeout_basis"] == "config"
    assert [c["returncode"] for c in result.details["commands"]] == [0, 1, 0]


def test_emmc_sanitize_refused_after_the_erase(fake_runner) -> None:  # type: ignore[no-untyped-def]
    erase_ok(fake_runner)
    fake_runner.add(["mmc", "sanitize", "/dev/mmcblk0", "3600000"], returncode=1,
                    stderr=fx("mmc/qemu-7.2-sd-sanitize.stderr.txt"))
    result = methods.get("mmc-sanitize").run(emmc(), EraseContext(options={"mmc_timeout": 3600}))
    assert result.status == "failed"
    assert result.errors == ["mmc failed: Could not write 0x01 to EXT_CSD[165] in /dev/mmcblk0"]


def test_emmc_failed_erase_never_sanitizes(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["mmc", "erase", "legacy", "0", LAST, "/dev/mmcblk0"],
                    fixture="mmc/mmc-utils-erase-legacy-failed.txt", returncode=255,
                    stderr=fx("mmc/mmc-utils-erase-legacy-failed.stderr.txt"))
    result = methods.get("mmc-sanitize").run(emmc(), EraseContext())
    assert result.status == "failed"
    assert result.errors == ["mmc failed: Erase multi-cmd ioctl: Connection timed out"]
    assert [c[1] for c in fake_runner.calls] == ["erase"]


def test_emmc_erase_alone(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["mmc", "erase", "secure-erase", "0", LAST, "/dev/mmcblk0"],
                    fixture="mmc/mmc-utils-erase-secure-succeed.txt",
                    stderr=fx("mmc/mmc-utils-erase-legacy.stderr.txt"))
    result = methods.get("mmc-erase").run(emmc(), EraseContext())
    assert result.status == "erased" and result.details["erase_type"] == "secure-erase"


def test_mmc_levels_are_clear_as_the_method_docstring_says() -> None:
    from erasure.methods import mmc
    from erasure.plan import level_of

    assert "are Clear" in (mmc.__doc__ or "")
    assert level_of("mmc-sanitize", "mmc") == level_of("mmc-erase", "mmc") == "clear"


def test_emmc_runner_timeout_leaves_the_card_busy(fake_runner) -> None:  # type: ignore[no-untyped-def]
    from erasure import runner

    erase_ok(fake_runner)

    def hangs(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        raise runner.CommandTimeout(list(argv), timeout)
    fake_runner.add_callable(["mmc", "sanitize", "/dev/mmcblk0", "3600000"], hangs)
    result = methods.get("mmc-sanitize").run(emmc(), EraseContext(options={"mmc_timeout": 3600}))
    assert result.status == "failed" and result.details["drive_busy"] is True
    assert result.errors == ["mmc did not finish within 3720 s"]


def test_small_emmc_is_byte_addressed_and_not_erased_by_mmc(fake_runner) -> None:  # type: ignore[no-untyped-def]
    disk = emmc()
    disk.size_bytes = 2 * 1024**3
    result = methods.get("mmc-erase").run(disk, EraseContext())
    assert result.status == "failed" and "byte addresses" in result.errors[0]
    assert fake_runner.calls == []
