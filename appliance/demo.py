"""`make demo`: the whole appliance on one machine, with nobody at the keyboard.

1. the live ISO (image-build/build.sh, reused from its cache when the inputs are unchanged);
2. a ledger on 127.0.0.1 (free port, its own SQLite file), a reader token, and the
   appliance's key, made on the host and enrolled before the first boot;
3. a small signed OS image (GPT + ext4, a few MiB) made with sgdisk / mkfs.ext4 -d and
   `ardoise image build`;
4. a stick image (ISO + ARDOISE exFAT data partition) holding a demo ardoise.yaml (erase
   clear + sample verification, the OS image, unattended with a short countdown, power off
   at the end), the appliance key and the image;
5. QEMU (TCG) boots the stick with an NVMe and a SATA disk full of fake donor data. The
   guest reaches the ledger only through user networking with `restrict=on` and one
   guestfwd (10.0.2.100:80 -> 127.0.0.1:PORT);
6. when the machine has powered itself off: the certificates the ledger holds for the batch,
   each checked with `ardoise cert verify` (signature) and with its inclusion proof against
   the ledger's signed tree head; the donor markers searched on both disk images; the total
   time.

Exit 0 only when every check passes. QEMU and the ledger are stopped on exit or Ctrl-C.
Files stay in build/demo/ (serial log, ledger log, certificates) for a look afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.certificate import canonical
from erasure import runner

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20
GUEST_LEDGER = "10.0.2.100"  # tests/e2e/vm.py HOST_ALIAS: the guestfwd address
BATCH = "demo-batch"
NVME_MARKER = b"OPEQ-DONOR-NVME-PAYROLL"
SATA_MARKER = b"OPEQ-DONOR-SATA-LETTERS"
DISK_SIZE = 64 * MiB
RUN_TIMEOUT = 3600.0


def say(text: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---- ledger ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Ledger:
    """`ardoise-ledger serve` on 127.0.0.1 only, with its own SQLite file."""

    def __init__(self, workdir: Path) -> None:
        self.db = str(workdir / "ledger.db")
        self.log_path = workdir / "ledger.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    def cli(self, *args: str) -> str:
        result = runner.run([sys.executable, "-m", "ledger.cli", *args, "--db", self.db],
                            timeout=120)
        return result.stdout.strip()

    def start(self) -> Ledger:
        self.cli("token", "create", "--name", "bootstrap")  # creates the database
        log = self.log_path.open("ab")
        # a long-lived server: started directly, stopped in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "serve", "--db", self.db, "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=log, stderr=log, start_new_session=True)
        log.close()
        wait_healthy(self.url, self.proc, self.log_path)
        self.token = self.cli("token", "create", "--name", "demo-reader").split()[-1]
        return self

    def get(self, path: str) -> Any:
        req = urllib.request.Request(self.url + path,
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        stop_server(self.proc)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path,
                 timeout: float = 240) -> None:
    """Wait until the ledger at `url` answers /healthz (a loaded machine is slow to import
    FastAPI); RuntimeError with the tail of its log when it exits or does not answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the ledger did not start:\n"
                                   + log_path.read_text(errors="replace")[-2000:]) from None
            time.sleep(0.3)


def stop_server(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM a server still running, SIGKILL it after 20 s."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# ---- inclusion proofs (RFC 9162 2.1.3.2) --------------------------------------------------------
def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes]) -> bytes:
    if leaf_index >= tree_size:
        raise ValueError("leaf index beyond the tree")
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


# ---- the OS image and the stick ---------------------------------------------------------------
def make_os_image(work: Path, publisher_key: Path) -> Path:
    """A 24 MiB GPT disk with one ext4 partition, as `ardoise image build` output in work/images."""
    tree = work / "os-tree"
    (tree / "etc").mkdir(parents=True, exist_ok=True)
    (tree / "etc" / "os-release").write_text('PRETTY_NAME="Ardoise demo OS"\nID=ardoise-demo\n')
    (tree / "README.txt").write_text("A clean system, written by Ardoise after the erasure.\n")
    raw = work / "demo-os.img"
    part = work / "demo-os.part"
    raw.unlink(missing_ok=True)
    part.unlink(missing_ok=True)
    with raw.open("wb") as fh:
        fh.truncate(24 * MiB)
    runner.run(["sgdisk", "-o", "-n", "1:2048:-2048", "-t", "1:8300", "-c", "1:demo-root",
                str(raw)], timeout=60)
    with part.open("wb") as fh:
        fh.truncate(21 * MiB)  # inside the partition (2048 .. last usable - 2048)
    runner.run(["mkfs.ext4", "-q", "-F", "-L", "demo-root", "-d", str(tree), str(part)],
               timeout=120)
    runner.run(["dd", f"if={part}", f"of={raw}", "bs=1M", "seek=1", "conv=notrunc,sparse",
                "status=none"], timeout=120)
    part.unlink()
    out = work / "images"
    shutil.rmtree(out, ignore_errors=True)
    result = runner.run([sys.executable, "-m", "appliance.cli", "image", "build", str(raw),
                         "--out", str(out), "--name", "demo-os", "--version", "1",
                         "--sign-key", str(publisher_key), "--json"], timeout=600)
    return Path(json.loads(result.stdout)["manifest"])


