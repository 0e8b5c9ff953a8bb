"""Which erase method reaches which NIST level on which media: the one table.

NIST SP 800-88 Rev. 1 (with its per-media tables) was withdrawn on 26 September 2025.
Rev. 2 keeps the three methods Clear, Purge and Destroy but names no technique per media:
it defers techniques to IEEE 2883-2022 (or NSA specifications), keeps conditions on
cryptographic erase only (Sec. 3.2.5), and separates verification (did this run complete
without anomalies: the read-back) from validation (the organisation accepting the residual
risk). `MAPPING` below is our reading of IEEE 2883-2022 per interface, from the public
sources in `SOURCES` (the IEEE text itself is not public; every row names what it rests on).

`erasure.plan` takes every level from `level_for()`; the README section "Erase methods and
NIST levels" is `mapping_markdown()` (tests/unit/test_standards.py checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass

from erasure.text import Msg

STANDARD = "NIST SP 800-88 Rev. 2"
TECHNIQUE_STANDARD = "IEEE 2883-2022"

MEDIA_NAMES = {
    "nvme": "NVMe SSD", "ata-hdd": "ATA hard disk", "ata-flash": "ATA SSD",
    "scsi-hdd": "SAS/SCSI hard disk", "scsi-flash": "SAS/SCSI SSD", "mmc": "eMMC",
    "usb": "USB drive or card", "virtual": "virtual/unknown",
}
ANY = tuple(MEDIA_NAMES)
DRIVES = ("nvme", "ata-hdd", "ata-flash", "scsi-hdd", "scsi-flash")

SOURCES = {
    "nist-r2": "NIST SP 800-88 Rev. 2, Guidelines for Media Sanitization (26 September 2025; "
               "Rev. 1 withdrawn the same day), https://doi.org/10.6028/NIST.SP.800-88r2: "
               "Clear/Purge/Destroy, techniques deferred to IEEE 2883, cryptographic erase "
               "conditions in Sec. 3.2.5",
    "nist-faq": "NIST, Frequently Asked Questions for SP 800-88r2 (csrc.nist.gov, 16 July "
                "2026): Q2 "
                "(techniques per media are IEEE 2883's), Q6 (Clear is a single overwrite "
                "pass of the user-addressable space), Q7 (verification vs validation), Q9 "
                "(cryptographic erase: no plaintext before the key, >= 128-bit strength, "
                "keys zeroized)",
    "seagate-sanitize": "Seagate openSeaChest wiki, \"Sanitize Feature\" "
                        "(https://github.com/Seagate/openSeaChest/wiki/Sanitize-Feature): "
                        "SATA, SAS and NVMe sanitize reach every user, spare, over-provisioned "
                        "and bad block; \"all methods of data sanitization supported by this "
                        "commandset are considered IEEE-2883r2022 purge compliant\"",
    "dell-kb": "Dell KB 000186133, \"Dell Data Wipe (NIST 800-88r1, IEEE 2883-2022) Supported "
               "Storage Media Sanitize Actions\" "
               "(https://www.dell.com/support/kbdoc/000186133): NVMe Sanitize Purge; ATA SSD "
               "Sanitize Purge; ATA HDD Enhanced Security Erase Purge; eMMC Erase and "
               "Sanitize Clear (IEEE 2883-2022 column)",
    "nist-secure-erase": "NIST glossary, \"Secure Erase Command\" "
                         "(https://csrc.nist.gov/glossary/term/secure_erase_command): the "
                         "normal SECURITY ERASE UNIT need only address LBA 0 to native max; "
                         "the enhanced erase also reallocated sectors, with vendor-unique "
                         "effect",
    "nvme-format": "NVM Express Format NVM Secure Erase Settings (libnvme enum "
                   "nvme_cmd_format_ses): SES=1 erases all user data, SES=2 erases it "
                   "cryptographically; UEFI EDK2 NvmExpressMediaSanitize.c falls back from "
                   "Sanitize to Format NVM SES=1/2 for a Purge",
    "jesd84": "JEDEC JESD84-B51 6.6.11: eMMC SANITIZE physically removes data from the "
              "unmapped user address space only (hence erase of the whole user area first)",
    "seagate-sed": "Seagate Constellation ES.3 SED product manual (ST1000NM0031, "
                   "ST2000NM0031), 5.10 RevertSP: with the PSID from the label it erases all "
                   "data in all bands and returns the drive to factory state; 5.11: on these "
                   "SED drives ENHANCED SECURITY ERASE UNIT only changes the media key",
}


@dataclass(frozen=True)
class Mapping:
    method: str  # METHOD name of the CLI contract
    media: tuple[str, ...]  # media kinds of erasure.plan.media_of
    level: str  # clear | purge
    technique: str  # IEEE 2883 technique: overwrite | block erase | cryptographic erase
    command: str  # what the drive is asked to do, for people
    reason: str  # Msg for the plan, English
    sources: tuple[str, ...]


def _row(method: str, media: tuple[str, ...], level: str, technique: str, command: str,
         reason: str, *sources: str) -> Mapping:
    return Mapping(method, media, level, technique, command, reason, sources)


MAPPING: tuple[Mapping, ...] = (
    _row("nvme-sanitize-crypto", ("nvme",), "purge", "cryptographic erase",
         "NVMe Sanitize, crypto erase (SANACT=4)",
         Msg("NVMe Sanitize, crypto erase: Purge (IEEE 2883)"),
         "seagate-sanitize", "dell-kb", "nist-faq"),
    _row("nvme-sanitize-block", ("nvme",), "purge", "block erase",
         "NVMe Sanitize, block erase (SANACT=2)",
         Msg("NVMe Sanitize, block erase: Purge (IEEE 2883), every cell including spare "
             "blocks"), "seagate-sanitize", "dell-kb"),
    _row("nvme-sanitize-overwrite", ("nvme",), "purge", "overwrite",
         "NVMe Sanitize, overwrite (SANACT=3)",
         Msg("NVMe Sanitize, overwrite: Purge, but slow and wearing on flash: tried last"),
         "seagate-sanitize"),
    _row("nvme-format-crypto", ("nvme",), "purge", "cryptographic erase",
         "NVMe Format NVM, SES=2",
         Msg("NVMe Format, SES=2 (cryptographic erase): Purge, after Sanitize (IEEE 2883; "
             "NVMe Format NVM)"), "nvme-format", "nist-faq"),
    _row("nvme-format-user", ("nvme",), "purge", "block erase",
         "NVMe Format NVM, SES=1",
         Msg("NVMe Format, SES=1 (user data erase): Purge, after Sanitize (IEEE 2883; NVMe "
             "Format NVM)"), "nvme-format"),
    _row("ata-sanitize-crypto", ("ata-hdd", "ata-flash"), "purge", "cryptographic erase",
         "ATA SANITIZE CRYPTO SCRAMBLE EXT",
         Msg("ATA SANITIZE CRYPTO SCRAMBLE: Purge"), "seagate-sanitize", "dell-kb",
         "nist-faq"),
    _row("ata-sanitize-block", ("ata-hdd", "ata-flash"), "purge", "block erase",
         "ATA SANITIZE BLOCK ERASE EXT",
         Msg("ATA SANITIZE BLOCK ERASE: Purge, every cell including spare blocks"),
         "seagate-sanitize", "dell-kb"),
    _row("ata-sanitize-overwrite", ("ata-hdd", "ata-flash"), "purge", "overwrite",
         "ATA SANITIZE OVERWRITE EXT",
         Msg("ATA SANITIZE OVERWRITE: Purge"), "seagate-sanitize"),
    _row("ata-secure-erase-enhanced", ("ata-hdd",), "purge", "overwrite",
         "ATA SECURITY ERASE UNIT, enhanced",
         Msg("ATA ENHANCED SECURITY ERASE: Purge on a hard disk, only Clear on flash media "
             "(IEEE 2883)"), "dell-kb", "nist-secure-erase"),
    _row("ata-secure-erase-enhanced", ("ata-flash",), "clear", "overwrite",
         "ATA SECURITY ERASE UNIT, enhanced",
         Msg("ATA ENHANCED SECURITY ERASE: vendor-unique on flash, only Clear on flash media "
             "(IEEE 2883); SANITIZE is the Purge of an ATA SSD"),
         "dell-kb", "nist-secure-erase"),
    _row("ata-secure-erase", ("ata-hdd", "ata-flash"), "clear", "overwrite",
         "ATA SECURITY ERASE UNIT, normal",
         Msg("ATA SECURITY ERASE UNIT: Clear (the drive rewrites the user area; not accepted "
             "as Purge)"), "nist-secure-erase"),
    _row("scsi-sanitize-crypto", ("scsi-hdd", "scsi-flash"), "purge", "cryptographic erase",
         "SCSI SANITIZE, CRYPTOGRAPHIC ERASE",
         Msg("SCSI SANITIZE, cryptographic erase: Purge"), "seagate-sanitize", "nist-faq"),
    _row("scsi-sanitize-block", ("scsi-hdd", "scsi-flash"), "purge", "block erase",
         "SCSI SANITIZE, BLOCK ERASE",
         Msg("SCSI SANITIZE, block erase: Purge"), "seagate-sanitize"),
    _row("scsi-sanitize-overwrite", ("scsi-hdd", "scsi-flash"), "purge", "overwrite",
         "SCSI SANITIZE, OVERWRITE",
         Msg("SCSI SANITIZE, overwrite: Purge"), "seagate-sanitize"),
    _row("mmc-sanitize", ("mmc",), "clear", "block erase",
         "eMMC ERASE of the user area, then SANITIZE",
         Msg("eMMC erase and sanitize: Clear (IEEE 2883); no software Purge for eMMC"),
         "dell-kb", "jesd84"),
    _row("mmc-erase", ("mmc",), "clear", "block erase",
         "eMMC ERASE (CMD38) of the user area",
         Msg("eMMC ERASE: Clear"), "dell-kb", "jesd84"),
    _row("opal-psid-revert", DRIVES, "purge", "cryptographic erase",
         "TCG Opal PSID revert (sedutil-cli --PSIDrevert)",
         Msg("Opal PSID revert (the drive discards its media key): Purge as a cryptographic "
             "erase, only with the PSID typed from the label"), "seagate-sed", "nist-faq"),
    _row("overwrite", ANY, "clear", "overwrite",
         "host overwrite of every addressable sector, one pass, read back",
         Msg("overwrite: every addressable sector written once and read back: Clear (NIST SP "
             "800-88 Rev. 2); spare and remapped blocks are not reached"), "nist-faq",
         "nist-r2"),
)


def mapping_for(method: str, media: str) -> Mapping | None:
    """The row for `method` on `media`, or None when the method does not apply there."""
    for row in MAPPING:
        if row.method == method and media in row.media:
            return row
    return None


def level_for(method: str, media: str) -> str | None:
    row = mapping_for(method, media)
    return row.level if row else None


def technique_for(method: str, media: str) -> str | None:
    row = mapping_for(method, media)
    return row.technique if row else None


def _media_cell(media: tuple[str, ...]) -> str:
    if media == ANY:
        return "any"
    return ", ".join(MEDIA_NAMES[m] for m in media)


def mapping_markdown() -> str:
    """The README table (method, media, level, IEEE 2883 technique, source) and its sources."""
    keys = list(SOURCES)
    lines = ["| method | media | level | IEEE 2883 technique | command | source |",
             "|---|---|---|---|---|---|"]
    for row in MAPPING:
        refs = ", ".join(f"[{keys.index(s) + 1}]" for s in row.sources)
        lines.append(f"| `{row.method}` | {_media_cell(row.media)} | {row.level.capitalize()} "
                     f"| {row.technique} | {row.command} | {refs} |")
    lines.append("")
    lines += [f"{i}. {SOURCES[k]}" for i, k in enumerate(keys, 1)]
    return "\n".join(lines) + "\n"
