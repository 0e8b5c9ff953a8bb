"""Overwrite engine (`ardoise wipe`) vs fio, dd and nwipe on one direct-io loop device.

    python -m bench wipe [--size 4G] [--rounds 3] [--dir /var/tmp] [--no-nwipe]

Creates a file-backed loop device (--direct-io=on), runs every tool on it in each round
(interleaved, so a busy machine slows them alike), reports the median of the rounds and
removes the device. Needs root, fio, nwipe and util-linux.

What is measured:
- fio, dd, nwipe: CPU = the child process's user+system CPU (RUSAGE_CHILDREN);
- fio: its own bandwidth (bs=4M, direct=1, libaio, iodepth=8), sequential write and read;
- dd: wall time of `dd if=/dev/zero bs=4M oflag=direct conv=fsync`;
- ardoise: `ardoise wipe --json` (write rate = bytes / erase time, which includes opening
  the device and the final cache flush; verify read rate = bytes checked / verify time);
  CPU = user+system CPU of the engine's I/O threads (pattern generation, syscalls,
  comparisons) as the command reports it, per GiB;
- nwipe: wall time of `nwipe --autonuke --nogui --verify=off --noblank` (zero and prng);
- reference rows (no I/O, in this process, thread CPU time): the AES-128-CTR keystream
  alone (cryptography's update_into into one reused 4 MiB buffer: the cipher's own cost,
  its output staying in the CPU caches), and the engine's random fill alone (the pattern
  code writing 4 × 8 MiB buffers in turn, as the I/O threads do: the cipher plus the cost
  of storing its output to memory). "pattern generation" = ardoise random − ardoise zero.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from appliance.commands.wipe import parse_size
from erasure.blockdev import AlignedBuffer
from erasure.methods.overwrite import DEFAULT_BLOCK, DEFAULT_DEPTH
from erasure.pattern import Pattern, new_key

GiB = 1 << 30
RESULTS = Path(__file__).parent / "results"


@dataclass
class Run:
    label: str
    kind: str  # write | read | cipher (a reference without I/O)
    bytes: int
    seconds: float
    cpu_seconds: float | None = None
    note: str = ""

    @property
    def mb_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0


@dataclass
class Timed:
    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float


def timed(argv: list[str], timeout: float = 3600) -> Timed:
    """Run argv and time it (wall clock)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=timeout)
    wall = time.monotonic() - start
    return Timed(proc.returncode, out, err, wall, 0.0)


