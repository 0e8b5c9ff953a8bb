"""Level (clear|purge) + probed capabilities → the methods to try, in order, with reasons.

The level each method reaches on each media is the one table of erasure.standards
(NIST SP 800-88 Rev. 2, techniques per IEEE 2883-2022; README "Erase methods and NIST
levels"). This module only orders what reaches the level:
- NVMe: Sanitize (crypto erase, block erase) first, then Format NVM with SES=2 where the
  drive supports cryptographic erase, else SES=1; Sanitize overwrite last.
- ATA flash (SSD): SANITIZE BLOCK ERASE / CRYPTO SCRAMBLE; SECURITY ERASE UNIT is only a
  Clear on flash (it may leave spare blocks untouched).
- ATA HDD: SANITIZE OVERWRITE or ENHANCED SECURITY ERASE; for Clear a verified host
  overwrite first.
- SCSI/SAS: SANITIZE (crypto, block erase on flash; overwrite on HDD).
- USB flash drives, SD cards, eMMC: no software Purge (destroy them for Purge); an
  overwrite (or eMMC erase + sanitize) is a Clear.
- Cryptographic erase carries NIST's conditions (Rev. 2, Sec. 3.2.5).
- Firmware commands through a USB bridge count only when the probe saw them through it.
When nothing reaches the level, `reachable` is false and the plan is empty: a disk is
never silently erased to a weaker level than asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from erasure import standards
from erasure.disk import Disk, Plan
from erasure.text import Msg

LEVELS = ("clear", "purge")

# What each method is, strongest first (the order of Disk.methods).
STRENGTH = (
    "nvme-sanitize-crypto", "nvme-sanitize-block", "ata-sanitize-crypto", "ata-sanitize-block",
    "scsi-sanitize-crypto", "scsi-sanitize-block", "nvme-format-crypto", "opal-psid-revert",
    "nvme-sanitize-overwrite", "ata-sanitize-overwrite", "scsi-sanitize-overwrite",
    "nvme-format-user", "ata-secure-erase-enhanced", "ata-secure-erase", "mmc-sanitize",
    "mmc-erase", "overwrite",
)
CRYPTO = {"nvme-sanitize-crypto", "ata-sanitize-crypto", "scsi-sanitize-crypto",
          "nvme-format-crypto", "opal-psid-revert"}
ATA_SECURITY = {"ata-secure-erase", "ata-secure-erase-enhanced"}

PURGE_ORDER = {
    "nvme": ("nvme-sanitize-crypto", "nvme-sanitize-block", "nvme-format-crypto",
             "nvme-format-user", "nvme-sanitize-overwrite", "opal-psid-revert"),
    "ata-flash": ("ata-sanitize-block", "ata-sanitize-crypto", "ata-sanitize-overwrite",
                  "opal-psid-revert"),
    "ata-hdd": ("ata-sanitize-overwrite", "ata-sanitize-crypto", "ata-secure-erase-enhanced",
                "opal-psid-revert"),
    "scsi-flash": ("scsi-sanitize-crypto", "scsi-sanitize-block", "scsi-sanitize-overwrite",
                   "opal-psid-revert"),
    "scsi-hdd": ("scsi-sanitize-overwrite", "scsi-sanitize-crypto", "opal-psid-revert"),
}

def supported_methods(disk: Disk) -> list[str]:
    """The methods this drive supports according to the probe, strongest first."""
    from erasure import methods

    available = set(methods.names())
    out = []
    for name in STRENGTH:
        if name not in available:
            continue
        if methods.get(name).supported(disk):
            out.append(name)
    return out


def media_of(disk: Disk) -> str:
    """nvme | ata-flash | ata-hdd | scsi-flash | scsi-hdd | mmc | usb | virtual."""
    if disk.transport == "nvme" or disk.nvme is not None:
        return "nvme"
    if disk.transport == "mmc":
        return "mmc"
    flash = disk.rotational is False
    if disk.transport in ("sata", "ata") or (disk.transport == "usb" and (
            disk.ata_security is not None or disk.ata_sanitize is not None)):
        return "ata-flash" if flash else "ata-hdd"
    if disk.transport in ("sas", "scsi") and disk.rotational is not None:
        return "scsi-flash" if flash else "scsi-hdd"
    if disk.transport == "usb" or disk.removable:
        return "usb"
    return "virtual"


def level_of(name: str, media: str) -> str | None:
    """The NIST level a method reaches on this media (None: not applicable), from the
    one mapping table (erasure.standards.MAPPING)."""
    return standards.level_for(name, media)


def reason_of(name: str, media: str) -> str:
    row = standards.mapping_for(name, media)
    return row.reason if row else Msg("{method}", method=name)


def _rank(level: str) -> int:
    return LEVELS.index(level)


def make_plan(disk: Disk, level: str, options: Mapping[str, Any] | None = None) -> Plan:
    """Ordered methods reaching `level` on `disk`, each with its reason (Msg, English)."""
    if level not in LEVELS:
        raise ValueError(level)
    options = options or {}
    media = media_of(disk)
    supported = disk.methods or supported_methods(disk)
    if "overwrite" not in supported:
        supported = [*supported, "overwrite"]
    reasons: list[str] = []
    candidates = [m for m in supported if (lvl := level_of(m, media)) is not None
                  and _rank(lvl) >= _rank(level)]
    if "opal-psid-revert" in candidates and not options.get("psid"):
        candidates.remove("opal-psid-revert")
        reasons.append(Msg("Opal drive: a PSID revert (Purge) is possible once the operator "
                           "types the PSID printed on the label"))
    hpa = disk.hpa
    if hpa is not None and hpa.enabled and "overwrite" in candidates and not options.get(
            "remove_hpa"):
        candidates.remove("overwrite")
        reasons.append(Msg("a host protected area hides {n} sectors: overwrite would miss them; "
                           "allow HPA removal to use it",
                           n=hpa.native_max_sectors - hpa.current_max_sectors))
    order = _order(candidates, level, media)
    for name in order:
        reasons.append(reason_of(name, media))
        if name in CRYPTO:
            reasons.append(Msg("{method}: cryptographic erase is a Purge only if the drive "
                               "encrypted all user data with the erased key from the start "
                               "(NIST SP 800-88 Rev. 2, 3.2.5); recorded as a condition",
                               method=name))
    sec = disk.ata_security
    if sec is not None and any(m in ATA_SECURITY for m in order):
        if sec.frozen:
            reasons.append(Msg("the drive is frozen: ATA security erase will be refused until "
                               "a suspend/resume (rtcwake -m mem -s 5) and a new probe"))
        if sec.locked:
            reasons.append(Msg("the drive is locked: ATA security erase needs the journaled "
                               "password"))
    reasons.extend(_media_notes(disk, media, level, order))
    if not order:
        reasons.append(Msg("no method of this drive reaches {level}: it is reported as not "
                           "reaching it", level=level))
    return Plan(level, bool(order), order, reasons)


def _order(candidates: list[str], level: str, media: str) -> list[str]:
    if "nvme-format-crypto" in candidates and "nvme-format-user" in candidates:
        candidates = [m for m in candidates if m != "nvme-format-user"]  # SES=2 where it exists
    purge = [m for m in PURGE_ORDER.get(media, ()) if m in candidates]
    rest = [m for m in STRENGTH if m in candidates and m not in purge and m != "overwrite"]
    if level == "purge":
        return purge
    if media in ("ata-hdd", "scsi-hdd"):
        # a hard disk: a verified overwrite first, the drive's own commands after
        return [m for m in ["overwrite", *purge, *rest] if m in candidates]
    return [m for m in [*purge, *rest, "overwrite"] if m in candidates]


def _media_notes(disk: Disk, media: str, level: str, order: list[str]) -> list[str]:
    notes: list[str] = []
    if media == "usb":
        notes.append(Msg("USB device: the bridge hides the drive's own erase commands, or the "
                         "device is a flash drive; only an overwrite through the bridge applies "
                         "(Clear)"))
    if media == "mmc":
        notes.append(Msg("eMMC and SD cards cannot be purged by software (IEEE 2883): "
                         "destroy the media when Purge is required"))
    if media == "usb" and level == "purge":
        notes.append(Msg("USB flash drives cannot be purged by software: destroy the media "
                         "when Purge is required"))
    if media == "virtual" and level == "purge":
        notes.append(Msg("virtual or unknown device: no firmware erase command is available"))
    if level == "purge" and not order and media in ("ata-flash", "ata-hdd", "nvme", "scsi-flash",
                                                    "scsi-hdd"):
        notes.append(Msg("the drive offers no firmware command that reaches Purge"))
    return notes
