"""Displays from their EDID (/sys/class/drm/CARD-CONNECTOR/edid), base block parsed here.

VESA E-EDID Release A Rev. 2 (EDID 1.4), the 128-byte base block: header 00 FF..FF 00,
manufacturer PNP id (bytes 8-9, three 5-bit letters, big-endian), product code (10-11,
little-endian), serial (12-15), week/year (16-17, year + 1990), version (18-19), input
(20, bit 7 digital), maximum image size in cm (21-22), four 18-byte descriptors at 54:
a Detailed Timing Descriptor when its pixel clock (first two bytes) is non-zero (the first
one is the preferred, native mode), else a display descriptor tagged by byte 3 (0xFC
product name, 0xFF serial, 0xFE alphanumeric text), 13 bytes of text ended by 0x0A.
Extension blocks (CTA-861, DisplayID) are not read: the base block has what a record needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYS_DRM = Path("/sys/class/drm")
HEADER = bytes([0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00])
INTERNAL = ("eDP", "LVDS", "DSI")


class EdidError(ValueError):
    pass


@dataclass
class Display:
    connector: str | None = None  # eDP-1, HDMI-A-1 (None for a replayed blob)
    internal: bool | None = None
    manufacturer: str | None = None  # PNP id: "BOE", "LEN"
    product_code: int | None = None
    name: str | None = None  # product name descriptor, else the last text descriptor
    serial: str | None = None
    year: int | None = None
    week: int | None = None
    edid_version: str | None = None
    digital: bool | None = None
    width_cm: int | None = None
    height_cm: int | None = None
    diagonal_in: float | None = None
    native_width: int | None = None
    native_height: int | None = None
    checksum_ok: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(raw: bytes) -> str | None:
    text = raw.split(b"\x0a", 1)[0].decode("cp437", errors="replace").strip()
    return text or None


def parse_edid(blob: bytes) -> Display:
    if len(blob) < 128 or blob[:8] != HEADER:
        raise EdidError("not an EDID base block")
    base = blob[:128]
    d = Display()
    word = (base[8] << 8) | base[9]
    d.manufacturer = "".join(chr(ord("A") - 1 + ((word >> s) & 0x1F)) for s in (10, 5, 0))
    d.product_code = base[10] | (base[11] << 8)
    serial = int.from_bytes(base[12:16], "little")
    d.week = base[16] if 1 <= base[16] <= 54 else None
    d.year = base[17] + 1990 if base[17] else None
    d.edid_version = f"{base[18]}.{base[19]}"
    d.digital = bool(base[20] & 0x80)
    if base[21] and base[22]:
        d.width_cm, d.height_cm = base[21], base[22]
        d.diagonal_in = round(((base[21] ** 2 + base[22] ** 2) ** 0.5) / 2.54, 1)
    d.checksum_ok = sum(base) % 256 == 0
    texts: list[str] = []
    for offset in range(54, 126, 18):
        desc = base[offset:offset + 18]
        if desc[0] or desc[1]:
            if d.native_width is None:
                d.native_width = desc[2] | ((desc[4] & 0xF0) << 4)
                d.native_height = desc[5] | ((desc[7] & 0xF0) << 4)
            continue
        tag = desc[3]
        if tag == 0xFC:
            d.name = _text(desc[5:18])
        elif tag == 0xFF:
            d.serial = _text(desc[5:18])
        elif tag == 0xFE and (text := _text(desc[5:18])):
            texts.append(text)
    if d.name is None and texts:
        d.name = texts[-1]  # laptop panels: maker's text then the panel part number
    if d.serial is None and serial not in (0, 0x01010101):
        d.serial = str(serial)
    return d


def read_displays(root: Path = SYS_DRM) -> list[Display]:
    """Every connector with an EDID (a connected screen), internal panels first."""
    displays = []
    for edid_path in sorted(root.glob("card*-*/edid")):
        try:
            blob = edid_path.read_bytes()
        except OSError:
            continue
        if not blob:
            continue
        try:
            display = parse_edid(blob)
        except EdidError:
            continue
        connector = edid_path.parent.name.split("-", 1)[1]
        display.connector = connector
        display.internal = connector.startswith(INTERNAL)
        displays.append(display)
    return sorted(displays, key=lambda d: not d.internal)