def demo_config(batch: str = BATCH, countdown: int = 15, after: str = "poweroff",
                unattended: bool = True) -> str:
    return f"""\
# Ardoise demo: erase every internal disk, write the demo OS, send the certificates.
organisation: OPEQ
location: Demo bench
operator: demo
batch: {batch}
donor: Example Donor Inc.
erase:
  level: clear
  verify: sample
image:
  manifest: images/demo-os.manifest.json
  trust: [keys/publisher.pub.pem]
  required: true
unattended:
  enabled: {"true" if unattended else "false"}
  countdown_seconds: {countdown}
  after: {after}
ledger:
  url: http://{GUEST_LEDGER}
  heartbeat_seconds: 10
"""


def data_partition(stick: Path) -> tuple[int, int]:
    """(offset, size) in bytes of the stick image's ARDOISE partition (the last one)."""
    table = json.loads(runner.run(["sfdisk", "--json", str(stick)], timeout=30).stdout)
    parts = table["partitiontable"]["partitions"]
    last = max(parts, key=lambda p: p["start"])
    sector = int(table["partitiontable"].get("sectorsize", 512))
    return last["start"] * sector, last["size"] * sector


@contextmanager
def mounted_data(stick: Path) -> Iterator[Path]:
    """The stick image's exFAT data partition, mounted (loop device of our own + exfat-fuse)."""
    offset, size = data_partition(stick)
    loop = runner.run(["losetup", "-f", "--show", "-o", str(offset), "--sizelimit", str(size),
                       str(stick)], timeout=30).stdout.strip()
    mnt = Path(tempfile.mkdtemp(prefix="ardoise-demo-data-"))
    try:
        runner.run(["mount.exfat-fuse", "-o", "rw", loop, str(mnt)], timeout=30)
        try:
            yield mnt
        finally:
            runner.run(["sync"], timeout=60, check=False)
            runner.run(["fusermount", "-u", str(mnt)], timeout=60, check=False)
    finally:
        runner.run(["losetup", "-d", loop], timeout=30, check=False)
        mnt.rmdir()


def make_stick(iso: Path, work: Path, keys: Path, publisher_pub: Path, images: Path,
               config: str | None = None) -> Path:
    """A stick image with `config` as ardoise.yaml, the appliance key pair, the publisher's
    public key and the signed OS image on its data partition."""
    from tests.e2e.vm import ensure_stick

    config_file = work / "ardoise.yaml"
    config_file.write_text(config if config is not None else demo_config())
    stick = ensure_stick(iso, work / "stick.img", data_size="96M", add=[config_file])
    with mounted_data(stick) as data:
        shutil.copyfile(keys / "appliance.key", data / "keys" / "appliance.key")
        shutil.copyfile(keys / "appliance.pub.pem", data / "keys" / "appliance.pub.pem")
        shutil.copyfile(publisher_pub, data / "keys" / "publisher.pub.pem")
        for f in images.iterdir():
            shutil.copyfile(f, data / "images" / f.name)
    return stick


@dataclass
class Kit:
    """What a boot needs besides the ISO: keys (enrolled), the signed OS image."""

    keys: Path
    publisher: Path
    manifest: Path

    @property
    def pubkey(self) -> Path:
        return self.keys / "appliance.pub.pem"


def make_kit(work: Path, ledger: Ledger | None) -> Kit:
    keys = work / "keys"
    publisher = work / "publisher"
    for out in (keys, publisher):
        runner.run([sys.executable, "-m", "appliance.cli", "keygen", "--out", str(out),
                    "--json"], timeout=120)
    if ledger is not None:
        ledger.cli("enroll", "--name", "demo", "--pubkey", str(keys / "appliance.pub.pem"),
                   "--json")
    manifest = make_os_image(work, publisher / "appliance.key")
    return Kit(keys, publisher, manifest)


# ---- the VM ------------------------------------------------------------------------------------
def ledger_netdev(port: int) -> str:
    """User networking that reaches nothing but the ledger on the host's 127.0.0.1."""
    from tests.e2e.vm import guestfwd

    return f"user,id=net0,restrict=on,{guestfwd(port)}"


