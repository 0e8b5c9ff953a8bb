"""Probe parsing over real captured outputs (tests/fixtures/README.md says where from)."""

from __future__ import annotations

import json

import pytest

from erasure import nvme_sysfs
from erasure.disk import AtaSecurity, Disk, SanitizeSupport
from erasure.parse_ata import parse_hdparm_identify, parse_hdparm_native_max
from erasure.parse_mmc import parse_extcsd
from erasure.parse_nvme import parse_id_ctrl, parse_id_ns, parse_list_ns, parse_sanitize_log
from erasure.parse_opal import parse_scan
from erasure.parse_scsi import parse_sg_inq, parse_sg_opcodes, parse_sg_readcap
from erasure.parse_smartctl import parse_smartctl
from erasure.probe import ProbeOutputs, disk_from_outputs, probe_device
from tests.conftest import FIXTURES
from tests.unit.sysfs_tree import NvmeSysfs, ensure_namespace


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_smartctl_sata_ssd_not_frozen() -> None:
    info = parse_smartctl(fx("smartctl/samsung-860evo-sata-ssd.json"))
    assert (info.protocol, info.device_type) == ("ATA", "sat")
    assert info.model == "Samsung SSD 860 EVO 500GB"
    assert info.serial == "S3YZNB0KB00864E"
    assert info.size_bytes == 500107862016
    assert info.rotation_rate == 0
    assert info.security is not None
    assert info.security.state == 33
    assert (info.security.supported, info.security.enabled, info.security.frozen,
            info.security.locked, info.security.enhanced_erase) == (True, False, False, False, True)


def test_smartctl_sata_hdd() -> None:
    info = parse_smartctl(fx("smartctl/wdc-wd140edfz-sata-hdd.json"))
    assert info.model == "WDC WD140EDFZ-11A0VA0"
    assert info.size_bytes == 14000519643136
    assert info.rotation_rate == 5400
    assert info.security is None


def test_smartctl_nvme_and_sas() -> None:
    nvme = parse_smartctl(fx("smartctl/intel-ssdpeknw010t8-nvme.json"))
    assert (nvme.protocol, nvme.model, nvme.serial) == ("NVMe", "INTEL SSDPEKNW010T8",
                                                       "BTNH93710FS91P0B")
    assert nvme.size_bytes == 1024209543168
    sas = parse_smartctl(fx("smartctl/seagate-st1200mm0088-sas.json"))
    assert (sas.protocol, sas.model, sas.serial) == ("SCSI", "SEAGATE ST1200MM0088",
                                                    "Z4028VRY0000C810BZXB")
    assert sas.size_bytes == 1200243695616 and sas.rotation_rate == 10500


def test_smartctl_unknown_usb_bridge() -> None:
    info = parse_smartctl(fx("smartctl/qemu-7.2-usb-storage.json"))
    assert not info.recognised
    assert info.unknown_usb_bridge
    assert info.model is None and info.size_bytes is None


def test_hdparm_frozen_ssd_with_sanitize() -> None:
    info = parse_hdparm_identify(fx("hdparm/micron-5300-frozen.txt"))
    assert info.model == "Micron_5300_MTFDDAK1T9TDS"
    assert info.serial == "214031A57D1D"
    assert info.firmware == "D3MU001"
    assert info.sectors == 3750748848
    assert (info.logical_sector_size, info.physical_sector_size) == (512, 4096)
    assert info.rotation_rpm == 0
    assert info.wwn == "0x500a075131a57d1d"
    assert info.security == AtaSecurity(supported=True, enabled=False, locked=False, frozen=True,
                                        enhanced_erase=True, erase_minutes=2,
                                        enhanced_erase_minutes=2)
    assert info.sanitize == SanitizeSupport(crypto=True, block=True, overwrite=True)
    assert info.sanitize_antifreeze


