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
