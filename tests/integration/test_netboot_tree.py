"""make-netboot.sh: the iPXE script, the PXELINUX entry and the UEFI HTTP boot grub.cfg boot
the same kernel and initrd with the same command line, and every file they name is in the
output directory.

The script runs for real (xorriso, unsquashfs, mksquashfs, dpkg-deb) on a small ISO this test
builds with the live image's layout (/live/vmlinuz-*, /live/initrd.img-*, /live/*.squashfs,
/EFI/boot/bootx64.efi + grubx64.efi) and a small grub-efi-amd64-signed package with the
signed images' paths. `check_tree` also checks a full tree made from the real ISO when
ARDOISE_NETBOOT_TREE names one (e.g. build/netboot).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "image-build" / "make-netboot.sh"
SERVER = "http://10.0.2.2:8000/netboot"
CONFIG = SERVER + "/rack.yaml"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="make-netboot.sh runs as root"),
]


@dataclass
class Entry:
    kernel: str  # URL or path the boot loader fetches
    initrd: str
    cmdline: list[str]


def ipxe_entry(text: str) -> Entry:
    kernel = re.search(r"^kernel (\S+) (.*)$", text, re.M)
    initrd = re.search(r"^initrd (\S+)$", text, re.M)
    assert kernel and initrd, text
    words = shlex.split(kernel.group(2))
    # iPXE hands the EFI stub its initrd by name; GRUB and PXELINUX load it themselves
    assert "initrd=initrd.img" in words
    return Entry(kernel.group(1), initrd.group(1), [w for w in words if w != "initrd=initrd.img"])


def grub_url(device_path: str) -> str:
    """(http,HOST:PORT)/path → http://HOST:PORT/path"""
    m = re.fullmatch(r"\((https?),([^)]+)\)(/\S*)", device_path)
    assert m, device_path
    return f"{m.group(1)}://{m.group(2)}{m.group(3)}"


def grub_entry(text: str) -> Entry:
    kernel = re.search(r"^\s*linux (\S+) (.*)$", text, re.M)
    initrd = re.search(r"^\s*initrd (\S+)$", text, re.M)
    assert kernel and initrd, text
    return Entry(grub_url(kernel.group(1)), grub_url(initrd.group(1)),
                 shlex.split(kernel.group(2)))


def pxelinux_entry(text: str) -> Entry:
    kernel = re.search(r"^\s*kernel (\S+)$", text, re.M)
    initrd = re.search(r"^\s*initrd (\S+)$", text, re.M)
    append = re.search(r"^\s*append (.*)$", text, re.M)
    assert kernel and initrd and append, text
    return Entry(kernel.group(1), initrd.group(1), shlex.split(append.group(1)))


def served_file(http: Path, server: str, url: str) -> Path:
    assert url.startswith(server.rstrip("/") + "/"), url
    return http / url[len(server.rstrip("/")) + 1:]


def check_tree(out: Path, server: str) -> Entry:
    """The three boot entries agree and name files that are in the tree; returns iPXE's."""
    http, tftp = out / "http", out / "tftp"
    ipxe = ipxe_entry((http / "ardoise.ipxe").read_text())
    assert (tftp / "ardoise.ipxe").read_text() == (http / "ardoise.ipxe").read_text()
    grub = grub_entry((http / "grub" / "grub.cfg").read_text())
    pxe = pxelinux_entry((tftp / "pxelinux.cfg" / "default").read_text())
    assert grub.kernel == ipxe.kernel == server.rstrip("/") + "/vmlinuz"
    assert grub.initrd == ipxe.initrd == server.rstrip("/") + "/initrd.img"
    assert grub.cmdline == ipxe.cmdline == pxe.cmdline
    for url in (ipxe.kernel, ipxe.initrd):
        assert served_file(http, server, url).stat().st_size > 0
    fetch = [w.split("=", 1)[1] for w in ipxe.cmdline if w.startswith("fetch=")]
    assert len(fetch) == 1 and served_file(http, server, fetch[0]).stat().st_size > 0
    for name in (pxe.kernel, pxe.initrd):
        assert (tftp / name).read_bytes() == (http / name).read_bytes()
    checker = shutil.which("grub-script-check")  # grub-common, when installed
    if checker:
        subprocess.run([checker, str(http / "grub" / "grub.cfg")], check=True)
    # UEFI HTTP boot: shim, then GRUB from beside it, then $prefix/grub.cfg (prefix "/grub")
    assert (http / "bootx64.efi").stat().st_size > 0
    assert (http / "grubx64.efi").stat().st_size > 0
    return ipxe


# --- a small ISO and GRUB package with the real ones' layout --------------------------------