def test_hdparm_not_frozen_with_spaces() -> None:
    info = parse_hdparm_identify(fx("hdparm/intel-ssdsc2bb480g7k-not-frozen.txt"))
    assert info.model == "INTEL SSDSC2BB480G7K"
    assert info.serial == "BTDV72420A3D480BGN"
    assert info.sectors == 937703088
    assert info.security is not None
    assert not info.security.frozen and info.security.supported and not info.security.enabled
    assert (info.security.erase_minutes, info.security.enhanced_erase_minutes) == (4, 4)
    assert info.sanitize == SanitizeSupport(crypto=True, block=True, overwrite=True)


def test_hdparm_qemu_sata_has_no_security_and_usb_bridge_hides_everything() -> None:
    sata = parse_hdparm_identify(fx("hdparm/qemu-7.2-sata.txt"))
    assert sata.identified and sata.model == "QEMU-SATA-DISK" and sata.sectors == 524288
    assert sata.security is None and sata.sanitize is None
    usb = parse_hdparm_identify(fx("hdparm/qemu-7.2-usb-storage.txt"))
    assert not usb.identified and usb.security is None


def test_hdparm_native_max() -> None:
    hpa = parse_hdparm_native_max(fx("hdparm/qemu-7.2-sata-N.txt"))
    assert hpa is not None
    assert (hpa.current_max_sectors, hpa.native_max_sectors, hpa.enabled) == (524288, 524288,
                                                                              False)


def test_nvme_id_ctrl_decoding() -> None:
    wdc = parse_id_ctrl(fx("nvme/wdc-sn730-id-ctrl.json"))
    assert (wdc.model, wdc.serial, wdc.firmware) == ("WDC PC SN730 SDBQNTY-256G-1001",
                                                    "1951B3444502", "11170101")
    assert wdc.fna == 4 and wdc.format_crypto and not wdc.format_all_namespaces
    assert wdc.sanicap == 0x60000003
    assert (wdc.sanitize_crypto, wdc.sanitize_block, wdc.sanitize_overwrite) == (True, True,
                                                                                 False)
    assert wdc.format_supported and wdc.namespaces_max == 1
    qemu = parse_id_ctrl(fx("nvme/qemu-7.2-id-ctrl.json"))
    assert (qemu.model, qemu.serial, qemu.firmware) == ("QEMU NVMe Ctrl", "ARDOISENVME01",
                                                       "7.2.22")
    assert qemu.oacs == 266 and qemu.format_supported
    assert qemu.fna == 0 and qemu.sanicap == 0 and qemu.namespaces_max == 256


def test_nvme_id_ns_and_list_ns() -> None:
    ns = parse_id_ns(fx("nvme/qemu-7.2-id-ns.json"))
    assert (ns.size_blocks, ns.lbaf_in_use, ns.block_size, ns.size_bytes) == (524288, 0, 512,
                                                                              268435456)
    assert parse_list_ns(fx("nvme/qemu-7.2-list-ns.json")) == [1]


def test_nvme_sanitize_log_layout_of_nvme_cli() -> None:
    # nvme-cli's json printer: the log nested under the device name, SSTAT decoded
    text = json.dumps({"nvme0": {"sprog": 32768, "sstat": {
        "global_erased": 0, "no_cmplted_passes": 0,
        "status": "(2) Sanitize in Progress."}, "cdw10_info": 2}})
    status = parse_sanitize_log(text)
    assert status.in_progress and status.fraction == 0.5


def test_scsi_parsers() -> None:
    inq = parse_sg_inq(fx("sg/qemu-7.2-scsi-inq.txt"))
    assert (inq.model, inq.serial, inq.revision) == ("QEMU QEMU HARDDISK", "ARDOISESCSI01", "2.5+")
    cap = parse_sg_readcap(fx("sg/qemu-7.2-scsi-readcap.txt"))
    assert cap is not None and (cap.blocks, cap.block_size, cap.size_bytes) == (524288, 512,
                                                                                268435456)
    assert parse_sg_opcodes(fx("sg/qemu-7.2-scsi-opcodes-rejected.txt")) is None
    assert parse_sg_opcodes(fx("sg/seagate-st10000nm0226-opcodes-compact-excerpt.txt")) == \
        SanitizeSupport(crypto=True, block=False, overwrite=True)


