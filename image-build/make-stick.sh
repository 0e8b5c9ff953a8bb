#!/bin/bash
# Write an Ardoise stick: the hybrid ISO, then a data partition labelled ARDOISE (exFAT, so
# that any computer can edit the config and drop images) holding ardoise.yaml, images/,
# spool/, journal/ and keys/. The live system mounts it at /run/ardoise/data.
#
#   make-stick.sh --device /dev/sdX [--yes]            a real stick (whole device)
#   make-stick.sh --file OUT.img [--data-size 256M]    an image file (tests, VMs)
#   options: --iso ISO (default build/image/ardoise.iso), --add FILE (repeatable: copied to
#            the data partition's root)
#
# The ISO's hybrid MBR (partition 1: the ISO, 2: the EFI image) gets a third primary
# partition, type 0x07, starting at the first MiB boundary after the ISO. Linux and UEFI
# firmware read that MBR (it has no 0xEE entry, so the ISO's GPT is not used by either).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ISO="$ROOT/build/image/ardoise.iso"
DEVICE=""
FILE=""
DATA_SIZE="256M"
YES=0
ADD=()
LABEL=ARDOISE

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "make-stick.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--device) DEVICE="$2"; shift 2 ;;
	--file) FILE="$2"; shift 2 ;;
	--iso) ISO="$2"; shift 2 ;;
	--data-size) DATA_SIZE="$2"; shift 2 ;;
	--add) ADD+=("$2"); shift 2 ;;
	--yes) YES=1; shift ;;
	*) usage ;;
	esac
done
[ -n "$DEVICE" ] || [ -n "$FILE" ] || usage
[ -z "$DEVICE" ] || [ -z "$FILE" ] || usage
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -f "$ISO" ] || die "no ISO at $ISO (make image)"
ISO="$(readlink -f "$ISO")"
for f in "${ADD[@]}"; do [ -f "$f" ] || die "--add $f: no such file"; done

MiB=$((1024 * 1024))
iso_bytes="$(stat -c %s "$ISO")"
start_bytes=$(( (iso_bytes + MiB - 1) / MiB * MiB ))

# The data partition's contents, written into a mounted exFAT filesystem.
populate() {
	local mnt="$1"
	mkdir -p "$mnt/images" "$mnt/spool/pending" "$mnt/spool/sent" "$mnt/journal" "$mnt/keys"
	cp "$HERE/stick/ardoise.yaml" "$mnt/ardoise.yaml"
	for f in "${ADD[@]}"; do cp "$f" "$mnt/"; done
}

# mkfs + fill the filesystem on block device $1 through exfat-fuse (works on hosts whose
# kernel has no exFAT driver).
make_data_fs() {
	local target="$1" mnt
	mkfs.exfat -L "$LABEL" "$target" >/dev/null
	mnt="$(mktemp -d)"
	mount.exfat-fuse -o rw "$target" "$mnt" >/dev/null 2>&1
	populate "$mnt" || { fusermount -u "$mnt"; rmdir "$mnt"; return 1; }
	sync
	fusermount -u "$mnt"
	rmdir "$mnt"
	fsck.exfat -n "$target" >/dev/null || die "fsck.exfat found errors in the new filesystem"
}

# The same for a filesystem image file, through a loop device of our own (FUSE wants a
# block device), detached whatever happens.
make_data_fs_file() {
	local file="$1" loop
	loop="$(losetup -f --show "$file")"
	if ! make_data_fs "$loop"; then losetup -d "$loop"; return 1; fi
	losetup -d "$loop"
}

append_partition() {
	local target="$1" size_bytes="$2"
	local start=$((start_bytes / 512)) sectors=$((size_bytes / 512))
	echo "start=$start, size=$sectors, type=7" |
		sfdisk --append --no-reread --no-tell-kernel --quiet "$target" >/dev/null
	sfdisk --dump "$target" | grep -q "start= *$start, size= *$sectors, type=7" ||
		die "partition 3 was not written as expected"
}

if [ -n "$FILE" ]; then
	data_bytes="$(numfmt --from=iec "$DATA_SIZE")"
	data_bytes=$(( data_bytes / MiB * MiB ))
	[ "$data_bytes" -ge $((16 * MiB)) ] || die "--data-size: at least 16M"
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	cp --sparse=always "$ISO" "$FILE.tmp"
	truncate -s $((start_bytes + data_bytes)) "$FILE.tmp"
	append_partition "$FILE.tmp" "$data_bytes"
	truncate -s "$data_bytes" "$tmp/data.img"
	make_data_fs_file "$tmp/data.img"
	dd if="$tmp/data.img" of="$FILE.tmp" bs=1M seek=$((start_bytes / MiB)) conv=notrunc,sparse \
		status=none
	mv "$FILE.tmp" "$FILE"
	echo "stick image: $FILE ($(( (start_bytes + data_bytes) / MiB )) MiB; data partition" \
		"$(( data_bytes / MiB )) MiB at $((start_bytes / MiB)) MiB)"
	exit 0
fi

# ---- a real device ----------------------------------------------------------------------
[ -b "$DEVICE" ] || die "$DEVICE is not a block device"
[ "$(lsblk -ndo TYPE "$DEVICE")" = disk ] || die "$DEVICE is not a whole disk"
if lsblk -lnpo MOUNTPOINTS "$DEVICE" 2>/dev/null | grep -q . ||
	lsblk -lnpo MOUNTPOINT "$DEVICE" 2>/dev/null | grep -q .; then
	die "$DEVICE has mounted filesystems: unmount them first"
fi
root_src="$(findmnt -no SOURCE / || true)"
if [ -n "$root_src" ] && lsblk -lnpo NAME "$DEVICE" | grep -qx "$root_src"; then
	die "$DEVICE holds this system's root filesystem"
fi
tran="$(lsblk -ndo TRAN "$DEVICE" | tr -d ' ')"
rm_flag="$(lsblk -ndo RM "$DEVICE" | tr -d ' ')"
if [ "$tran" != usb ] && [ "$rm_flag" != 1 ] && [ "${ARDOISE_STICK_ANY_DISK:-0}" != 1 ]; then
	die "$DEVICE is neither USB nor removable (set ARDOISE_STICK_ANY_DISK=1 to insist)"
fi
dev_bytes="$(blockdev --getsize64 "$DEVICE")"
[ "$dev_bytes" -ge $((start_bytes + 64 * MiB)) ] || die "$DEVICE is too small"
echo "About to ERASE $DEVICE: $(lsblk -ndo MODEL,SERIAL,SIZE "$DEVICE" | xargs)"
if [ "$YES" != 1 ]; then
	[ -t 0 ] || die "no terminal to confirm on: add --yes"
	read -r -p "Type the device name ($DEVICE) to go on: " answer
	[ "$answer" = "$DEVICE" ] || die "not confirmed"
fi
wipefs --all --quiet "$DEVICE"
dd if="$ISO" of="$DEVICE" bs=4M conv=fsync oflag=direct status=progress
data_bytes=$(( (dev_bytes - start_bytes) / MiB * MiB ))
append_partition "$DEVICE" "$data_bytes"
blockdev --rereadpt "$DEVICE" 2>/dev/null || partx -u "$DEVICE" || true
udevadm settle 2>/dev/null || true
part="$(lsblk -lnpo NAME,TYPE "$DEVICE" | awk '$2 == "part" { p = $1 } END { print p }')"
[ -b "$part" ] || die "the kernel does not show partition 3 of $DEVICE"
make_data_fs "$part"
sync
echo "stick: $DEVICE written (data partition $part, $(( data_bytes / MiB )) MiB)"
