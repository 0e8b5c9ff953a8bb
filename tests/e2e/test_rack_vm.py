"""Rack mode in QEMU: two machines boot from the network, enroll, erase their own disks
unattended, and the ledger ends with every certificate verified and both machines done.

The ledger (`ardoise-ledger serve --netboot DIR`) runs on 127.0.0.1 and serves the netboot
tree (image-build/make-netboot.sh, with this run's site public key baked into the image) and
the signed rack.yaml. Guests reach it only through QEMU user networking with `restrict=on`
and one guestfwd: 10.0.2.100:80 → 127.0.0.1:PORT (a relay process per connection).

* machine A boots with QEMU's built-in iPXE ROM: DHCP hands it http://10.0.2.100/netboot/
  ardoise.ipxe, the script loads the kernel and initrd over HTTP;
* machine B boots with `-kernel/-initrd` and the same command line (`fetch=`);
* then machine B is killed mid-erase (the power cut): the ledger shows it lost, never
  erased; booted again, it runs to the end.

The merged netboot squashfs takes minutes to make; it is cached under build/netboot-test/
by the ISO's hash, with the test site key made once beside it (never in the repo).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.certificate import load_private_pem
from appliance.demo import free_port
from appliance.siteconfig import generate_site_key
from tests.e2e.vm import (
    HOST_ALIAS,
    ROOT,
    VM,
    Disk,
    VMError,
    count_marker,
    ensure_image,
    guestfwd,
)
from tests.integration.test_rack_ledger import LedgerProcess, Site

pytestmark = pytest.mark.e2e
MiB = 1 << 20
GUEST_SERVER = f"http://{HOST_ALIAS}"
CACHE = ROOT / "build" / "netboot-test"
DONE = "every certificate is at the ledger"

def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def netboot_tree() -> tuple[Path, Path]:
    """(http dir, site private key): the netboot tree for this ISO, with the site key.
    ARDOISE_RACK_ISO names an ISO already built (skips build.sh's cache check)."""
    given = os.environ.get("ARDOISE_RACK_ISO")
    iso = Path(given).resolve() if given else ensure_image()
    keys = CACHE / "keys"
    if not (keys / "site.key").exists():
        shutil.rmtree(keys, ignore_errors=True)
        generate_site_key(keys)
    key_sha = file_sha(keys / "site.pub.pem")[:12]
    out = CACHE / f"{file_sha(iso)[:16]}-{key_sha}"
    http = out / "http"
    if not (http / "live" / "filesystem.squashfs").exists():
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(["bash", str(ROOT / "image-build" / "make-netboot.sh"), "--iso", str(iso),
                        "--server", f"{GUEST_SERVER}/netboot",
                        "--config", f"{GUEST_SERVER}/netboot/rack.yaml",
                        "--site-key", str(keys / "site.pub.pem"), "--out", str(out),
                        # TCG on a loaded host: udev may take minutes to show /dev/ttyS0
                        "--append", "systemd.default_device_timeout_sec=900"],
                       check=True, timeout=3600, capture_output=True)
    return http, keys / "site.key"


@pytest.fixture(scope="module")
def rack_site(netboot_tree: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Site]:
    http, key_path = netboot_tree
    work = tmp_path_factory.mktemp("rackledger")
    ledger = LedgerProcess(work, netboot_dir=http, lost_after=30.0).start()
    try:
        yield Site(ledger, key_path.parent, load_private_pem(key_path.read_bytes()))
    finally:
        ledger.stop()


class NetbootVM(VM):
    """A VM with no boot medium: iPXE from the NIC ROM, or QEMU's -kernel/-initrd."""

    def __init__(self, *, port: int, http: Path | None = None, ipxe: bool = False,
                 serial_number: str, **kwargs: object) -> None:
        super().__init__(Path("/dev/null"), firmware="bios", mem="2048M", **kwargs)  # type: ignore[arg-type]
        self.port, self.http, self.ipxe = port, http, ipxe
        self.serial_number = serial_number

    def command_line(self) -> list[str]:
        args = super().command_line()
        # no boot medium: drop its -blockdev and -device
        i = next(n for n, a in enumerate(args) if a == "-blockdev" and '"boot"' in args[n + 1])
        del args[i:i + 4]
        net = f"user,id=net0,restrict=on,{guestfwd(self.port)}"
        if self.ipxe:
            net += f",bootfile={GUEST_SERVER}/netboot/ardoise.ipxe"
        args[args.index("user,id=net0,restrict=on")] = net
        # a MAC of its own per machine (QEMU's default is the same for every VM)
        mac = "52:54:00:" + ":".join(
            hashlib.sha256(self.serial_number.encode()).hexdigest()[i:i + 2] for i in (0, 2, 4))
        nic = f"virtio-net-pci,netdev=net0,mac={mac}" + (",bootindex=0" if self.ipxe else "")
        args[args.index("virtio-net-pci,netdev=net0")] = nic
        if not self.ipxe:
            assert self.http is not None
            script = (self.http / "ardoise.ipxe").read_text()
            line = next(x for x in script.splitlines() if x.startswith("kernel "))
            append = line.split(" ", 2)[2].replace("initrd=initrd.img ", "")
            args += ["-kernel", str(self.http / "vmlinuz"), "-initrd", str(self.http / "initrd.img"),
                     "-append", append]
        return args + ["-smbios", f"type=1,manufacturer=Ardoise Lab,product=Rack PC,"
                                  f"serial={self.serial_number}"]


def screenshot_rack(origin: str, admin: str, png: Path, batch: str = "") -> Path:
    """The ledger's rack view in headless Chromium (W3C WebDriver over chromedriver), signed
    in with an admin token cookie."""
    port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def call(method: str, path: str, body: dict[str, object] | None = None) -> Any:
        req = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as response:
            return json.loads(response.read())["value"]

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        session = call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                            "--window-size=1280,860", "--lang=en"]}}}})
        sid = session["sessionId"]
        try:
            call("POST", f"/session/{sid}/url", {"url": origin + "/healthz"})
            call("POST", f"/session/{sid}/cookie", {"cookie": {"name": "ardoise_token",
                                                               "value": admin, "path": "/"}})
            query = f"?batch={batch}&lang=en" if batch else "?lang=en"
            call("POST", f"/session/{sid}/url", {"url": f"{origin}/rack{query}"})
            png.write_bytes(base64.b64decode(call("GET", f"/session/{sid}/screenshot")))
        finally:
            call("DELETE", f"/session/{sid}")
    finally:
        driver.terminate()
        driver.wait(10)
    return png


