"""Boot the Ardoise image in QEMU and drive it: the VM test harness.

QEMU runs with TCG (no KVM here), one thread (`-accel tcg,thread=single`: multi-threaded
TCG crashed the guest now and then), q35, OVMF with Secure Boot and Microsoft's keys
enrolled (or SeaBIOS, or OVMF without Secure Boot). Three channels reach the guest:

* ttyS0, the serial console: kernel and systemd messages, then the Ardoise session
  (`ardoise tui`, or `ardoise disks` + a root shell). `expect()` / `send()` use it and it is
  logged to `<workdir>/serial.log`.
* hvc0, a virtio console that only the VM has: the image starts a root shell there (and no
  session). `sh()` runs commands on it and returns (exit code, output).
* QMP: `qmp()`, `screendump()` (the VGA screen, i.e. tty1), `kill()`.

QEMU starts paused (-S); the harness connects to every socket first and then resumes it,
so no byte of the boot is lost.

API::

    disks = [
        Disk.create(tmp / "nvme.img", "nvme", size=64 * MiB, marker=b"NVME-MARKER"),
        Disk.create(tmp / "sata.img", "sata", size=64 * MiB, marker=b"SATA-MARKER",
                    faults=[Fault(sector=2048, op="read")]),     # blkdebug EIO
        Disk.create(tmp / "ext.img", "usb", size=32 * MiB, marker=b"EXT-MARKER"),
    ]
    with VM(boot=stick_img, boot_as="usb", disks=disks, workdir=tmp / "vm") as vm:
        vm.start()
        seconds = vm.wait_ready()                 # session on ttyS0 + shell on hvc0
        rc, out = vm.sh("ardoise disks --json", timeout=120)
        vm.expect(r"some text", timeout=30)       # serial console (regex)
        vm.send("q")                              # keys to the serial console
        vm.screendump(Path("docs/tty1-boot.png"))  # what tty1 shows
        vm.poweroff()                             # or vm.kill() (SIGKILL, mid-erase faults)
    count_marker(disks[0].path, b"NVME-MARKER")   # 0 after a good wipe
    sha256_file(disks[2].path)                    # compare with the value before

* `VM(boot, boot_as="cdrom"|"usb"|"sata", disks=[Disk...], firmware="secure-boot"|"uefi"|
  "bios", mem="1536M", workdir=Path, smp=1, extra_args=[...])`.
* `Disk(path, kind="nvme"|"sata"|"usb"|"virtio", serial=..., faults=[Fault...],
  readonly=False)`; `Disk.create(...)` makes the file and fills it with markers.
* `Fault(sector, op="read"|"write", errno=5, once=False)`: QEMU blkdebug injects the error
  on every request that touches `sector` (512-byte units).
* `fill_with_marker(path, marker, stride)`, `count_marker(path, marker)`,
  `sha256_file(path, length=None)`.
* `guestfwd(port)`: the `-netdev user` option that lets the guest reach the host's
  127.0.0.1:port as http://10.0.2.100 (relay.py, one process a connection).
* `ensure_image()` builds (or reuses, by input hash) the ISO with image-build/build.sh;
  `ensure_stick(iso, out)` writes a stick image with image-build/make-stick.sh.

Errors raise `VMError` with the tail of the serial log, so a failing test says where the
boot stopped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pexpect.fdpexpect

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
OVMF_DIR = Path("/usr/share/OVMF")
FIRMWARE = {
    # name: (code, vars template, needs SMM + secure pflash)
    "secure-boot": ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd", True),
    "uefi": ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", False),
}
READY_MARKER = "ardoise-session: ready"
HOST_ALIAS = "10.0.2.100"  # the address at which the guest reaches the host (guestfwd)
RELAY = Path(__file__).with_name("relay.py")


class VMError(AssertionError):
    pass


@dataclass
class Fault:
    """An I/O error injected by QEMU's blkdebug driver."""

    sector: int
    op: str = "read"  # read | write
    errno: int = 5  # EIO
    once: bool = False

    def config(self) -> str:
        event = {"read": "read_aio", "write": "write_aio"}[self.op]
        return (
            "[inject-error]\n"
            f'event = "{event}"\n'
            f'errno = "{self.errno}"\n'
            f'sector = "{self.sector}"\n'
            f'once = "{"on" if self.once else "off"}"\n'
            'immediately = "off"\n'
        )