def test_mmc_sd_card_has_no_extcsd_and_opal_scan() -> None:
    info = parse_extcsd(fx("mmc/qemu-7.2-sd-extcsd-read.stderr.txt"), "SD")
    assert info.card_type == "SD" and info.sec_feature_support is None and not info.sanitize
    opal = parse_scan(fx("sedutil/scan-opal-archwiki.txt"), "/dev/sda")
    assert opal is not None and opal.supported and opal.versions == "12"
    no = parse_scan(fx("sedutil/scan-no-opal-archwiki.txt"), "/dev/sda")
    assert no is not None and not no.supported


def test_replay_qemu_nvme_disk() -> None:
    disk = disk_from_outputs(ProbeOutputs(
        smartctl=fx("smartctl/qemu-7.2-nvme.json"), nvme_id_ctrl=fx("nvme/qemu-7.2-id-ctrl.json"),
        nvme_id_ns=fx("nvme/qemu-7.2-id-ns.json"), nvme_list_ns=fx("nvme/qemu-7.2-list-ns.json")))
    assert (disk.path, disk.transport, disk.model, disk.serial) == (
        "/dev/nvme0n1", "nvme", "QEMU NVMe Ctrl", "ARDOISENVME01")
    assert disk.size_bytes == 268435456 and disk.rotational is False
    assert disk.nvme is not None
    assert (disk.nvme.format, disk.nvme.fna, disk.nvme.sanicap, disk.nvme.lbaf_in_use,
            disk.nvme.namespaces) == (True, 0, 0, 0, 1)
    assert disk.methods == ["nvme-format-user", "overwrite"]


def test_replay_frozen_ssd_lists_methods_strongest_first() -> None:
    disk = disk_from_outputs(ProbeOutputs(hdparm_identify=fx("hdparm/micron-5300-frozen.txt")))
    assert disk.transport == "sata" and disk.size_bytes == 3750748848 * 512
    assert disk.ata_security is not None and disk.ata_security.frozen
    assert disk.methods == ["ata-sanitize-crypto", "ata-sanitize-block", "ata-sanitize-overwrite",
                            "ata-secure-erase-enhanced", "ata-secure-erase", "overwrite"]


def test_replay_usb_bridge_hides_capabilities() -> None:
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/qemu-7.2-usb-storage.json"),
                                          hdparm_identify=fx("hdparm/qemu-7.2-usb-storage.txt")))
    assert disk.transport == "usb"
    assert disk.ata_security is None and disk.ata_sanitize is None
    assert disk.methods == ["overwrite"]
    assert any("USB bridge" in n for n in disk.extra["probe_notes"])


def _disk(path: str, transport: str) -> Disk:
    return Disk(path=path, id="test", model="", serial="", size_bytes=0, logical_block_size=512,
                transport=transport)


def test_probe_device_runs_commands_through_the_runner(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["smartctl", "-j", "-x", "/dev/nvme0n1"], fixture="smartctl/qemu-7.2-nvme.json",
                    returncode=4)
    fake_runner.add(["nvme", "id-ctrl", "/dev/nvme0", "-o", "json"],
                    fixture="nvme/qemu-7.2-id-ctrl.json")
    fake_runner.add(["nvme", "id-ns", "/dev/nvme0n1", "-o", "json"],
                    fixture="nvme/qemu-7.2-id-ns.json")
    fake_runner.add(["nvme", "list-ns", "/dev/nvme0", "-o", "json"],
                    fixture="nvme/qemu-7.2-list-ns.json")
    fake_runner.add(["sedutil-cli", "--scan"], fixture="sedutil/scan-no-opal-archwiki.txt")
    ensure_namespace(nvme_sysfs.SYSFS, "/dev/nvme0n1", "ARDOISENVME01")
    disk = probe_device(_disk("/dev/nvme0n1", "nvme"))
    assert disk.model == "QEMU NVMe Ctrl" and disk.nvme is not None and disk.nvme.format
    assert disk.methods[0] == "nvme-format-user"
    assert "opal" not in disk.extra


