"""Drives the firmware hides from Linux: Intel RST "RAID On" and Intel VMD.

Intel RST remapping: with the SATA controller in RAID mode, Intel chipsets remap NVMe
drives behind the AHCI controller's BAR; Linux cannot reach them. drivers/ata/ahci.c
ahci_remap_check() counts them, logs "ahci <pci>: Found %u remapped NVMe devices." and
"Switch your BIOS from RAID to AHCI mode to use them.", and (kernels since 2020) exposes the
count as the read-only attribute `remapped_nvme` of the AHCI PCI device
(/sys/bus/pci/drivers/ahci/<pci>/remapped_nvme). The attribute is read first; the kernel
log line only for an AHCI controller without it (an older kernel).

Intel VMD: the NVMe root ports sit behind a Volume Management Device (Intel vendor,
device ids from drivers/pci/controller/vmd.c vmd_ids[]). Bound to the `vmd` driver
(/sys/bus/pci/drivers/vmd/<pci>) the drives appear in a new PCI domain below it and are
ordinary NVMe disks; a VMD that no driver holds (module missing, probe failed) hides
whatever is behind it (count unknown). A bound VMD with nothing below it is taken as an
empty slot, not reported (it would fail every such machine for nothing).

The sysfs root is a parameter, so tests run on a fake tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from erasure import runner
from erasure.text import Msg

SYS = Path("/sys")
INTEL = "0x8086"
VMD_IDS = {"0x201d", "0x28c0", "0x467f", "0x4c3d", "0xa77f", "0x7d0b", "0xad0b", "0x9a0b",
           "0xb06f"}
REMAP_LOG = re.compile(r"ahci (\S+): Found (\d+) remapped NVMe devices")
RST_REMEDY = Msg("in the firmware setup, set the SATA mode (SATA Operation, Intel RST) from "
                 "RAID to AHCI, then start Ardoise again")
VMD_REMEDY = Msg("in the firmware setup, disable Intel VMD (Volume Management Device) for "
                 "the NVMe drives, then start Ardoise again")


@dataclass
class HiddenDrives:
    kind: str  # intel-rst-remapped | intel-vmd
    controller: str  # PCI address of the AHCI or VMD device
    count: int | None  # None: the firmware hides how many
    remedy: str

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "controller": self.controller, "count": self.count,
                "remedy": self.remedy}

    def heartbeat_job(self) -> dict[str, object]:
        """The drive as a row of the ledger's rack view (`ardoise.heartbeat/1` job): left
        alone ("refused"), so the machine never shows as "All disks erased"."""
        model = ("NVMe hidden by Intel RST (RAID mode)" if self.kind == "intel-rst-remapped"
                 else "NVMe hidden by Intel VMD")
        return {"disk_id": f"hidden-{self.kind}-{self.controller}", "model": model,
                "serial": "", "size_bytes": None, "step": "discovered", "progress": 0.0,
                "rate": None, "eta": None, "method": None, "status": "refused"}

    def describe(self) -> str:
        if self.kind == "intel-rst-remapped":
            return Msg("{n} NVMe drive(s) hidden by Intel RST (RAID mode) behind {pci}: NOT "
                       "erased; {remedy}", n=self.count, pci=self.controller,
                       remedy=self.remedy)
        return Msg("NVMe drives may be hidden by Intel VMD at {pci}: NOT erased; {remedy}",
                   pci=self.controller, remedy=self.remedy)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def kernel_log() -> str:
    """The kernel ring buffer (`dmesg`), empty when it cannot be read."""
    try:
        res = runner.run(["dmesg"], timeout=10, check=False)
    except (runner.CommandNotFound, runner.CommandTimeout):
        return ""
    return res.stdout if res.returncode == 0 else ""


def rst_remapped(sys_root: Path) -> list[HiddenDrives]:
    found: list[HiddenDrives] = []
    driver = sys_root / "bus" / "pci" / "drivers" / "ahci"
    without_attribute: list[str] = []
    for dev in sorted(driver.glob("[0-9a-f]*:*")):
        value = _read(dev / "remapped_nvme")
        if not value:
            without_attribute.append(dev.name)
        elif value.isdigit() and int(value) > 0:
            found.append(HiddenDrives("intel-rst-remapped", dev.name, int(value), RST_REMEDY))
    if without_attribute:
        for m in REMAP_LOG.finditer(kernel_log()):
            if m.group(1) in without_attribute and int(m.group(2)) > 0:
                without_attribute.remove(m.group(1))
                found.append(HiddenDrives("intel-rst-remapped", m.group(1), int(m.group(2)),
                                          RST_REMEDY))
    return found


def vmd_hiding(sys_root: Path) -> list[HiddenDrives]:
    found: list[HiddenDrives] = []
    for dev in sorted((sys_root / "bus" / "pci" / "devices").glob("*")):
        if _read(dev / "vendor") != INTEL or _read(dev / "device") not in VMD_IDS:
            continue
        bound = (dev / "driver").resolve().name if (dev / "driver").exists() else ""
        if bound != "vmd":
            found.append(HiddenDrives("intel-vmd", dev.name, None, VMD_REMEDY))
    return found


def heartbeat_jobs(sys_root: Path | None = None) -> list[dict[str, object]]:
    return [h.heartbeat_job() for h in find_hidden(sys_root)]


def find_hidden(sys_root: Path | None = None) -> list[HiddenDrives]:
    """Every controller that hides drives on this machine (sysfs at `sys_root`, else SYS)."""
    root = sys_root if sys_root is not None else SYS
    return rst_remapped(root) + vmd_hiding(root)
