"""`ardoise probe DEVICE [--level L] [--json]`: what a drive can do to erase itself.

Replay form (support cases, fixtures): `ardoise probe --smartctl F [--hdparm F]
[--nvme-id-ctrl F] [--nvme-id-ns F] ... [--level L] [--json]` reads captured command
outputs instead of running anything. JSON: one Disk (DESIGN.md), with "plan" when
--level is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.errors import EXIT_OK, UsageError, os_reason
from appliance.i18n import N_, _, format_size, tr
from appliance.output import emit_json, looks_like_json, say
from appliance.words import level_word
from erasure.discovery import NotAWholeDisk, resolve
from erasure.disk import Disk
from erasure.plan import LEVELS, make_plan
from erasure.probe import ProbeOutputs, disk_from_outputs, probe_device

REPLAY = (
    ("smartctl", "smartctl", N_("captured `smartctl -j -x` output")),
    ("hdparm", "hdparm_identify", N_("captured `hdparm -I` output")),
    ("hdparm-n", "hdparm_native_max", N_("captured `hdparm -N` output")),
    ("nvme-id-ctrl", "nvme_id_ctrl", N_("captured `nvme id-ctrl -o json` output")),
    ("nvme-id-ns", "nvme_id_ns", N_("captured `nvme id-ns -o json` output")),
    ("nvme-list-ns", "nvme_list_ns", N_("captured `nvme list-ns -o json` output")),
    ("sg-inq", "sg_inq", N_("captured `sg_inq` output")),
    ("sg-readcap", "sg_readcap", N_("captured `sg_readcap --long` output")),
    ("sg-opcodes", "sg_opcodes", N_("captured `sg_opcodes` output")),
    ("mmc-extcsd", "mmc_extcsd", N_("captured `mmc extcsd read` output")),
    ("sedutil-scan", "sedutil_scan", N_("captured `sedutil-cli --scan` output")),
)
TRANSPORTS = ("nvme", "sata", "sas", "scsi", "usb", "mmc", "virtio", "loop")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("probe", parents=[common],
                       help=_("show a drive's erase capabilities and plan"))
    p.add_argument("device", nargs="?", metavar="DEVICE", help=_("whole-disk device path"))
    p.add_argument("--level", choices=LEVELS, default=None,
                   help=_("add the plan for this NIST level"))
    for flag, _field, text in REPLAY:
        p.add_argument(f"--{flag}", type=Path, default=None, metavar="F", help=_(text))
    p.add_argument("--transport", choices=TRANSPORTS, default=None,
                   help=_("transport of the replayed drive (guessed when omitted)"))
    p.set_defaults(func=run)


JSON_CAPTURES = ("smartctl", "nvme_id_ctrl", "nvme_id_ns", "nvme_list_ns")


def _read(path: Path, field: str = "") -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise UsageError(_("cannot read {path}: {error}").format(
            path=path, error=tr(os_reason(exc)))) from exc
    if field in JSON_CAPTURES and not looks_like_json(text[:4096].encode()):
        raise UsageError(_("{path} is not a JSON capture: give the output of the command with "
                           "-j or -o json").format(path=path))
    if "\x00" in text:
        raise UsageError(_("{path} is not a text capture: give the command's output as text")
                         .format(path=path))
    return text


def run(args: argparse.Namespace) -> int:
    replay = {field: getattr(args, flag.replace("-", "_")) for flag, field, _t in REPLAY}
    replaying = any(v is not None for v in replay.values())
    if replaying and args.device:
        raise UsageError(_("give either a DEVICE or captured outputs, not both"))
    if replaying:
        outputs = ProbeOutputs()
        for key, value in replay.items():
            if value is not None:
                setattr(outputs, key, _read(value, key))
        disk = disk_from_outputs(outputs, transport=args.transport)
    elif args.device:
        try:
            disk = probe_device(resolve(args.device, allow_external=True))
        except NotAWholeDisk as exc:
            raise UsageError(tr(exc.args[0]) if exc.args else str(exc)) from exc
    else:
        raise UsageError(_("give a DEVICE, or captured outputs such as --smartctl F"))
    if args.level:
        disk.plan = make_plan(disk, args.level)
    if args.json:
        emit_json(disk.to_json())
    else:
        show(disk)
    return EXIT_OK


def _yes(value: bool) -> str:
    return _("yes") if value else _("no")


def show(disk: Disk) -> None:
    say(f"{disk.path}  {disk.model} [{disk.serial or '-'}]  {format_size(disk.size_bytes)}  "
        f"{disk.transport}")
    sec = disk.ata_security
    if sec is not None:
        say(_("ATA security: supported {s}, enabled {e}, locked {l}, frozen {f}, enhanced erase "
              "{x}").format(s=_yes(sec.supported), e=_yes(sec.enabled), l=_yes(sec.locked),
                            f=_yes(sec.frozen), x=_yes(sec.enhanced_erase)))
    if disk.ata_sanitize is not None:
        s = disk.ata_sanitize
        say(_("ATA sanitize: crypto {c}, block {b}, overwrite {o}").format(
            c=_yes(s.crypto), b=_yes(s.block), o=_yes(s.overwrite)))
    if disk.nvme is not None:
        n = disk.nvme
        say(_("NVMe: format {f}, FNA {fna:#x}, SANICAP {san:#x}, namespaces {ns}").format(
            f=_yes(n.format), fna=n.fna, san=n.sanicap, ns=n.namespaces))
    if disk.hpa is not None:
        say(_("HPA: {cur} of {nat} sectors visible").format(
            cur=disk.hpa.current_max_sectors, nat=disk.hpa.native_max_sectors))
    say(_("Methods: {methods}").format(methods=", ".join(disk.methods) or "-"))
    for note in disk.extra.get("probe_notes", []):
        say("  " + tr(note))
    if disk.plan is not None:
        plan = disk.plan
        state = _("reachable") if plan.reachable else _("NOT reachable")
        say(_("Plan for {level}: {state}").format(level=level_word(plan.level), state=state))
        for i, name in enumerate(plan.methods, 1):
            say(f"  {i}. {name}")
        for reason in plan.reasons:
            say("  - " + tr(reason))
