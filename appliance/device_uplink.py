"""Deliver spooled device records (DATA/devices/pending) to the ledger, exactly once.

The certificate uplink's protocol and answers (appliance.uplink): POST
{ledger}/api/v1/devices with the signed record; 201 new and 200 identical duplicate move it
to sent/, 409 and other 4xx keep it with the ledger's reason, 5xx and network failures keep
it for the next attempt. No transparency-log receipt: device records are not log leaves.

    report = flush(data_dir, "https://ledger.example", ca=None)   # FlushReport
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.device import spool
from appliance.uplink import FlushReport, Uplink

DEVICES = "/api/v1/devices"


class DeviceUplink(Uplink):
    path = DEVICES

    def __init__(self, data_dir: Path | str, ledger_url: str, **kwargs: Any):
        super().__init__(spool(data_dir), ledger_url, receipts=False, **kwargs)


def pending(data_dir: Path | str) -> int:
    """Device records waiting, without creating the spool on a partition that has none."""
    directory = Path(data_dir) / "devices" / "pending"
    return len(list(directory.glob("*.json"))) if directory.is_dir() else 0


def flush(data_dir: Path | str, ledger_url: str, ca: str | Path | None = None,
          **kwargs: Any) -> FlushReport:
    return DeviceUplink(data_dir, ledger_url, ca=ca, **kwargs).flush_once()
