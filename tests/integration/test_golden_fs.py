"""Golden images of real file systems whose free space holds an old owner's data.

For each file system partclone maps (NTFS, FAT32, exFAT, ext4, XFS, btrfs, f2fs): the image
data holds no old-owner marker, the disk written from it (a loop device itself full of
markers) holds none either, the kept files read back identical through the file system's
own tools, and its checker finds it clean. Unknown, damaged and encrypted partitions are
refused unless --raw names them.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import public_pem
from appliance.imaging import build, write_image
from appliance.imaging.manifest import parse_bytes
from tests.integration import golden_support as gs
from tests.integration.loopdev import MARKER, count_markers, loop_box, sha256

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("real_commands")]
MiB = 1 << 20


def _marker_offsets(result: build.BuildResult) -> list[int]:
    """Disk offsets of every old-owner marker stored in the image data."""
    data = result.data_path.read_bytes()
    dctx = zstandard.ZstdDecompressor()
    out = []
    for c in result.manifest.chunks:
        raw = dctx.decompress(data[c.data_offset:c.data_offset + c.data_length])
        i = raw.find(MARKER)
        while i >= 0:
            out.append(c.disk_offset + i)
            i = raw.find(MARKER, i + 1)
    return out


def _data_markers(result: build.BuildResult) -> int:
    return len(_marker_offsets(result))


def _known_partclone_overmap(kind: str, part: Path) -> list[tuple[int, int]]:
    """Partition ranges partclone itself maps as used although the file system holds nothing
    there, so the old bytes in them are carried (left for a later round):
    - f2fs: partclone.f2fs maps the whole metadata area (checkpoint, SIT, NAT, SSA) as used;
      mkfs.f2fs writes one copy of each SIT/NAT pair only;
    - btrfs: partclone btrfsclone.c dump_file_extent_item() sets bits at a file extent's
      disk_bytenr, a logical address, without btrfs_map_block(): one node-size run at each
      data extent's logical address read as a physical one."""
    if kind == "f2fs":
        main_blkaddr = struct.unpack_from("<I", part.read_bytes()[0x400:0x800], 92)[0]
        return [(0, main_blkaddr * 4096)]
    if kind == "btrfs":
        dump = gs.sh("btrfs", "inspect-internal", "dump-tree", "-t", "extent", str(part)).stdout
        return [(int(m), 16384) for m in re.findall(r"key \((\d+) EXTENT_ITEM", dump)]
    return []


def _extract(disk: Path, start: int, size: int, dest: Path) -> Path:
    with open(disk, "rb") as src, open(dest, "wb") as out:
        src.seek(start)
        left = size
        while left:
            block = src.read(min(left, 4 * MiB))
            out.write(block)
            left -= len(block)
    return dest


def _read_files(kind: str, part: Path, tmp: Path) -> dict[str, str]:
    """sha256 of every kept file, read through the file system's own tools."""
    out: dict[str, str] = {}
    if kind == "vfat":
        for name in gs.KEEP:
            dest = tmp / "got"
            gs.sh("mcopy", "-o", "-i", str(part), "::" + name, str(dest))
            out[name] = gs.sha(dest.read_bytes())
        return out
    if kind == "ext4":
        for name in gs.KEEP:
            dest = tmp / "got"
            gs.sh("debugfs", "-R", f"dump /{name} {dest}", str(part))
            out[name] = gs.sha(dest.read_bytes())
        return out
    mount = {"ntfs": ["ntfs-3g", "-o", "ro"], "exfat": ["mount.exfat-fuse", "-o", "ro"]}.get(
        kind, ["mount", "-o", "loop,ro"])
    with gs.mounted(mount, part, block_device=kind == "exfat") as where:
        for name in gs.KEEP:
            out[name] = gs.sha((where / name).read_bytes())
    return out


FSCK = {"ntfs": ["ntfsfix", "--no-action"], "vfat": ["fsck.fat", "-n"],
        "exfat": ["fsck.exfat", "-n"], "ext4": ["e2fsck", "-f", "-n"],
        "xfs": ["xfs_repair", "-n", "-f"], "btrfs": ["btrfs", "check", "--readonly"],
        "f2fs": ["fsck.f2fs", "--dry-run"]}


