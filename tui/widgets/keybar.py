"""The key help line at the bottom of every screen, in the reader's language."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: ansi_blue; color: ansi_bright_white; }
    """

    def __init__(self, keys: list[tuple[str, str]], **kwargs: object) -> None:
        text = Text()
        for key, label in keys:
            text.append(f" {key} ", style="bold reverse")
            text.append(f" {label}  ")
        super().__init__(text, **kwargs)  # type: ignore[arg-type]
