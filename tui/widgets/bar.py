"""A progress bar in plain ASCII: [#########...........]  45%."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static


def ascii_bar(fraction: float, width: int) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    inner = max(width - 7, 4)
    filled = int(round(fraction * inner))
    return f"[{'#' * filled}{'.' * (inner - filled)}] {fraction * 100:3.0f}%"


class AsciiBar(Static):
    DEFAULT_CSS = "AsciiBar { height: 1; color: ansi_bright_green; }"

    fraction: reactive[float] = reactive(0.0)

    def render(self) -> str:
        return ascii_bar(self.fraction, self.size.width or 40)
