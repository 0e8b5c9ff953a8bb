"""`hdparm -I` and `hdparm -N` text → AtaIdentify / Hpa (pure functions).

hdparm prints IDENTIFY DEVICE data in sections ("Commands/features:", "Security:").
The security lines are "supported", "not enabled", "not locked", "frozen", ... where a
leading "not" negates; whitespace is tabs on a terminal and spaces in copies, so every
match here is on words, not on columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from erasure.disk import AtaSecurity, Hpa, SanitizeSupport


@dataclass
class AtaIdentify:
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    sectors: int | None = None  # LBA48 (else LBA28) user addressable sectors
    logical_sector_size: int | None = None
    physical_sector_size: int | None = None
    rotation_rpm: int | None = None  # 0 = solid state, None = not reported
    wwn: str | None = None
    security: AtaSecurity | None = None
    security_level: str | None = None  # high | maximum, when a password is set
    sanitize: SanitizeSupport | None = None
    sanitize_antifreeze: bool = False
    hpa_feature: bool = False
    dco_feature: bool = False
    features: list[str] = field(default_factory=list)

    @property
    def identified(self) -> bool:
        """False when the IDENTIFY data is empty (typically a USB bridge hiding the drive)."""
        return bool(self.model) and bool(self.sectors)


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for raw in text.splitlines():
        if raw and not raw[0].isspace() and raw.rstrip().endswith(":"):
            current = raw.strip().rstrip(":").strip()
            out.setdefault(current, [])
            continue
        if raw.strip():
            out.setdefault(current, []).append(raw.strip())
    return out


def _field(text: str, label: str) -> str | None:
    m = re.search(rf"^\s*{re.escape(label)}:[ \t]*(.*?)\s*$", text, re.M)
    return m.group(1) if m and m.group(1) else None


def _minutes(text: str, label: str) -> int | None:
    m = re.search(rf"(more than )?(\d+)min for {label}", text)
    if not m:
        return None
    return int(m.group(2)) + (1 if m.group(1) else 0)


def parse_security(lines: list[str]) -> tuple[AtaSecurity | None, str | None]:
    """The "Security:" section → AtaSecurity (None when the drive has no security set)."""
    words = [re.sub(r"\s+", " ", line).strip() for line in lines]
    flags: dict[str, bool] = {}
    for w in words:
        for name in ("supported", "enabled", "locked", "frozen"):
            if w == name:
                flags[name] = True
            elif w == f"not {name}":
                flags[name] = False
        if w.startswith("expired") or w.startswith("not expired"):
            flags["expired"] = not w.startswith("not")
    if "supported" not in flags:
        return None, None
    joined = "\n".join(words)
    level = None
    m = re.search(r"Security level (\w+)", joined)
    if m:
        level = m.group(1).lower()
    security = AtaSecurity(
        supported=flags.get("supported", False),
        enabled=flags.get("enabled", False),
        locked=flags.get("locked", False),
        frozen=flags.get("frozen", False),
        enhanced_erase="supported: enhanced erase" in joined,
        erase_minutes=_minutes(joined, "SECURITY ERASE UNIT"),
        enhanced_erase_minutes=_minutes(joined, "ENHANCED SECURITY ERASE UNIT"),
    )
    return security, level


def _feature_names(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        name = line.lstrip("*").strip()
        if name and not name.startswith("Enabled"):
            names.append(name)
    return names


def parse_hdparm_identify(text: str) -> AtaIdentify:
    info = AtaIdentify()
    info.model = _field(text, "Model Number")
    info.serial = _field(text, "Serial Number")
    info.firmware = _field(text, "Firmware Revision")
    for label in ("LBA48  user addressable sectors", "LBA    user addressable sectors"):
        m = re.search(rf"{label}:\s*(\d+)", text)
        if m and int(m.group(1)):
            info.sectors = int(m.group(1))
            break
    m = re.search(r"Logical\s+Sector size:\s*(\d+) bytes", text)
    if m is None:
        m = re.search(r"Logical/Physical Sector size:\s*(\d+) bytes", text)
    if m:
        info.logical_sector_size = int(m.group(1))
    m = re.search(r"Physical Sector size:\s*(\d+) bytes", text)
    if m:
        info.physical_sector_size = int(m.group(1))
    rot = _field(text, "Nominal Media Rotation Rate")
    if rot:
        info.rotation_rpm = 0 if "Solid State" in rot else (int(rot) if rot.isdigit() else None)
    m = re.search(r"Logical Unit WWN Device Identifier:\s*([0-9a-fA-F]+)", text)
    if m:
        info.wwn = "0x" + m.group(1).lower()
    sections = _sections(text)
    features = _feature_names(sections.get("Commands/features", []))
    info.features = features
    info.hpa_feature = "Host Protected Area feature set" in features
    info.dco_feature = "Device Configuration Overlay feature set" in features
    if "SANITIZE feature set" in features:
        info.sanitize = SanitizeSupport(
            crypto="CRYPTO_SCRAMBLE_EXT command" in features,
            block="BLOCK_ERASE_EXT command" in features,
            overwrite="OVERWRITE_EXT command" in features,
        )
        info.sanitize_antifreeze = "SANITIZE_ANTIFREEZE_LOCK_EXT command" in features
    info.security, info.security_level = parse_security(sections.get("Security", []))
    return info


def parse_hdparm_native_max(text: str) -> Hpa | None:
    """`hdparm -N`: " max sectors   = 524288/524288, HPA is disabled"."""
    m = re.search(r"max sectors\s*=\s*(\d+)/(\d+)", text)
    if not m:
        return None
    return Hpa(current_max_sectors=int(m.group(1)), native_max_sectors=int(m.group(2)))


# hdparm 9.65 hdparm.c: sanitize_states_str[], printed by sanitize_normal_output()
SANITIZE_STATES = {"SD0": "idle", "SD1": "frozen", "SD2": "running", "SD3": "failed",
                   "SD4": "done"}
SANITIZE_UNSUPPORTED = "SANITIZE feature set is not supported"


@dataclass
class SanitizeStatus:
    """`hdparm --sanitize-status`, read from its exit code, stdout and stderr.

    state: idle | frozen | running | done | failed | unsupported | unreadable.
    hdparm 9.65 (do_sanitize_cmd): the drive answers SANITIZE STATUS EXT with an error
    after a failed sanitize, and hdparm then prints on stderr ``perror("SANITIZE failed")``,
    "SANITIZE device error reason: <reason>" and, for reason 1, "Drive in SD3 Sanitize
    Operation Failed state", and exits with errno (EIO, 5). "SANITIZE feature set is not
    supported" exits EINVAL (22). Anything else that fails is "unreadable".
    """

    state: str
    fraction: float | None = None
    succeeded: bool = False  # "Last Sanitize Operation Completed Without Error"
    reason: str | None = None  # the drive's (or hdparm's) reason, for a failure

    @property
    def in_progress(self) -> bool:
        return self.state == "running"


def parse_sanitize_status(returncode: int, stdout: str, stderr: str = "") -> SanitizeStatus:
    if returncode != 0:
        m = re.search(r"SANITIZE device error reason:\s*(.+)", stderr)
        if "Sanitize Operation Failed state" in stderr or (
                m and "completed unsuccessfully" in m.group(1)):
            return SanitizeStatus("failed", reason=m.group(1).strip() if m else
                                  "Drive in SD3 Sanitize Operation Failed state")
        if m:  # the drive refused the status command for another reason
            return SanitizeStatus("failed", reason=m.group(1).strip())
        if SANITIZE_UNSUPPORTED in stderr:
            return SanitizeStatus("unsupported", reason=SANITIZE_UNSUPPORTED)
        lines = (stderr.strip() or stdout.strip()).splitlines()
        return SanitizeStatus("unreadable", reason=lines[-1].strip() if lines else
                              f"exit status {returncode}")
    if "Sanitize status:" not in stdout:
        return SanitizeStatus("unreadable", reason="no sanitize status in hdparm's output")
    m = re.search(r"State:\s*(SD\d)", stdout)
    state = SANITIZE_STATES.get(m.group(1), "unreadable") if m else "unreadable"
    p = re.search(r"Progress:\s*0x([0-9a-fA-F]+)", stdout)
    fraction = int(p.group(1), 16) / 65536 if p else None
    succeeded = "Completed Without Error" in stdout
    if state == "idle" and succeeded:
        state = "done"
    return SanitizeStatus(state, 1.0 if state == "done" else fraction, succeeded)


# parse_security's minutes for hdparm -I's "more than 508min" / "more than 65532min"
MORE_THAN_MINUTES = (509, 65533)


def hdparm_erase_timeout(minutes: int | None, sectors: int) -> int:
    """The SG_IO timeout hdparm 9.65 itself gives SECURITY ERASE UNIT
    (hdparm.c get_erase_timeout_secs): the drive's time + 60 min (+ 90 min past the
    field's maximum), and never less than 1 s per 30 MB of capacity + 30 min."""
    estimate = (sectors // 2048) // 30 + 30 * 60
    if not minutes:
        return estimate
    if minutes in MORE_THAN_MINUTES:
        minutes -= 1
    timeout = (minutes + (90 if minutes in (508, 65532) else 60)) * 60
    return max(timeout, estimate)