def wait_for(vm: VM, text: str, timeout: float) -> None:
    """Read the serial console until `text` (reading also drains QEMU's serial socket: an
    unread socket stalls the guest's UART after a few hundred bytes)."""
    vm.expect(re.escape(text), timeout=timeout)


def wait_both(vms: list[VM], text: str, timeout: float) -> None:
    """Wait for `text` on every VM, draining every serial console meanwhile."""
    deadline = time.monotonic() + timeout
    pending = list(vms)
    while pending:
        if time.monotonic() > deadline:
            raise VMError(f"no {text!r} after {timeout:.0f} s on {[v.name for v in pending]}:\n"
                          + "\n".join(v.serial_tail(40) for v in pending))
        for vm in list(pending):
            try:
                vm.expect(re.escape(text), timeout=5)
                pending.remove(vm)
            except VMError:
                if not vm.alive():
                    raise
        for vm in vms:
            if vm not in pending and vm.serial is not None:
                try:  # keep draining the finished ones
                    vm.serial.read_nonblocking(65536, timeout=0)
                except Exception:
                    pass


@pytest.mark.timeout(3600)  # two TCG boots over HTTP on a loaded host
def test_two_netbooted_machines(rack_site: Site, tmp_path: Path) -> None:
    ledger = rack_site.ledger
    batch = "rack-vm"
    admin = ledger.token(enroll=False)
    rack_site.publish("rack.yaml", rack_site.rack_yaml(batch, ledger.token()).replace(
        ledger.url, GUEST_SERVER))
    http = ledger.netboot

    disks = {name: Disk.create(tmp_path / f"{name}.img", "sata", size=48 * MiB,
                               marker=f"DONOR-{name}-".encode(), serial=f"ARDRACK{name}")
             for name in ("a", "b")}
    started = time.monotonic()
    vm_a = NetbootVM(port=ledger.port, ipxe=True, serial_number="RACK-A-01",
                     disks=[disks["a"]], workdir=tmp_path / "vm-a", name="rack-a")
    vm_b = NetbootVM(port=ledger.port, http=http, serial_number="RACK-B-02",
                     disks=[disks["b"]], workdir=tmp_path / "vm-b", name="rack-b")
    with vm_a, vm_b:
        vm_a.start()
        vm_b.start()
        wait_both([vm_a, vm_b], DONE, 2700)
        both_done = time.monotonic() - started
        assert count_marker(disks["a"].path, b"DONOR-a-") == 0
        assert count_marker(disks["b"].path, b"DONOR-b-") == 0
        rows = ledger.rack(batch)
        assert sorted(r["m"].host_serial for r in rows) == ["RACK-A-01", "RACK-B-02"]
        assert {r["state"] for r in rows} == {"done"}
        certs = ledger.certificates(batch, admin)
        assert len(certs) == 2 and {c["status"] for c in certs} == {"erased"}
        assert ledger.verify_log()["ok"]
        screenshot_rack(ledger.url, admin, ROOT / "docs" / "rack-view.png", batch)
        vm_a.poweroff(timeout=60)
        vm_b.kill()
    print(f"rack VM test: two machines done in {both_done:.0f} s")


