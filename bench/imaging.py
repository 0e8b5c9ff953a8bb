"""Imaging benchmark: `ardoise image write` (with its full read-back) against `bmaptool copy`
(no read-back) and `dd bs=4M oflag=direct` + `sha256sum` read-back, on one loop device
(direct I/O) of the image's size, in the same run.

The image is a real bootable Debian disk (bench/os_image.py, cached under
/var/tmp/ardoise-bench/). Page caches are dropped before every timed run so each tool
reads its source cold. Goals: ours <= 0.67x bmaptool and <= 0.33x dd + sha256.

    python -m bench imaging [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.os_image import CACHE, ensure_os_image

GOAL_BMAPTOOL = 0.67
GOAL_DD = 0.33
RESULTS = Path(__file__).parent / "results"
LABELS = (("bmaptool", "bmaptool copy (bmap, no read-back)"),
          ("dd+sha256", "dd bs=4M oflag=direct + sha256sum read-back"),
          ("ardoise", "ardoise image write (full read-back)"))


CPU: dict[str, float] = {"seconds": 0.0}  # CPU time (user + sys) of the commands run


def _run(argv: list[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["seconds"] += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return proc


def _drop_caches() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def prepare_image(img: Path) -> dict[str, Path]:
    """The signed ardoise image of `img` and the publisher key, cached next to it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.certificate import load_private_pem, private_pem, public_pem

    out = CACHE / "ardoise"
    out.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = CACHE / "publisher.key", CACHE / "publisher.pub.pem"
    if not key_path.exists():
        key = Ed25519PrivateKey.generate()
        key_path.write_bytes(private_pem(key))
        pub_path.write_bytes(public_pem(key.public_key()))
    key = load_private_pem(key_path.read_bytes())
    manifest = out / "debian.manifest.json"
    if not manifest.exists() or manifest.stat().st_mtime < img.stat().st_mtime:
        from appliance.imaging import build_image

        t = time.monotonic()
        r = build_image(img, out, name="debian", version="12", sign_key=key)
        print(f"ardoise image build: {time.monotonic() - t:.1f} s, {r.manifest.mapped_bytes} "
              f"bytes mapped, {r.manifest.data_bytes} bytes of zstd data", file=sys.stderr)
    return {"manifest": manifest, "pub": pub_path}


def prepare(img: Path) -> dict[str, Path | str]:
    """bmap, signed ardoise image and the image's sha256, cached next to the image."""
    signed = prepare_image(img)
    bmap = CACHE / (img.name + ".bmap")
    if not bmap.exists() or bmap.stat().st_mtime < img.stat().st_mtime:
        _run(["bmaptool", "create", "-o", str(bmap), str(img)])
    sha_file = CACHE / (img.name + ".sha256")
    if not sha_file.exists() or sha_file.stat().st_mtime < img.stat().st_mtime:
        sha_file.write_text(_sha256(img) + "\n")
    return {**signed, "bmap": bmap, "sha256": sha_file.read_text().strip()}


def run_bmaptool(img: Path, bmap: Path, dev: str) -> float:
    _drop_caches()
    t = time.monotonic()
    _run(["bmaptool", "copy", "--bmap", str(bmap), str(img), dev])
    return time.monotonic() - t


def run_dd_sha256(img: Path, dev: str, expected: str) -> float:
    _drop_caches()
    t = time.monotonic()
    _run(["dd", f"if={img}", f"of={dev}", "bs=4M", "oflag=direct", "conv=fsync",
          "status=none"])
    size = img.stat().st_size
    # read back exactly the image's bytes from the device and compare with its sha256
    proc = _run(["sh", "-c", f"head -c {size} {dev} | sha256sum"])
    elapsed = time.monotonic() - t
    if proc.stdout.split()[0] != expected:
        raise RuntimeError("dd + sha256sum: read-back does not match the image")
    return elapsed


