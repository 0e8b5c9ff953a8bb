"""Used blocks of a file system from partclone, and a read-only consistency check.

`partclone.<fs> -D` writes a ddrescue domain log of the blocks the file system uses
(partclone src/main.c, `opt.domain`): comment lines starting with "#", one status line
"0x<end>     ?" and then "0x<pos>  0x<size>  <+|?>" runs, "+" for used blocks and "?" for
free ones, covering the file system from its first byte to totalblock * block_size. With
`--offset_domain=X` every position is shifted by X. On any failure (not that file system,
NTFS scheduled for a check, bitmap errors) partclone prints the reason to stderr, then
"Partclone fail, please check <logfile> !", and exits 1.

Only argv lists through erasure.runner; the device given is a read-only loop device.
"""

from __future__ import annotations

from dataclasses import dataclass

from erasure import runner
from erasure.text import Msg

# blkid TYPE -> partclone program (partclone.fat handles FAT12, FAT16 and FAT32)
PROGRAMS = {
    "ntfs": "partclone.ntfs",
    "vfat": "partclone.fat",
    "exfat": "partclone.exfat",
    "ext2": "partclone.extfs",
    "ext3": "partclone.extfs",
    "ext4": "partclone.extfs",
    "xfs": "partclone.xfs",
    "btrfs": "partclone.btrfs",
    "f2fs": "partclone.f2fs",
}

# blkid TYPE -> read-only check (every one of these changes nothing on the device)
FSCK = {
    "ntfs": ["ntfsfix", "--no-action"],
    "vfat": ["fsck.fat", "-n"],
    "exfat": ["fsck.exfat", "-n"],
    "ext2": ["e2fsck", "-f", "-n"],
    "ext3": ["e2fsck", "-f", "-n"],
    "ext4": ["e2fsck", "-f", "-n"],
    "xfs": ["xfs_repair", "-n"],
    "btrfs": ["btrfs", "check", "--readonly"],
    "f2fs": ["fsck.f2fs", "--dry-run"],
}

MAP_TIMEOUT = 3600
CHECK_TIMEOUT = 3600


class PartcloneError(Exception):
    def __init__(self, message: Msg):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Domain:
    fs_bytes: int  # bytes the file system spans (totalblock * block_size)
    used: list[tuple[int, int]]  # (offset, length) of used runs, offset_domain applied


def parse_domain(text: str, offset: int = 0) -> Domain:
    """A partclone domain log -> its used runs; anything malformed raises ValueError."""
    end: int | None = None
    used: list[tuple[int, int]] = []
    pos = offset
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if end is None:  # the status line: current position and status
            if len(fields) != 2:
                raise ValueError(f"no status line: {line!r}")
            end = int(fields[0], 16)
            continue
        if len(fields) != 3 or fields[2] not in ("+", "?"):
            raise ValueError(f"not a domain line: {line!r}")
        start, size = int(fields[0], 16), int(fields[1], 16)
        if start != pos:
            raise ValueError(f"domain runs are not contiguous at {start:#x}")
        pos = start + size
        if fields[2] == "+" and size:
            used.append((start, size))
    if end is None:
        raise ValueError("empty domain log")
    if pos != end:
        raise ValueError(f"domain runs end at {pos:#x}, status line says {end:#x}")
    return Domain(end - offset, used)


def _reason(result: runner.Result) -> str:
    """partclone's own reason: the stderr line before "Partclone fail"."""
    lines = [ln.strip() for ln in result.stderr.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Partclone fail")
             and not ln.startswith("Partclone v") and not ln.startswith("Starting to map")]
    return lines[-1] if lines else f"exit status {result.returncode}"


def used_runs(device: str, fstype: str, offset: int) -> Domain:
    """The used runs of the file system on `device` (a loop device over one partition),
    positioned at `offset` in the disk."""
    program = PROGRAMS[fstype]
    argv = [program, "-D", "-s", device, "-o", "-", "-L", "/dev/null", "-q",
            f"--offset_domain={offset}"]
    try:
        result = runner.run(argv, timeout=MAP_TIMEOUT, check=False)
    except runner.CommandNotFound as exc:
        raise PartcloneError(Msg("{program} is not installed", program=program)) from exc
    except runner.CommandTimeout as exc:
        raise PartcloneError(Msg("{program} did not finish", program=program)) from exc
    if result.returncode != 0:
        raise PartcloneError(Msg("{program}: {reason}", program=program,
                                 reason=_reason(result)))
    try:
        return parse_domain(result.stdout, offset)
    except ValueError as exc:
        raise PartcloneError(Msg("{program} gave an unreadable map: {error}",
                                 program=program, error=str(exc))) from exc


def check(device: str, fstype: str) -> str:
    """The checker's stdout; PartcloneError unless it finds the file system clean."""
    argv = [*FSCK[fstype], device]
    try:
        result = runner.run(argv, timeout=CHECK_TIMEOUT, check=False)
    except runner.CommandNotFound as exc:
        raise PartcloneError(Msg("{program} is not installed", program=argv[0])) from exc
    except runner.CommandTimeout as exc:
        raise PartcloneError(Msg("{program} did not finish", program=argv[0])) from exc
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stdout + "\n" + result.stderr).splitlines()
                 if ln.strip()]
        raise PartcloneError(Msg("{program} finds errors (exit status {code}): {detail}",
                                 program=argv[0], code=result.returncode,
                                 detail=lines[-1] if lines else ""))
    return result.stdout
