"""Device facts replayed from public captures (origins in tests/fixtures/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.devicefacts import cpu, edid, firmware, memory, netif, power, storage
from tests.conftest import FIXTURES, FakeRunner

# ---------------------------------------------------------------- cpu, memory


def test_cpuinfo_counts_threads_and_cores_apart() -> None:
    """Two logical processors on one core (Hyper-Threading): 1 core, 2 threads."""
    facts = cpu.parse_cpuinfo((FIXTURES / "proc" / "cpuinfo-xeon-w2155-ht.txt").read_text())
    assert facts.model == "Intel(R) Xeon(R) W-2155 CPU @ 3.30GHz"
    assert (facts.threads, facts.cores, facts.sockets) == (2, 1, 1)
    assert (facts.vendor, facts.family, facts.model_number) == ("GenuineIntel", 6, 85)
    assert facts.max_mhz is None  # "cpu MHz" is the clock of the moment, not the maximum


def test_cpufreq_maximum_wins_over_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text((FIXTURES / "proc" / "cpuinfo-xeon-w2155-ht.txt")
                                      .read_text())
    for n, khz in ((0, "4500000"), (1, "3300000")):
        d = tmp_path / "sys" / f"cpu{n}" / "cpufreq"
        d.mkdir(parents=True)
        (d / "cpuinfo_max_freq").write_text(khz + "\n")
    assert cpu.read_cpu(tmp_path / "cpuinfo", tmp_path / "sys").max_mhz == 4500


def test_meminfo_total() -> None:
    assert cpu.parse_meminfo("MemTotal:       16318788 kB\nMemFree: 1 kB\n") == 16318788 * 1024
    assert cpu.parse_meminfo("MemFree: 1 kB\n") is None


def test_dmidecode_type17_thinkpad_two_sodimms(fake_runner: FakeRunner) -> None:
    fake_runner.add(["dmidecode", "-t", "17"], fixture="dmidecode/thinkpad-a485-memory.txt")
    modules = memory.read_modules()
    assert [m.size_bytes for m in modules] == [16 << 30, 16 << 30]
    first, second = modules
    assert (first.type, first.form_factor, first.speed_mts, first.configured_speed_mts) == \
        ("DDR4", "SODIMM", 2667, 2400)
    assert (first.manufacturer, first.part_number) == ("Samsung", "M471A2K43CB1-CTD")
    assert first.serial is None  # "--" in the anonymised capture
    assert second.manufacturer is None and second.part_number == "JM2666HSE-16G"


def test_dmidecode_type17_surface_soldered_lpddr4() -> None:
    modules = memory.parse_dmidecode_memory(
        (FIXTURES / "dmidecode" / "surface-pro-7-memory.txt").read_text())
    assert [(m.size_bytes, m.type, m.form_factor, m.locator) for m in modules] == [
        (8 << 30, "LPDDR4", "Row Of Chips", "ChannelA-DIMM0"),
        (8 << 30, "LPDDR4", "Row Of Chips", "ChannelB-DIMM0")]


def test_dmidecode_failure_gives_no_modules(fake_runner: FakeRunner) -> None:
    fake_runner.add(["dmidecode", "-t", "17"], returncode=1,
                    stderr="/dev/mem: Permission denied\n")
    assert memory.read_modules() == []


# ---------------------------------------------------------------- storage


def test_smartctl_nvme_health() -> None:
    d = storage.parse_smartctl_json(
        "nvme0n1", (FIXTURES / "smartctl" / "intel-ssdpeknw010t8-nvme.json").read_text())
    assert (d.model, d.serial, d.size_bytes, d.transport) == (
        "INTEL SSDPEKNW010T8", "BTNH93710FS91P0B", 1024209543168, "nvme")
    assert (d.power_on_hours, d.percentage_used, d.available_spare, d.media_errors) == \
        (2401, 0, 100, 0)
    assert d.rotational is False and d.reallocated_sectors is None


def test_smartctl_ata_attributes() -> None:
    d = storage.parse_smartctl_json(
        "sdb", (FIXTURES / "smartctl" / "wdc-wd140edfz-sata-hdd.json").read_text())
    assert (d.model, d.transport, d.power_on_hours, d.rotational) == (
        "WDC WD140EDFZ-11A0VA0", "sata", 1730, True)
    assert (d.reallocated_sectors, d.pending_sectors, d.uncorrectable_sectors) == (0, 0, 0)
    assert d.percentage_used is None
    ssd = storage.parse_smartctl_json(
        "sda", (FIXTURES / "smartctl" / "samsung-860evo-sata-ssd.json").read_text())
    assert (ssd.power_on_hours, ssd.reallocated_sectors, ssd.pending_sectors) == (14551, 0, None)
    assert ssd.rotational is False


def test_drives_from_sysfs_and_smartctl(tmp_path: Path, fake_runner: FakeRunner) -> None:
    """One call per whole disk; loop devices skipped; a USB bridge without SMART keeps its
    sysfs size and the transport the kernel shows."""
    devices = tmp_path / "devices"
    for name, where in (("nvme0n1", "pci0000:00/0000:00:1d.0/nvme/nvme0"),
                        ("sdb", "pci0000:00/0000:00:14.0/usb2/2-1/host3/target3:0:0"),
                        ("loop0", "virtual")):
        real = devices / where / "block" / name
        real.mkdir(parents=True)
        (real / "size").write_text("524288\n")
        (tmp_path / "block").mkdir(exist_ok=True)
        (tmp_path / "block" / name).symlink_to(real)
    fake_runner.add(["smartctl", "-j", "-x", "/dev/nvme0n1"],
                    fixture="smartctl/qemu-7.2-nvme.json")
    fake_runner.add(["smartctl", "-j", "-x", "/dev/sdb"], returncode=1,
                    fixture="smartctl/qemu-7.2-usb-storage.json")
    drives = storage.read_drives(tmp_path / "block", Path("/dev"))
    assert [(d.name, d.transport) for d in drives] == [("nvme0n1", "nvme"), ("sdb", "usb")]
    assert drives[0].serial == "ARDOISENVME01"
    assert drives[1].size_bytes == 524288 * 512 and drives[1].model is None


# ---------------------------------------------------------------- batteries


POWER = FIXTURES / "power_supply"


def test_battery_health_from_energy() -> None:
    batteries, ac = power.read_power(POWER / "lenovo-l14m4p23")
    (bat,) = batteries
    assert (bat.manufacturer, bat.model, bat.serial) == ("SMP", "L14M4P23", "756")
    assert (bat.design_capacity, bat.full_capacity, bat.unit) == (60000000, 52260000, "uWh")
    assert bat.health_percent == 87.1
    assert bat.cycle_count is None  # the gauge reports 0: it does not count
    assert (bat.capacity_percent, bat.status) == (51, "Charging")
    assert ac is None  # no mains supply listed in that capture


def test_worn_battery() -> None:
    (bat,) = power.read_power(POWER / "asus-ux32-worn")[0]
    assert bat.health_percent == 84.7 and bat.cycle_count == 481
    assert (bat.manufacturer, bat.model, bat.serial) == ("ASUSTeK", "UX32-65", None)


def test_battery_health_from_charge() -> None:
    (bat,) = power.read_power(POWER / "arch-mwl31b-charge")[0]
    assert (bat.unit, bat.design_capacity, bat.full_capacity) == ("uAh", 2200000, 2167000)
    assert bat.health_percent == 98.5


def test_battery_over_design_is_capped() -> None:
    (bat,) = power.read_power(POWER / "sbs-gehc-over-design")[0]
    assert bat.health_percent == 100.0 and bat.cycle_count == 12
    assert (bat.name, bat.manufacturer, bat.model) == ("sbs-battery", "UR18650A", "GEHC")


def test_single_value_files_and_mains() -> None:
    batteries, ac = power.read_power(POWER / "low-battery")
    assert [b.capacity_percent for b in batteries] == [12] and ac is False
    assert power.read_power(POWER / "ac-only") == ([], True)
    assert power.read_power(Path("/nonexistent")) == ([], None)


# ---------------------------------------------------------------- EDID


def _edid_capture(name: str) -> tuple[bytes, str]:
    """The blob and edid-decode's own text, both from the linuxhw/EDID file."""
    text = (FIXTURES / "edid" / name).read_text()
    hex_part, decoded = text.split("----------------", 1)
    blob = bytes(int(x, 16) for x in re.findall(r"\b[0-9a-f]{2}\b", hex_part.split(":", 1)[1]))
    return blob, decoded


