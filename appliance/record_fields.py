"""The certificate's record of how a disk was sanitized, beyond the outcome itself:
standard and version, the IEEE 2883 technique of the method on this media, the exact drive
commands and tool version, resumed or not, the timeout and its basis (README "Erase
methods and NIST levels"). All optional in the schema: older certificates lack them.
"""

from __future__ import annotations

from typing import Any

from erasure import standards
from erasure.disk import Disk
from erasure.plan import media_of

VERIFY_METHODS = ("pattern", "uniform-fill", "markers", "before-after", "scrambled-or-fill")


def technique_of(disk: Any, method: str | None, result: Any) -> str | None:
    """The IEEE 2883 technique of the method on this media (erasure.standards), else the
    method's own word."""
    if method and isinstance(disk, Disk):
        row = standards.mapping_for(method, media_of(disk))
        if row is not None:
            return row.technique
    value = result.get("technique") if isinstance(result, dict) else getattr(
        result, "technique", None)
    return value or None


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else max(0, int(value))
    except (TypeError, ValueError):
        return None


def standard_fields(details: dict[str, Any]) -> dict[str, Any]:
    """Standard and version, the exact commands (masked when run) and tool version, resumed
    or not, the action the drive says ran, the timeout and its basis (keys of
    EraseResult.details: README "Erase methods and NIST levels")."""
    commands = [{"argv": [str(a) for a in c.get("argv") or []],
                 "returncode": int(c.get("returncode") or 0)}
                for c in details.get("commands") or [] if isinstance(c, dict)]
    resumed = details.get("resumed_in_progress")
    action = details.get("action_ran")
    basis = details.get("timeout_basis")
    condition = details.get("condition")
    return {
        "standard": standards.STANDARD,
        "technique_standard": standards.TECHNIQUE_STANDARD,
        "commands": commands,
        "tool_version": str(details["tool_version"]) if details.get("tool_version") else None,
        "resumed": None if resumed is None else bool(resumed),
        "action_ran": action if action in ("block", "crypto", "overwrite") else None,
        "timeout_seconds": _int_or_none(details.get("timeout_seconds")),
        "timeout_basis": basis if basis in ("drive-estimate", "capacity", "config") else None,
        "estimate_seconds": _int_or_none(details.get("estimate_seconds")),
        "condition": str(condition) if condition else None,
    }
