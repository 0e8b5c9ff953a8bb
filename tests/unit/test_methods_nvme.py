"""NVMe adapters over real nvme-cli captures (QEMU 7.2, WDC SN730) and nvme-cli's own
output layouts (tests/fixtures/README.md); controllers come from a sysfs tree laid out
as Linux does it (tests/unit/sysfs_tree.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from erasure import methods, nvme_sysfs, runner
from erasure.disk import Disk
from erasure.methods.base import EraseContext
from erasure.probe import ProbeOutputs, disk_from_outputs
from tests.conftest import FIXTURES
from tests.unit.sysfs_tree import NvmeSysfs, ensure_namespace
from tests.unit.test_methods_ata import FakeClock, sequence

SN730_SIZE = 256060514304
LOG = ["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"]


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


def qemu_nvme(path: str = "/dev/nvme0n1") -> Disk:
    disk = disk_from_outputs(ProbeOutputs(
        smartctl=fx("smartctl/qemu-7.2-nvme.json"), nvme_id_ctrl=fx("nvme/qemu-7.2-id-ctrl.json"),
        nvme_id_ns=fx("nvme/qemu-7.2-id-ns.json"), nvme_list_ns=fx("nvme/qemu-7.2-list-ns.json")),
        path=path)
    disk.eligible = True
    ensure_namespace(nvme_sysfs.SYSFS, path, disk.serial)
    return disk


def sn730(path: str = "/dev/nvme0n1") -> Disk:
    disk = disk_from_outputs(ProbeOutputs(nvme_id_ctrl=fx("nvme/wdc-sn730-id-ctrl.json")), path=path)
    disk.size_bytes = SN730_SIZE
    ensure_namespace(nvme_sysfs.SYSFS, path, disk.serial)
    return disk


def log(status: int, sprog: int = 65535, cdw10: int | None = None) -> str:
    """nvme-cli's sanitize-log JSON layout (nested under the device, SSTAT decoded); the
    last sanitize was a block erase (SCDW10 SANACT 2) unless told."""
    text = {1: "Sanitize Operation Completed Successfully.", 2: "Sanitize in Progress.",
            3: "Sanitize Operation Failed."}.get(status, "Never sanitized.")
    return json.dumps({"nvme0": {"sprog": sprog, "sstat": {
        "global_erased": 0, "no_cmplted_passes": 0, "status": f"({status}) {text}"},
        "cdw10_info": (0 if status == 0 else 2) if cdw10 is None else cdw10,
        "time_over_write": 4294967295, "time_block_erase": 4294967295,
        "time_crypto_erase": 4294967295}})


def format_argv(path: str, ses: int, timeout_s: int) -> list[str]:
    return ["nvme", "format", path, f"--ses={ses}", "--lbaf=0", "--force",
            f"--timeout={timeout_s * 1000}"]


def test_qemu_format_user_data_erase(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(format_argv("/dev/nvme0n1", 1, 600), fixture="nvme/qemu-7.2-format-ses1.txt")
    result = methods.get("nvme-format-user").run(qemu_nvme(), EraseContext())
    assert result.status == "erased"
    assert result.details["output"] == "Success formatting namespace:1"
    assert result.details["expect"] == "zero-or-ones"
    assert result.details["format_applies_to_all_namespaces"] is False
    # a small drive: nvme-cli's own 600 s floor, sized from the capacity
    assert (result.details["timeout_seconds"], result.details["timeout_basis"],
            result.details["estimate_seconds"]) == (600, "capacity", None)
    assert result.details["controller"] == "/dev/nvme0"


def test_format_timeout_in_milliseconds_and_the_runner_waits_longer(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(LOG, fixture="nvme/sanitize-log-2.13-never.json")
    seen: dict[str, float] = {}

    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        seen["timeout"] = timeout
        return runner.Result(tuple(argv), 0, "Success formatting namespace:1\n", "", 0.0)
    # 256 GB at 100 MB/s, times the 1.5 margin: 3841 s, past nvme-cli's default 600 s
    fake_runner.add_callable(format_argv("/dev/nvme0n1", 1, 3841), answer)
    result = methods.get("nvme-format-user").run(sn730(), EraseContext())
    assert result.status == "erased", result.errors
    assert result.details["timeout_seconds"] == 3841
    assert seen["timeout"] == 3841 + 120  # nvme-cli's timeout fires first


def test_format_timed_out_by_nvme_cli(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(format_argv("/dev/nvme0n1", 1, 600), returncode=1,
                    stderr=fx("nvme/format-timeout-stderr.txt"))
    result = methods.get("nvme-format-user").run(qemu_nvme(), EraseContext())
    assert result.status == "failed"
    assert result.errors == ["nvme failed: format: Interrupted system call"]


def test_format_crypto_takes_before_samples(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "nvme0n1"
    image.write_bytes(b"ARDOISE-MARKER-" * 70000)
    disk = sn730(str(image))
    disk.size_bytes = image.stat().st_size // 4096 * 4096
    fake_runner.add(LOG, fixture="nvme/sanitize-log-2.13-never.json")
    fake_runner.add(format_argv(str(image), 2, 600), "Success formatting namespace:1\n")
    result = methods.get("nvme-format-crypto").run(disk, EraseContext())
    assert result.status == "erased"
    assert result.details["expect"] == "markers"
    assert result.details["markers_written"] == len(result.details["sample_offsets"]) > 1
    assert b"ARDOISE-MARKER-" not in image.read_bytes()[:result.details["sample_length"]]
    assert "from the start" in result.details["condition"]


def test_format_refused_when_it_would_erase_other_namespaces(fake_runner) -> None:  # type: ignore[no-untyped-def]
    disk = qemu_nvme()
    assert disk.nvme is not None
    disk.nvme.fna = 0x1
    disk.nvme.namespaces = 2
    result = methods.get("nvme-format-user").run(disk, EraseContext())
    assert result.status == "failed" and "all 2 namespaces" in result.errors[0]
    assert fake_runner.calls == []
    fake_runner.add(format_argv("/dev/nvme0n1", 1, 600), fixture="nvme/qemu-7.2-format-ses1.txt")
    ok = methods.get("nvme-format-user").run(disk, EraseContext(
        options={"all_namespaces_targeted": True}))
    assert ok.status == "erased"


def test_format_never_starts_over_a_running_sanitize(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(LOG, fixture="nvme/sanitize-log-2.13-in-progress-block.json")
    result = methods.get("nvme-format-crypto").run(sn730(), EraseContext())
    assert result.status == "failed"
    assert result.details["drive_busy"] is True and result.details["busy_with"] == "block"
    assert "action_ran" not in result.details  # the format ran nothing
    assert result.errors == ["a sanitize (block) is in progress on /dev/nvme0 (25%): nothing "
                             "else is started before it ends"]
    assert fake_runner.calls == [tuple(LOG)]


def test_head_whose_number_is_no_controller_uses_its_live_controller(fake_runner) -> None:  # type: ignore[no-untyped-def]
    # /dev/nvme0n1 is a multipath head of subsystem 0, whose first controller nvme0 went
    # away and came back as nvme4; nvme1 is resetting: the admin commands go to nvme4
    tree = NvmeSysfs(nvme_sysfs.SYSFS)
    serial = "1951B3444502"
    subsys = tree.subsystem(0, serial)
    c1 = tree.controller(1, serial, state="resetting", subsys=subsys)
    c4 = tree.controller(4, serial, subsys=subsys)
    tree.head(subsys, 1, [c1, c4])
    disk = sn730()
    log4 = ["nvme", "sanitize-log", "/dev/nvme4", "-o", "json"]
    fake_runner.add_callable(log4, sequence(fx("nvme/sanitize-log-2.13-never.json"),
                                            fx("nvme/sanitize-log-2.13-in-progress-block.json"),
                                            fx("nvme/sanitize-log-2.13-completed-block.json")))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme4", "--sanact=2"])
    result = methods.get("nvme-sanitize-block").run(disk, EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    assert result.details["controller"] == "/dev/nvme4"
    assert all("/dev/nvme0" not in c for c in fake_runner.calls)
    assert result.details["action_ran"] == "block"
    assert result.details["resumed_in_progress"] is False


def test_controller_with_another_serial_is_refused(fake_runner) -> None:  # type: ignore[no-untyped-def]
    NvmeSysfs(nvme_sysfs.SYSFS).namespace(
        NvmeSysfs(nvme_sysfs.SYSFS).controller(0, "ANOTHERDRIVE"), "nvme0n1")
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext())
    assert result.status == "failed" and fake_runner.calls == []
    assert result.errors == ["the NVMe controller /dev/nvme0 of /dev/nvme0n1 reports serial "
                             "ANOTHERDRIVE, not 1951B3444502: refused, it may be another drive"]


def test_namespace_missing_from_sysfs_is_refused(fake_runner) -> None:  # type: ignore[no-untyped-def]
    disk = sn730()
    disk.path = "/dev/nvme7n1"
    result = methods.get("nvme-format-user").run(disk, EraseContext())
    assert result.status == "failed" and fake_runner.calls == []
    assert "/dev/nvme7n1 is not in sysfs" in result.errors[0]


def test_sanitize_rejected_by_the_drive(fake_runner) -> None:  # type: ignore[no-untyped-def]
    # QEMU 7.2 does not implement Sanitize: the status log read is rejected
    fake_runner.add(LOG, returncode=1, stderr=fx("nvme/qemu-7.2-sanitize-log-rejected.txt"))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext())
    assert result.status == "failed"
    assert "Invalid Field in Command" in result.errors[0]


def test_sanitize_command_rejected(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(LOG, log(0))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"], returncode=1,
                    stderr=fx("nvme/qemu-7.2-sanitize-rejected.txt"))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext())
    assert result.status == "failed" and "Invalid Command Opcode" in result.errors[0]


def test_sanitize_command_refused_while_another_host_sanitizes(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(LOG, log(0))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"], returncode=1,
                    stderr=fx("nvme/sanitize-in-progress-stderr.txt"))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"sysfs_root": str(nvme_sysfs.SYSFS)}))
    assert result.status == "failed"
    assert "Sanitize In Progress: The requested function is prohibited" in result.errors[-1]


def test_sanitize_never_completing_times_out_and_leaves_the_drive_busy(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(log(0), log(2, 1000)))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"])
    clock = FakeClock()
    ctx = EraseContext(options={"clock": clock, "sanitize_timeout": 7200})
    result = methods.get("nvme-sanitize-block").run(sn730(), ctx)
    assert result.status == "failed"
    assert result.errors == ["sanitize did not complete within 7200 s (last status 2)"]
    assert clock.t == 7200
    assert result.details["drive_busy"] is True  # erase_disk must not start another method
    assert result.details["timeout_basis"] == "config"


def test_sanitize_timeout_from_the_drives_estimate(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(fx("nvme/sanitize-log-2.13-never.json"),
                                           fx("nvme/sanitize-log-2.13-completed-block.json")))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"])
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    # ETBE 3600 s, times the 1.5 margin
    assert (result.details["timeout_seconds"], result.details["timeout_basis"],
            result.details["estimate_seconds"]) == (5400, "drive-estimate", 3600)


def test_sanitize_timeout_from_capacity_without_an_estimate(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(fx("nvme/sanitize-log-2.13-no-estimate.json"),
                                           fx("nvme/sanitize-log-2.13-completed-block.json")))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"])
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    # 0xFFFFFFFF is no estimate: 256 GB at 100 MB/s, times 1.5
    assert (result.details["timeout_seconds"], result.details["timeout_basis"],
            result.details["estimate_seconds"]) == (3841, "capacity", None)


def overwrite_disk() -> Disk:
    disk = sn730()
    assert disk.nvme is not None
    disk.nvme.sanicap |= 0x4
    disk.nvme.sanitize.overwrite = True
    return disk


def test_sanitize_overwrite_is_one_pass_unless_asked(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(fx("nvme/sanitize-log-2.13-never.json"),
                                           log(1, cdw10=0x13)))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=3", "--owpass=1", "--ovrpat=0"])
    result = methods.get("nvme-sanitize-overwrite").run(overwrite_disk(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    assert result.details["overwrite_passes"] == 1 and result.details["action_ran"] == "overwrite"
    # ETO (32000 s) is for 16 passes: one pass is 2000 s
    assert (result.details["estimate_seconds"], result.details["timeout_seconds"]) == (2000, 3000)


def test_sanitize_overwrite_sixteen_passes_is_owpass_zero(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(fx("nvme/sanitize-log-2.13-never.json"), log(1, cdw10=3)))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=3", "--owpass=0", "--ovrpat=0"])
    result = methods.get("nvme-sanitize-overwrite").run(overwrite_disk(), EraseContext(
        options={"clock": FakeClock(), "overwrite_passes": 16}))
    assert result.status == "erased", result.errors
    assert result.details["overwrite_passes"] == 16 and result.details["estimate_seconds"] == 32000
    bad = methods.get("nvme-sanitize-overwrite").run(overwrite_disk(), EraseContext(
        options={"overwrite_passes": 17}))
    assert bad.status == "failed" and bad.errors == ["overwrite passes must be between 1 and 16"]


def test_sanitize_in_progress_after_reboot_is_waited_for(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(log(2, 40000), log(2, 60000), log(1)))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "erased"
    assert result.details["resumed_in_progress"] is True
    assert result.details["action_ran"] == "block"
    assert all(c[1] != "sanitize" for c in fake_runner.calls)  # not started again


def test_resumed_overwrite_from_nvme_cli_2_3(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(fx("nvme/sanitize-log-2.3-in-progress-overwrite.json"),
                                           log(1, cdw10=0x13)))
    result = methods.get("nvme-sanitize-overwrite").run(overwrite_disk(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "erased", result.errors
    assert result.details["resumed_in_progress"] is True
    assert result.details["action_ran"] == "overwrite"


def test_another_sanitize_in_progress_is_not_adopted(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(LOG, fx("nvme/sanitize-log-2.13-in-progress-crypto.json"))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "failed"
    assert result.details["drive_busy"] is True and result.details["busy_with"] == "crypto"
    assert "action_ran" not in result.details
    assert "a sanitize (crypto) is in progress" in result.errors[0]
    assert fake_runner.calls == [tuple(LOG)]


def test_sanitize_reported_failed(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(LOG, sequence(log(0), log(2, 100),
                                           fx("nvme/sanitize-log-2.13-failed-block.json")))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"])
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "failed" and "failed" in result.errors[0]
    assert "drive_busy" not in result.details


def test_cancel_while_sanitizing(fake_runner) -> None:  # type: ignore[no-untyped-def]
    ctx = EraseContext(options={"clock": FakeClock()})

    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        ctx.cancel.set()
        return runner.Result(tuple(argv), 0, log(2, 5), "", 0.0)
    fake_runner.add_callable(LOG, sequence(log(0), log(2, 5)))
    fake_runner.add_callable(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"], answer)
    result = methods.get("nvme-sanitize-block").run(sn730(), ctx)
    assert result.status == "incomplete"
    assert result.details["drive_busy"] is True


def test_config_overwrite_passes_reach_the_drive_through_a_job(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from appliance import config, inventory, jobs
    from erasure.plan import make_plan, supported_methods

    image = tmp_path / "nvme0n1"
    image.write_bytes(bytes(1024 * 1024))
    disk = overwrite_disk()
    disk.path, disk.size_bytes, disk.eligible = str(image), 1024 * 1024, True
    assert disk.nvme is not None  # a drive whose only firmware erase is a sanitize overwrite
    disk.nvme.format, disk.nvme.sanicap = False, 0x4
    disk.nvme.sanitize.crypto = disk.nvme.sanitize.block = False
    disk.methods = supported_methods(disk)
    ensure_namespace(nvme_sysfs.SYSFS, str(image), disk.serial)
    fake_runner.add_callable(LOG, sequence(fx("nvme/sanitize-log-2.13-never.json"),
                                           log(1, cdw10=0x33)))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=3", "--owpass=3", "--ovrpat=0"])
    cfg = config.parse("organisation: OPEQ\nerase:\n  level: purge\n  overwrite_passes: 3\n",
                       source=str(tmp_path / "ardoise.yaml"), base=tmp_path)
    target = jobs.Target(disk, make_plan(disk, "purge"), True)
    assert target.method == "nvme-sanitize-overwrite"
    run = jobs.Run(cfg, tmp_path / "data", [target], lambda event: None, host=inventory.Host())
    try:
        [job] = run.jobs
        outcome = job.erase()
    finally:
        run.release()
    assert outcome.erase is not None and outcome.erase.details["overwrite_passes"] == 3
    assert ("nvme", "sanitize", "/dev/nvme0", "--sanact=3", "--owpass=3",
            "--ovrpat=0") in fake_runner.calls