def test_probe_device_sata_usb_and_missing_tool(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["smartctl", "-j", "-x", "/dev/sdc"],
                    fixture="smartctl/qemu-7.2-usb-storage.json", returncode=1)
    fake_runner.add(["hdparm", "-I", "/dev/sdc"], fixture="hdparm/qemu-7.2-usb-storage.txt")
    fake_runner.add(["hdparm", "-N", "/dev/sdc"], returncode=5, stderr="SG_IO: bad/missing sense")
    fake_runner.add(["sg_opcodes", "/dev/sdc"], fixture="sg/qemu-7.2-scsi-opcodes-rejected.txt",
                    returncode=9)
    fake_runner.add(["sg_readcap", "--long", "/dev/sdc"], fixture="sg/qemu-7.2-scsi-readcap.txt")
    disk = probe_device(_disk("/dev/sdc", "usb"))
    assert disk.size_bytes == 268435456
    assert disk.methods == ["overwrite"]
    assert disk.extra["scsi_sanitize"] is None


@pytest.mark.parametrize("transport", ["loop", "virtio"])
def test_probe_device_virtual_runs_nothing(fake_runner, transport: str) -> None:  # type: ignore[no-untyped-def]
    disk = probe_device(_disk("/dev/vdb", transport))
    assert fake_runner.calls == [] and disk.methods == ["overwrite"]


def test_remove_hpa(fake_runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from erasure import probe
    from erasure.disk import Hpa
    from erasure.probe import remove_hpa

    # the kernel's size once the rescan revalidated the disk (512-byte units)
    (tmp_path / "sda" / "device").mkdir(parents=True)
    (tmp_path / "sda" / "size").write_text("524288\n")
    monkeypatch.setattr(probe, "SYS_BLOCK", tmp_path)

    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/qemu-7.2-sata.json")),
                             path="/dev/sda")
    disk.hpa = Hpa(current_max_sectors=500000, native_max_sectors=524288)
    fake_runner.add(["hdparm", "--yes-i-know-what-i-am-doing", "-N", "p524288", "/dev/sda"])
    fake_runner.add(["hdparm", "-N", "/dev/sda"], fixture="hdparm/qemu-7.2-sata-N.txt")
    assert remove_hpa(disk) is None
    assert disk.hpa == Hpa(524288, 524288) and disk.size_bytes == 524288 * 512
    assert disk.extra["hpa_removed"] == {"sectors": 24288}
    assert (tmp_path / "sda" / "device" / "rescan").read_text() == "1\n"


def test_probe_reports_a_sanitize_in_progress(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["smartctl", "-j", "-x", "/dev/nvme0n1"], "")
    fake_runner.add(["nvme", "id-ctrl", "/dev/nvme0", "-o", "json"],
                    fixture="nvme/wdc-sn730-id-ctrl.json")
    fake_runner.add(["nvme", "id-ns", "/dev/nvme0n1", "-o", "json"],
                    fixture="nvme/qemu-7.2-id-ns.json")
    fake_runner.add(["nvme", "list-ns", "/dev/nvme0", "-o", "json"],
                    fixture="nvme/qemu-7.2-list-ns.json")
    fake_runner.add(["nvme", "sanitize-log", "/dev/nvme0", "-o", "json"], json.dumps(
        {"nvme0": {"sprog": 16384, "sstat": {"global_erased": 0, "no_cmplted_passes": 0,
                                             "status": "(2) Sanitize in Progress."}}}))
    fake_runner.add(["sedutil-cli", "--scan"], returncode=127, stderr="not found")
    ensure_namespace(nvme_sysfs.SYSFS, "/dev/nvme0n1", "1951B3444502")
    disk = probe_device(_disk("/dev/nvme0n1", "nvme"))
    assert disk.extra["nvme_sanitize_status"] == {"status": 2, "progress": 16384}
    assert any("sanitize is in progress (25%)" in n for n in disk.extra["probe_notes"])


