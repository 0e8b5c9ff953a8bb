"""Ledger load: 50 concurrent clients submitting pre-signed certificates to a real
`ardoise-ledger serve` on 127.0.0.1, on SQLite and on PostgreSQL.

wrk (Debian package) drives the load with a Lua script that cycles through distinct signed
bodies, so every request is a new certificate until the bodies run out. Bounded by
--duration. Prints submissions/s and latency percentiles; afterwards the log is checked
with `ardoise-ledger verify-log` and the number of stored certificates is compared with
the 201 answers.

    python -m bench.ledger_load [--db sqlite|postgresql|both] [--duration 10] [--connections 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.certificate import key_id, public_pem

RESULTS = Path(__file__).parent / "results"
PG_ADMIN = os.environ.get("ARDOISE_TEST_PG",
                          "postgresql+psycopg://postgres@127.0.0.1:55432/ardoise_test")
LEDGER = [sys.executable, "-m", "ledger.cli"]

LUA = r"""
local bodies = {}
local counter = 0
local stride = 1
codes = {}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do table.insert(bodies, line) end
  stride = tonumber(args[2])
  counter = id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[(counter % #bodies) + 1]
  counter = counter + stride
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("codes")
    for k, v in pairs(c) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%d": %d', k, v)) end
  io.write("CODES {" .. table.concat(parts, ", ") .. "}\n")
  io.write(string.format("LAT p50=%d p90=%d p99=%d max=%d\n", latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
  io.write(string.format("TOTAL requests=%d errors=%d duration_us=%d\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout, summary.duration))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_bodies(count: int, key: Ed25519PrivateKey) -> list[bytes]:
    """Distinct signed certificates, canonicalised the ledger's way (same bytes as RFC 8785)."""
    import base64

    import orjson

    from ledger.canonical import signed_and_unsigned

    kid = key_id(key.public_key())
    bodies = []
    for n in range(count):
        doc: dict[str, Any] = {
            "schema": "ardoise.certificate/1", "id": str(uuid.uuid4()),
            "issued_at": "2026-11-25T10:00:00Z",
            "appliance": {"key_id": kid, "version": "0.1.0", "image_build": None,
                          "hostname": "bench"},
            "organisation": "Bench", "location": None, "operator": None, "contact": None,
            "batch": f"BENCH-{n // 1000}", "donor": "Bench donor", "job_id": None,
            "host": {k: None for k in ("bios_date", "bios_vendor", "bios_version",
                                       "board_manufacturer", "board_product", "board_serial",
                                       "chassis", "chassis_serial", "family", "manufacturer",
                                       "product", "sku", "uuid", "version")}
            | {"serial": f"BENCH{n:08d}"},
            "media": {"path": "/dev/sda", "id": f"ata-BENCH_{n}", "model": "Bench SSD 256GB",
                      "serial": f"BS{n:08d}", "wwn": None, "firmware": "1.0", "type": "flash",
                      "transport": "sata", "size_bytes": 256060514304,
                      "logical_block_size": 512, "rotational": False, "removable": False,
                      "hpa": None, "dco": None},
            "sanitization": {"level": "purge", "method": "ata-sanitize-crypto",
                             "technique": "cryptographic erase", "pattern": None, "passes": 1,
                             "tool": "ardoise 0.1.0", "started_at": "2026-11-25T09:58:00Z",
                             "ended_at": "2026-11-25T09:59:00Z", "seconds": 60.5,
                             "bytes_written": 0, "throughput_bytes_per_s": None,
                             "status": "erased", "methods_tried": ["ata-sanitize-crypto"],
                             "errors": [], "io_errors": []},
            "verification": {"mode": "sample", "sample_share": 0.01, "result": "pass",
                             "bytes_checked": 2560605143, "errors": []},
            "image": None, "destination": None,
        }
        _whole, unsigned = signed_and_unsigned(doc)
        doc["signature"] = {"alg": "ed25519", "key_id": kid,
                            "value": base64.b64encode(key.sign(unsigned)).decode("ascii")}
        bodies.append(orjson.dumps(doc))
    return bodies


def cpu_seconds(root: int) -> float:
    """User + system CPU time of a process and all its descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo += [child for child, (ppid, _cpu) in stats.items() if ppid == pid]
    return total


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the ledger exited during start-up")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the ledger did not start")


def pg_database() -> tuple[str, str]:
    """A fresh database on the test PostgreSQL: (URL, name)."""
    import sqlalchemy as sa

    name = "ardoise_bench_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name


def drop_pg(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def stored_count(db: str) -> int:
    import sqlalchemy as sa

    from ledger.db import make_engine

    engine = make_engine(db)
    with engine.connect() as conn:
        n = int(conn.execute(sa.text("SELECT count(*) FROM certificates")).scalar_one())
    engine.dispose()
    return n


def run_one(kind: str, duration: int, connections: int, threads: int, work: Path,
            bodies_file: Path, pubkey: Path, workers: int = 1) -> dict[str, Any]:
    pg_name = ""
    if kind == "sqlite":
        db = str(work / "ledger.db")
    else:
        db, pg_name = pg_database()
    try:
        subprocess.run(LEDGER + ["enroll", "--db", db, "--name", "bench", "--pubkey",
                                 str(pubkey)], check=True, capture_output=True, timeout=120)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (work / f"serve-{kind}.log").open("wb")
        server = subprocess.Popen(LEDGER + ["serve", "--db", db, "--port", str(port),
                                            "--log-level", "warning", "--workers", str(workers)],
                                  stdout=log, stderr=log)
        try:
            wait_healthy(url, server)
            script = work / "submit.lua"
            script.write_text(LUA)
            cpu_before = cpu_seconds(server.pid)
            wall = time.monotonic()
            out = subprocess.run(
                ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                 "--timeout", "5s", "-s", str(script), url + "/api/v1/certificates",
                 "--", str(bodies_file), str(threads)],
                capture_output=True, text=True, timeout=duration + 60, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"wrk failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
            server_cpu = cpu_seconds(server.pid) - cpu_before
            wall = time.monotonic() - wall
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
        text = out.stdout
        codes = json.loads(re.search(r"CODES (\{.*\})", text).group(1))  # type: ignore[union-attr]
        lat = dict(re.findall(r"(p50|p90|p99|max)=(\d+)", text))
        total = re.search(r"TOTAL requests=(\d+) errors=(\d+) duration_us=(\d+)", text)
        assert total is not None
        requests, errors, micros = (int(x) for x in total.groups())
        verify = subprocess.run(LEDGER + ["verify-log", "--db", db, "--json"],
                                capture_output=True, text=True, timeout=600)
        report = json.loads(verify.stdout)
        created = int(codes.get("201", 0))
        return {
            "db": kind, "connections": connections, "workers": workers, "seconds": round(micros / 1e6, 2),
            "requests": requests, "errors": errors, "codes": codes,
            "submissions_per_s": round(created / (micros / 1e6), 1),
            "requests_per_s": round(requests / (micros / 1e6), 1),
            "latency_ms": {k: round(int(v) / 1000, 2) for k, v in lat.items()},
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_share": round(server_cpu / wall, 2),
            "server_cpu_ms_per_submission": round(1000 * server_cpu / max(created, 1), 3),
            "stored": stored_count(db), "log_verified": report["ok"],
            "tree_size": report["tree_size"],
        }
    finally:
        if pg_name:
            drop_pg(pg_name)


def markdown(record: dict[str, Any]) -> str:
    lines = [f"Ledger load, {record['when']}: {record['duration_s']} s of wrk per database, "
             f"{record['cores']} cores shared with the load generator; load average after "
             f"{record['loadavg_after'][0]}.", "",
             "| database | server processes | clients | submissions/s | p50 ms | p90 ms | p99 ms "
             "| max ms | server CPU (cores) | server CPU ms/submission | stored | log |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in record["results"]:
        lat = r["latency_ms"]
        lines.append(f"| {r['db']} | {r['workers']} | {r['connections']} | "
                     f"{r['submissions_per_s']:.0f} | {lat['p50']} | {lat['p90']} | {lat['p99']} | "
                     f"{lat['max']} | {r['server_cpu_share']} | "
                     f"{r['server_cpu_ms_per_submission']} | {r['stored']} | "
                     f"{'verified' if r['log_verified'] else 'NOT VERIFIED'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ledger_load", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--duration", type=int, default=10, help="seconds of load per database")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--workers", type=int, default=2, help="ledger server processes")
    ap.add_argument("--bodies", type=int, default=30000, help="distinct certificates")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    key = Ed25519PrivateKey.generate()
    results = []
    with tempfile.TemporaryDirectory(prefix="ardoise-ledger-load-") as tmp:
        work = Path(tmp)
        pubkey = work / "bench.pub.pem"
        pubkey.write_bytes(public_pem(key.public_key()))
        started = time.perf_counter()
        bodies_file = work / "bodies.jsonl"
        bodies_file.write_bytes(b"\n".join(make_bodies(args.bodies, key)) + b"\n")
        print(f"signed {args.bodies} certificates in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        for kind in kinds:
            results.append(run_one(kind, args.duration, args.connections, args.threads, work,
                                   bodies_file, pubkey, args.workers))
    load = os.getloadavg()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record = {"when": stamp, "cores": os.cpu_count(), "loadavg_after": [round(x, 2) for x in load],
              "duration_s": args.duration, "results": results}
    table = markdown(record)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        for name in (f"ledger_load-{stamp}", "ledger_load-latest"):
            (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
            (RESULTS / f"{name}.md").write_text(table)
    print(json.dumps(record, indent=2) if args.json else table, end="")
    return 0 if all(r["log_verified"] and r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
