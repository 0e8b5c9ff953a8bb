"""The Disk record: what `ardoise disks` and `ardoise probe` print (DESIGN.md schema)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Hpa:
    current_max_sectors: int
    native_max_sectors: int

    @property
    def enabled(self) -> bool:
        return self.native_max_sectors > self.current_max_sectors


@dataclass
class AtaSecurity:
    supported: bool
    enabled: bool
    locked: bool
    frozen: bool
    enhanced_erase: bool
    erase_minutes: int | None = None
    enhanced_erase_minutes: int | None = None


@dataclass
class SanitizeSupport:
    crypto: bool = False
    block: bool = False
    overwrite: bool = False


@dataclass
class NvmeCaps:
    format: bool
    fna: int
    sanicap: int
    sanitize: SanitizeSupport
    lbaf_in_use: int
    crypto_erase: bool = False  # FNA bit 2: crypto erase supported by Format NVM
    namespaces: int = 1


@dataclass
class Plan:
    level: str
    reachable: bool
    methods: list[str]
    reasons: list[str]


@dataclass
class Disk:
    path: str
    id: str
    model: str
    serial: str
    size_bytes: int
    logical_block_size: int
    transport: str
    firmware: str | None = None
    physical_block_size: int = 512
    rotational: bool | None = None
    removable: bool = False
    boot_medium: bool = False
    eligible: bool = False
    excluded_reason: str | None = None
    wwn: str | None = None
    by_id: list[str] = field(default_factory=list)
    hpa: Hpa | None = None
    ata_security: AtaSecurity | None = None
    ata_sanitize: SanitizeSupport | None = None
    nvme: NvmeCaps | None = None
    methods: list[str] = field(default_factory=list)
    plan: Plan | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.plan is None:
            data.pop("plan")
        return data
