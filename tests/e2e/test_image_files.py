"""The built ISO, read from the host without booting it: boot chain, menus, layers, stick."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7

# the first test builds the ISO (or takes it from the cache) and boots the VM in its setup
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(4800)]

MICROSOFT_CAS = {"Microsoft Corporation UEFI CA 2011", "Microsoft UEFI CA 2023"}


def extract(iso: Path, path: str, dest: Path) -> Path:
    out = dest / Path(path).name
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", str(iso), "-extract", path,
                    str(out)], check=True, capture_output=True, timeout=120)
    return out


def authenticode_issuers(pe_file: Path) -> set[str]:
    """Common names of the CAs that issued each Authenticode signature of a PE file."""
    data = pe_file.read_bytes()
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    magic = struct.unpack_from("<H", data, pe + 24)[0]
    directory = pe + 24 + (112 if magic == 0x20B else 96) + 4 * 8  # IMAGE_DIRECTORY_ENTRY_SECURITY
    address, size = struct.unpack_from("<II", data, directory)
    issuers: set[str] = set()
    offset = address
    while offset < address + size:
        length = struct.unpack_from("<I", data, offset)[0]
        certs = pkcs7.load_der_pkcs7_certificates(data[offset + 8: offset + length])
        signer_issuers = {c.issuer.rfc4514_string() for c in certs}
        subjects = {c.subject.rfc4514_string() for c in certs}
        for name in signer_issuers & subjects:  # the intermediate CA present in the chain
            issuers.add(next(part[3:] for part in name.split(",") if part.startswith("CN=")))
        offset += (length + 7) // 8 * 8
    return issuers


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_shim_is_signed_by_both_microsoft_uefi_cas(ardoise_iso: Path, tmp_path: Path) -> None:
    shim = extract(ardoise_iso, "/EFI/boot/bootx64.efi", tmp_path)
    assert MICROSOFT_CAS <= authenticode_issuers(shim)


def test_boot_menus_time_out_and_layers_are_present(ardoise_iso: Path, tmp_path: Path) -> None:
    grub = extract(ardoise_iso, "/boot/grub/config.cfg", tmp_path).read_text()
    assert "set timeout=1" in grub
    isolinux = extract(ardoise_iso, "/isolinux/isolinux.cfg", tmp_path).read_text()
    assert "timeout 10" in isolinux
    listing = subprocess.run(["xorriso", "-no_rc", "-indev", str(ardoise_iso), "-ls", "/live"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    assert "'filesystem.squashfs'" in listing and "'overlay-ardoise.squashfs'" in listing
    # name order is stacking order in live-boot: our layer lands on top of the base
    assert sorted(["filesystem.squashfs", "overlay-ardoise.squashfs"])[-1] == "overlay-ardoise.squashfs"


def test_app_layer_carries_build_info_and_our_code(ardoise_iso: Path, tmp_path: Path) -> None:
    layer = extract(ardoise_iso, "/live/overlay-ardoise.squashfs", tmp_path)
    root = tmp_path / "layer"
    subprocess.run(["unsquashfs", "-quiet", "-no-progress", "-dest", str(root), str(layer)],
                   check=True, capture_output=True, timeout=120)
    info = json.loads((root / "etc/ardoise/build.json").read_text())
    assert info["distribution"] == "trixie"
    assert info["source_date_epoch"] > 0 and len(info["lock_sha256"]) == 64
    site = root / "opt/ardoise/lib/python3.13/site-packages"
    assert (site / "appliance" / "cli.py").is_file() and (site / "erasure").is_dir()
    script = (root / "opt/ardoise/bin/ardoise").read_text()
    assert script.startswith("#!/opt/ardoise/bin/python3") and "appliance.cli" in script


def test_stick_image_has_the_ardoise_data_partition(stick_template: Path, ardoise_iso: Path) -> None:
    dump = subprocess.run(["sfdisk", "--json", str(stick_template)], check=True,
                          capture_output=True, text=True, timeout=30).stdout
    parts = json.loads(dump)["partitiontable"]["partitions"]
    assert [p["type"] for p in parts] == ["0", "ef", "7"]
    data = parts[2]
    assert data["start"] * 512 >= ardoise_iso.stat().st_size
    probe = subprocess.run(["blkid", "-p", "-O", str(data["start"] * 512), "-o", "export",
                            str(stick_template)], capture_output=True, text=True, timeout=30).stdout
    assert "TYPE=exfat" in probe and "LABEL=ARDOISE" in probe


# Files of the base layer that the checks below read (unsquashfs keeps their dates).
BASE_FILES = [
    "etc/default/keyboard", "etc/default/console-setup",
    "etc/console-setup/cached_setup_terminal.sh", "etc/console-setup/cached_setup_keyboard.sh",
    "etc/systemd/system/NetworkManager.service", "etc/modprobe.d/ardoise-no-amd-gpu.conf",
    "etc/.updated", "usr/lib/systemd/system/NetworkManager.service",
]


@pytest.fixture(scope="module")
def base_layer(ardoise_iso: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The base squashfs: a few files unpacked, and the listing of every path."""
    tmp = tmp_path_factory.mktemp("base")
    squashfs = extract(ardoise_iso, "/live/filesystem.squashfs", tmp)
    listing = subprocess.run(["unsquashfs", "-lc", "-d", "", str(squashfs)], check=True,
                             capture_output=True, text=True, timeout=300).stdout
    site = "opt/ardoise/lib/python3.13/site-packages"
    wanted = [*BASE_FILES, f"{site}/textual/__pycache__/__init__.cpython-313.pyc"]
    subprocess.run(["unsquashfs", "-quiet", "-no-progress", "-d", str(tmp / "root"),
                    str(squashfs), *wanted], check=True, capture_output=True, timeout=300)
    squashfs.unlink()
    return tmp / "root", listing


