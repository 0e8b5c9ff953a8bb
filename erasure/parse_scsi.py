"""sg3_utils text (`sg_inq`, `sg_readcap --long`, `sg_opcodes`) → dataclasses (pure).

SANITIZE is SCSI operation code 0x48 with service actions 1 overwrite, 2 block erase,
3 cryptographic erase, 0x1f exit failure mode (SBC-4). `sg_opcodes` names them
"Sanitize, overwrite" etc.; a device that does not implement REPORT SUPPORTED OPERATION
CODES says so and tells nothing (capability unknown, not absent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from erasure.disk import SanitizeSupport


@dataclass
class ScsiInquiry:
    vendor: str | None
    product: str | None
    revision: str | None
    serial: str | None

    @property
    def model(self) -> str | None:
        parts = [p for p in (self.vendor, self.product) if p]
        return " ".join(parts) or None


def _line(text: str, label: str) -> str | None:
    m = re.search(rf"^\s*{re.escape(label)}:[ \t]*(.*?)\s*$", text, re.M)
    return m.group(1) if m and m.group(1) else None


def parse_sg_inq(text: str) -> ScsiInquiry:
    return ScsiInquiry(vendor=_line(text, "Vendor identification"),
                       product=_line(text, "Product identification"),
                       revision=_line(text, "Product revision level"),
                       serial=_line(text, "Unit serial number"))


@dataclass
class ScsiCapacity:
    blocks: int
    block_size: int

    @property
    def size_bytes(self) -> int:
        return self.blocks * self.block_size


def parse_sg_readcap(text: str) -> ScsiCapacity | None:
    blocks = re.search(r"Number of logical blocks=(\d+)", text)
    length = re.search(r"Logical block length=(\d+) bytes", text)
    if not blocks or not length:
        return None
    return ScsiCapacity(int(blocks.group(1)), int(length.group(1)))


SANITIZE_NAMES = {"overwrite": "overwrite", "block erase": "block",
                  "cryptographic erase": "crypto"}


def parse_sg_opcodes(text: str) -> SanitizeSupport | None:
    """Sanitize service actions listed by `sg_opcodes` (None: the list is not available)."""
    if "no commands to display" in text or "Opcode" not in text:
        return None
    found = SanitizeSupport()
    for m in re.finditer(r"^\s*48\b.*?Sanitize, (overwrite|block erase|cryptographic erase)\s*$",
                         text, re.M):
        setattr(found, SANITIZE_NAMES[m.group(1)], True)
    return found
