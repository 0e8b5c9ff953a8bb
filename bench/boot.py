"""Boot time: a plain trixie live ISO against the Ardoise ISO, same QEMU settings, one run.

Both images come from image-build/ with the same `lb config` flags and boot menus; the
plain one has live-build's default package set and none of ours (build.sh --plain). Each
boots from a virtual CD with OVMF + Secure Boot under TCG, and the clock stops at the first
sign of a usable console on ttyS0: the login prompt (plain) or the Ardoise session's ready
line (ours). Goal: ours ≤ 1.3 × plain.

    python -m bench boot [--runs N] [--firmware secure-boot|uefi|bios] [--boot-as cdrom|usb]
                         [--logs DIR]   # results: bench/results/boot-{latest,<date>}.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.vm import READY_MARKER, ROOT, VM, VMError, ensure_image, ensure_stick

# the plain image's serial getty may give up on a slow host (no device-timeout drop-in):
# multi-user.target reached counts as ready for it
PLAIN_READY = r"login: |[#$] $|Reached target .*Multi-User System"
GOAL = 1.3
RESULTS = Path(__file__).parent / "results"


def build_plain(timeout: float = 3600) -> Path:
    proc = subprocess.run(["bash", str(ROOT / "image-build" / "build.sh"), "--plain"],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise VMError(f"build.sh --plain failed:\n{proc.stdout}\n{proc.stderr}")
    match = re.search(r"^iso:\s+(\S+)", proc.stdout, re.M)
    if not match:
        raise VMError(f"build.sh --plain printed no ISO:\n{proc.stdout}")
    return Path(match.group(1)).resolve()


def time_boot(iso: Path, ready: str, workdir: Path, firmware: str, boot_as: str,
              timeout: float = 2400, keep_log: Path | None = None) -> float:
    try:
        with VM(iso, boot_as=boot_as, firmware=firmware, workdir=workdir) as vm:
            vm.start()
            vm.expect(ready, timeout=timeout)
            return vm.elapsed()
    finally:
        if keep_log is not None and (workdir / "serial.log").exists():
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(workdir / "serial.log", keep_log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench boot", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--firmware", default="secure-boot", choices=("secure-boot", "uefi", "bios"))
    parser.add_argument("--boot-as", default="cdrom", choices=("cdrom", "usb"))
    parser.add_argument("--parallel", action="store_true",
                        help="boot both images at once (on a busy host both then see the same load)")
    parser.add_argument("--plain-iso", type=Path, help="use this plain ISO (default: build it)")
    parser.add_argument("--iso", type=Path, help="use this Ardoise ISO (default: build it)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument("--logs", type=Path, help="keep each boot's serial console log here")
    args = parser.parse_args(argv)

    plain = args.plain_iso or build_plain()
    ours = args.iso or ensure_image()
    times: dict[str, list[float]] = {"plain": [], "ardoise": []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ardoise-bench-boot-") as tmp:
        images = {"plain": plain, "ardoise": ours}
        if args.boot_as == "usb":
            images = {name: ensure_stick(iso, Path(tmp) / f"{name}.img") for name, iso in images.items()}
        for run in range(args.runs):
            # alternate the order so that a noisy neighbour does not favour one image
            order = ("plain", "ardoise") if run % 2 == 0 else ("ardoise", "plain")

            def boot(name: str, run: int = run) -> float:
                ready = PLAIN_READY if name == "plain" else READY_MARKER
                log = args.logs / f"{name}-{run + 1}.serial.log" if args.logs else None
                return time_boot(images[name], ready, Path(tmp) / f"{name}-{run}",
                                 args.firmware, args.boot_as, keep_log=log)

            if args.parallel:
                with ThreadPoolExecutor(max_workers=2) as pool:
                    results = dict(zip(order, pool.map(boot, order), strict=True))
            else:
                results = {name: boot(name) for name in order}
            for name in order:
                times[name].append(results[name])
                print(f"run {run + 1}: {name:8} {results[name]:6.1f} s", flush=True)
    plain_s = statistics.median(times["plain"])
    ours_s = statistics.median(times["ardoise"])
    ratio = ours_s / plain_s
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "firmware": args.firmware, "boot_as": args.boot_as, "runs": args.runs,
        "parallel": args.parallel,
        "images": {name: {"file": path.name, "bytes": path.stat().st_size}
                   for name, path in (("plain", plain), ("ardoise", ours))},
        "seconds": times, "median_seconds": {"plain": plain_s, "ardoise": ours_s},
        "ratio": ratio, "goal": GOAL,
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    text = markdown(report)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    for name in (f"boot-{stamp}", "boot-latest"):
        (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(text)
    print(text, end="")
    return 0


def markdown(report: dict) -> str:
    med, images = report["median_seconds"], report["images"]
    mib = {name: image["bytes"] / 2**20 for name, image in images.items()}
    load = report["load_average"]
    lines = [
        f"Boot benchmark, {report['date']}: QEMU TCG, {report['firmware']}, booted as "
        f"{report['boot_as']}, {report['runs']} run(s) each, "
        f"{'both at once' if report['parallel'] else 'one after the other'}; the clock stops "
        "at the first usable console on ttyS0 (plain: login prompt; Ardoise: the session's "
        "ready line, after `ardoise --version` has run). Load average before "
        f"{', '.join(f'{x:.1f}' for x in load['before'])}, after "
        f"{', '.join(f'{x:.1f}' for x in load['after'])} (2 vCPU host).",
        "",
        "| image | size | median s | runs (s) |",
        "|---|---:|---:|---|",
    ]
    labels = {"plain": "plain trixie live ISO", "ardoise": "Ardoise ISO"}
    for name in ("plain", "ardoise"):
        runs = ", ".join(f"{x:.1f}" for x in report["seconds"][name])
        lines.append(f"| {labels[name]} ({images[name]['file']}) | {mib[name]:.0f} MiB "
                     f"| {med[name]:.1f} | {runs} |")
    verdict = "met" if report["ratio"] <= report["goal"] else "NOT met"
    lines += ["", f"Ratio Ardoise ÷ plain: {report['ratio']:.2f} (goal ≤ {report['goal']}: "
              f"{verdict})."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
