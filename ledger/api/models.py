"""Request and response shapes of /api/v1 (they are the OpenAPI document appliances follow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.validation import ListedFacts

HEX64 = r"^[0-9a-f]{64}$"


class Problem(BaseModel):
    """Every 4xx answer: a stable machine code and an English reason."""

    error: str = Field(examples=["bad_signature"])
    detail: str


class Signature(BaseModel):
    alg: Literal["ed25519"]
    key_id: str = Field(pattern=HEX64, description="hex SHA-256 of the raw 32-byte public key")
    value: str = Field(description="base64 Ed25519 signature over the RFC 8785 bytes of the "
                                   "document without its signature member")


class CertificateAccepted(BaseModel):
    id: str
    leaf_index: int
    status: Literal["created", "duplicate"]


class CertificateRecord(BaseModel):
    leaf_index: int
    received_at: str
    certificate: dict[str, object]


@dataclass(frozen=True)
class CertificateSummary(ListedFacts):
    leaf_index: int


class SearchPage(BaseModel):
    total: int
    page: int
    per_page: int
    results: list[CertificateSummary]


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


class TreeHeadOut(BaseModel):
    tree_size: int
    root_hash: str
    timestamp: int = Field(description="milliseconds since the epoch")
    signature: str = Field(description="base64 Ed25519 signature over RFC 9162 TreeHeadDataV2: "
                                       "uint64 timestamp, uint64 tree_size, uint8 length, root")
    key_id: str


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str]


class LogKeyOut(BaseModel):
    alg: Literal["ed25519"] = "ed25519"
    key_id: str
    public_key_pem: str


class HeartbeatHost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial: str = Field(max_length=200, description="DMI system serial")
    product: str = Field("", max_length=200)
    maker: str = Field("", max_length=200)
    mac: str = Field("", max_length=64, description="MAC address of the interface in use")


class HeartbeatJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disk_id: str = Field(max_length=300, description="stable disk id (Disk.id)")
    model: str = Field("", max_length=200)
    serial: str = Field("", max_length=200)
    size_bytes: int | None = Field(None, ge=0)
    step: Literal["discovered", "planned", "erasing", "verifying", "imaging", "hashing",
                  "certified", "spooled", "sent"]
    progress: float = Field(0.0, ge=0.0, le=1.0, description="fraction of the current step")
    rate: float | None = Field(None, ge=0, description="bytes per second")
    eta: float | None = Field(None, ge=0, description="seconds left in the current step")
    method: str | None = Field(None, max_length=64)
    status: Literal["running", "erased", "unverified", "failed", "refused", "incomplete"]


class Heartbeat(BaseModel):
    """POST /api/v1/heartbeats, signed like a certificate by the appliance key.

    `signature` covers the RFC 8785 bytes of the document without its signature member;
    `signature.key_id` must equal `appliance.key_id`. Send one before every step starts and
    every ~10 s while one runs; the rack view calls a machine lost after `--lost-after`
    seconds without one.
    """

    model_config = ConfigDict(extra="forbid")
    schema_: Literal["ardoise.heartbeat/1"] = Field(alias="schema")
    sent_at: str = Field(max_length=40, description="RFC 3339 UTC")
    appliance: dict[str, str] = Field(description='{"key_id": hex, "version": str}')
    host: HeartbeatHost
    batch: str = Field("", max_length=200)
    journal: str = Field("", max_length=64, description="journal state: stick, ram, degraded")
    jobs: list[HeartbeatJob] = Field(default_factory=list, max_length=64)
    signature: Signature


class HeartbeatAccepted(BaseModel):
    key_id: str
    received: bool = True


class EnrollmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    public_key_pem: str = Field(max_length=2000, description="Ed25519 SubjectPublicKeyInfo PEM")
    token: str = Field(max_length=200, description="from `ardoise-ledger token create --enroll`")


class EnrollmentResult(BaseModel):
    key_id: str
    name: str
    enrolled: bool = Field(description="false when the key was already enrolled")


class ApplianceStanding(BaseModel):
    """GET /api/v1/appliances/me: what the ledger knows of the key that signed the request."""

    name: str
    key_id: str
    enrolled_at: str = Field(description="RFC 3339")
    revoked: bool


class BootReport(BaseModel):
    """A machine that refused to work (bad site config, enrollment refused): logged only."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=64, pattern=r"^[a-z_]+$", examples=["bad_config"])
    reason: str = Field(max_length=500)
    config: str = Field("", max_length=500, description="the config address it was given")
    host: HeartbeatHost | None = None


class BootReportAccepted(BaseModel):
    logged: bool = True