@dataclass
class Disk:
    """A disk image file attached to the VM as an NVMe, SATA (AHCI), USB or virtio disk."""

    path: Path
    kind: str = "sata"  # nvme | sata | usb | virtio
    serial: str = ""
    faults: list[Fault] = field(default_factory=list)
    readonly: bool = False
    # QEMU throttles the guest's writes to this many bytes/s (a slow disk: a test that
    # must act while an erase is still running)
    write_bps: int | None = None

    @classmethod
    def create(cls, path: Path, kind: str, size: int = 64 * MiB, marker: bytes | None = None,
               serial: str | None = None, faults: Sequence[Fault] = (),
               stride: int = 64 * 1024) -> Disk:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(size)
        if marker:
            fill_with_marker(path, marker, stride)
        return cls(path, kind, serial or f"ARD{kind.upper()}{hashlib.sha1(path.name.encode()).hexdigest()[:8].upper()}",
                   list(faults))


def fill_with_marker(path: Path, marker: bytes, stride: int = 64 * 1024) -> int:
    """Write `marker` + its offset at every `stride` bytes; return how many were written."""
    size = path.stat().st_size
    count = 0
    with open(path, "r+b") as fh:
        for offset in range(0, size, stride):
            record = marker + b"@%012d\n" % offset
            fh.seek(offset)
            fh.write(record[: size - offset])
            count += 1
    return count


def count_marker(path: Path, marker: bytes, chunk: int = 8 * MiB) -> int:
    """How many times `marker` occurs in the file (markers never straddle a chunk edge
    undetected: chunks overlap by len(marker) - 1 bytes)."""
    count = 0
    tail = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            data = tail + block
            count += data.count(marker)
            keep = len(marker) - 1
            tail = data[-keep:] if keep else b""
            # do not count a marker wholly inside the overlap twice
            count -= tail.count(marker)
    return count


def sha256_file(path: Path, length: int | None = None) -> str:
    digest = hashlib.sha256()
    remaining = length if length is not None else -1
    with open(path, "rb") as fh:
        while remaining != 0:
            want = 8 * MiB if remaining < 0 else min(8 * MiB, remaining)
            block = fh.read(want)
            if not block:
                break
            digest.update(block)
            if remaining > 0:
                remaining -= len(block)
    return digest.hexdigest()


