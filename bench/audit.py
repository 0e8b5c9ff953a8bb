"""Audit (`ardoise audit`) read throughput vs fio sequential read on one direct-io loop device.

    python -m bench audit [--size 4G] [--rounds 3] [--dir /var/tmp] [--no-image]

Creates a file-backed loop device (--direct-io=on) and, in the same run, on each content:
- zero: `ardoise wipe --pattern zero` (its certificate given to the audit: every byte is
  compared with zeros, a non-zero block would be searched for signatures);
- imaged: then `ardoise image write` of the bench's Debian image (bench/os_image.py, cached
  under /var/tmp/ardoise-bench/): its chunks are hashed with BLAKE3, the rest compared;
- random: `ardoise wipe --pattern random` (no pattern to compare: every byte is searched
  for signatures, the worst case for the search);
runs `fio --rw=read --bs=4M --direct=1 --ioengine=libaio --iodepth=8` and `ardoise audit
--json` in turn, each round, and reports the medians. Audit rate = bytes read / the scan's
own time (from the record; the whole command's wall time is in the note). Goal: ≥ 0.9× fio.
Needs root, fio and util-linux.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from appliance.commands.wipe import parse_size
from bench.wipe import GiB, LoopDevice, Run, check, fio, summarise, timed_cpu, versions

GOAL = 0.9
RESULTS = Path(__file__).parent / "results"


def _cli(data: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", "--lang", "en", *argv, "--data", str(data)]


def wipe(dev: str, pattern: str, data: Path) -> Path:
    res = check(timed_cpu(_cli(data, "wipe", dev, "--yes", "--json", "--pattern", pattern,
                               "--verify", "none")), "ardoise wipe")
    return Path(json.loads(res.stdout)["results"][0]["certificate"])


def image(dev: str, data: Path, published: dict[str, Path]) -> None:
    check(timed_cpu(_cli(data, "image", "write", str(published["manifest"]), dev, "--trust",
                         str(published["pub"]), "--yes", "--json")), "ardoise image write")


def audit(dev: str, content: str, data: Path, extra: list[str]) -> Run:
    res = timed_cpu(_cli(data, "audit", dev, "--json", "--operator", "bench", *extra))
    if res.returncode not in (0, 1):
        raise RuntimeError(f"ardoise audit exited {res.returncode}: {res.stderr[-500:]}")
    record = json.loads(res.stdout)
    cov = record["coverage"]
    note = (f"result {record['result']}; image {cov['image_bytes']} B, pattern "
            f"{cov['pattern_bytes']} B, searched {cov['searched_bytes']} B; whole command "
            f"{res.wall:.1f} s, {res.cpu:.2f} CPU-s")
    return Run(f"ardoise audit ({content})", "read", cov["bytes_read"], record["seconds"],
               res.cpu, note)


def markdown(rows: list[dict[str, object]], meta: dict[str, object]) -> str:
    v = meta["versions"]
    lines = [f"Audit benchmark, {meta['date']}: {meta['size_gib']} GiB direct-io loop device, "
             f"median of {meta['rounds']} rounds; {v['cpu']} ({v['cpus']} vCPU), "  # type: ignore[index]
             f"kernel {v['kernel']}; {v['fio']}. Goal: audit ≥ {GOAL}× fio seq read.",  # type: ignore[index]
             "", "| run | MB/s | × fio read (same content) | CPU-s/GiB | rounds (MB/s) |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        cpu = "" if r["cpu_s_per_gib"] is None else f"{r['cpu_s_per_gib']:.3f}"
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        rounds = ", ".join(f"{x:.0f}" for x in r["mb_s_rounds"])  # type: ignore[attr-defined]
        lines.append(f"| {r['label']} | {r['mb_s']:.0f} | {ratio} | {cpu} | {rounds} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=4 * GiB)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    ap.add_argument("--no-image", action="store_true", help="skip the imaged disk")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench audit: needs root (loop devices)", file=sys.stderr)
        return 2
    size = args.size // (4 << 20) * (4 << 20)
    published = None
    if not args.no_image:
        from bench.imaging import prepare_image
        from bench.os_image import ensure_os_image

        published = prepare_image(ensure_os_image())
    meta: dict[str, object] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "size_gib": round(size / GiB, 2), "rounds": args.rounds,
                               "versions": versions()}
    device = LoopDevice(size, args.dir)
    runs: list[Run] = []
    contents = ["zero"] + (["imaged"] if published else []) + ["random"]
    try:
        with tempfile.TemporaryDirectory(prefix="ardoise-bench-audit-", dir=args.dir) as tmp:
            data = Path(tmp)
            print(f"device {device.path} ({size / GiB:.1f} GiB, direct-io)", file=sys.stderr)
            cert = None
            for content in contents:
                if content in ("zero", "random"):
                    cert = wipe(device.path, content, data)
                else:
                    assert published is not None
                    image(device.path, data, published)
                extra = ["--certificate", str(cert)]
                if content == "imaged" and published:
                    extra += ["--manifest", str(published["manifest"]),
                              "--trust", str(published["pub"])]
                for n in range(args.rounds):
                    read = fio(device.path, size, "read")
                    read.label = f"fio seq read ({content})"
                    batch = [read, audit(device.path, content, data, extra)]
                    for r in batch:
                        print(f"round {n + 1}: {r.label:30} {r.mb_s:8.1f} MB/s", file=sys.stderr)
                    runs += batch
    finally:
        device.close()
    rows = summarise(runs)
    by_label = {str(r["label"]): float(r["mb_s"]) for r in rows}  # type: ignore[arg-type]
    for row in rows:
        label = str(row["label"])
        row.pop("ratio_to_fio", None)
        if label.startswith("ardoise audit ("):
            ref = by_label.get("fio seq read (" + label.split("(", 1)[1])
            row["ratio"] = round(float(row["mb_s"]) / ref, 3) if ref else None  # type: ignore[arg-type]
    text = markdown(rows, meta)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    document = {"meta": meta, "rows": rows, "runs": [asdict(r) for r in runs]}
    for name in (f"audit-{stamp}", "audit-latest"):
        (args.out / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(text)
    ratios = [r["ratio"] for r in rows if r.get("ratio") is not None]
    return 0 if ratios and min(ratios) >= GOAL else 1  # type: ignore[type-var]
