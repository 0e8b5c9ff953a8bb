"""Output for the CLI: one JSON document on stdout with --json, people-text otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(document: Any) -> None:
    """Machine output: stable keys, never translated."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str))
    sys.stdout.write("\n")
    sys.stdout.flush()


def say(text: str = "") -> None:
    print(text, flush=True)


def warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def looks_like_json(head: bytes) -> bool:
    """Whether the first bytes of a file can start a JSON object (a manifest, a
    certificate), not a raw disk image or some other binary file."""
    return head.lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"{")
