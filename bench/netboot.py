"""Netboot capacity: one HTTP server feeding N rack machines (squashfs, image data, heartbeats).

Serves a directory from `ardoise-ledger serve --netboot DIR` (and, for comparison, Python's
threading http.server) on 127.0.0.1 and measures, with real clients:

* bulk fetch of the live squashfs (the whole file, as live-boot's fetch= does) by 1..N
  parallel curl clients: aggregate and per-client MB/s;
* Range reads of the image data file in 8 MiB pieces (as appliance.imaging does), N parallel;
* small requests per second (rack.yaml + .sig, wrk) and signed heartbeats per second
  (POST /api/v1/heartbeats, wrk with one pre-signed body).

Loopback has no link limit: the numbers are the server's ceiling on this machine; the link
(1 or 10 GbE) is the other bound (docs/capacity-model.md). Bounded in time and size.

    python -m bench netboot [--squashfs FILE] [--size-mb 256] [--clients 1,2,4,8]
                            [--duration 5] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.demo import stop_server

MB = 1_000_000
PIECE = 8 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited ({proc.returncode})") from None
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def server(kind: str, directory: Path, db: Path) -> Iterator[str]:
    """A running server; yields the base URL of the served directory."""
    port = free_port()
    if kind == "ledger":
        argv = [sys.executable, "-m", "ledger.cli", "serve", "--db", str(db), "--port", str(port),
                "--netboot", str(directory), "--log-level", "warning"]
        base, probe = f"http://127.0.0.1:{port}/netboot", f"http://127.0.0.1:{port}/healthz"
    else:
        argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                str(directory), str(port)]
        base, probe = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(probe, proc)
        yield base
    finally:
        stop_server(proc)


def parallel_fetch(url: str, clients: int, size: int) -> dict[str, float]:
    """`clients` curl processes fetching the whole file at once; aggregate MB/s."""
    start = time.monotonic()
    procs = [subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                               url], stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    wall = time.monotonic() - start
    sizes = [int(float(o.split()[0])) for o in outs]
    if any(s != size for s in sizes):
        raise RuntimeError(f"short downloads: {sizes} != {size}")
    slowest = max(float(o.split()[1]) for o in outs)
    return {"clients": clients, "wall_s": round(wall, 3),
            "aggregate_MBps": round(clients * size / wall / MB, 1),
            "per_client_MBps": round(size / slowest / MB, 1)}


def range_fetch(url: str, clients: int, size: int) -> dict[str, float]:
    """`clients` readers, each reading the whole file in 8 MiB Range requests (curl, one
    connection per reader, ranges in sequence)."""
    pieces = [f"{o}-{min(o + PIECE, size) - 1}" for o in range(0, size, PIECE)]
    start = time.monotonic()
    procs = []
    for _ in range(clients):
        argv = ["curl"]
        for piece in pieces:  # --next resets the options: each range gets its own
            argv += ["-sS", "-w", "%{size_download}\n", "-r", piece, "-o", "/dev/null", url]
            argv += ["--next"] if piece != pieces[-1] else []
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600)[0] for p in procs]
    wall = time.monotonic() - start
    got = [sum(int(float(x)) for x in o.split()) for o in outs]
    if any(g > size for g in got):  # whole file for every range: Range not supported
        return {"clients": clients, "range_supported": False}
    if any(g != size for g in got):
        raise RuntimeError(f"short range reads: {got} != {size}")
    return {"clients": clients, "requests": clients * len(pieces), "wall_s": round(wall, 3),
            "aggregate_MBps": round(clients * size / wall / MB, 1),
            "requests_per_s": round(clients * len(pieces) / wall, 1)}


def wrk(url: str, duration: int, connections: int, script: Path | None = None) -> dict[str, Any]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=duration + 60,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result: dict[str, Any] = {"connections": connections, "requests_per_s": round(rps, 1),
                              "non_2xx": int(non2xx.group(1)) if non2xx else 0}
    if p99:
        value, unit = float(p99.group(1)), p99.group(2)
        result["p99_ms"] = round(value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)
    return result


def heartbeat_script(tmp: Path, db: Path) -> Path:
    """A wrk Lua script POSTing one signed heartbeat of an enrolled key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.certificate import canonical, key_id, public_pem, sign

    key = Ed25519PrivateKey.generate()
    pem = tmp / "bench-appliance.pub.pem"
    pem.write_bytes(public_pem(key.public_key()))
    subprocess.run([sys.executable, "-m", "ledger.cli", "enroll", "--name", "bench",
                    "--pubkey", str(pem), "--db", str(db)], check=True, capture_output=True)
    jobs = [{"disk_id": f"disk-{i}", "model": "QEMU HARDDISK", "serial": f"S{i}",
             "size_bytes": 500_107_862_016, "step": "erasing", "progress": 0.42,
             "rate": 1.5e8, "eta": 600.0, "method": "overwrite", "status": "running"}
            for i in range(2)]
    doc = sign({"schema": "ardoise.heartbeat/1", "sent_at": datetime.now(UTC).isoformat(),
                "appliance": {"key_id": key_id(key.public_key()), "version": "bench"},
                "host": {"serial": "BENCH-1", "product": "Rack PC", "maker": "Lab",
                         "mac": "52:54:00:00:00:01"}, "batch": "bench", "journal": "ram",
                "jobs": jobs}, key)
    body = canonical(doc).decode()
    script = tmp / "heartbeat.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(body)}\n")
    return script


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench netboot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--squashfs", type=Path, default=None,
                    help="the netboot filesystem.squashfs (default: a random file of --size-mb)")
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--clients", default="1,2,4,8")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--servers", default="ledger,http.server")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="ardnetbench-", dir="/var/tmp"))
    results: dict[str, Any] = {"when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "cpus": os.cpu_count(), "loadavg_before": os.getloadavg(),
                               "servers": {}}
    try:
        served = tmp / "netboot"
        (served / "live").mkdir(parents=True)
        squash = served / "live" / "filesystem.squashfs"
        if args.squashfs:
            shutil.copyfile(args.squashfs, squash)
        else:
            with squash.open("wb") as fh:
                for _ in range(args.size_mb):
                    fh.write(os.urandom(1 << 20))
        size = squash.stat().st_size
        os.link(squash, served / "image.data")
        (served / "rack.yaml").write_text("batch: bench\n")
        (served / "rack.yaml.sig").write_text("x" * 88 + "\n")
        results["file_bytes"] = size
        for kind in args.servers.split(","):
            db = tmp / f"{kind}.db"
            with server(kind, served, db) as base:
                entry: dict[str, Any] = {"bulk": [], "range": []}
                for n in clients:
                    entry["bulk"].append(parallel_fetch(f"{base}/live/filesystem.squashfs", n, size))
                    print(f"{kind:12} bulk   {entry['bulk'][-1]}", file=sys.stderr)
                for n in clients:
                    entry["range"].append(range_fetch(f"{base}/image.data", n, size))
                    print(f"{kind:12} range  {entry['range'][-1]}", file=sys.stderr)
                entry["small"] = wrk(f"{base}/rack.yaml", args.duration, 16)
                print(f"{kind:12} small  {entry['small']}", file=sys.stderr)
                if kind == "ledger":
                    origin = base.rsplit("/netboot", 1)[0]
                    entry["heartbeats"] = wrk(f"{origin}/api/v1/heartbeats", args.duration, 16,
                                              heartbeat_script(tmp, db))
                    print(f"{kind:12} beats  {entry['heartbeats']}", file=sys.stderr)
                results["servers"][kind] = entry
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"netboot-{stamp}.json", "netboot-latest.json"):
        (args.out / name).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
