"""The ardoise.device/1 record: Windows 11 rules, signature, schema, spool."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from appliance import device
from appliance.certificate import CertificateError, verify_signature
from appliance.certify import CertContext, generate_key, load_key
from appliance.devicefacts import win11
from appliance.devicefacts.cpu import Cpu
from appliance.devicefacts.firmware import SecureBoot, Tpm
from appliance.devicefacts.storage import Drive
from tests.conftest import FIXTURES, FakeRunner


@pytest.mark.parametrize(("model", "expected"), [
    ("Intel(R) Core(TM) i7-1065G7 CPU @ 1.30GHz", True),  # Surface Pro 7, 10th gen
    ("Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", True),
    ("Intel(R) Core(TM) i5-7200U CPU @ 2.50GHz", False),
    ("Intel(R) Core(TM) i5-1235U", True),
    ("Intel(R) Core(TM) i7 CPU         920  @ 2.67GHz", False),
    ("Intel(R) Core(TM) Ultra 7 155H", True),
    ("Intel(R) Core(TM) i7-7820HQ CPU @ 2.90GHz", None),
    ("Intel(R) Celeron(R) N4020 CPU @ 1.10GHz", None),
    ("Intel(R) Xeon(R) Processor", None),
    ("AMD Ryzen 5 3500U with Radeon Vega Mobile Gfx", True),
    ("AMD Ryzen 7 2700X Eight-Core Processor", True),
    ("AMD Ryzen 7 PRO 2700U w/ Radeon Vega Mobile Gfx", None),  # ThinkPad A485: Zen APU
    ("AMD Ryzen 5 1600 Six-Core Processor", False),
    ("AMD Ryzen 7 5800H with Radeon Graphics", True),
    ("AMD Athlon Silver 3050U with Radeon Graphics", None),
    (None, None),
])
def test_cpu_table(model: str | None, expected: bool | None) -> None:
    assert win11.cpu_supported(model) is expected


def _cpu(model: str = "Intel(R) Core(TM) i7-1065G7 CPU @ 1.30GHz") -> Cpu:
    return Cpu(model=model, cores=4, threads=8, max_mhz=3900)


GOOD = dict(mem_total=7_900_000_000, module_bytes=8 << 30,
            drives=[Drive("nvme0n1", size_bytes=256_060_514_304, transport="nvme")],
            tpm=Tpm(True, "2.0"), secure_boot=SecureBoot(True, True, True, False))


def test_windows11_all_met() -> None:
    w = win11.assess(_cpu(), **GOOD)  # type: ignore[arg-type]
    assert (w.eligible, w.reasons, w.unsure) == (True, [], [])
    assert w.cpu_list_date == win11.cpu_table()["summarised"]


def test_windows11_each_failure() -> None:
    cases = {
        "no_tpm": dict(tpm=Tpm(False, None)),
        "tpm_not_2_0": dict(tpm=Tpm(True, "1.2")),
        "no_uefi": dict(secure_boot=SecureBoot(False, False, False)),
        "no_secure_boot": dict(secure_boot=SecureBoot(True, False, None, None)),
        "ram_below_4gb": dict(module_bytes=2 << 30),
        "storage_below_64gb": dict(drives=[Drive("mmcblk0", size_bytes=31_268_536_320,
                                                 transport="mmc")]),
    }
    for code, change in cases.items():
        w = win11.assess(_cpu(), **{**GOOD, **change})  # type: ignore[arg-type]
        assert (w.eligible, w.reasons) == (False, [code]), code
    w = win11.assess(_cpu("Intel(R) Core(TM) i5-7200U CPU @ 2.50GHz"), **GOOD)  # type: ignore[arg-type]
    assert w.reasons == ["cpu_not_supported"]


def test_windows11_unsure_is_null() -> None:
    w = win11.assess(_cpu("Intel(R) Xeon(R) Processor"), **GOOD)  # type: ignore[arg-type]
    assert (w.eligible, w.unsure) == (None, ["cpu_unlisted"])
    # no drive in the machine (a missing part), only a USB stick: cannot tell
    usb = [Drive("sdb", size_bytes=32_000_000_000, transport="usb")]
    w = win11.assess(_cpu(), **{**GOOD, "drives": usb})  # type: ignore[arg-type]
    assert (w.eligible, w.unsure) == (None, ["no_internal_drive"])
    # without DMI module sizes, MemTotal of a 4 GB machine still counts as 4 GB
    w = win11.assess(_cpu(), **{**GOOD, "module_bytes": None,  # type: ignore[arg-type]
                                "mem_total": 3_900_000_000})
    assert w.eligible is True


def _machine(tmp: Path, fake_runner: FakeRunner) -> device.Roots:
    """A laptop assembled from public captures: Surface Pro 7 DMI and memory, an NVMe
    drive, a worn battery, a BOE panel, TPM 2.0 and Secure Boot on."""
    (tmp / "proc").mkdir(parents=True)
    (tmp / "proc" / "cpuinfo").write_text(
        (FIXTURES / "proc" / "cpuinfo-xeon-w2155-ht.txt").read_text())
    (tmp / "proc" / "meminfo").write_text("MemTotal:       16050112 kB\n")
    dmi = tmp / "dmi"
    dmi.mkdir()
    for name, value in (("sys_vendor", "Microsoft Corporation"), ("product_name",
                                                                  "Surface Pro 7"),
                        ("chassis_type", "9")):
        (dmi / name).write_text(value + "\n")
    block = tmp / "block" / "nvme0n1"
    block.mkdir(parents=True)
    (block / "size").write_text("2000409264\n")
    fake_runner.add(["smartctl", "-j", "-x", "/dev/nvme0n1"],
                    fixture="smartctl/intel-ssdpeknw010t8-nvme.json")
    fake_runner.add(["dmidecode", "-t", "17"], fixture="dmidecode/surface-pro-7-memory.txt")
    fake_runner.add(["dmidecode", "-t", "bios", "-t", "system", "-t", "baseboard", "-t",
                     "chassis"], fixture="dmidecode/surface-pro-7.txt")
    drm = tmp / "drm" / "card0-eDP-1"
    drm.mkdir(parents=True)
    text = (FIXTURES / "edid" / "boe-hb133wx1-402.txt").read_text().split("------")[0]
    (drm / "edid").write_bytes(bytes.fromhex(text.split(":", 1)[1]))
    (tmp / "tpm" / "tpm0").mkdir(parents=True)
    (tmp / "tpm" / "tpm0" / "tpm_version_major").write_text("2\n")
    efivars = tmp / "efi" / "efivars"
    efivars.mkdir(parents=True)
    (efivars / "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c").write_bytes(b"\x06\0\0\0\x01")
    (efivars / "SetupMode-8be4df61-93ca-11d2-aa0d-00e098032b8c").write_bytes(b"\x06\0\0\0\x00")
    (tmp / "net").mkdir()
    return device.Roots(proc=tmp / "proc", sys_cpu=tmp / "cpu", sys_dmi=dmi,
                        sys_block=tmp / "block", power_supply=FIXTURES / "power_supply" /
                        "asus-ux32-worn", drm=tmp / "drm", tpm=tmp / "tpm", efi=tmp / "efi",
                        net=tmp / "net")


def test_collect_build_sign_and_spool(tmp_path: Path, fake_runner: FakeRunner) -> None:
    facts = device.collect(_machine(tmp_path / "m", fake_runner))
    context = CertContext(organisation="OPEQ", operator="A. Tremblay", batch="2026-12")
    record = device.build_record(facts, context)
    data = tmp_path / "data"
    generate_key(data / "keys")
    signed, path = device.issue(record, data)
    assert path == data / "devices" / "pending" / f"{signed['id']}.json"
    assert json.loads(path.read_bytes()) == signed
    verify_signature(signed, load_key(data).public_key())
    assert signed["host"]["product"] == "Surface Pro 7"
    assert signed["memory"]["installed_bytes"] == 16 << 30
    assert signed["storage"][0]["percentage_used"] == 0
    assert signed["battery"][0]["health_percent"] == 84.7
    assert signed["display"][0]["name"] == "HB133WX1-402"
    assert signed["tpm"] == {"present": True, "version": "2.0"}
    assert signed["secure_boot"]["enabled"] is True
    # the cpuinfo capture is a one-core Xeon guest: too few cores, and a family the
    # table does not settle; everything else is met
    assert signed["windows11"]["eligible"] is False
    assert signed["windows11"]["reasons"] == ["cpu_below_2_cores"]
    assert signed["windows11"]["unsure"] == ["cpu_unlisted"]
    assert signed["operator"] == "A. Tremblay"
    # a second put of the same record is a no-op; a changed one under the same id is refused
    assert device.spool(data).put(signed) == path
    tampered = copy.deepcopy(signed)
    tampered["battery"][0]["health_percent"] = 99.0
    with pytest.raises(CertificateError):
        verify_signature(tampered, load_key(data).public_key())
    assert device.spool(data).pending() == [signed["id"]]


def test_schema_refuses_unknown_fields_and_codes(tmp_path: Path, fake_runner: FakeRunner) -> None:
    facts = device.collect(_machine(tmp_path / "m", fake_runner))
    generate_key(tmp_path / "keys")
    signed = device.sign_record(device.build_record(facts), load_key(tmp_path))
    device.validate(signed)
    extra = {**signed, "grade": "A"}
    assert any("grade" in e for e in device.schema_errors(extra))
    bad = copy.deepcopy(signed)
    bad["windows11"]["reasons"] = ["looks old"]
    assert device.schema_errors(bad)
    assert device.schema_errors({**signed, "schema": "ardoise.device/2"})