@pytest.mark.timeout(5400)
def test_power_cut_then_reboot(rack_site: Site, tmp_path: Path) -> None:
    """Machine C is killed mid-erase: lost contact, never erased; booted again, it ends."""
    ledger = rack_site.ledger
    admin = ledger.token(enroll=False)
    http = ledger.netboot
    big = Disk.create(tmp_path / "c.img", "sata", size=1024 * MiB, marker=b"DONOR-c-",
                      serial="ARDRACKC")
    big.write_bps = 8 * MiB  # 2 min of erasing however fast the host: the cut lands mid-erase
    cut_batch = "rack-vm-cut"
    rack_site.publish("rack.yaml", rack_site.rack_yaml(cut_batch, ledger.token()).replace(
        ledger.url, GUEST_SERVER))
    vm_c = NetbootVM(port=ledger.port, http=http, serial_number="RACK-C-03",
                     disks=[big], workdir=tmp_path / "vm-c1", name="rack-c")
    with vm_c:
        vm_c.start()
        wait_for(vm_c, "erasing with", 1800)
        time.sleep(3)
        vm_c.kill()
    time.sleep(ledger.lost_after + 3)
    rows = ledger.rack(cut_batch)
    assert len(rows) == 1 and rows[0]["state"] == "lost"
    assert rows[0]["jobs"][0]["status"] == "running"
    assert ledger.certificates(cut_batch, admin) == []
    vm_c2 = NetbootVM(port=ledger.port, http=http, serial_number="RACK-C-03",
                      disks=[big], workdir=tmp_path / "vm-c2", name="rack-c")
    with vm_c2:
        vm_c2.start()
        wait_for(vm_c2, DONE, 2400)
    assert count_marker(big.path, b"DONOR-c-") == 0
    states = sorted(r["state"] for r in ledger.rack(cut_batch))
    assert states == ["done", "lost"]
    assert [c["status"] for c in ledger.certificates(cut_batch, admin)] == ["erased"]
    assert ledger.verify_log()["ok"]
