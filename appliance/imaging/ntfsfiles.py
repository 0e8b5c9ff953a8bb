"""Windows' page, swap and hibernation files on an NTFS partition, left out as data.

`pagefile.sys`, `swapfile.sys` and `hiberfil.sys` hold the reference machine's memory:
with `--drop-page-files` their clusters are written as zeros (the files stay, their size
and place unchanged; Windows rewrites the page files at boot and ignores a hibernation
file without its signature). Their clusters come from `ntfsinfo -F PATH -v DEVICE`
(ntfs-3g's ntfsprogs, ntfsinfo.c ntfs_dump_attribute_header / ntfs_dump_runlist): the
"Runlist:" table of each non-resident $DATA attribute, rows of VCN, LCN and length in hex
clusters. A file that is not there gives nothing on stdout ("Error loading node" on
stderr). Leaving out fewer clusters than the file has is the safe side: only these files'
own clusters are ever zeroed.
"""

from __future__ import annotations

import os
import struct

from erasure import runner

PAGE_FILES = ("/pagefile.sys", "/swapfile.sys", "/hiberfil.sys")


def cluster_bytes(fd: int, start: int) -> int:
    """Bytes per cluster from an NTFS boot sector (0 if it is not one)."""
    boot = os.pread(fd, 512, start)
    if boot[3:11] != b"NTFS    ":
        return 0
    sector = struct.unpack_from("<H", boot, 0x0B)[0]
    per = boot[0x0D]
    # 0xF4..0xFF: the cluster is 2**(256 - value) bytes (large clusters)
    return sector * per if per < 0x80 else 1 << (256 - per)


def parse_runlists(text: str) -> list[tuple[int, int]]:
    """(lcn, clusters) of every allocated run in ntfsinfo's "Runlist:" tables."""
    out: list[tuple[int, int]] = []
    in_table = False
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == ["Runlist:"]:
            in_table = True
            continue
        if not in_table:
            continue
        if len(fields) != 3:
            in_table = False
            continue
        try:
            _vcn, lcn, length = (int(f, 16) for f in fields)
        except ValueError:  # a sparse run (no LCN)
            continue
        if lcn >= 0 and length > 0:
            out.append((lcn, length))
    return out


def page_file_ranges(device: str, fd: int, start: int) -> list[tuple[int, int]]:
    """Byte ranges (in the disk) of the page, swap and hibernation files of the NTFS at
    `start`, read through `device` (a read-only loop device over the partition)."""
    size = cluster_bytes(fd, start)
    if not size:
        return []
    out = []
    for path in PAGE_FILES:
        result = runner.run(["ntfsinfo", "-F", path, "-v", device], timeout=120, check=False)
        if result.returncode != 0:
            continue
        out += [(start + lcn * size, n * size) for lcn, n in parse_runlists(result.stdout)]
    return out