@pytest.mark.parametrize("name", ["lenovo-lt2252p.txt", "boe-hb133wx1-402.txt"])
def test_edid_agrees_with_edid_decode(name: str) -> None:
    blob, decoded = _edid_capture(name)
    d = edid.parse_edid(blob)
    assert f"Manufacturer: {d.manufacturer}\n" in decoded
    assert f"Model: {d.product_code}\n" in decoded
    assert f"Made in: week {d.week} of {d.year}\n" in decoded
    assert f"Maximum image size: {d.width_cm} cm x {d.height_cm} cm\n" in decoded
    assert re.search(rf"DTD 1:\s+{d.native_width}x{d.native_height}\s", decoded)
    assert f"Revision: {d.edid_version}\n" in decoded and d.digital and d.checksum_ok
    assert f"'{d.name}'" in decoded


def test_edid_values() -> None:
    monitor = edid.parse_edid(_edid_capture("lenovo-lt2252p.txt")[0])
    assert (monitor.manufacturer, monitor.name, monitor.native_width) == ("LEN", "LT2252p Wide",
                                                                          1680)
    assert monitor.serial == "6V9MB7KX" and monitor.diagonal_in == 22.0  # 47 x 30 cm: a 22-inch monitor
    panel = edid.parse_edid(_edid_capture("boe-hb133wx1-402.txt")[0])
    assert (panel.manufacturer, panel.name, panel.serial) == ("BOE", "HB133WX1-402", None)
    assert (panel.native_width, panel.native_height, panel.diagonal_in) == (1366, 768, 13.0)