def run_ardoise(manifest: Path, pub: Path, dev: str, data_dir: Path) -> tuple[float, dict]:
    _drop_caches()
    t = time.monotonic()
    proc = _run([sys.executable, "-m", "appliance.cli", "image", "write", str(manifest), dev,
                 "--trust", str(pub), "--yes", "--json", "--data", str(data_dir),
                 "--no-certificate"])
    elapsed = time.monotonic() - t
    result = json.loads(proc.stdout)["results"][0]
    if result["status"] != "imaged" or not result["verified"]:
        raise RuntimeError(f"ardoise image write: {result['status']} {result['errors']}")
    return elapsed, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench imaging", description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("imaging bench needs root (loop devices)", file=sys.stderr)
        return 2
    img = ensure_os_image()
    prep = prepare(img)
    target = CACHE / "target.img"
    size = img.stat().st_size
    with open(target, "wb") as fh:
        fh.truncate(size)
    _run(["fallocate", "-l", str(size), str(target)])
    dev = _run(["losetup", "-f", "--show", "--direct-io=on", str(target)]).stdout.strip()
    times: dict[str, list[float]] = {"bmaptool": [], "dd+sha256": [], "ardoise": []}
    cpu: dict[str, list[float]] = {k: [] for k in times}
    last: dict = {}

    def timed(name: str, fn, *fn_args):  # type: ignore[no-untyped-def]
        CPU["seconds"] = 0.0
        out = fn(*fn_args)
        cpu[name].append(CPU["seconds"])
        return out

    try:
        data_dir = CACHE / "data"
        for _ in range(max(1, args.rounds)):
            times["bmaptool"].append(timed("bmaptool", run_bmaptool, img, Path(prep["bmap"]),
                                           dev))
            times["dd+sha256"].append(timed("dd+sha256", run_dd_sha256, img, dev,
                                            str(prep["sha256"])))
            t, last = timed("ardoise", run_ardoise, Path(prep["manifest"]), Path(prep["pub"]),
                            dev, data_dir)
            times["ardoise"].append(t)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False, timeout=60)
        target.unlink(missing_ok=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "image": str(img), "image_bytes": size,
        "ardoise_mapped_bytes": last.get("bytes_written"),
        "ardoise_zero_bytes": last.get("zero_bytes"),
        "rounds": args.rounds, "seconds": times, "median_seconds": med,
        "cpu_seconds": cpu, "median_cpu_seconds": {k: statistics.median(v) for k, v in cpu.items()},
        "ratio_vs_bmaptool": med["ardoise"] / med["bmaptool"],
        "ratio_vs_dd_sha256": med["ardoise"] / med["dd+sha256"],
        "goals": {"vs_bmaptool": GOAL_BMAPTOOL, "vs_dd_sha256": GOAL_DD},
    }
    report["load_average"] = os.getloadavg()
    text = markdown(report, img.name, last)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    for name in (f"imaging-{stamp}", "imaging-latest"):
        (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(text)
    print(json.dumps(report, indent=2) if args.json else text)
    return 0


def markdown(report: dict, image_name: str, last: dict) -> str:
    med, times = report["median_seconds"], report["seconds"]
    lines = [
        f"Imaging benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{image_name} ({report['image_bytes'] / 2**20:.0f} MiB GPT disk, Debian bookworm "
        f"ext4 root), one direct-io loop device, median of {report['rounds']} rounds, caches "
        f"dropped before each run; load average during the run "
        f"{', '.join(f'{x:.1f}' for x in report['load_average'])} (2 vCPU).",
        f"ardoise wrote {(last.get('bytes_written') or 0) / 2**20:.0f} MiB, zeroed "
        f"{(last.get('zero_bytes') or 0) / 2**20:.0f} MiB and read all of it back.",
        "",
        "| run | median s | rounds (s) | CPU s (median) | ardoise ÷ run |",
        "|---|---:|---|---:|---:|",
    ]
    for name, label in LABELS:
        rounds = ", ".join(f"{x:.1f}" for x in times[name])
        ratio = "" if name == "ardoise" else f"{med['ardoise'] / med[name]:.2f}"
        cpu = report["median_cpu_seconds"][name]
        lines.append(f"| {label} | {med[name]:.1f} | {rounds} | {cpu:.1f} | {ratio} |")
    ok_b = report["ratio_vs_bmaptool"] <= GOAL_BMAPTOOL
    ok_d = report["ratio_vs_dd_sha256"] <= GOAL_DD
    lines += ["", f"Goals: ≤ {GOAL_BMAPTOOL} × bmaptool: {'met' if ok_b else 'NOT met'}; "
                  f"≤ {GOAL_DD} × dd + sha256: {'met' if ok_d else 'NOT met'}.", ""]
    return "\n".join(lines)

if __name__ == "__main__":
    sys.exit(main())
