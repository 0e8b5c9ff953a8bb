"""`smartctl -j -x DEVICE` → SmartInfo (pure; ATA, NVMe and SCSI drives).

smartctl exits with a bit mask (bit 2 set when a SMART command failed, etc.) while
still printing a complete JSON document: the caller parses stdout whatever the code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SmartSecurity:
    """ATA security word 128 as smartctl reports it."""

    state: int
    supported: bool
    enabled: bool
    locked: bool
    frozen: bool
    enhanced_erase: bool


@dataclass
class SmartInfo:
    protocol: str | None = None  # ATA | NVMe | SCSI | None (device not recognised)
    device_type: str | None = None  # sat | nvme | scsi | usbsunplus | ...
    info_name: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    size_bytes: int | None = None
    logical_block_size: int | None = None
    physical_block_size: int | None = None
    rotation_rate: int | None = None  # 0 = solid state; None = not reported
    wwn: str | None = None
    security: SmartSecurity | None = None
    nvme_namespaces: int | None = None
    messages: list[str] = field(default_factory=list)
    exit_status: int | None = None

    @property
    def recognised(self) -> bool:
        return self.protocol is not None

    @property
    def unknown_usb_bridge(self) -> bool:
        return any("Unknown USB bridge" in m for m in self.messages)


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _wwn(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    try:
        naa, oui, ident = int(value["naa"]), int(value["oui"]), int(value["id"])
    except (KeyError, TypeError, ValueError):
        return None
    return f"0x{naa:x}{oui:06x}{ident:09x}"


def security_from_state(state: int) -> SmartSecurity:
    """ATA IDENTIFY word 128: bit 0 supported, 1 enabled, 2 locked, 3 frozen, 5 enhanced."""
    return SmartSecurity(
        state=state,
        supported=bool(state & 0x01),
        enabled=bool(state & 0x02),
        locked=bool(state & 0x04),
        frozen=bool(state & 0x08),
        enhanced_erase=bool(state & 0x20),
    )


def parse_smartctl(text: str) -> SmartInfo:
    """Parse smartctl's JSON; a non-JSON or empty document gives an unrecognised SmartInfo."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return SmartInfo(messages=["smartctl output is not JSON"])
    if not isinstance(data, dict):
        return SmartInfo(messages=["smartctl output is not a JSON object"])
    tool = data.get("smartctl") or {}
    messages = [str(m.get("string", "")) for m in tool.get("messages") or [] if isinstance(m, dict)]
    device = data.get("device") or {}
    info = SmartInfo(
        protocol=_text(device.get("protocol")),
        device_type=_text(device.get("type")),
        info_name=_text(device.get("info_name")),
        messages=messages,
        exit_status=tool.get("exit_status") if isinstance(tool.get("exit_status"), int) else None,
    )
    vendor = _text(data.get("scsi_vendor") or data.get("vendor"))
    model = _text(data.get("model_name") or data.get("scsi_model_name"))
    product = _text(data.get("scsi_product") or data.get("product"))
    if model is None and product is not None:
        model = f"{vendor} {product}" if vendor else product
    info.model = model
    info.serial = _text(data.get("serial_number"))
    info.firmware = _text(data.get("firmware_version") or data.get("scsi_revision")
                          or data.get("revision"))
    capacity = data.get("user_capacity") or {}
    if isinstance(capacity, dict) and isinstance(capacity.get("bytes"), int):
        info.size_bytes = capacity["bytes"]
    for key in ("logical_block_size", "physical_block_size", "rotation_rate"):
        if isinstance(data.get(key), int):
            setattr(info, key, data[key])
    info.wwn = _wwn(data.get("wwn"))
    sec = data.get("ata_security")
    if isinstance(sec, dict) and isinstance(sec.get("state"), int):
        info.security = security_from_state(sec["state"])
    if isinstance(data.get("nvme_number_of_namespaces"), int):
        info.nvme_namespaces = data["nvme_number_of_namespaces"]
    return info
