"""`nvme id-ctrl|id-ns|list-ns|sanitize-log -o json` → dataclasses (pure functions).

Bits decoded (NVM Express Base Specification 2.0):
- OACS bit 1: Format NVM supported.
- FNA bit 0: a format applies to all namespaces; bit 1: a secure erase (SES) applies to
  all namespaces; bit 2: cryptographic erase supported as part of Format NVM (SES=2).
- SANICAP bit 0: crypto erase, bit 1: block erase, bit 2: overwrite; bits 31:30 NODMMAS.
- FLBAS bits 3:0 (and 6:5 for more than 16 formats): LBA format in use.
- Sanitize status log SSTAT bits 2:0: 0 never sanitized, 1 completed, 2 in progress,
  3 failed, 4 completed without deallocation; SPROG: progress out of 65536.
- Sanitize status log SCDW10 (nvme-cli "cdw10_info"): Command Dword 10 of the Sanitize
  command that started the last operation, bits 2:0 SANACT (2 block, 3 overwrite, 4
  crypto), 7:4 OWPASS (0 means 16 passes). ETO/ETBE/ETCE (nvme-cli "time_over_write",
  "time_block_erase", "time_crypto_erase"): the drive's estimate in seconds, ETO for 16
  overwrite passes; 0xFFFFFFFF: no estimate (libnvme types.h, struct
  nvme_sanitize_log_page).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

FNA_FORMAT_ALL_NAMESPACES = 0x1
FNA_SECURE_ERASE_ALL_NAMESPACES = 0x2
FNA_CRYPTO_ERASE = 0x4

SANITIZE_NEVER = 0
SANITIZE_COMPLETED = 1
SANITIZE_IN_PROGRESS = 2
SANITIZE_FAILED = 3
SANITIZE_COMPLETED_NO_DEALLOC = 4

SANACT_ACTIONS = {2: "block", 3: "overwrite", 4: "crypto"}
NO_ESTIMATE = 0xFFFFFFFF


def _json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return default
    return default


@dataclass
class NvmeController:
    model: str
    serial: str
    firmware: str
    oacs: int
    fna: int
    sanicap: int
    namespaces_max: int  # NN: how many namespaces the controller supports
    capacity_bytes: int  # TNVMCAP (0 when not reported)
    version: int

    @property
    def format_supported(self) -> bool:
        return bool(self.oacs & 0x2)

    @property
    def format_all_namespaces(self) -> bool:
        return bool(self.fna & (FNA_FORMAT_ALL_NAMESPACES | FNA_SECURE_ERASE_ALL_NAMESPACES))

    @property
    def format_crypto(self) -> bool:
        return bool(self.fna & FNA_CRYPTO_ERASE)

    @property
    def sanitize_crypto(self) -> bool:
        return bool(self.sanicap & 0x1)

    @property
    def sanitize_block(self) -> bool:
        return bool(self.sanicap & 0x2)

    @property
    def sanitize_overwrite(self) -> bool:
        return bool(self.sanicap & 0x4)


def parse_id_ctrl(text: str) -> NvmeController:
    d = _json(text)
    return NvmeController(
        model=str(d.get("mn", "")).strip(),
        serial=str(d.get("sn", "")).strip(),
        firmware=str(d.get("fr", "")).strip(),
        oacs=_int(d.get("oacs")),
        fna=_int(d.get("fna")),
        sanicap=_int(d.get("sanicap")),
        namespaces_max=_int(d.get("nn"), 1),
        capacity_bytes=_int(d.get("tnvmcap")),
        version=_int(d.get("ver")),
    )


@dataclass
class NvmeNamespace:
    size_blocks: int  # NSZE
    lbaf_in_use: int
    block_size: int  # 2**LBADS of the format in use
    metadata_size: int
    dlfeat: int = 0  # DLFEAT; bits 2:0 = what deallocated blocks read as (1 zeros, 2 0xFF)

    @property
    def size_bytes(self) -> int:
        return self.size_blocks * self.block_size


def parse_id_ns(text: str) -> NvmeNamespace:
    d = _json(text)
    flbas = _int(d.get("flbas"))
    index = (flbas & 0xF) | (((flbas >> 5) & 0x3) << 4)
    lbafs = d.get("lbafs") or []
    fmt = lbafs[index] if index < len(lbafs) and isinstance(lbafs[index], dict) else {}
    ds = _int(fmt.get("ds"), 9)
    return NvmeNamespace(size_blocks=_int(d.get("nsze")), lbaf_in_use=index,
                         block_size=1 << ds, metadata_size=_int(fmt.get("ms")),
                         dlfeat=_int(d.get("dlfeat")))


def parse_list_ns(text: str) -> list[int]:
    d = _json(text)
    return [_int(e.get("nsid")) for e in d.get("nsid_list") or [] if isinstance(e, dict)]


@dataclass
class SanitizeStatus:
    status: int  # SSTAT bits 2:0 (see module docstring)
    progress: int  # SPROG, 0..65535 (65535 when not in progress)
    global_erased: bool
    text: str = ""
    cdw10: int = 0  # SCDW10 of the command that started the last sanitize
    estimates: dict[str, int | None] = field(default_factory=dict)  # action -> seconds

    @property
    def action(self) -> str | None:
        """What the last sanitize was (SANACT in SCDW10): block | overwrite | crypto."""
        return SANACT_ACTIONS.get(self.cdw10 & 0x7)

    @property
    def in_progress(self) -> bool:
        return self.status == SANITIZE_IN_PROGRESS

    @property
    def fraction(self) -> float:
        return min(1.0, self.progress / 65536)


def parse_sanitize_log(text: str) -> SanitizeStatus:
    """nvme-cli nests the log under the device name: {"nvme0": {"sprog": .., "sstat": {..}}}."""
    d = _json(text)
    body = d
    if "sprog" not in d:
        inner = [v for v in d.values() if isinstance(v, dict) and "sprog" in v]
        if not inner:
            raise ValueError("no sanitize status in the log")
        body = inner[0]
    sstat = body.get("sstat")
    if isinstance(sstat, dict):
        status_text = ""
        for value in sstat.values():
            if isinstance(value, str) and re.match(r"\(\d+\)", value):
                status_text = value
        m = re.match(r"\((\d+)\)", status_text)
        status = int(m.group(1)) if m else 0
        erased = bool(_int(sstat.get("global_erased")))
    else:
        raw = _int(sstat)
        status, erased, status_text = raw & 0x7, bool(raw & 0x100), ""
    estimates: dict[str, int | None] = {}
    for action, key in (("overwrite", "time_over_write"), ("block", "time_block_erase"),
                        ("crypto", "time_crypto_erase")):
        value = _int(body.get(key), NO_ESTIMATE) if key in body else NO_ESTIMATE
        estimates[action] = None if value == NO_ESTIMATE else value
    return SanitizeStatus(status=status, progress=_int(body.get("sprog")),
                          global_erased=erased, text=status_text,
                          cdw10=_int(body.get("cdw10_info")), estimates=estimates)