def _qemu_nvme_commands(fake_runner, ctrl: str, ns: str = "/dev/nvme0n1") -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["smartctl", "-j", "-x", ns], fixture="smartctl/qemu-7.2-nvme.json")
    fake_runner.add(["nvme", "id-ctrl", ctrl, "-o", "json"], fixture="nvme/qemu-7.2-id-ctrl.json")
    fake_runner.add(["nvme", "id-ns", ns, "-o", "json"], fixture="nvme/qemu-7.2-id-ns.json")
    fake_runner.add(["nvme", "list-ns", ctrl, "-o", "json"], fixture="nvme/qemu-7.2-list-ns.json")
    fake_runner.add(["sedutil-cli", "--scan"], fixture="sedutil/scan-no-opal-archwiki.txt")


def test_probe_asks_the_controller_sysfs_names_not_the_guessed_one(fake_runner) -> None:  # type: ignore[no-untyped-def]
    # multipath head nvme0n1 of subsystem 0 whose only live controller is nvme3
    tree = NvmeSysfs(nvme_sysfs.SYSFS)
    subsys = tree.subsystem(0, "ARDOISENVME01")
    tree.head(subsys, 1, [tree.controller(3, "ARDOISENVME01", subsys=subsys)])
    _qemu_nvme_commands(fake_runner, "/dev/nvme3")
    disk = _disk("/dev/nvme0n1", "nvme")
    disk.serial = "ARDOISENVME01"  # as udev gave it
    disk = probe_device(disk)
    assert all("/dev/nvme0" not in call for call in fake_runner.calls)
    assert disk.extra["nvme_controller"] == {
        "path": "/dev/nvme3", "serial": "ARDOISENVME01", "state": "live", "via": "multipath",
        "id_ctrl_serial": "ARDOISENVME01"}
    assert disk.methods[0] == "nvme-format-user"


def test_probe_refuses_a_controller_whose_serial_is_not_the_disks(fake_runner) -> None:  # type: ignore[no-untyped-def]
    ensure_namespace(nvme_sysfs.SYSFS, "/dev/nvme0n1", "ARDFWNVME02")
    _qemu_nvme_commands(fake_runner, "/dev/nvme0")
    disk = _disk("/dev/nvme0n1", "nvme")
    disk.serial = "ARDFWNVME02"  # udev's; id-ctrl answers ARDOISENVME01
    disk = probe_device(disk)
    assert disk.nvme is None and "nvme-format-user" not in disk.methods
    assert disk.extra["nvme_controller"]["identity_mismatch"] is True
    assert ("the NVMe controller /dev/nvme0 reports serial ARDOISENVME01, not ARDFWNVME02: it "
            "may be another drive, its firmware erase is refused") in disk.extra["probe_notes"]


def test_probe_without_the_namespace_in_sysfs_runs_no_admin_command(fake_runner) -> None:  # type: ignore[no-untyped-def]
    fake_runner.add(["smartctl", "-j", "-x", "/dev/nvme0n1"], fixture="smartctl/qemu-7.2-nvme.json")
    fake_runner.add(["nvme", "id-ns", "/dev/nvme0n1", "-o", "json"],
                    fixture="nvme/qemu-7.2-id-ns.json")
    fake_runner.add(["sedutil-cli", "--scan"], fixture="sedutil/scan-no-opal-archwiki.txt")
    disk = probe_device(_disk("/dev/nvme0n1", "nvme"))
    assert disk.nvme is None and disk.methods == ["overwrite"]
    assert any("is not in sysfs" in n for n in disk.extra["probe_notes"])