def test_iso_size_goal(ardoise_iso: Path) -> None:
    assert ardoise_iso.stat().st_size <= 450 * 10**6


def test_console_setup_uses_its_build_time_cache(base_layer: tuple[Path, str]) -> None:
    # console-setup.sh recompiles the keymap (minutes on a slow machine) unless its cache is
    # strictly newer than both configuration files
    root, _ = base_layer
    cache = (root / "etc/console-setup/cached_setup_terminal.sh").stat().st_mtime
    for config in ("etc/default/keyboard", "etc/default/console-setup"):
        assert (root / config).stat().st_mtime < cache
    assert "loadkeys" in (root / "etc/console-setup/cached_setup_keyboard.sh").read_text()


def test_consoles_do_not_wait_for_the_network(base_layer: tuple[Path, str]) -> None:
    root, listing = base_layer
    ours = (root / "etc/systemd/system/NetworkManager.service").read_text()
    package = (root / "usr/lib/systemd/system/NetworkManager.service").read_text()
    assert "Before=network.target" in package
    assert "Before=network.target" not in ours and "ExecStart=" in ours
    wants = {line.rsplit("/", 1)[-1] for line in listing.splitlines()
             if "/etc/systemd/system/multi-user.target.wants/" in line}
    assert "NetworkManager.service" in wants and "ardoise-data.service" in wants
    assert not wants & {"wpa_supplicant.service", "smartmontools.service", "cron.service"}
    assert "TIMESTAMP_NSEC=" in (root / "etc/.updated").read_text()


def test_venv_byte_code_is_not_checked_against_sources(base_layer: tuple[Path, str]) -> None:
    root, _ = base_layer
    pyc = root / "opt/ardoise/lib/python3.13/site-packages/textual/__pycache__"
    flags = struct.unpack_from("<I", (pyc / "__init__.cpython-313.pyc").read_bytes(), 4)[0]
    assert flags == 1  # hash-based, unchecked
    # the standard library's byte-code too (live-build's own hooks delete it)
    _, listing = base_layer
    assert "/usr/lib/python3.13/__pycache__/argparse.cpython-313.pyc" in listing.splitlines()


def test_trimmed_but_firmware_and_tools_kept(base_layer: tuple[Path, str]) -> None:
    _, listing = base_layer
    paths = set(listing.splitlines())
    assert not any(p.startswith("/usr/share/man/") for p in paths)
    assert not any(p.startswith("/usr/share/doc/") and not p.endswith("/copyright")
                   for p in paths if p.count("/") > 4)
    firmware = [p.rsplit("/", 1)[-1] for p in paths if p.startswith("/usr/lib/firmware/iwlwifi-")]
    # Surface Pro 7: Intel AX201 (Qu, HR radio)
    assert any(f.startswith("iwlwifi-Qu-b0-hr-b0-") and f.endswith(".ucode") for f in firmware)
    assert any(f.startswith("iwlwifi-so-a0-gf-a0-") for f in firmware)
    for tool in ("nvme", "hdparm", "smartctl", "sg_sanitize", "mmc", "sedutil-cli", "sgdisk",
                 "dmidecode", "lspci", "lsusb", "lsblk", "nmcli"):
        assert any(p.endswith(f"bin/{tool}") for p in paths), tool
    assert "/usr/share/consolefonts/Lat15-Terminus32x16.psf.gz" in paths