def timed_cpu(argv: list[str], timeout: float = 3600) -> Timed:
    """timed(), plus the child's user+system CPU seconds (RUSAGE_CHILDREN delta)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = timed(argv, timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def check(result: Timed, what: str) -> Timed:
    if result.returncode != 0:
        raise RuntimeError(f"{what} exited {result.returncode}: {result.stderr.strip()[-500:]}")
    return result


class LoopDevice:
    def __init__(self, size: int, directory: Path):
        self.file = directory / f"ardoise-bench-{os.getpid()}.img"
        with open(self.file, "wb") as fh:
            os.posix_fallocate(fh.fileno(), 0, size)
        self.path = check(timed(["losetup", "-f", "--show", "--direct-io=on", str(self.file)]),
                          "losetup").stdout.strip()
        self.size = size

    def close(self) -> None:
        for _ in range(20):
            if timed(["losetup", "-d", self.path]).returncode == 0:
                break
            time.sleep(0.2)
        self.file.unlink(missing_ok=True)


def fio(dev: str, size: int, rw: str, end_fsync: bool = False) -> Run:
    argv = ["fio", "--name=seq", f"--filename={dev}", f"--rw={rw}", "--bs=4M", "--direct=1",
            "--ioengine=libaio", "--iodepth=8", f"--size={size}", "--output-format=json"]
    if end_fsync:
        argv.append("--end_fsync=1")
    res = check(timed_cpu(argv), "fio")
    job = json.loads(res.stdout[res.stdout.index("{"):])["jobs"][0]["write" if rw == "write"
                                                                    else "read"]
    seconds = job["runtime"] / 1000
    label = f"fio seq {rw}" + (" + end_fsync" if end_fsync else "")
    return Run(label, "write" if rw == "write" else "read", job["io_bytes"], seconds,
               res.cpu, "bs=4M direct libaio iodepth=8" + (" end_fsync=1" if end_fsync else ""))


def dd(dev: str, size: int) -> Run:
    res = check(timed_cpu(["dd", "if=/dev/zero", f"of={dev}", "bs=4M", f"count={size >> 22}",
                           "oflag=direct", "conv=fsync", "status=none"]), "dd")
    return Run("dd zero", "write", size, res.wall, res.cpu, "bs=4M oflag=direct conv=fsync")


def ardoise(dev: str, pattern: str, verify: str) -> list[Run]:
    argv = [sys.executable, "-m", "appliance.cli", "--lang", "en", "wipe", dev, "--yes",
            "--json", "--pattern", pattern, "--verify", verify]
    res = timed_cpu(argv)
    # without read-back the disk is "unverified" and the exit status 1 (never "erased")
    expected, code = ("unverified", 1) if verify == "none" else ("erased", 0)
    if res.returncode != code:
        check(res, "ardoise wipe")
    (result,) = json.loads(res.stdout)["results"]
    if result["status"] != expected:
        raise RuntimeError(f"ardoise wipe: {result['status']}: {result['errors']}")
    suffix = "" if verify == "none" else f" + {verify} verify"
    runs = [Run(f"ardoise {pattern}{suffix}", "write", result["bytes_written"],
                result["erase_seconds"], result["cpu_seconds"],
                f"verify {verify}; whole command {res.wall:.1f} s, {res.cpu:.2f} CPU-s")]
    if verify != "none":
        v = result["verify"]
        runs.append(Run(f"ardoise {verify} verify read ({pattern})", "read", v["bytes_checked"],
                        v["seconds"], v["cpu_seconds"], f"result {v['result']}"))
    return runs


KEYSTREAM_LABEL = "AES-128-CTR keystream alone (OpenSSL)"
FILL_LABEL = "ardoise random fill alone (no I/O)"


def keystream(size: int, buffer: int = 4 << 20) -> Run:
    """The cipher's own cost: `size` bytes of AES-128-CTR keystream through one reused
    4 MiB buffer (cryptography's update_into, as the engine calls it), thread CPU time."""
    enc = Cipher(algorithms.AES(new_key()), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(buffer)
    out = bytearray(buffer + 15)
    count = max(1, size // buffer)
    wall, cpu = time.monotonic(), time.thread_time()
    for _ in range(count):
        enc.update_into(zeros, out)
    cpu, wall = time.thread_time() - cpu, time.monotonic() - wall
    return Run(KEYSTREAM_LABEL, "cipher", count * buffer, wall, cpu,
               "cryptography update_into, 4 MiB buffer reused (stays in cache), no I/O")


def random_fill(size: int, block: int = DEFAULT_BLOCK, buffers: int = DEFAULT_DEPTH) -> Run:
    """The engine's pattern code alone: Pattern.fill over [0, size) into `buffers`
    buffers of `block` bytes used in turn (the write path without the writes)."""
    pattern = Pattern("random", new_key())
    bufs = [AlignedBuffer(block) for _ in range(buffers)]
    try:
        for buf in bufs:  # first touch (page faults) outside the measurement
            buf.view[:block] = bytes(block)
        count = max(1, size // block)
        wall, cpu = time.monotonic(), time.thread_time()
        for n in range(count):
            pattern.fill(bufs[n % buffers].view, n * block, block)
        cpu, wall = time.thread_time() - cpu, time.monotonic() - wall
    finally:
        for buf in bufs:
            buf.close()
    return Run(FILL_LABEL, "cipher", count * block, wall, cpu,
               f"Pattern.fill into {buffers} x {block >> 20} MiB buffers in turn, one thread")


def sectors_written(dev: str) -> int:
    """Sectors written to the device so far (/sys/block/NAME/stat, field 7)."""
    return int(Path(f"/sys/block/{Path(dev).name}/stat").read_text().split()[6])


def nwipe(dev: str, size: int, method: str, logdir: Path, budget: float) -> Run:
    """nwipe on the device, stopped with SIGINT after `budget` seconds if still running
    (it is slow here); bytes = what the device saw written (block layer statistics)."""
    log = logdir / f"nwipe-{method}-{os.getpid()}.log"
    argv = ["nwipe", "--autonuke", "--nogui", f"--method={method}", "--verify=off",
            "--noblank", "--nousb", f"--logfile={log}", dev]
    if method == "random":
        argv.insert(-1, "--prng=isaac64")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sectors = sectors_written(dev)
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=budget)
        finished = True
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
        finished = False
    wall = time.monotonic() - start
    written = (sectors_written(dev) - sectors) * 512
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log.unlink(missing_ok=True)
    if finished and proc.returncode != 0:
        raise RuntimeError(f"nwipe exited {proc.returncode}")
    note = "--verify=off --noblank" + (" --prng=isaac64" if method == "random" else "")
    if not finished:
        note += f"; stopped after {budget:.0f} s: rate = bytes the device saw / wall time"
    return Run(f"nwipe {method}", "write", written if not finished else size, wall, cpu, note)


def versions() -> dict[str, str]:
    def first(argv: list[str]) -> str:
        try:
            res = timed(argv, 30)
        except OSError:
            return "missing"
        return (res.stdout or res.stderr).strip().splitlines()[0] if res.returncode == 0 else "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"fio": first(["fio", "--version"]), "nwipe": first(["nwipe", "--version"]),
            "dd": first(["dd", "--version"]), "kernel": platform.release(),
            "python": platform.python_version(), "cpu": cpu, "cpus": str(os.cpu_count())}


def summarise(runs: list[Run]) -> list[dict[str, object]]:
    labels = list(dict.fromkeys(r.label for r in runs))
    rows: list[dict[str, object]] = []
    med: dict[str, float] = {}
    for label in labels:
        group = [r for r in runs if r.label == label]
        med[label] = statistics.median(r.mb_s for r in group)
        cpus = [r.cpu_seconds / (r.bytes / GiB) for r in group if r.cpu_seconds is not None]
        rows.append({"label": label, "kind": group[0].kind, "mb_s": round(med[label], 1),
                     "mb_s_rounds": [round(r.mb_s, 1) for r in group],
                     "cpu_s_per_gib": round(statistics.median(cpus), 3) if cpus else None,
                     "note": group[0].note})
    for row in rows:
        ref = {"write": med.get("fio seq write"), "read": med.get("fio seq read")}.get(
            str(row["kind"]))
        row["ratio_to_fio"] = round(float(row["mb_s"]) / ref, 3) if ref else None  # type: ignore[arg-type]
    return rows


def markdown(rows: list[dict[str, object]], meta: dict[str, object]) -> str:
    lines = [f"Wipe benchmark, {meta['date']}: {meta['size_gib']} GiB direct-io loop device, "
             f"median of {meta['rounds']} rounds; {meta['versions']['cpu']} "  # type: ignore[index]
             f"({meta['versions']['cpus']} vCPU), kernel {meta['versions']['kernel']}; "  # type: ignore[index]
             f"{meta['versions']['fio']}, {meta['versions']['nwipe']}.",  # type: ignore[index]
             "", "| run | MB/s | × fio | CPU-s/GiB | rounds (MB/s) |",
             "|---|---:|---:|---:|---|"]
    for r in rows:
        cpu = "" if r["cpu_s_per_gib"] is None else f"{r['cpu_s_per_gib']:.3f}"
        ratio = "" if r["ratio_to_fio"] is None else f"{r['ratio_to_fio']:.2f}"
        rounds = ", ".join(f"{v:.0f}" for v in r["mb_s_rounds"])  # type: ignore[attr-defined]
        lines.append(f"| {r['label']} | {r['mb_s']:.0f} | {ratio} | {cpu} | {rounds} |")
    cost = {str(r["label"]): r["cpu_s_per_gib"] for r in rows}
    random, zero = cost.get("ardoise random"), cost.get("ardoise zero")
    if isinstance(random, float) and isinstance(zero, float):
        line = (f"\npattern generation (ardoise random − ardoise zero): "
                f"{random - zero:.3f} CPU-s/GiB")
        floor = cost.get(KEYSTREAM_LABEL)
        if isinstance(floor, float):
            line += f"; the AES-128-CTR keystream alone: {floor:.3f} CPU-s/GiB"
        lines.append(line + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench wipe", description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=4 * GiB)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    ap.add_argument("--no-nwipe", action="store_true")
    ap.add_argument("--nwipe-seconds", type=float, default=45.0,
                    help="stop each nwipe run after this long (first round only)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench wipe: needs root (loop devices)", file=sys.stderr)
        return 2
    size = args.size // (4 << 20) * (4 << 20)
    meta: dict[str, object] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "size_gib": round(size / GiB, 2), "rounds": args.rounds,
                               "versions": versions()}
    print(f"versions: {json.dumps(meta['versions'])}", file=sys.stderr)
    device = LoopDevice(size, args.dir)
    runs: list[Run] = []
    try:
        print(f"device {device.path} ({size / GiB:.1f} GiB, direct-io)", file=sys.stderr)
        fio(device.path, size, "write")  # warm-up: allocate and settle the backing file
        for n in range(args.rounds):
            batch = [fio(device.path, size, "write"), fio(device.path, size, "read"),
                     fio(device.path, size, "write", end_fsync=True), dd(device.path, size)]
            batch += ardoise(device.path, "zero", "none")
            batch += ardoise(device.path, "random", "none")
            batch += ardoise(device.path, "random", "full")
            batch += [keystream(size), random_fill(size)]
            if not args.no_nwipe and n == 0:
                batch += [nwipe(device.path, size, "zero", args.dir, args.nwipe_seconds),
                          nwipe(device.path, size, "random", args.dir, args.nwipe_seconds)]
            for r in batch:
                print(f"round {n + 1}: {r.label:34} {r.mb_s:8.1f} MB/s", file=sys.stderr)
            runs += batch
    finally:
        device.close()
    rows = summarise(runs)
    text = markdown(rows, meta)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    document = {"meta": meta, "rows": rows, "runs": [asdict(r) for r in runs]}
    for name in (f"wipe-{stamp}", "wipe-latest"):
        (args.out / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(text)
    return 0
