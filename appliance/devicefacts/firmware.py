"""TPM, UEFI and Secure Boot, from sysfs and efivarfs.

TPM: /sys/class/tpm/tpm0 exists when the kernel found one; tpm_version_major (Linux 5.6+)
says 1 or 2. A TPM switched off in the firmware setup is not visible at all.
UEFI: /sys/firmware/efi exists when the machine booted through UEFI.
Secure Boot: the EFI global variables SecureBoot and SetupMode (GUID
8be4df61-93ca-11d2-aa0d-00e098032b8c) in /sys/firmware/efi/efivars; each file is the
4-byte attribute word then the value (one byte, 1 = on). The variable exists only when the
firmware supports Secure Boot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYS_TPM = Path("/sys/class/tpm")
SYS_EFI = Path("/sys/firmware/efi")
GLOBAL_GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"


@dataclass
class Tpm:
    present: bool = False
    version: str | None = None  # "2.0" | "1.2"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SecureBoot:
    uefi: bool = False
    capable: bool | None = None  # the firmware has the SecureBoot variable
    enabled: bool | None = None
    setup_mode: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_tpm(root: Path = SYS_TPM) -> Tpm:
    tpm0 = root / "tpm0"
    if not tpm0.exists():
        return Tpm()
    try:
        major = (tpm0 / "tpm_version_major").read_text().strip()
    except OSError:
        major = ""
    if major == "2":
        return Tpm(True, "2.0")
    if major == "1" or (tpm0 / "device" / "caps").exists() or (tpm0 / "caps").exists():
        return Tpm(True, "1.2")  # 1.2 drivers publish caps; 2.0 ones do not
    return Tpm(True, None)


def efi_flag(efivars: Path, name: str) -> bool | None:
    """A one-byte EFI boolean variable; None when absent or unreadable."""
    try:
        data = (efivars / f"{name}-{GLOBAL_GUID}").read_bytes()
    except OSError:
        return None
    if len(data) < 5:
        return None
    return data[4] == 1


def read_secure_boot(root: Path = SYS_EFI) -> SecureBoot:
    if not root.is_dir():
        return SecureBoot(uefi=False, capable=False, enabled=False)
    efivars = root / "efivars"
    enabled = efi_flag(efivars, "SecureBoot")
    setup = efi_flag(efivars, "SetupMode")
    if not efivars.is_dir():  # efivarfs not mounted: cannot tell
        return SecureBoot(uefi=True)
    return SecureBoot(uefi=True, capable=enabled is not None, enabled=enabled,
                      setup_mode=setup)
