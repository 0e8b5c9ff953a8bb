"""A QR code drawn with half-block characters (in every VGA/Linux console font)."""

from __future__ import annotations

import segno
from textual.widgets import Static

_CHARS = {(False, False): " ", (True, False): "\u2580", (False, True): "\u2584",
          (True, True): "\u2588"}


def qr_text(data: str, border: int = 1) -> str:
    """Two module rows per text line; dark modules drawn, light ones blank."""
    rows = [list(row) for row in segno.make(data, error="l").matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        lines.append("".join(_CHARS[(bool(a), bool(b))] for a, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)


class QrCode(Static):
    # dark modules on a light background, as scanners expect
    DEFAULT_CSS = """
    QrCode { width: auto; height: auto; color: ansi_black; background: ansi_bright_white; }
    """

    def __init__(self, data: str, **kwargs: object) -> None:
        super().__init__(qr_text(data), **kwargs)  # type: ignore[arg-type]
