"""The device record `ardoise.device/1`: one machine's intake facts, signed and spooled.

Collected from the firmware and the kernel (appliance.devicefacts), signed with the
appliance key exactly like a disk certificate (RFC 8785 bytes, Ed25519), validated against
device.schema.json, and kept in its own spool, DATA/devices/pending → sent (the same
crash-safe Spool as certificates, so a record is written whole or not at all and a second
put of the same record is a no-op).

    facts = collect(Roots())                # every fact; each root can point at a capture
    record = build_record(facts, context)   # unsigned document
    path = issue(record, data_dir)          # signed, validated, durable in pending/
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import __version__, inventory
from appliance.certificate import (
    DEVICE_SCHEMA_ID,
    CertificateError,
    device_schema_errors,
    key_id,
    sign,
)
from appliance.certify import CertContext, image_build_id, load_key, rfc3339
from appliance.devicefacts import cpu as cpufacts
from appliance.devicefacts import edid, firmware, memory, netif, power, storage, win11
from appliance.intake import Intake
from appliance.spool import Spool, encode, write_atomic

SCHEMA_ID = DEVICE_SCHEMA_ID
SPOOL_DIR = "devices"
CURRENT = "current.json"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass
class Roots:
    """Where each fact is read; tests point them at captures."""

    proc: Path = Path("/proc")
    sys_cpu: Path = cpufacts.SYS_CPU
    sys_dmi: Path = inventory.SYSFS_DMI
    sys_block: Path = storage.SYS_BLOCK
    dev: Path = Path("/dev")
    power_supply: Path = power.POWER_SUPPLY
    drm: Path = edid.SYS_DRM
    tpm: Path = firmware.SYS_TPM
    efi: Path = firmware.SYS_EFI
    net: Path = netif.SYS_NET
    use_dmidecode: bool = True


@dataclass
class DeviceFacts:
    host: inventory.Host
    cpu: cpufacts.Cpu
    mem_total: int | None
    modules: list[memory.MemoryModule]
    drives: list[storage.Drive]
    batteries: list[power.Battery]
    ac_online: bool | None
    displays: list[edid.Display]
    tpm: firmware.Tpm
    secure_boot: firmware.SecureBoot
    network: list[netif.NetInterface]
    windows11: win11.Windows11 = field(init=False)

    def __post_init__(self) -> None:
        installed = sum(m.size_bytes or 0 for m in self.modules) or None
        self.windows11 = win11.assess(self.cpu, self.mem_total, installed, self.drives,
                                      self.tpm, self.secure_boot)

    def to_json(self) -> dict[str, Any]:
        installed = sum(m.size_bytes or 0 for m in self.modules) or None
        return {
            "host": self.host.to_json(),
            "cpu": self.cpu.to_json(),
            "memory": {"total_bytes": self.mem_total, "installed_bytes": installed,
                       "modules": [m.to_json() for m in self.modules]},
            "storage": [d.to_json() for d in self.drives],
            "battery": [b.to_json() for b in self.batteries],
            "ac_online": self.ac_online,
            "display": [d.to_json() for d in self.displays],
            "tpm": self.tpm.to_json(),
            "secure_boot": self.secure_boot.to_json(),
            "windows11": self.windows11.to_json(),
            "network": [n.to_json() for n in self.network],
        }


def collect(roots: Roots | None = None) -> DeviceFacts:
    r = roots or Roots()
    host = inventory.collect(r.sys_dmi, use_dmidecode=r.use_dmidecode)
    batteries, ac = power.read_power(r.power_supply)
    return DeviceFacts(
        host=host,
        cpu=cpufacts.read_cpu(r.proc / "cpuinfo", r.sys_cpu),
        mem_total=cpufacts.read_mem_total(r.proc / "meminfo"),
        modules=memory.read_modules() if r.use_dmidecode else [],
        drives=storage.read_drives(r.sys_block, r.dev),
        batteries=batteries, ac_online=ac,
        displays=edid.read_displays(r.drm),
        tpm=firmware.read_tpm(r.tpm),
        secure_boot=firmware.read_secure_boot(r.efi),
        network=netif.read_interfaces(r.net),
    )


def build_record(facts: DeviceFacts, context: CertContext | None = None, *,
                 intake: Intake | None = None, record_id: str | None = None,
                 issued_at: Any = None) -> dict[str, Any]:
    """The unsigned ardoise.device/1 document; the technician's operator name, when given,
    is the record's operator (a shared stick's config names one person for all)."""
    context = context or CertContext()
    return {
        "schema": SCHEMA_ID,
        "id": record_id or str(uuid.uuid4()),
        "issued_at": rfc3339(issued_at or datetime.now(UTC)),
        "appliance": {"key_id": "0" * 64, "version": context.appliance_version or __version__,
                      "image_build": context.image_build or image_build_id(),
                      "hostname": context.hostname},
        "organisation": context.organisation,
        "location": context.location,
        "operator": (intake.operator if intake else None) or context.operator,
        "batch": context.batch,
        "donor": context.donor,
        "intake": intake.to_json() if intake else None,
        **facts.to_json(),
    }


def schema_errors(document: Any) -> list[str]:
    return device_schema_errors(document)


def validate(document: Any) -> None:
    errors = schema_errors(document)
    if errors:
        raise CertificateError("; ".join(errors[:5]))


def sign_record(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    body = dict(document)
    body["appliance"] = {**body["appliance"], "key_id": key_id(key.public_key())}
    signed = sign(body, key)
    validate(signed)
    return signed


def spool(data_dir: Path | str) -> Spool:
    return Spool(data_dir, directory=Path(data_dir) / SPOOL_DIR)


def issue(document: dict[str, Any], data_dir: Path | str,
          boot_id: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Sign with DATA/keys/appliance.key, put in DATA/devices/pending, and remember it as
    this boot's machine (the disk certificates issued next name it)."""
    signed = sign_record(document, load_key(data_dir))
    path = spool(data_dir).put(signed)
    remember(signed, data_dir, boot_id)
    return signed, path


def _boot(boot_id: Path | None) -> str | None:
    try:
        return (boot_id or BOOT_ID).read_text().strip() or None
    except OSError:
        return None


def remember(signed: dict[str, Any], data_dir: Path | str, boot_id: Path | None = None) -> None:
    """DATA/devices/current.json: this record's id, the boot it was made in and its host.
    The stick moves from machine to machine; a new boot is a new machine until
    `ardoise device` runs again."""
    boot = _boot(boot_id)
    if boot is None:
        return
    note = {"id": signed["id"], "boot_id": boot, "host": signed["host"]}
    root = spool(data_dir).root
    write_atomic(root / CURRENT, encode(note), tmp_dir=root / "tmp")


def current_id(data_dir: Path | str, host: dict[str, Any] | None,
               boot_id: Path | None = None) -> str | None:
    """The device record of the machine running now: made in this boot, for the same host
    facts; None otherwise."""
    try:
        note = json.loads((Path(data_dir) / SPOOL_DIR / CURRENT).read_bytes())
    except (OSError, ValueError):
        return None
    boot = _boot(boot_id)
    if not isinstance(note, dict) or boot is None or note.get("boot_id") != boot:
        return None
    if host is not None and note.get("host") != host:
        return None
    record_id = note.get("id")
    return record_id if isinstance(record_id, str) else None
