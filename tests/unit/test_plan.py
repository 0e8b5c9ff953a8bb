"""NIST SP 800-88 / IEEE 2883 plans for drives probed from real captured outputs."""

from __future__ import annotations

import pytest

from erasure.disk import Disk, Hpa
from erasure.plan import make_plan
from erasure.probe import ProbeOutputs, disk_from_outputs
from tests.conftest import FIXTURES


def fx(name: str) -> str:
    return (FIXTURES / name).read_text()


def qemu_nvme() -> Disk:
    return disk_from_outputs(ProbeOutputs(
        smartctl=fx("smartctl/qemu-7.2-nvme.json"), nvme_id_ctrl=fx("nvme/qemu-7.2-id-ctrl.json"),
        nvme_id_ns=fx("nvme/qemu-7.2-id-ns.json"), nvme_list_ns=fx("nvme/qemu-7.2-list-ns.json")))


def sn730() -> Disk:
    return disk_from_outputs(ProbeOutputs(nvme_id_ctrl=fx("nvme/wdc-sn730-id-ctrl.json")))


def test_nvme_with_crypto_and_sanitize_purge_order() -> None:
    plan = make_plan(sn730(), "purge")
    assert plan.reachable
    # SES=2 exists, so SES=1 is not planned; sanitize first
    assert plan.methods == ["nvme-sanitize-crypto", "nvme-sanitize-block", "nvme-format-crypto"]
    assert any("from the start" in r for r in plan.reasons)


def test_qemu_nvme_purge_by_format_ses1() -> None:
    plan = make_plan(qemu_nvme(), "purge")
    assert plan.reachable and plan.methods == ["nvme-format-user"]
    clear = make_plan(qemu_nvme(), "clear")
    assert clear.methods == ["nvme-format-user", "overwrite"]


def test_ata_ssd_secure_erase_is_only_clear() -> None:
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/samsung-860evo-sata-ssd.json")))
    purge = make_plan(disk, "purge")
    assert not purge.reachable and purge.methods == []
    assert any("only Clear on flash" in r for r in make_plan(disk, "clear").reasons)
    assert make_plan(disk, "clear").methods == ["ata-secure-erase-enhanced", "ata-secure-erase",
                                                "overwrite"]


def test_ata_ssd_with_sanitize_frozen() -> None:
    disk = disk_from_outputs(ProbeOutputs(hdparm_identify=fx("hdparm/micron-5300-frozen.txt")))
    purge = make_plan(disk, "purge")
    assert purge.methods == ["ata-sanitize-block", "ata-sanitize-crypto", "ata-sanitize-overwrite"]
    clear = make_plan(disk, "clear")
    assert clear.methods[-3:] == ["ata-secure-erase-enhanced", "ata-secure-erase", "overwrite"]
    assert any("rtcwake -m mem -s 5" in r for r in clear.reasons)


def test_hdd_clear_is_overwrite_and_purge_unreachable_without_commands() -> None:
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/wdc-wd140edfz-sata-hdd.json")))
    assert make_plan(disk, "clear").methods == ["overwrite"]
    purge = make_plan(disk, "purge")
    assert not purge.reachable and purge.methods == []
    assert any("not reaching it" in r for r in purge.reasons)


def test_qemu_sata_clear_overwrite_purge_not_reachable() -> None:
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/qemu-7.2-sata.json"),
                                          hdparm_identify=fx("hdparm/qemu-7.2-sata.txt"),
                                          hdparm_native_max=fx("hdparm/qemu-7.2-sata-N.txt")))
    assert make_plan(disk, "clear").methods == ["overwrite"]
    assert not make_plan(disk, "purge").reachable


def test_sas_hdd_purge_by_scsi_sanitize() -> None:
    disk = disk_from_outputs(ProbeOutputs(
        smartctl=fx("smartctl/seagate-st1200mm0088-sas.json"),
        sg_opcodes=fx("sg/seagate-st10000nm0226-opcodes-compact-excerpt.txt")))
    assert make_plan(disk, "purge").methods == ["scsi-sanitize-overwrite", "scsi-sanitize-crypto"]
    assert make_plan(disk, "clear").methods[0] == "overwrite"


def test_usb_bridge_hiding_capabilities_is_honest() -> None:
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/qemu-7.2-usb-storage.json"),
                                          hdparm_identify=fx("hdparm/qemu-7.2-usb-storage.txt")))
    clear = make_plan(disk, "clear")
    assert clear.reachable and clear.methods == ["overwrite"]
    purge = make_plan(disk, "purge")
    assert not purge.reachable and purge.methods == []
    assert any("cannot be purged by software" in r for r in purge.reasons)


def test_sd_card_cannot_be_purged() -> None:
    disk = Disk(path="/dev/mmcblk0", id="x", model="QEMU!", serial="0xdeadbeef",
                size_bytes=268435456, logical_block_size=512, transport="mmc")
    disk = disk_from_outputs(ProbeOutputs(mmc_extcsd=fx("mmc/qemu-7.2-sd-extcsd-read.stderr.txt"),
                                          mmc_type="SD"), path=disk.path, transport="mmc")
    assert disk.extra["mmc"]["card_type"] == "SD"
    assert make_plan(disk, "clear").methods == ["overwrite"]
    purge = make_plan(disk, "purge")
    assert not purge.reachable
    assert any("eMMC and SD cards cannot be purged" in r for r in purge.reasons)


def test_hpa_blocks_overwrite_unless_removal_allowed() -> None:
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/wdc-wd140edfz-sata-hdd.json")))
    disk.hpa = Hpa(current_max_sectors=1000, native_max_sectors=2000)
    plan = make_plan(disk, "clear")
    assert not plan.reachable and any("host protected area" in r for r in plan.reasons)
    assert make_plan(disk, "clear", {"remove_hpa": True}).methods == ["overwrite"]


def test_opal_psid_revert_only_with_psid() -> None:
    disk = disk_from_outputs(ProbeOutputs(smartctl=fx("smartctl/samsung-860evo-sata-ssd.json"),
                                          sedutil_scan=fx("sedutil/scan-opal-archwiki.txt")),
                             path="/dev/sda")
    assert "opal-psid-revert" in disk.methods
    assert make_plan(disk, "purge").methods == []
    assert make_plan(disk, "purge", {"psid": "X" * 32}).methods == ["opal-psid-revert"]


def test_unknown_level() -> None:
    with pytest.raises(ValueError):
        make_plan(sn730(), "destroy")