@pytest.mark.parametrize("variant", [*gs.KINDS, *gs.FAT_VARIANTS])
def test_golden_image_of_each_file_system(variant: str, tmp_path: Path) -> None:
    fs = gs.KINDS.get(variant) or gs.FAT_VARIANTS[variant]
    kind = fs.name
    part = gs.make_fs(fs, tmp_path / f"{variant}.part")
    assert gs.markers_in(part.read_bytes()) > 0  # the old owner's data is there to leak
    disk = gs.make_disk(tmp_path / "ref.img", [(fs, part, fs.size, fs.type_guid)])
    before = sha256(disk)
    key = Ed25519PrivateKey.generate()
    (tmp_path / "pub.pem").write_bytes(public_pem(key.public_key()))
    result = build.build_image(disk, tmp_path / "out", name=kind, sign_key=key)
    assert sha256(disk) == before  # the source is only read
    assert [(p.number, p.fstype, p.action) for p in result.partitions or []] == [
        (1, kind, "file-system")]
    known = _known_partclone_overmap(kind, part)
    carried = _marker_offsets(result)
    assert [off for off in carried if not any(a <= off - MiB < a + n for a, n in known)] == []
    assert bool(carried) == (kind in ("f2fs", "btrfs"))
    m = parse_bytes(result.manifest_path.read_bytes())
    assert m.mapped_bytes + m.zero_bytes == m.image_bytes
    assert result.free_bytes > fs.size // 3
    with loop_box("golden-") as loops:
        dev, backing = loops.make(m.image_bytes, "target")  # full of markers
        r = write_image(str(result.manifest_path), dev, [tmp_path / "pub.pem"], workers=2)
        assert r.status == "imaged", r.errors
        assert count_markers(backing) == len(carried)  # every other byte is zero or new
        written = _extract(backing, MiB, fs.size, tmp_path / "written.part")
    if fs.populate is not None:
        assert _read_files(kind, written, tmp_path) == gs.expected()
    check = gs.sh(*FSCK[kind], str(written), check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_windows_layout(tmp_path: Path) -> None:
    """ESP (FAT32) + MSR + NTFS + a recovery NTFS: every partition by its used blocks, the
    MSR whole; the gaps' markers are gone."""
    esp = gs.make_fs(gs.KINDS["vfat"], tmp_path / "esp.part")
    win = gs.make_fs(gs.KINDS["ntfs"], tmp_path / "win.part")
    rec = gs.make_fs(gs.KINDS["ntfs"], tmp_path / "rec.part")
    disk = gs.make_disk(tmp_path / "win.img", [
        (gs.KINDS["vfat"], esp, 64 * MiB, "ef00"), (None, None, 16 * MiB, "0c01"),
        (gs.KINDS["ntfs"], win, 96 * MiB, "0700"), (gs.KINDS["ntfs"], rec, 96 * MiB, "2700")])
    # a Microsoft reserved partition is kept whole: it holds no old data here
    with open(disk, "r+b") as fh:
        fh.seek(65 * MiB)
        fh.write(bytes(16 * MiB))
    result = build.build_image(disk, tmp_path / "out", name="win")
    assert [(p.number, p.fstype, p.action) for p in result.partitions or []] == [
        (1, "vfat", "file-system"), (2, "", "microsoft-reserved"),
        (3, "ntfs", "file-system"), (4, "ntfs", "file-system")]
    assert _data_markers(result) == 0


def test_fat12_map_that_misses_used_clusters_is_refused(tmp_path: Path) -> None:
    """partclone 0.3.23 maps 1.5 MiB of this FAT12 as used while its 2 MiB file alone fills
    257 clusters of 8 KiB: trusting the map would truncate the file, so the cross-check
    against fsck.fat's own count refuses it."""
    part = gs.make_fs(gs.FAT12, tmp_path / "f12.part")
    disk = gs.make_disk(tmp_path / "d.img", [(gs.FAT12, part, gs.FAT12.size, "0700")])
    with pytest.raises(build.BuildRefused) as exc:
        build.build_image(disk, tmp_path / "out")
    assert "but fsck.fat counts" in str(exc.value.reasons[0])
    raw = build.build_image(disk, tmp_path / "out", raw=["1"])
    assert raw.partitions is not None and raw.partitions[0].action == "raw"


def _one_partition_disk(tmp_path: Path, fill: bytes | None) -> Path:
    part = tmp_path / "p.part"
    with open(part, "wb") as fh:
        fh.truncate(16 * MiB)
    gs.write_markers(part, 16 * MiB)
    if fill is not None:
        with open(part, "r+b") as fh:
            fh.write(fill)
    return gs.make_disk(tmp_path / "d.img", [(None, part, 16 * MiB, "8300")])


@pytest.mark.parametrize("head, reason", [
    (b"LUKS\xba\xbe\x00\x02", "encrypted (LUKS)"),
    (b"\xeb\x58\x90-FVE-FS-", "encrypted (BitLocker)"),
    (None, "no file system found"),
])
def test_unmappable_partitions_are_refused(head: bytes | None, reason: str,
                                           tmp_path: Path) -> None:
    disk = _one_partition_disk(tmp_path, head)
    with pytest.raises(build.BuildRefused) as exc:
        build.build_image(disk, tmp_path / "out")
    assert any(reason in str(r) and "partition 1" in str(r) for r in exc.value.reasons)
    raw = build.build_image(disk, tmp_path / "out", raw=["1"])
    assert raw.partitions is not None and raw.partitions[0].action == "raw"
    assert _data_markers(raw) > 0  # copied whole, as asked


def test_damaged_file_system_is_refused(tmp_path: Path) -> None:
    fs = gs.KINDS["ext4"]
    part = gs.make_fs(fs, tmp_path / "e.part")
    gs.sh("debugfs", "-w", "-R", "clri <2>", str(part))  # the root directory's inode
    disk = gs.make_disk(tmp_path / "d.img", [(fs, part, fs.size, "8300")])
    with pytest.raises(build.BuildRefused) as exc:
        build.build_image(disk, tmp_path / "out")
    assert "e2fsck finds errors" in str(exc.value.reasons[0])
    with pytest.raises(build.BuildRefused, match="no such partition"):
        build.build_image(disk, tmp_path / "out", raw=["7"])


def test_partclone_not_installed_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    fs = gs.KINDS["vfat"]
    part = gs.make_fs(fs, tmp_path / "f.part")
    disk = gs.make_disk(tmp_path / "d.img", [(fs, part, fs.size, "ef00")])
    empty = tmp_path / "bin"
    empty.mkdir()
    for tool in ("blkid", "losetup", "fsck.fat"):
        (empty / tool).symlink_to(shutil.which(tool) or tool)
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(build.BuildRefused, match="partclone.fat is not installed"):
        build.build_image(disk, tmp_path / "out")


def test_page_files_left_out_when_asked(tmp_path: Path) -> None:
    """pagefile.sys and hiberfil.sys hold old memory: with drop_page_files their clusters
    are zeros in the image, the files stay (same size, now zeros), the rest is intact."""
    fs = gs.KINDS["ntfs"]
    part = gs.make_fs(fs, tmp_path / "n.part")
    secret = b"OLD-MEMORY-PAGE-" * 256  # 4 KiB
    with gs.mounted(["ntfs-3g"], part) as where:
        (where / "pagefile.sys").write_bytes(secret * 300)
        (where / "hiberfil.sys").write_bytes(secret * 100)
    disk = gs.make_disk(tmp_path / "d.img", [(fs, part, fs.size, "0700")])
    key = Ed25519PrivateKey.generate()
    (tmp_path / "pub.pem").write_bytes(public_pem(key.public_key()))

    def stored(result: build.BuildResult) -> int:
        data = result.data_path.read_bytes()
        dctx = zstandard.ZstdDecompressor()
        return sum(dctx.decompress(data[c.data_offset:c.data_offset + c.data_length])
                   .count(b"OLD-MEMORY-PAGE-") for c in result.manifest.chunks)

    assert stored(build.build_image(disk, tmp_path / "a", name="a")) >= 400 * 256
    result = build.build_image(disk, tmp_path / "b", name="b", sign_key=key,
                               drop_page_files=True)
    assert stored(result) == 0
    with loop_box("golden-") as loops:
        dev, backing = loops.make(result.manifest.image_bytes, "target")
        r = write_image(str(result.manifest_path), dev, [tmp_path / "pub.pem"], workers=2)
        assert r.status == "imaged", r.errors
        written = _extract(backing, MiB, fs.size, tmp_path / "written.part")
    assert _read_files("ntfs", written, tmp_path) == gs.expected()
    with gs.mounted(["ntfs-3g", "-o", "ro"], written) as where:
        page = (where / "pagefile.sys").read_bytes()
        assert len(page) == len(secret) * 300 and page.count(0) == len(page)
    check = gs.sh("ntfsfix", "--no-action", str(written), check=False)
    assert check.returncode == 0, check.stdout
