"""Certificates and heartbeats shaped like the appliance's (appliance/certificate.schema.json)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import key_id, sign

MODELS = [("Samsung SSD 860 EVO 500GB", "sata", "flash"), ("WDC WD5000LPCX-24C6HT0", "sata",
          "magnetic"), ("KBG40ZNS256G NVMe KIOXIA 256GB", "nvme", "flash")]
METHODS = {"sata": ("ata-secure-erase-enhanced", "purge", "block erase"),
           "nvme": ("nvme-format-crypto", "purge", "cryptographic erase")}


def certificate(key: Ed25519PrivateKey, n: int = 0, *, batch: str = "B-2026-11",
                donor: str = "Fondation Lévis", status: str = "erased",
                host_serial: str | None = None, **overrides: Any) -> dict[str, Any]:
    model, transport, media_type = MODELS[n % len(MODELS)]
    method, level, technique = METHODS[transport]
    if media_type == "magnetic":
        method, level, technique = "overwrite", "clear", "overwrite"
    doc: dict[str, Any] = {
        "schema": "ardoise.certificate/1",
        "id": str(uuid.uuid4()),
        "issued_at": f"2026-11-{10 + n % 15:02d}T{8 + n % 10:02d}:{n % 60:02d}:00Z",
        "appliance": {"key_id": key_id(key.public_key()), "version": "0.1.0",
                      "image_build": "ardoise-20261120", "hostname": "ardoise-07"},
        "organisation": "OPEQ", "location": "Québec", "operator": "Élodie",
        "contact": None, "batch": batch, "donor": donor, "job_id": f"job-{n}",
        "host": {"manufacturer": "LENOVO", "product": "20L7S0EP00", "version": "ThinkPad T480s",
                 "serial": host_serial or f"PF{100000 + n // 2}", "uuid": str(uuid.uuid4()),
                 "sku": None, "family": "ThinkPad", "chassis": "Notebook",
                 "chassis_serial": None, "board_manufacturer": "LENOVO",
                 "board_product": "20L7S0EP00", "board_serial": None,
                 "bios_vendor": "LENOVO", "bios_version": "N22ET80W", "bios_date": "2023-01-01"},
        "media": {"path": "/dev/sda", "id": f"ata-DISK_{n:06d}", "model": model,
                  "serial": f"S{n:09d}", "wwn": None, "firmware": "RVT04B6Q",
                  "type": media_type, "transport": transport, "size_bytes": 500107862016,
                  "logical_block_size": 512, "rotational": media_type == "magnetic",
                  "removable": False, "hpa": None, "dco": None},
        "sanitization": {"level": level, "method": method, "technique": technique,
                         "pattern": "zero" if technique == "overwrite" else None,
                         "passes": 1, "tool": "ardoise 0.1.0",
                         "started_at": "2026-11-10T08:00:00Z",
                         "ended_at": "2026-11-10T08:02:00Z", "seconds": 120.5,
                         "bytes_written": 0, "throughput_bytes_per_s": None, "status": status,
                         "methods_tried": [method], "errors": [], "io_errors": []},
        "verification": {"mode": "sample", "sample_share": 0.01,
                         "result": "pass" if status == "erased" else "fail",
                         "bytes_checked": 5001078620, "errors": []},
        "image": None,
        "destination": "reuse",
    }
    doc.update(overrides)
    return sign(doc, key)


def heartbeat(key: Ed25519PrivateKey, *, serial: str = "PF200001", batch: str = "RACK-1",
              jobs: list[dict[str, Any]] | None = None,
              sent_at: str | None = None) -> dict[str, Any]:
    """A signed heartbeat; `sent_at` defaults to now (the ledger refuses a heartbeat that is
    not newer than the last one from the same key)."""
    doc = {
        "schema": "ardoise.heartbeat/1",
        "sent_at": sent_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "appliance": {"key_id": key_id(key.public_key()), "version": "0.1.0"},
        "host": {"serial": serial, "product": "OptiPlex 7050", "maker": "Dell Inc.",
                 "mac": "52:54:00:12:34:56"},
        "batch": batch,
        "journal": "ram",
        "jobs": jobs if jobs is not None else [
            {"disk_id": "nvme-eui.0025388b71b25e11", "model": "PM981 NVMe 256GB",
             "serial": "S4DXNF0M123456", "size_bytes": 256060514304, "step": "erasing",
             "progress": 0.42, "rate": 1.9e9, "eta": 73.0, "method": "nvme-sanitize-crypto",
             "status": "running"}],
    }
    return sign(doc, key)
