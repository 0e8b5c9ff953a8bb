"""A progress bar in plain ASCII: [#########...........]  45%.

While a drive works on its own and says nothing of its progress (NVMe Format, an ATA
security erase without a time estimate), the bar shows a block that moves with the
elapsed time instead of a fraction: [......===.........]  --
"""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

PULSE = 4  # width of the moving block


def ascii_bar(fraction: float, width: int) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    inner = max(width - 7, 4)
    filled = int(round(fraction * inner))
    return f"[{'#' * filled}{'.' * (inner - filled)}] {fraction * 100:3.0f}%"


def pulse_bar(seconds: float, width: int) -> str:
    """A block going to and fro, one cell per second: the drive is at work, time unknown."""
    inner = max(width - 7, PULSE + 1)
    span = inner - PULSE
    step = int(max(seconds, 0.0)) % (2 * span)
    start = step if step <= span else 2 * span - step
    return f"[{'.' * start}{'=' * PULSE}{'.' * (span - start)}]   --"


class AsciiBar(Static):
    DEFAULT_CSS = "AsciiBar { height: 1; color: ansi_bright_green; }"

    fraction: reactive[float] = reactive(0.0)
    # elapsed seconds of a wait with no fraction to show (None: draw the fraction)
    pulse: reactive[float | None] = reactive(None)

    def render(self) -> str:
        width = self.size.width or 40
        if self.pulse is not None:
            return pulse_bar(self.pulse, width)
        return ascii_bar(self.fraction, width)
