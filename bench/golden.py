"""Golden images: ardoise image data and write vs partclone + zstd and bmaptool.

Windows-like (ESP + MSR + NTFS) and ext4 reference disks whose free space holds an old
owner's data; partclone + zstd is Clonezilla's way.

Each reference disk is filled with random bytes (the previous owner), then partitioned,
formatted without zeroing, filled with real files (copied from /usr through ntfs-3g or
the kernel) and some are deleted. Then, on the same target loop device (direct I/O):
  - image data size: ardoise's data file vs `partclone.<fs> -c | zstd -T0 -3` per partition;
  - write time: `ardoise image write` (with its full read-back) vs
    `zstdcat | partclone.<fs> -r` per partition (no read-back) vs `bmaptool copy` (bmap of
    the raw disk file, no read-back).
Page caches are dropped before every timed run. Goals (issue 17): write + read-back <= 0.8x
partclone's restore; data <= 1.1x partclone + zstd.

    python -m bench golden [--ntfs-gib N] [--ext4-gib N] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

CACHE = Path("/var/tmp/ardoise-bench/golden")
RESULTS = Path(__file__).parent / "results"
MiB = 1 << 20
GOAL_WRITE, GOAL_DATA = 0.8, 1.1
PROGRAM = {"ntfs": "partclone.ntfs", "vfat": "partclone.fat", "ext4": "partclone.extfs"}


def _run(argv: list[str], timeout: float = 3600) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-800:]}")
    return proc.stdout


def _pipe(first: list[str], second: list[str], timeout: float = 3600) -> None:
    a = subprocess.Popen(first, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    b = subprocess.run(second, stdin=a.stdout, capture_output=True, timeout=timeout,
                       check=False)
    assert a.stdout is not None
    a.stdout.close()
    if a.wait(timeout) != 0 or b.returncode != 0:
        raise RuntimeError(f"{first} | {second}: {a.returncode} {b.returncode} "
                           f"{b.stderr[-500:]!r}")


def _drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def _loop(path: Path, offset: int = 0, size: int = 0, ro: bool = False) -> str:
    argv = ["losetup", "--find", "--show", "--direct-io=on"] + (["--read-only"] if ro else [])
    if size:
        argv += ["--offset", str(offset), "--sizelimit", str(size)]
    return _run([*argv, str(path)]).strip()


def _detach(dev: str) -> None:
    subprocess.run(["losetup", "--detach", dev], check=False, timeout=60)


def _fill_random(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        for _ in range(size // (16 * MiB)):
            fh.write(os.urandom(16 * MiB))
        fh.truncate(size)


def _copy_files(where: Path, budget: int) -> int:
    """Real files from /usr, up to budget bytes; then every fifth one deleted."""
    copied, done = [], 0
    for root in ("/usr/share", "/usr/lib"):
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                src = Path(dirpath) / name
                if src.is_symlink() or not src.is_file() or done >= budget:
                    continue
                dest = where / str(len(copied) // 500) / f"{len(copied)}-{name}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(src, dest)
                except OSError:
                    continue
                copied.append(dest)
                done += src.stat().st_size
    os.sync()
    for dest in copied[::5]:
        done -= dest.stat().st_size
        dest.unlink()
    os.sync()
    return done


def _mounted_copy(mount: list[str], dev: str, budget: int) -> int:
    where = CACHE / "mnt"
    where.mkdir(parents=True, exist_ok=True)
    _run([*mount, dev, str(where)])
    try:
        return _copy_files(where, budget)
    finally:
        _run(["umount", str(where)])


def make_disk(kind: str, gib: float) -> tuple[Path, list[tuple[int, str, int, int]], int]:
    """(disk file, [(number, fstype, start, size)], bytes of files kept), cached."""
    path = CACHE / f"{kind}.img"
    meta = CACHE / f"{kind}.json"
    if path.exists() and meta.exists():
        doc = json.loads(meta.read_text())
        return path, [tuple(p) for p in doc["parts"]], doc["files"]  # type: ignore[misc]
    CACHE.mkdir(parents=True, exist_ok=True)
    main_size = int(gib * 1024) * MiB
    if kind == "ntfs":
        layout = [(1, "vfat", 100 * MiB, "ef00"), (2, "", 16 * MiB, "0c01"),
                  (3, "ntfs", main_size, "0700")]
    else:
        layout = [(1, "ext4", main_size, "8300")]
    total = 2 * MiB + sum(s for _, _, s, _ in layout)
    _fill_random(path, total)
    argv = ["sgdisk", "-o"]
    for n, _fs, size, code in layout:
        argv += ["-n", f"{n}:0:+{size // 1024}K", "-t", f"{n}:{code}"]
    _run([*argv, str(path)])
    parts, start, files = [], MiB, 0
    for n, fs, size, _code in layout:
        dev = _loop(path, start, size)
        try:
            if fs == "vfat":
                _run(["mkfs.fat", "-I", "-F", "32", dev])
            elif fs == "ntfs":
                _run(["mkntfs", "-Q", "-F", "-q", dev])
                files += _mounted_copy(["ntfs-3g"], dev, int(size * 0.7))
            elif fs == "ext4":
                _run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", dev])
                files += _mounted_copy(["mount"], dev, int(size * 0.7))
            else:  # the Microsoft reserved partition: zeros, as Windows leaves it
                with open(dev, "r+b") as fh:
                    fh.write(bytes(size))
        finally:
            _detach(dev)
        parts.append((n, fs, start, size))
        start += size
    meta.write_text(json.dumps({"parts": parts, "files": files}))
    return path, parts, files


def _timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    _drop_caches()
    t = time.monotonic()
    fn(*args)
    return time.monotonic() - t


def measure(kind: str, disk: Path, parts: list[tuple[int, str, int, int]], rounds: int
            ) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.certificate import private_pem, public_pem

    work = CACHE / f"{kind}-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    key = Ed25519PrivateKey.generate()
    (work / "k.pem").write_bytes(private_pem(key))
    (work / "pub.pem").write_bytes(public_pem(key.public_key()))
    cli = [sys.executable, "-m", "appliance.cli"]
    out: dict = {"disk_bytes": disk.stat().st_size}
    out["build_s"] = _timed(_run, [*cli, "image", "build", str(disk), "--out", str(work / "img"),
                                   "--name", kind, "--sign-key", str(work / "k.pem")])
    out["ardoise_data_bytes"] = (work / "img" / f"{kind}.data").stat().st_size
    fs_parts = [p for p in parts if p[1] in PROGRAM]

    def clone() -> None:
        for n, fs, start, size in fs_parts:
            dev = _loop(disk, start, size, ro=True)
            try:
                _pipe([PROGRAM[fs], "-c", "-s", dev, "-o", "-", "-L", "/dev/null", "-q"],
                      ["zstd", "-T0", "-3", "-q", "-f", "-o", str(work / f"p{n}.pc.zst")])
            finally:
                _detach(dev)
    out["partclone_clone_s"] = _timed(clone)
    out["partclone_zstd_bytes"] = sum((work / f"p{n}.pc.zst").stat().st_size
                                      for n, *_ in fs_parts)
    _run(["bmaptool", "create", "-o", str(work / "disk.bmap"), str(disk)])
    def restore() -> None:
        for n, fs, start, size in fs_parts:
            part = _loop(target, start, size)
            try:
                _pipe(["zstdcat", str(work / f"p{n}.pc.zst")],
                      [PROGRAM[fs], "-r", "-s", "-", "-o", part, "-L", "/dev/null", "-q"])
            finally:
                _detach(part)

    target = work / "target.img"
    with open(target, "wb") as fh:
        fh.truncate(disk.stat().st_size)
    dev = _loop(target)
    runs: dict[str, list[float]] = {"ardoise": [], "partclone": [], "bmaptool": []}
    try:
        for _ in range(rounds):  # interleaved, so a load change hits every tool alike
            runs["ardoise"].append(_timed(_run, [
                *cli, "image", "write", str(work / "img" / f"{kind}.manifest.json"), dev,
                "--trust", str(work / "pub.pem"), "--yes", "--no-certificate"]))
            runs["partclone"].append(_timed(restore))
            runs["bmaptool"].append(_timed(_run, ["bmaptool", "copy", "--bmap",
                                                  str(work / "disk.bmap"), str(disk), dev]))

    finally:
        _detach(dev)
    out["rounds"] = runs
    out["ardoise_write_readback_s"] = statistics.median(runs["ardoise"])
    out["partclone_restore_s"] = statistics.median(runs["partclone"])
    out["bmaptool_copy_s"] = statistics.median(runs["bmaptool"])
    out["write_ratio"] = out["ardoise_write_readback_s"] / out["partclone_restore_s"]
    out["data_ratio"] = out["ardoise_data_bytes"] / out["partclone_zstd_bytes"]
    return out


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def markdown(results: dict) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rounds = len(next(iter(results.values()))["rounds"]["ardoise"])
    lines = [f"Golden image benchmark, {when}; one direct-io loop device per target, caches "
             f"dropped before each timed run, median of {rounds} interleaved rounds; load "
             f"average at the end {os.getloadavg()[0]:.1f} ({os.cpu_count()} vCPU).", "",
             "| reference disk | ardoise data | partclone + zstd -3 | data ratio | ardoise "
             "write + read-back | partclone restore (no read-back) | write ratio | bmaptool "
             "copy (no read-back) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results.values():
        lines.append(
            f"| {r['label']} | {r['ardoise_data_bytes'] / MiB:.0f} MiB | "
            f"{r['partclone_zstd_bytes'] / MiB:.0f} MiB | {r['data_ratio']:.2f} | "
            f"{r['ardoise_write_readback_s']:.1f} s | {r['partclone_restore_s']:.1f} s | "
            f"{r['write_ratio']:.2f} | {r['bmaptool_copy_s']:.1f} s |")
    lines += [""] + [
        f"Rounds, {r['label']}: ardoise {_list(r['rounds']['ardoise'])} s; partclone "
        f"{_list(r['rounds']['partclone'])} s; bmaptool {_list(r['rounds']['bmaptool'])} s."
        for r in results.values()]
    lines += ["", f"Goals: data ≤ {GOAL_DATA} × partclone + zstd; write + read-back ≤ "
              f"{GOAL_WRITE} × partclone's restore."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench golden")
    ap.add_argument("--ntfs-gib", type=float, default=2.0)
    ap.add_argument("--ext4-gib", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results = {}
    for kind, gib in (("ntfs", args.ntfs_gib), ("ext4", args.ext4_gib)):
        disk, parts, files = make_disk(kind, gib)
        r = measure(kind, disk, parts, args.rounds)
        label = ("GPT: ESP FAT32 100 MiB + MSR + NTFS" if kind == "ntfs" else "GPT: ext4")
        r["label"] = f"{label} {gib:g} GiB, {files / MiB:.0f} MiB of files"
        results[kind] = r
        print(json.dumps({kind: r}), file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    text = markdown(results)
    (RESULTS / "golden-latest.md").write_text(text)
    (RESULTS / "golden-latest.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