def ledger_vm_class() -> Any:
    from tests.e2e.vm import VM

    class LedgerVM(VM):
        """The harness's VM, its network limited to the ledger (see ledger_netdev)."""

        def __init__(self, port: int | None, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.port = port

        def command_line(self) -> list[str]:
            args: list[str] = super().command_line()
            i = args.index("user,id=net0,restrict=on")
            if self.port is None:  # offline: no network card at all
                del args[i - 1:i + 3]
            else:
                args[i] = ledger_netdev(self.port)
            return args

    return LedgerVM


class SerialDrain:
    """Reads the VM's serial console in a thread: an unread socket stalls the guest's UART
    (and with it whatever session writes to ttyS0). QEMU logs it to serial.log anyway."""

    def __init__(self, vm: Any) -> None:
        import threading

        self.fd = vm.serial.child_fd
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                ready = select.select([self.fd], [], [], 0.5)[0]
                if ready and not os.read(self.fd, 65536):
                    return
            except (OSError, ValueError):
                return

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


GUEST_JOBS = ("/opt/ardoise/bin/python -c 'import glob, json\n"
              "for f in sorted(glob.glob(\"/run/ardoise/data/journal/*.json\")):\n"
              "    j = json.load(open(f))\n"
              "    print(\"JOB\", j.get(\"state\"), (j.get(\"disk\") or {}).get(\"serial\"))'")


def guest_jobs(vm: Any) -> dict[str, str]:
    """{disk serial: journal state} of the jobs on the stick, read in the guest."""
    _rc, out = vm.sh(GUEST_JOBS, timeout=120)
    return {p[2]: p[1] for p in (line.split() for line in out.splitlines())
            if len(p) == 3 and p[0] == "JOB"}


def guest_spool(vm: Any) -> dict[str, list[str]]:
    """{"pending": [ids], "sent": [ids]} of the stick's spool, read in the guest."""
    _rc, out = vm.sh("cd /run/ardoise/data/spool && for d in pending sent; do "
                     "for f in $d/*.json; do [ -e \"$f\" ] && echo \"SPOOL $f\"; done; done",
                     timeout=120)
    spool: dict[str, list[str]] = {"pending": [], "sent": []}
    for line in out.splitlines():
        if line.startswith("SPOOL "):
            state, name = line.split()[1].split("/")
            spool[state].append(name.removesuffix(".json"))
    return spool


# ---- checks ------------------------------------------------------------------------------------
@dataclass
class Checked:
    """One certificate as the ledger returned it, and what checking it found."""

    cert: dict[str, Any]
    signature_ok: bool
    signature_output: str
    proof_ok: bool
    leaf_index: int
    tree_size: int

    @property
    def status(self) -> str:
        return str(self.cert.get("sanitization", {}).get("status", "?"))

    def line(self) -> str:
        media = self.cert.get("media", {})
        san = self.cert.get("sanitization", {})
        img = self.cert.get("image") or {}
        return (f"{self.cert.get('id')}  {media.get('model', '?')} {media.get('serial', '?')}  "
                f"{san.get('status', '?')} ({san.get('method', '?')}, {san.get('level', '?')})  "
                f"image {img.get('status', '-') if img else '-'}  "
                f"signature {'OK' if self.signature_ok else 'BAD'}  "
                f"inclusion proof {'OK' if self.proof_ok else 'BAD'} "
                f"(leaf {self.leaf_index} of {self.tree_size})")


def ledger_certificates(ledger: Ledger, work: Path, pubkey: Path, batch: str = BATCH
                        ) -> list[Checked]:
    """Every certificate of `batch` at the ledger, each checked: its signature with
    `ardoise cert verify --pubkey`, its inclusion proof against the latest signed root."""
    page = ledger.get(f"/api/v1/certificates?batch={batch}&per_page=500")
    head = ledger.get("/api/v1/log/root")
    root = bytes.fromhex(head["root_hash"])
    certs = work / "certificates"
    certs.mkdir(exist_ok=True)
    out = []
    for row in page["results"]:
        cert = ledger.get(f"/api/v1/certificates/{row['id']}")["certificate"]
        path = certs / f"{row['id']}.json"
        path.write_text(json.dumps(cert, indent=2, ensure_ascii=False) + "\n")
        verify = runner.run([sys.executable, "-m", "appliance.cli", "cert", "verify", str(path),
                             "--pubkey", str(pubkey)], timeout=120, check=False)
        proof = ledger.get(f"/api/v1/certificates/{row['id']}/proof?tree_size={head['tree_size']}")
        leaf = hashlib.sha256(b"\x00" + canonical(cert)).digest()
        try:
            computed = root_from_proof(proof["leaf_index"], proof["tree_size"], leaf,
                                       [bytes.fromhex(h) for h in proof["audit_path"]])
            proof_ok = computed == root and proof["leaf_hash"] == leaf.hex()
        except ValueError:
            proof_ok = False
        out.append(Checked(cert, verify.returncode == 0,
                           (verify.stdout + verify.stderr).strip(), proof_ok,
                           proof["leaf_index"], proof["tree_size"]))
    return out


def check_certificates(ledger: Ledger, work: Path, pubkey: Path, expect: int) -> list[str]:
    failures: list[str] = []
    checked = ledger_certificates(ledger, work, pubkey)
    say(f"the ledger holds {len(checked)} certificate(s) for batch {BATCH}:")
    if len(checked) != expect:
        failures.append(f"{len(checked)} certificates at the ledger, expected {expect}")
    for c in checked:
        say("  " + c.line())
        if not c.signature_ok:
            failures.append(f"{c.cert.get('id')}: signature: {c.signature_output}")
        if not c.proof_ok:
            failures.append(f"{c.cert.get('id')}: inclusion proof does not lead to the signed root")
        if c.status != "erased":
            failures.append(f"{c.cert.get('id')}: status {c.status!r}, expected 'erased'")
    return failures


def run_demo(workdir: Path, firmware: str) -> int:
    from tests.e2e.vm import Disk, count_marker, ensure_image

    LedgerVM = ledger_vm_class()
    started = time.monotonic()
    if os.geteuid() != 0:
        say("run me as root (loop devices, FUSE mounts, live-build)")
        return 2
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    say("live ISO: image-build/build.sh (reused from build/image/ when its inputs are unchanged)")
    iso = ensure_image()
    say(f"ISO ready: {iso} ({iso.stat().st_size // MiB} MiB) after {time.monotonic() - started:.0f} s")

    ledger = Ledger(workdir).start()
    vm: Any = None
    try:
        say(f"ledger on {ledger.url} (database {ledger.db})")
        kit = make_kit(workdir, ledger)
        say(f"appliance key made and enrolled; signed OS image: {kit.manifest.name}")
        stick = make_stick(iso, workdir, kit.keys, kit.publisher / "appliance.pub.pem",
                           kit.manifest.parent)
        say(f"stick image: {stick} (demo ardoise.yaml, key, image on its ARDOISE partition)")

        nvme = Disk.create(workdir / "donor-nvme.img", "nvme", DISK_SIZE, NVME_MARKER,
                           serial="DEMONVME0001")
        sata = Disk.create(workdir / "donor-sata.img", "sata", DISK_SIZE, SATA_MARKER,
                           serial="DEMOSATA0001")
        say(f"donor disks: NVMe {count_marker(nvme.path, NVME_MARKER)} markers, "
            f"SATA {count_marker(sata.path, SATA_MARKER)} markers")

        vm = LedgerVM(ledger.port, stick, boot_as="usb", disks=[nvme, sata], firmware=firmware, mem="1536M",
                workdir=workdir / "vm", name="ardoise-demo",
                extra_args=["-smbios", "type=1,manufacturer=OPEQ Demo,product=Donated PC,"
                                       "serial=DEMO-PC-0001"])
        say("booting the stick in QEMU (TCG: a few minutes); serial log: "
            f"{workdir / 'vm' / 'serial.log'}")
        vm.start()
        serial = SerialDrain(vm)
        booted = False
        deadline = time.monotonic() + RUN_TIMEOUT
        while vm.alive():
            if time.monotonic() > deadline:
                say("the run did not finish in time; serial tail:\n" + vm.serial_tail())
                return 1
            time.sleep(5)
            if not booted and "ardoise-session: ready" in _serial(vm):
                booted = True
                say(f"the appliance is up after {vm.elapsed():.0f} s: countdown, then the run")
        serial.stop()
        say(f"the machine powered itself off after {vm.elapsed():.0f} s")
        vm.kill()

        failures = check_certificates(ledger, workdir, kit.pubkey, expect=2)
        for disk, marker in ((nvme, NVME_MARKER), (sata, SATA_MARKER)):
            left = count_marker(disk.path, marker)
            say(f"donor markers left on {disk.path.name}: {left}")
            if left:
                failures.append(f"{disk.path.name}: {left} donor markers remain")
        total = time.monotonic() - started
        if failures:
            say("FAILED:\n  " + "\n  ".join(failures))
            say(f"total time {total:.0f} s")
            return 1
        say(f"every certificate verified, no donor data left. Total time {total:.0f} s "
            f"({total / 60:.1f} min). Files: {workdir}")
        return 0
    finally:
        if vm is not None:
            vm.kill()
        ledger.stop()


def _serial(vm: Any) -> str:
    try:
        return (vm.workdir / "serial.log").read_text(errors="replace")
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m appliance.demo", description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=ROOT / "build" / "demo")
    p.add_argument("--firmware", default="secure-boot", choices=["secure-boot", "uefi", "bios"])
    args = p.parse_args(argv)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        return run_demo(args.workdir.resolve(), args.firmware)
    except KeyboardInterrupt:
        say("interrupted: QEMU and the ledger stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())

