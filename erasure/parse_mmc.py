"""`mmc extcsd read` (mmc-utils) and sysfs card type → MmcInfo (pure).

eMMC EXT_CSD[231] SEC_FEATURE_SUPPORT: bit 0 secure purge (SECURE_ER_EN), bit 4 secure
trim (SEC_GB_CL_EN), bit 6 sanitize (SEC_SANITIZE, eMMC 4.5+). SD cards have no
EXT_CSD: `mmc extcsd read` fails on them and only the card's own erase is available.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class MmcInfo:
    card_type: str  # MMC (eMMC) | SD | SDIO | unknown
    ext_csd_rev: str | None = None
    sec_feature_support: int | None = None
    erased_mem_content: int | None = None  # 0: zeros after erase, 1: ones

    @property
    def sanitize(self) -> bool:
        return self.sec_feature_support is not None and bool(self.sec_feature_support & 0x40)

    @property
    def secure_erase(self) -> bool:
        return self.sec_feature_support is not None and bool(self.sec_feature_support & 0x01)

    @property
    def secure_trim(self) -> bool:
        return self.sec_feature_support is not None and bool(self.sec_feature_support & 0x10)


def parse_extcsd(text: str, card_type: str = "MMC") -> MmcInfo:
    info = MmcInfo(card_type=card_type)
    m = re.search(r"Extended CSD rev 1\.(\d+) \(MMC ([\d.]+)\)", text)
    if m:
        info.ext_csd_rev = m.group(2)
    m = re.search(r"SEC_FEATURE_SUPPORT: 0x([0-9a-fA-F]{2})", text)
    if m:
        info.sec_feature_support = int(m.group(1), 16)
    m = re.search(r"ERASED_MEM_CONT: 0x([0-9a-fA-F]{2})", text)
    if m:
        info.erased_mem_content = int(m.group(1), 16)
    return info