def test_displays_from_drm(tmp_path: Path) -> None:
    for connector, name in (("card0-HDMI-A-1", "lenovo-lt2252p.txt"),
                            ("card0-eDP-1", "boe-hb133wx1-402.txt"), ("card0-DP-1", None)):
        (tmp_path / connector).mkdir()
        (tmp_path / connector / "edid").write_bytes(_edid_capture(name)[0] if name else b"")
    displays = edid.read_displays(tmp_path)
    assert [(d.connector, d.internal, d.manufacturer) for d in displays] == [
        ("eDP-1", True, "BOE"), ("HDMI-A-1", False, "LEN")]
    with pytest.raises(edid.EdidError):
        edid.parse_edid(b"\x00" * 128)


# ---------------------------------------------------------------- firmware, network


def test_tpm(tmp_path: Path) -> None:
    assert firmware.read_tpm(tmp_path) == firmware.Tpm(False, None)
    (tmp_path / "tpm0").mkdir()
    (tmp_path / "tpm0" / "tpm_version_major").write_text("2\n")
    assert firmware.read_tpm(tmp_path) == firmware.Tpm(True, "2.0")
    (tmp_path / "tpm0" / "tpm_version_major").write_text("1\n")
    assert firmware.read_tpm(tmp_path).version == "1.2"


def test_secure_boot_variables(tmp_path: Path) -> None:
    """efivarfs files: 4 attribute bytes (NV+BS+RT = 0x06) then the one-byte value."""
    assert firmware.read_secure_boot(tmp_path / "none") == firmware.SecureBoot(False, False, False)
    efivars = tmp_path / "efi" / "efivars"
    efivars.mkdir(parents=True)
    assert firmware.read_secure_boot(tmp_path / "efi").capable is False  # no variable
    (efivars / f"SecureBoot-{firmware.GLOBAL_GUID}").write_bytes(b"\x06\x00\x00\x00\x01")
    (efivars / f"SetupMode-{firmware.GLOBAL_GUID}").write_bytes(b"\x06\x00\x00\x00\x00")
    assert firmware.read_secure_boot(tmp_path / "efi") == firmware.SecureBoot(
        uefi=True, capable=True, enabled=True, setup_mode=False)


def test_network_interfaces(tmp_path: Path) -> None:
    pci = tmp_path / "devices" / "0000:00:1f.6"
    (pci / "driver").parent.mkdir(parents=True)
    (tmp_path / "drivers" / "e1000e").mkdir(parents=True)
    (pci / "driver").symlink_to(tmp_path / "drivers" / "e1000e")
    (pci / "vendor").write_text("0x8086\n")
    (pci / "device").write_text("0x15bb\n")
    net = tmp_path / "net"
    for name, kind in (("enp0s31f6", "1"), ("wlp2s0", "1"), ("lo", "772"), ("ifb0", "1")):
        (net / name).mkdir(parents=True)
        (net / name / "type").write_text(kind + "\n")
        (net / name / "address").write_text("8c:16:45:00:00:01\n")
    (net / "enp0s31f6" / "device").symlink_to(pci)
    (net / "wlp2s0" / "device").symlink_to(pci)
    (net / "wlp2s0" / "wireless").mkdir()
    found = netif.read_interfaces(net)
    assert [(n.name, n.kind, n.driver, n.chip_id) for n in found] == [
        ("enp0s31f6", "ethernet", "e1000e", "8086:15bb"), ("wlp2s0", "wifi", "e1000e",
                                                           "8086:15bb")]


def test_smartctl_nvme_with_media_errors() -> None:
    d = storage.parse_smartctl_json(
        "nvme0n1", (FIXTURES / "smartctl" / "samsung-970evo-nvme-media-errors.json").read_text())
    assert (d.model, d.size_bytes, d.power_on_hours) == ("Samsung SSD 970 EVO 500GB",
                                                         500107862016, 12798)
    assert (d.percentage_used, d.available_spare, d.media_errors) == (3, 99, 7)
    assert d.smart_passed is True  # the drive's own verdict; the errors are reported beside it