def squashfs(tree: dict[str, str], work: Path, out: Path) -> None:
    src = work / (out.name + ".d")
    for name, text in tree.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    subprocess.run(["mksquashfs", str(src), str(out), "-noappend", "-quiet"], check=True,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(iso, matching grub package, grub package of another build)."""
    work = tmp_path_factory.mktemp("netboot-inputs")
    iso_root = work / "iso"
    live = iso_root / "live"
    live.mkdir(parents=True)
    (live / "vmlinuz-6.12.57+deb13-amd64").write_bytes(b"MZ kernel " * 100)
    (live / "initrd.img-6.12.57+deb13-amd64").write_bytes(b"070701 initrd " * 100)
    squashfs({"etc/os-release": "ID=debian\n", "usr/bin/base": "base\n"}, work,
             live / "filesystem.squashfs")
    squashfs({"opt/ardoise/bin/ardoise": "#!/bin/sh\n", "usr/bin/base": "layer\n"}, work,
             live / "filesystem.zz-ardoise.squashfs")
    efi = iso_root / "EFI" / "boot"
    efi.mkdir(parents=True)
    (efi / "bootx64.efi").write_bytes(b"MZ shim " * 64)
    (efi / "grubx64.efi").write_bytes(b"MZ gcdx64 build 1 " * 64)
    iso = work / "ardoise.iso"
    subprocess.run(["xorriso", "-no_rc", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(iso),
                    str(iso_root)], check=True, stderr=subprocess.DEVNULL)

    def package(name: str, cd_image: bytes) -> Path:
        pkg = work / name
        signed = pkg / "usr" / "lib" / "grub" / "x86_64-efi-signed"
        signed.mkdir(parents=True)
        (signed / "gcdx64.efi.signed").write_bytes(cd_image)
        (signed / "grubnetx64.efi.signed").write_bytes(b"MZ grubnet " * 64)
        (pkg / "DEBIAN").mkdir()
        (pkg / "DEBIAN" / "control").write_text(
            "Package: grub-efi-amd64-signed\nVersion: 1+2.12+9+deb13u4\nArchitecture: amd64\n"
            "Maintainer: test <test@example.org>\nDescription: test package\n")
        deb = work / f"{name}.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg),
                        str(deb)], check=True, stdout=subprocess.DEVNULL)
        return deb

    return (iso, package("grub-same", (efi / "grubx64.efi").read_bytes()),
            package("grub-other", b"MZ gcdx64 build 2 " * 64))


def make_netboot(out: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "--out", str(out), *args], text=True,
                          capture_output=True, check=check, timeout=300)


def test_ipxe_pxelinux_and_uefi_http_boot_agree(inputs: tuple[Path, Path, Path],
                                                 tmp_path: Path) -> None:
    iso, grub_deb, _other = inputs
    out = tmp_path / "netboot"
    make_netboot(out, "--iso", str(iso), "--server", SERVER, "--config", CONFIG,
                 "--lang", "fr", "--append", "ardoise.ca=sha256:" + "ab" * 32,
                 "--grub-deb", str(grub_deb))
    ipxe = check_tree(out, SERVER)
    assert ipxe.cmdline[:3] == ["boot=live", "components", "noeject"]
    assert f"ardoise.config={CONFIG}" in ipxe.cmdline
    assert "ardoise.lang=fr" in ipxe.cmdline
    assert "ardoise.ca=sha256:" + "ab" * 32 in ipxe.cmdline
    # the shim of the ISO, the network GRUB of the package
    assert (out / "http" / "bootx64.efi").read_bytes() == b"MZ shim " * 64
    assert (out / "http" / "grubx64.efi").read_bytes() == b"MZ grubnet " * 64
    grub_cfg = (out / "http" / "grub" / "grub.cfg").read_text()
    assert "(http,10.0.2.2:8000)/netboot/vmlinuz" in grub_cfg
    # the merged squashfs: the Ardoise layer on top of the base
    listing = subprocess.run(["unsquashfs", "-cat", str(out / "http" / "live" /
                              "filesystem.squashfs"), "usr/bin/base"], check=True,
                             capture_output=True, text=True).stdout
    assert listing == "layer\n"


def test_server_at_the_root_and_no_port(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    iso, grub_deb, _other = inputs
    out = tmp_path / "netboot"
    make_netboot(out, "--iso", str(iso), "--server", "http://boot.example.org/",
                 "--config", "https://boot.example.org/rack.yaml", "--grub-deb", str(grub_deb))
    check_tree(out, "http://boot.example.org")
    assert "linux (http,boot.example.org)/vmlinuz " in (out / "http/grub/grub.cfg").read_text()


def test_grub_of_another_build_is_refused(inputs: tuple[Path, Path, Path],
                                           tmp_path: Path) -> None:
    iso, _same, other = inputs
    done = make_netboot(tmp_path / "netboot", "--iso", str(iso), "--server", SERVER,
                        "--grub-deb", str(other), check=False)
    assert done.returncode == 1
    assert "is not the GRUB of this ISO" in done.stderr


def test_without_grub_package_uefi_files_are_left_out(inputs: tuple[Path, Path, Path],
                                                       tmp_path: Path) -> None:
    iso, _same, _other = inputs
    out = tmp_path / "netboot"
    done = make_netboot(out, "--iso", str(iso), "--server", SERVER,
                        "--grub-deb", str(tmp_path / "missing.deb"))
    assert "UEFI HTTP boot files left out" in done.stderr
    assert not (out / "http" / "grub").exists() and not (out / "http" / "grubx64.efi").exists()
    assert ipxe_entry((out / "http" / "ardoise.ipxe").read_text()).kernel == SERVER + "/vmlinuz"


@pytest.mark.skipif(not os.environ.get("ARDOISE_NETBOOT_TREE"),
                    reason="ARDOISE_NETBOOT_TREE=DIR:SERVER names a tree made from the real ISO")
def test_tree_from_the_real_iso() -> None:
    out, server = os.environ["ARDOISE_NETBOOT_TREE"].split(":", 1)
    ipxe = check_tree(Path(out), server)
    assert (Path(out) / "http" / "grubx64.efi").read_bytes()[:2] == b"MZ"
    assert any(w.startswith("ardoise.config=") for w in ipxe.cmdline)
