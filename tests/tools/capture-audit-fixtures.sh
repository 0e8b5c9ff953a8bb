#!/bin/bash
# Capture tests/fixtures/audit/*.bin again: 4 KiB from the start of each structure that the
# audit's signature table (erasure/signatures.py) must recognise, made by the real tools on
# scratch files (no device is touched).
#
#   bash tests/tools/capture-audit-fixtures.sh        # needs mkfs.{ext4,vfat,xfs,btrfs},
#                                                     # mkntfs, sgdisk, sfdisk, syslinux-common
set -euo pipefail
OUT="$(cd "$(dirname "$0")/../fixtures/audit" && pwd)"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cut4k() { dd if="$1" of="$OUT/$2" bs=512 skip=$(($3 / 512)) count=8 status=none; }
truncate -s 64M "$W/ext4" && mkfs.ext4 -q -F "$W/ext4" && cut4k "$W/ext4" ext4-superblock.bin 1024
truncate -s 64M "$W/fat" && mkfs.vfat -F 32 "$W/fat" >/dev/null && cut4k "$W/fat" fat32-boot.bin 0
truncate -s 16M "$W/fat16" && mkfs.vfat -F 16 "$W/fat16" >/dev/null && cut4k "$W/fat16" fat16-boot.bin 0
truncate -s 64M "$W/ntfs" && mkntfs -q -F -Q "$W/ntfs" && cut4k "$W/ntfs" ntfs-boot.bin 0
mft=$(python3 -c "import sys; d=open(sys.argv[1],'rb').read(); print(d.find(b'FILE0'))" "$W/ntfs")
cut4k "$W/ntfs" ntfs-mft-record.bin "$mft"
truncate -s 320M "$W/xfs" && mkfs.xfs -q -f "$W/xfs" && cut4k "$W/xfs" xfs-superblock.bin 0
truncate -s 128M "$W/btrfs" && mkfs.btrfs -q -f "$W/btrfs" && cut4k "$W/btrfs" btrfs-superblock.bin 65536
truncate -s 16M "$W/gpt" && sgdisk -n 1:2048:0 "$W/gpt" >/dev/null && cut4k "$W/gpt" gpt-header.bin 512
truncate -s 16M "$W/mbr" && echo '2048,,83' | sfdisk -q "$W/mbr" && cut4k "$W/mbr" mbr.bin 0
head -c 4096 /usr/share/doc/syslinux-common/examples/syslinux_splash.jpg > "$OUT/jpeg-jfif.bin"
head -c 4096 "$OUT/../../../docs/certificate-en.png" > "$OUT/png.bin"
ls -l "$OUT"