def _run(argv: Sequence[str], timeout: float) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise VMError(f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def ensure_image(timeout: float = 3600) -> Path:
    """The ISO for this tree, built by image-build/build.sh or reused from its cache."""
    out = _run(["bash", str(ROOT / "image-build" / "build.sh")], timeout)
    match = re.search(r"^iso:\s+(\S+)", out, re.M)
    if not match:
        raise VMError(f"build.sh printed no ISO path:\n{out}")
    return Path(match.group(1)).resolve()


def ensure_stick(iso: Path, out: Path, data_size: str = "64M", add: Sequence[Path] = (),
                 timeout: float = 300) -> Path:
    """A stick image: the ISO plus the ARDOISE exFAT data partition (make-stick.sh); `add`
    files are copied to the data partition's root."""
    argv = ["bash", str(ROOT / "image-build" / "make-stick.sh"), "--iso", str(iso),
            "--file", str(out), "--data-size", data_size]
    for path in add:
        argv += ["--add", str(path)]
    _run(argv, timeout)
    return out


def guestfwd(port: int) -> str:
    """The `-netdev user` option through which the guest's HOST_ALIAS:80 reaches the host's
    127.0.0.1:`port` and nothing else (with restrict=on): QEMU runs relay.py for each
    connection."""
    return f"guestfwd=tcp:{HOST_ALIAS}:80-cmd:{sys.executable} {RELAY} 127.0.0.1 {port}"


class QMP:
    """A minimal QMP client (JSON lines over a unix socket)."""

    def __init__(self, path: Path, timeout: float = 30) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buffer = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise VMError("QMP connection closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command: str, **arguments: object) -> object:
        msg: dict[str, object] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise VMError(f"QMP {command}: {reply['error']}")
            # asynchronous events are skipped

    def close(self) -> None:
        self.sock.close()


def _connect(path: Path, deadline: float) -> socket.socket:
    while True:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise VMError(f"QEMU did not open {path}") from None
            time.sleep(0.1)


class VM:
    """One QEMU virtual machine. Use as a context manager: it is killed on exit."""

    def __init__(self, boot: Path, *, boot_as: str = "cdrom", disks: Iterable[Disk] = (),
                 firmware: str = "secure-boot", mem: str = "1536M", smp: int = 1,
                 workdir: Path, extra_args: Sequence[str] = (), name: str = "ardoise") -> None:
        self.boot = Path(boot)
        self.boot_as = boot_as
        self.disks = list(disks)
        self.firmware = firmware
        self.mem = mem
        self.smp = smp
        self.workdir = Path(workdir)
        self.extra_args = list(extra_args)
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.serial: pexpect.fdpexpect.fdspawn | None = None
        self.shell: pexpect.fdpexpect.fdspawn | None = None
        self._qmp: QMP | None = None
        self._sockets: list[socket.socket] = []
        self._shell_ready = False
        self._count = 0
        self.started_at = 0.0

    # ---- command line -------------------------------------------------------------------
    def _firmware_args(self) -> list[str]:
        if self.firmware == "bios":
            return ["-machine", "q35"]
        code, template, secure = FIRMWARE[self.firmware]
        vars_copy = self.workdir / "OVMF_VARS.fd"
        shutil.copyfile(OVMF_DIR / template, vars_copy)
        args = ["-machine", "q35,smm=on" if secure else "q35"]
        if secure:
            args += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
        return args + [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_DIR / code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
        ]

    def _blockdev(self, node: str, path: Path, faults: Sequence[Fault], readonly: bool,
                  write_bps: int | None = None) -> list[str]:
        file: dict[str, object] = {"driver": "file", "filename": str(path)}
        if faults:
            conf = self.workdir / f"{node}.blkdebug"
            conf.write_text("\n".join(f.config() for f in faults))
            file = {"driver": "blkdebug", "config": str(conf), "image": file}
        spec: dict[str, object] = {"node-name": node, "driver": "raw", "read-only": readonly,
                                   "file": file}
        if not write_bps:
            return ["-blockdev", json.dumps(spec)]
        del spec["node-name"]
        group = f"tg-{node}"
        throttled = {"node-name": node, "driver": "throttle", "throttle-group": group,
                     "read-only": readonly, "file": spec}
        return ["-object", f"throttle-group,id={group},x-bps-write={write_bps}",
                "-blockdev", json.dumps(throttled)]

    def command_line(self) -> list[str]:
        w = self.workdir
        args = [
            "qemu-system-x86_64", "-name", self.name, "-S", "-nodefaults", "-no-user-config",
            "-accel", "tcg,thread=single", "-smp", str(self.smp), "-m", self.mem,
            "-display", "none", "-vga", "std",
            "-qmp", f"unix:{w / 'qmp.sock'},server=on,wait=off",
            # a second QMP socket for a person debugging a running test (socat, qmp-shell)
            "-qmp", f"unix:{w / 'debug-qmp.sock'},server=on,wait=off",
            "-chardev", f"socket,id=ser0,path={w / 'serial.sock'},server=on,wait=off,"
                        f"logfile={w / 'serial.log'}",
            "-serial", "chardev:ser0",
            "-device", "virtio-serial-pci,id=vser0",
            "-chardev", f"socket,id=hvc0,path={w / 'shell.sock'},server=on,wait=off,"
                        f"logfile={w / 'shell.log'}",
            "-device", "virtconsole,chardev=hvc0,id=con0",
            "-device", "ahci,id=ahci",
            "-device", "qemu-xhci,id=xhci",
            "-netdev", "user,id=net0,restrict=on",
            "-device", "virtio-net-pci,netdev=net0",
        ] + self._firmware_args()
        # boot medium
        boot_ro = self.boot_as == "cdrom"
        args += self._blockdev("boot", self.boot, (), boot_ro)
        if self.boot_as == "cdrom":
            args += ["-device", "ide-cd,bus=ahci.0,drive=boot,bootindex=0"]
        elif self.boot_as == "usb":
            args += ["-device", "usb-storage,bus=xhci.0,drive=boot,bootindex=0,"
                                "serial=ARDOISESTICK01"]
        elif self.boot_as == "sata":
            args += ["-device", "ide-hd,bus=ahci.0,drive=boot,bootindex=0,serial=ARDOISEBOOT01"]
        else:
            raise ValueError(f"boot_as: {self.boot_as}")
        sata_port = 1
        for i, disk in enumerate(self.disks):
            node = f"disk{i}"
            args += self._blockdev(node, disk.path, disk.faults, disk.readonly, disk.write_bps)
            serial = disk.serial or f"ARDOISEDISK{i:02d}"
            if disk.kind == "nvme":
                args += ["-device", f"nvme,drive={node},serial={serial}"]
            elif disk.kind == "sata":
                args += ["-device", f"ide-hd,bus=ahci.{sata_port},drive={node},serial={serial}"]
                sata_port += 1
            elif disk.kind == "usb":
                args += ["-device", f"usb-storage,bus=xhci.0,drive={node},serial={serial}"]
            elif disk.kind == "virtio":
                args += ["-device", f"virtio-blk-pci,drive={node},serial={serial}"]
            else:
                raise ValueError(f"disk kind: {disk.kind}")
        return args + self.extra_args

    # ---- life cycle ----------------------------------------------------------------------
    def start(self, timeout: float = 30) -> VM:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in ("qmp.sock", "debug-qmp.sock", "serial.sock", "shell.sock", "serial.log",
                     "shell.log"):
            (self.workdir / name).unlink(missing_ok=True)
        argv = self.command_line()
        (self.workdir / "qemu.argv").write_text(json.dumps(argv, indent=1))
        stderr = open(self.workdir / "qemu.stderr", "wb")  # noqa: SIM115 (lives with QEMU)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr,
                                     stderr=stderr, start_new_session=True)
        deadline = time.monotonic() + timeout
        serial_sock = _connect(self.workdir / "serial.sock", deadline)
        shell_sock = _connect(self.workdir / "shell.sock", deadline)
        self._sockets = [serial_sock, shell_sock]
        self.serial = pexpect.fdpexpect.fdspawn(serial_sock.fileno(), encoding="utf-8",
                                                codec_errors="replace", timeout=60)
        self.shell = pexpect.fdpexpect.fdspawn(shell_sock.fileno(), encoding="utf-8",
                                               codec_errors="replace", timeout=60)
        self._qmp = QMP(self.workdir / "qmp.sock")
        self._qmp.execute("cont")
        self.started_at = time.monotonic()
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def qmp(self, command: str, **arguments: object) -> object:
        if self._qmp is None:
            raise VMError("VM not started")
        return self._qmp.execute(command, **arguments)

    def kill(self) -> None:
        """SIGKILL QEMU now (a power cut, as seen by the guest)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close()

    def poweroff(self, timeout: float = 120) -> None:
        """Clean shutdown from inside the guest, then wait for QEMU to exit."""
        if not self.alive():
            self._close()
            return
        try:
            self._send_shell("sync; systemctl poweroff --no-block\n")
        except (OSError, VMError):
            pass
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close()

    def _close(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None

    def __enter__(self) -> VM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    # ---- serial console (ttyS0) ----------------------------------------------------------
    def expect(self, pattern: str | list[str], timeout: float = 60) -> re.Match[str]:
        """Wait for a regex on the serial console; returns the match."""
        if self.serial is None:
            raise VMError("VM not started")
        try:
            self.serial.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise VMError(f"serial console: no {pattern!r} within {timeout} s "
                          f"({type(exc).__name__})\n--- serial tail ---\n{self.serial_tail()}") from None
        match = self.serial.match
        assert isinstance(match, re.Match)
        return match

    def send(self, text: str) -> None:
        """Type on the serial console."""
        if self.serial is None:
            raise VMError("VM not started")
        self.serial.send(text)

    def serial_tail(self, lines: int = 40) -> str:
        try:
            text = (self.workdir / "serial.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ---- shell on hvc0 ---------------------------------------------------------------------
    def _send_shell(self, text: str) -> None:
        if self.shell is None:
            raise VMError("VM not started")
        self.shell.send(text)

    def wait_shell(self, timeout: float = 600) -> float:
        """Wait until the root shell on hvc0 answers; returns seconds since start."""
        if self.shell is None:
            raise VMError("VM not started")
        deadline = time.monotonic() + timeout
        while not self._shell_ready:
            if not self.alive():
                raise VMError(f"QEMU exited\n--- serial tail ---\n{self.serial_tail()}")
            # the getty flushes what was typed before it started: keep asking
            self._send_shell("\necho 'ARD_''SHELL_'READY\n")
            try:
                self.shell.expect("ARD_SHELL_READY", timeout=5)
                self._shell_ready = True
            except pexpect.TIMEOUT:
                if time.monotonic() > deadline:
                    raise VMError(f"no shell on hvc0 within {timeout} s\n--- serial tail ---\n"
                                  f"{self.serial_tail()}") from None
        # quiet, predictable shell: no echo, no prompt, no colours
        self._send_shell("stty -echo; export PS1='' PS2='' TERM=dumb; unset PROMPT_COMMAND\n")
        self.sh("true", timeout=30)
        return self.elapsed()

    def wait_ready(self, timeout: float = 600) -> float:
        """Wait for the Ardoise session on the serial console and the hvc0 shell; returns the
        seconds from start to the session's ready line."""
        self.expect(READY_MARKER, timeout=timeout)
        ready = self.elapsed()
        self.wait_shell(timeout=max(60.0, timeout - ready))
        return ready

    def sh(self, command: str, timeout: float = 60, check: bool = False) -> tuple[int, str]:
        """Run a shell command as root in the guest; returns (exit code, stdout+stderr)."""
        if self.shell is None:
            raise VMError("VM not started")
        self._count += 1
        tag = f"{os.getpid()}x{self._count}"
        script = base64.b64encode(command.encode()).decode()
        self.shell.send(
            f"echo 'ARD_B''{tag}'; (eval \"$(echo {script} | base64 -d)\") </dev/null 2>&1; "
            f"echo \"ARD_E{tag}=$?\"\n")
        try:
            self.shell.expect(f"ARD_B{tag}\r?\n", timeout=30)
            self.shell.expect(rf"ARD_E{tag}=(\d+)", timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise VMError(f"sh {command!r}: no answer within {timeout} s "
                          f"({type(exc).__name__})\n--- serial tail ---\n{self.serial_tail()}") from None
        match = self.shell.match
        assert isinstance(match, re.Match)
        before = self.shell.before or ""
        output = before.replace("\r\n", "\n").replace("\r", "")
        rc = int(match.group(1))
        if check and rc != 0:
            raise VMError(f"sh {command!r} exited {rc}:\n{output}")
        return rc, output

    def sh_json(self, command: str, timeout: float = 60) -> tuple[int, object]:
        """Run a command whose stdout is one JSON document (stderr dropped)."""
        rc, out = self.sh(f"{command} 2>/dev/null", timeout=timeout)
        start = out.find("{")
        if start < 0:
            raise VMError(f"{command!r} exited {rc} without JSON:\n{out}")
        return rc, json.loads(out[start:])

    # ---- screen ------------------------------------------------------------------------------
    def screendump(self, png: Path) -> Path:
        """Save what the VGA screen (tty1) shows as a PNG."""
        from PIL import Image

        png.parent.mkdir(parents=True, exist_ok=True)
        ppm = self.workdir / "screen.ppm"
        self.qmp("screendump", filename=str(ppm))
        deadline = time.monotonic() + 10
        while not ppm.exists() or ppm.stat().st_size == 0:
            if time.monotonic() > deadline:
                raise VMError("screendump wrote nothing")
            time.sleep(0.1)
        time.sleep(0.2)
        with Image.open(ppm) as img:
            img.save(png, optimize=True)
        ppm.unlink()
        return png
