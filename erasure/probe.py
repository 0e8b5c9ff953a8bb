"""Probe a drive: run the identification commands, parse them, fill the Disk.

`collect(disk)` runs smartctl / hdparm / nvme-cli / sg3_utils / mmc-utils / sedutil
(through erasure.runner, each with a timeout) and keeps their raw outputs;
`apply(disk, outputs)` is pure: it turns the outputs into Disk fields (DESIGN.md schema)
and `methods`, the erase methods this drive supports, strongest first.
`probe_device(disk)` does both. `disk_from_outputs()` builds a Disk from captured
files alone (`ardoise probe --smartctl F ...`).

Capabilities seen through a USB bridge count only when the bridge passes them through:
hdparm's IDENTIFY data must be present for ATA security/sanitize to be believed.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from erasure import nvme_sysfs, runner
from erasure.disk import AtaSecurity, Disk, Hpa, NvmeCaps, SanitizeSupport
from erasure.parse_ata import parse_hdparm_identify, parse_hdparm_native_max
from erasure.parse_mmc import MmcInfo, parse_extcsd
from erasure.parse_nvme import parse_id_ctrl, parse_id_ns, parse_list_ns, parse_sanitize_log
from erasure.parse_opal import parse_query, parse_scan
from erasure.parse_scsi import parse_sg_inq, parse_sg_opcodes, parse_sg_readcap
from erasure.parse_smartctl import parse_smartctl
from erasure.text import Msg

TIMEOUT = 60.0
SYS_BLOCK = Path("/sys/block")


@dataclass
class ProbeOutputs:
    """Raw command outputs (None: not run or nothing printed)."""

    smartctl: str | None = None
    hdparm_identify: str | None = None
    hdparm_native_max: str | None = None
    nvme_id_ctrl: str | None = None
    nvme_id_ns: str | None = None
    nvme_list_ns: str | None = None
    nvme_sanitize_log: str | None = None
    sg_inq: str | None = None
    sg_readcap: str | None = None
    sg_opcodes: str | None = None
    mmc_extcsd: str | None = None
    mmc_type: str | None = None
    sedutil_scan: str | None = None
    sedutil_query: str | None = None
    # the NVMe controller found through sysfs (nvme_sysfs.Controller fields) and the
    # disk's serial as udev gave it, before any command: id-ctrl's must match both
    nvme_controller: dict[str, Any] | None = None
    disk_serial: str = ""
    notes: list[str] = field(default_factory=list)


def _run(argv: list[str], outputs: ProbeOutputs, timeout: float = TIMEOUT) -> str | None:
    """stdout of a probe command, whatever its exit status (smartctl's is a bit mask)."""
    try:
        res = runner.run(argv, timeout=timeout, check=False)
    except runner.CommandNotFound:
        outputs.notes.append(Msg("{tool} is not installed", tool=argv[0]))
        return None
    except runner.CommandTimeout:
        outputs.notes.append(Msg("{tool} did not answer within {seconds} s", tool=argv[0],
                                 seconds=int(timeout)))
        return None
    if res.returncode != 0 and argv[0] != "smartctl":
        lines = (res.stderr.strip() or res.stdout.strip()).splitlines()
        outputs.notes.append(Msg("{command} exited {code}: {reason}", command=" ".join(argv[:2]),
                                 code=res.returncode, reason=lines[-1] if lines else ""))
    return res.stdout if res.stdout.strip() else None


def _nvme_controller(disk: Disk, out: ProbeOutputs, sysfs: Path | None) -> str | None:
    """/dev/nvmeN for the namespace, from sysfs (not from the name: see nvme_sysfs)."""
    try:
        ctrl = nvme_sysfs.resolve_controller(disk.path, sysfs)
    except nvme_sysfs.ResolveError as exc:
        out.notes.append(exc.args[0])
        return None
    out.nvme_controller = {"path": ctrl.path, "serial": ctrl.serial, "state": ctrl.state,
                           "via": ctrl.via}
    return ctrl.path


def collect(disk: Disk, sysfs: Path | None = None) -> ProbeOutputs:
    """Run the identification commands that fit the disk's transport (`sysfs`: the root
    the NVMe controller is looked up in, /sys by default)."""
    out = ProbeOutputs(disk_serial=disk.serial)
    ctrl: str | None = None
    path, transport = disk.path, disk.transport
    if transport in ("loop", "virtio"):
        return out
    out.smartctl = _run(["smartctl", "-j", "-x", path], out)
    if transport in ("sata", "usb", "scsi", "sas", "ata"):
        out.hdparm_identify = _run(["hdparm", "-I", path], out)
        out.hdparm_native_max = _run(["hdparm", "-N", path], out)
    if transport in ("sas", "scsi", "usb"):
        out.sg_opcodes = _run(["sg_opcodes", path], out)
        out.sg_readcap = _run(["sg_readcap", "--long", path], out)
    if transport == "nvme":
        ctrl = _nvme_controller(disk, out, sysfs)
        out.nvme_id_ns = _run(["nvme", "id-ns", path, "-o", "json"], out)
    if ctrl is not None:
        out.nvme_id_ctrl = _run(["nvme", "id-ctrl", ctrl, "-o", "json"], out)
        out.nvme_list_ns = _run(["nvme", "list-ns", ctrl, "-o", "json"], out)
        try:
            sanicap = parse_id_ctrl(out.nvme_id_ctrl).sanicap if out.nvme_id_ctrl else 0
        except ValueError:
            sanicap = 0
        if sanicap & 0x7:  # a sanitize may still be running (it survives a reboot)
            out.nvme_sanitize_log = _run(["nvme", "sanitize-log", ctrl, "-o", "json"], out)
    if transport == "mmc":
        try:
            out.mmc_type = (SYS_BLOCK / Path(path).name / "device" / "type").read_text().strip()
        except OSError:
            out.mmc_type = None
        out.mmc_extcsd = _run(["mmc", "extcsd", "read", path], out)
    if transport in ("sata", "nvme", "sas", "scsi"):
        out.sedutil_scan = _run(["sedutil-cli", "--scan"], out)
        scan = parse_scan(out.sedutil_scan or "", ctrl) if ctrl else None
        if scan is None:
            scan = parse_scan(out.sedutil_scan or "", path)
        if scan is not None and scan.supported:
            out.sedutil_query = _run(["sedutil-cli", "--query", path], out)
    return out


def apply(disk: Disk, outputs: ProbeOutputs) -> Disk:
    """Fill `disk` from the outputs (pure) and compute `methods`."""
    notes: list[str] = list(outputs.notes)
    smart = parse_smartctl(outputs.smartctl) if outputs.smartctl else None
    if smart is not None:
        if smart.recognised:
            disk.model = smart.model or disk.model
            disk.serial = smart.serial or disk.serial
            disk.firmware = smart.firmware or disk.firmware
            disk.size_bytes = smart.size_bytes or disk.size_bytes
            disk.logical_block_size = smart.logical_block_size or disk.logical_block_size
            disk.physical_block_size = smart.physical_block_size or disk.physical_block_size
            if smart.rotation_rate is not None:
                disk.rotational = smart.rotation_rate > 0
            disk.wwn = disk.wwn or smart.wwn
        if smart.unknown_usb_bridge:
            notes.append(Msg("smartctl does not know this USB bridge: the drive behind it "
                             "and its own erase commands are hidden"))
    ata = parse_hdparm_identify(outputs.hdparm_identify) if outputs.hdparm_identify else None
    if ata is not None and ata.identified:
        disk.model = disk.model or ata.model or ""
        disk.serial = disk.serial or ata.serial or ""
        disk.firmware = disk.firmware or ata.firmware
        if not disk.size_bytes and ata.sectors:
            disk.size_bytes = ata.sectors * (ata.logical_sector_size or 512)
        if ata.logical_sector_size:
            disk.logical_block_size = ata.logical_sector_size
        if ata.physical_sector_size:
            disk.physical_block_size = ata.physical_sector_size
        if ata.rotation_rpm is not None:
            disk.rotational = ata.rotation_rpm > 0
        disk.ata_security = ata.security
        disk.ata_sanitize = ata.sanitize
        if ata.security_level:
            disk.extra["ata_security_level"] = ata.security_level
        if ata.dco_feature:
            disk.extra["dco_feature"] = True
    elif smart is not None and smart.security is not None:
        # hdparm cannot reach the drive (a USB bridge smartctl knows): smartctl's word 128
        sec = smart.security
        disk.ata_security = AtaSecurity(sec.supported, sec.enabled, sec.locked, sec.frozen,
                                        sec.enhanced_erase)
        disk.extra["ata_security_source"] = "smartctl"
        if sec.locked:
            notes.append(Msg("the drive is locked by an ATA password (state read by smartctl)"))
    elif ata is not None and disk.transport == "usb":
        notes.append(Msg("hdparm gets no IDENTIFY data through this USB bridge: ATA security "
                         "and sanitize are not visible"))
    if disk.transport == "usb" and (disk.ata_security is not None or
                                    disk.ata_sanitize is not None):
        notes.append(Msg("behind a USB bridge ATA security and sanitize commands are not "
                         "sent: the drive is overwritten instead"))
    hpa = parse_hdparm_native_max(outputs.hdparm_native_max) if outputs.hdparm_native_max else None
    if hpa is not None:
        disk.hpa = hpa
        if hpa.enabled:
            notes.append(Msg("a host protected area hides {n} sectors",
                             n=hpa.native_max_sectors - hpa.current_max_sectors))
    _apply_nvme(disk, outputs, notes)
    _apply_scsi(disk, outputs)
    _apply_mmc(disk, outputs, notes)
    _apply_opal(disk, outputs)
    disk.extra["probe_notes"] = notes
    from erasure.plan import supported_methods  # plan imports the method registry

    disk.methods = supported_methods(disk)
    return disk


def _apply_nvme(disk: Disk, outputs: ProbeOutputs, notes: list[str]) -> None:
    if not outputs.nvme_id_ctrl:
        return
    try:
        ctrl = parse_id_ctrl(outputs.nvme_id_ctrl)
    except ValueError as exc:
        notes.append(Msg("unreadable nvme id-ctrl output: {error}", error=str(exc)))
        return
    lbaf, ns_count = 0, 1
    if outputs.nvme_id_ns:
        try:
            ns = parse_id_ns(outputs.nvme_id_ns)
            lbaf = ns.lbaf_in_use
            disk.size_bytes = disk.size_bytes or ns.size_bytes
            disk.logical_block_size = ns.block_size
            disk.extra["nvme_dlfeat"] = ns.dlfeat
        except ValueError as exc:
            notes.append(Msg("unreadable nvme id-ns output: {error}", error=str(exc)))
    if outputs.nvme_list_ns:
        try:
            ns_count = max(1, len(parse_list_ns(outputs.nvme_list_ns)))
        except ValueError:
            pass
    if not _nvme_identity(disk, outputs, ctrl.serial, notes):
        return
    disk.model = disk.model or ctrl.model
    disk.serial = disk.serial or ctrl.serial
    disk.firmware = disk.firmware or ctrl.firmware
    disk.rotational = False
    disk.nvme = NvmeCaps(
        format=ctrl.format_supported, fna=ctrl.fna, sanicap=ctrl.sanicap,
        sanitize=SanitizeSupport(crypto=ctrl.sanitize_crypto, block=ctrl.sanitize_block,
                                 overwrite=ctrl.sanitize_overwrite),
        lbaf_in_use=lbaf, crypto_erase=ctrl.format_crypto, namespaces=ns_count)
    if outputs.nvme_sanitize_log:
        try:
            status = parse_sanitize_log(outputs.nvme_sanitize_log)
            disk.extra["nvme_sanitize_status"] = {"status": status.status,
                                                  "progress": status.progress}
            if status.in_progress:
                notes.append(Msg("a sanitize is in progress ({percent}%): the drive finishes "
                                 "it before anything else", percent=int(status.fraction * 100)))
        except ValueError:
            pass
    if ctrl.format_all_namespaces:
        notes.append(Msg("Format NVM applies to all namespaces of this controller (FNA)"))


def _nvme_identity(disk: Disk, outputs: ProbeOutputs, id_serial: str, notes: list[str]) -> bool:
    """Record the controller; False (its capabilities are not believed, so no NVMe
    method is offered) when id-ctrl's serial is not the disk's (udev) or sysfs's."""
    if outputs.nvme_controller is None:
        return True
    record = dict(outputs.nvme_controller, id_ctrl_serial=id_serial)
    disk.extra["nvme_controller"] = record
    for expected in (outputs.disk_serial, record.get("serial") or ""):
        if expected and id_serial and not nvme_sysfs.same_serial(expected, id_serial):
            record["identity_mismatch"] = True
            notes.append(Msg("the NVMe controller {ctrl} reports serial {found}, not {expected}: "
                             "it may be another drive, its firmware erase is refused",
                             ctrl=record["path"], found=id_serial, expected=expected))
            return False
    return True


def _apply_scsi(disk: Disk, outputs: ProbeOutputs) -> None:
    if outputs.sg_inq:
        inq = parse_sg_inq(outputs.sg_inq)
        disk.model = disk.model or inq.model or ""
        disk.serial = disk.serial or inq.serial or ""
    if outputs.sg_readcap:
        cap = parse_sg_readcap(outputs.sg_readcap)
        if cap is not None:
            disk.size_bytes = disk.size_bytes or cap.size_bytes
            disk.logical_block_size = cap.block_size
    if outputs.sg_opcodes is not None:
        sanitize = parse_sg_opcodes(outputs.sg_opcodes)
        disk.extra["scsi_sanitize"] = asdict(sanitize) if sanitize is not None else None


def _apply_mmc(disk: Disk, outputs: ProbeOutputs, notes: list[str]) -> None:
    if disk.transport != "mmc" and outputs.mmc_extcsd is None:
        return
    card = (outputs.mmc_type or "unknown").strip()
    info = parse_extcsd(outputs.mmc_extcsd, card) if outputs.mmc_extcsd else MmcInfo(card)
    disk.extra["mmc"] = {"card_type": info.card_type, "ext_csd_rev": info.ext_csd_rev,
                         "sec_feature_support": info.sec_feature_support,
                         "sanitize": info.sanitize, "secure_erase": info.secure_erase,
                         "secure_trim": info.secure_trim}
    if card == "SD":
        notes.append(Msg("SD card: no EXT_CSD, no sanitize; only an overwrite (Clear) applies"))


def _apply_opal(disk: Disk, outputs: ProbeOutputs) -> None:
    if not outputs.sedutil_scan:
        return
    ctrl = (outputs.nvme_controller or {}).get("path")
    info = (parse_scan(outputs.sedutil_scan, ctrl) if ctrl else None) or parse_scan(
        outputs.sedutil_scan, disk.path)
    if info is None:
        return
    if outputs.sedutil_query:
        parse_query(outputs.sedutil_query, info)
    disk.extra["opal"] = asdict(info)


def remove_hpa(disk: Disk) -> str | None:
    """Restore the native max address (`hdparm -N p<native>`) so the whole capacity is
    erased; updates `disk.hpa` / `size_bytes` and returns None, or the reason it failed.

    For callers whose configuration allows it (`remove_hpa`), before planning: an
    overwrite reaches the hidden sectors only once the HPA is gone.
    """
    hpa = disk.hpa
    if hpa is None or not hpa.enabled:
        return None
    hidden = hpa.native_max_sectors - hpa.current_max_sectors
    argv = ["hdparm", "--yes-i-know-what-i-am-doing", "-N", f"p{hpa.native_max_sectors}",
            disk.path]
    try:
        res = runner.run(argv, timeout=TIMEOUT, check=False)
        check = runner.run(["hdparm", "-N", disk.path], timeout=TIMEOUT, check=False)
    except (runner.CommandNotFound, runner.CommandTimeout) as exc:
        return Msg("the host protected area could not be removed: {error}", error=str(exc))
    after = parse_hdparm_native_max(check.stdout)
    if res.returncode != 0 or after is None or after.enabled:
        return Msg("the host protected area ({n} sectors) could not be removed", n=hidden)
    native_bytes = after.native_max_sectors * disk.logical_block_size
    seen = rescan_size(disk)
    if seen != native_bytes:
        # what can be written still ends short of the native max: the planner keeps
        # refusing an overwrite of this drive as if the HPA were there
        if seen is not None:
            disk.hpa = Hpa(seen // disk.logical_block_size, after.native_max_sectors)
        disk.extra["hpa_removed"] = {"sectors": hidden, "kernel_size_bytes": seen}
        return Msg("the host protected area was removed but the kernel still sees {seen} "
                   "bytes of the {native} bytes of {path} after a rescan: nothing is "
                   "overwritten (reboot, then erase again)", path=disk.path,
                   seen="?" if seen is None else seen, native=native_bytes)
    disk.hpa = after
    disk.size_bytes = native_bytes
    disk.extra["hpa_removed"] = {"sectors": hidden}
    return None


def rescan_size(disk: Disk) -> int | None:
    """Ask the kernel to read the drive's capacity again (`1` into
    /sys/block/X/device/rescan: SCSI/libata revalidate the disk synchronously; `blockdev
    --rereadpt` rereads only the partition table), then the size it now has in bytes
    (/sys/block/X/size counts 512-byte sectors); None when sysfs cannot tell."""
    block = SYS_BLOCK / Path(os.path.realpath(disk.path)).name
    try:
        (block / "device" / "rescan").write_text("1\n")
    except OSError:
        pass  # not a SCSI/ATA disk or no rescan attribute: the size tells
    try:
        return int((block / "size").read_text().strip()) * 512
    except (OSError, ValueError):
        return None


def probe_device(disk: Disk, sysfs: Path | None = None) -> Disk:
    """Probe a live drive (commands through erasure.runner) and fill `disk`."""
    return apply(disk, collect(disk, sysfs))


def _guess_transport(outputs: ProbeOutputs) -> str:
    if outputs.nvme_id_ctrl:
        return "nvme"
    if outputs.mmc_extcsd or outputs.mmc_type:
        return "mmc"
    smart = parse_smartctl(outputs.smartctl) if outputs.smartctl else None
    if smart is not None:
        if smart.unknown_usb_bridge or (smart.device_type or "").startswith("usb") or (
                "USB" in (smart.info_name or "")):
            return "usb"
        if smart.protocol == "NVMe":
            return "nvme"
        if smart.protocol == "ATA":
            return "sata"
        if smart.protocol == "SCSI":
            return "sas"
    if outputs.hdparm_identify:
        return "sata"
    if outputs.sg_opcodes or outputs.sg_readcap or outputs.sg_inq:
        return "sas"
    return "scsi"


def disk_from_outputs(outputs: ProbeOutputs, path: str | None = None,
                      transport: str | None = None) -> Disk:
    """A Disk built from captured outputs only (no device is touched)."""
    smart = parse_smartctl(outputs.smartctl) if outputs.smartctl else None
    if path is None:
        path = (smart.info_name.split()[0] if smart and smart.info_name else None) or "(replay)"
    disk = Disk(path=path, id="", model="", serial="", size_bytes=0, logical_block_size=512,
                transport=transport or _guess_transport(outputs))
    disk.eligible = False
    disk.excluded_reason = Msg("replayed capture, not a device of this machine")
    apply(disk, outputs)
    disk.id = f"replay-{disk.serial}" if disk.serial else "replay"
    return disk


OUTPUT_FIELDS = tuple(f.name for f in fields(ProbeOutputs)
                      if f.name not in ("notes", "nvme_controller", "disk_serial"))
