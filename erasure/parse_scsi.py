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


@dataclass
class SenseReport:
    """What `sg_requests DEVICE` (no --progress) decoded from the REQUEST SENSE data.

    sg_requests.c (sg3_utils 1.46 and 1.48, main()) prints "data-in decoded as sense:"
    and sg_lib's sg_get_sense_str() text on stderr: "<Fixed|Descriptor> format, current;
    Sense key: <key>", "Additional sense: <asc/ascq text>" and, when the sense-key-specific
    field (fixed: SKSV, bytes 16-17; descriptor type 2 or 0xa) holds one, "Progress
    indication: N.NN%". It exits 0 whatever the sense key; only a REQUEST SENSE that itself
    fails exits with the SG_LIB_CAT_* of its own sense (2 not ready, 3 medium or hardware
    error, 6 unit attention).
    """

    sense_key: str | None
    additional: str | None
    progress: float | None  # 0..1

    @property
    def reason(self) -> str:
        return ", ".join(p for p in (self.sense_key, self.additional) if p)


def parse_sg_requests(text: str) -> SenseReport | None:
    """The decoded sense in `sg_requests` output (stdout + stderr), None when there is none."""
    key = re.search(r"Sense key: ([^\n]+?)\s*$", text, re.M)
    if key is None:
        return None
    additional = re.search(r"^\s*Additional sense: ([^\n]+?)\s*$", text, re.M)
    progress = re.search(r"Progress indication: ([\d.]+)\s*%", text)
    return SenseReport(key.group(1), additional.group(1) if additional else None,
                       float(progress.group(1)) / 100 if progress else None)


SANITIZE_FAILED = ("medium error", "hardware error", "illegal request", "aborted command",
                   "data protect")


def sanitize_state(sense: SenseReport) -> str:
    """running | done | failed | retry for the sense a drive reports after SANITIZE (SBC-4
    4.11): NOT READY / "sanitize in progress" with a progress field while it works; NO SENSE
    once done; MEDIUM ERROR / SANITIZE COMMAND FAILED (ASC 0x31 ASCQ 0x03) after a failure,
    until EXIT FAILURE MODE or a new SANITIZE. UNIT ATTENTION (a reset) is read once more."""
    key = (sense.sense_key or "").lower()
    additional = (sense.additional or "").lower()
    if sense.progress is not None or "sanitize in progress" in additional:
        return "running"
    if "sanitize command failed" in additional or key in SANITIZE_FAILED:
        return "failed"
    if key == "not ready":
        return "running"
    if key == "unit attention":
        return "retry"
    if key in ("no sense", "recovered error"):
        return "done"
    return "failed"
