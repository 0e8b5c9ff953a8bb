"""Checks of command-line paths shared by the commands: what does not exist or is not a
block device is a usage error (exit 2, CLI contract); a partition or an ineligible disk is
each command's own refusal (exit 3)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from appliance.errors import UsageError, os_reason
from appliance.i18n import _, tr
from appliance.output import looks_like_json


def require_block_device(path: str) -> None:
    """Exit 2 for a path that does not exist or is not a block device."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise UsageError(_("{path}: no such device").format(path=path)) from None
    if not stat.S_ISBLK(mode):
        raise UsageError(_("{path}: not a block device").format(path=path))


def json_head(path: Path, missing: str, not_json: str) -> None:
    """Exit 2 with one sentence unless `path` can be read and starts like a JSON object.
    `missing` and `not_json` are translated sentences with a {path} field."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise UsageError(missing.format(path=path)) from None
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(
            path=path, error=tr(os_reason(exc)))) from None
    if not looks_like_json(head):
        raise UsageError(not_json.format(path=path))


def key_file_error(path: Path, exc: Exception, private: bool = False) -> UsageError:
    """Exit 2 with one sentence for a key file that cannot be used (missing, unreadable, not
    an Ed25519 key in PEM), without the library's own text."""
    if isinstance(exc, FileNotFoundError):
        return UsageError(_("{path}: no such key file").format(path=path))
    if isinstance(exc, OSError):
        return UsageError(_("cannot read {path}: {error}").format(path=path,
                                                                  error=tr(os_reason(exc))))
    if private:
        return UsageError(_("{path} is not an Ed25519 private key in PEM format (made by "
                            "ardoise keygen or ardoise site keygen)").format(path=path))
    return UsageError(_("{path} is not an Ed25519 public key in PEM format (a .pub.pem "
                        "file)").format(path=path))


def write_error(path: Path, exc: OSError) -> UsageError:
    """Exit 2 for an output place that cannot be written (a file where a directory is
    wanted, no permission, a read-only file system)."""
    return UsageError(_("cannot write in {path}: {error}").format(
        path=exc.filename or path, error=tr(os_reason(exc))))
