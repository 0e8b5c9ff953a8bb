"""NVMe adapters over real nvme-cli captures (QEMU 7.2, WDC SN730)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from erasure import methods, runner
from erasure.disk import Disk
from erasure.methods.base import EraseContext
from erasure.probe import ProbeOutputs, disk_from_outputs
from tests.conftest import FIXTURES
from tests.unit.test_methods_ata import FakeClock, sequence


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


def qemu_nvme(path: str = "/dev/nvme0n1") -> Disk:
    disk = disk_from_outputs(ProbeOutputs(
        smartctl=fx("smartctl/qemu-7.2-nvme.json"), nvme_id_ctrl=fx("nvme/qemu-7.2-id-ctrl.json"),
        nvme_id_ns=fx("nvme/qemu-7.2-id-ns.json"), nvme_list_ns=fx("nvme/qemu-7.2-list-ns.json")),
        path=path)
    disk.eligible = True
    return disk


def sn730(path: str = "/dev/nvme0n1") -> Disk:
    disk = disk_from_outputs(ProbeOutputs(nvme_id_ctrl=fx("nvme/wdc-sn730-id-ctrl.json")), path=path)
    disk.size_bytes = 256060514304
    return disk


def log(status: int, sprog: int = 65535) -> str:
    """nvme-cli's sanitize-log JSON layout (nested under the device, SSTAT decoded)."""
    text = {1: "Sanitize Operation Completed Successfully.", 2: "Sanitize in Progress.",
            3: "Sanitize Operation Failed."}.get(status, "Never sanitized.")
    return json.dumps({"nvme0": {"sprog": sprog, "sstat": {
        "global_erased": 0, "no_cmplted_passes": 0, "status": f"({status}) {text}"},
        "cdw10_info": 0, "time_over_write": 4294967295, "time_block_erase": 4294967295,
        "time_crypto_erase": 4294967295}})


def test_qemu_format_user_data_erase(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["nvme", "format", "/dev/nvme0n1", "--ses=1", "--lbaf=0", "--force"],
                    fixture="nvme/qemu-7.2-format-ses1.txt")
    result = methods.get("nvme-format-user").run(qemu_nvme(), EraseContext())
    assert result.status == "erased"
    assert result.details["output"] == "Success formatting namespace:1"
    assert result.details["expect"] == "zero-or-ones"
    assert result.details["format_applies_to_all_namespaces"] is False


def test_format_crypto_takes_before_samples(fake_runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "nvme.img"
    image.write_bytes(b"ARDOISE-MARKER-" * 70000)
    disk = sn730(str(image))
    disk.size_bytes = image.stat().st_size // 4096 * 4096
    fake_runner.add(["nvme", "format", str(image), "--ses=2", "--lbaf=0", "--force"],
                    "Success formatting namespace:1\n")
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
    fake_runner.add(["nvme", "format", "/dev/nvme0n1", "--ses=1", "--lbaf=0", "--force"],
                    fixture="nvme/qemu-7.2-format-ses1.txt")
    ok = methods.get("nvme-format-user").run(disk, EraseContext(
        options={"all_namespaces_targeted": True}))
    assert ok.status == "erased"


def test_sanitize_rejected_by_the_drive(fake_runner) -> None:  # type: ignore[no-untyped-def]
    # QEMU 7.2 does not implement Sanitize: the status log read is rejected
    fake_runner.add(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"], returncode=1,
                    stderr=fx("nvme/qemu-7.2-sanitize-log-rejected.txt"))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext())
    assert result.status == "failed"
    assert "Invalid Field in Command" in result.errors[0]


def test_sanitize_command_rejected(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"], log(0))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"], returncode=1,
                    stderr=fx("nvme/qemu-7.2-sanitize-rejected.txt"))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext())
    assert result.status == "failed" and "Invalid Command Opcode" in result.errors[0]


def test_sanitize_never_completing_times_out(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                             sequence(log(0), log(2, 1000)))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"])
    clock = FakeClock()
    ctx = EraseContext(options={"clock": clock, "sanitize_timeout": 7200})
    result = methods.get("nvme-sanitize-block").run(sn730(), ctx)
    assert result.status == "failed"
    assert result.errors == ["sanitize did not complete within 7200 s (last status 2)"]
    assert clock.t == 7200


def test_sanitize_in_progress_after_reboot_is_waited_for(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                             sequence(log(2, 40000), log(2, 60000), log(1)))
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "erased"
    assert result.details["resumed_in_progress"] is True
    assert all(c[1] != "sanitize" for c in fake_runner.calls)  # not started again


def test_sanitize_reported_failed(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add_callable(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                             sequence(log(0), log(2, 100), log(3)))
    fake_runner.add(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"])
    result = methods.get("nvme-sanitize-block").run(sn730(), EraseContext(
        options={"clock": FakeClock()}))
    assert result.status == "failed" and "failed" in result.errors[0]


def test_cancel_while_sanitizing(fake_runner) -> None:  # type: ignore[no-untyped-def]
    ctx = EraseContext(options={"clock": FakeClock()})

    def answer(argv: Any, timeout: float, input: str | None = None) -> runner.Result:
        ctx.cancel.set()
        return runner.Result(tuple(argv), 0, log(2, 5), "", 0.0)
    fake_runner.add_callable(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"],
                             sequence(log(0), log(2, 5)))
    fake_runner.add_callable(["nvme", "sanitize", "/dev/nvme0", "--sanact=2"], answer)
    result = methods.get("nvme-sanitize-block").run(sn730(), ctx)
    assert result.status == "incomplete"
