#!/bin/bash
# Netboot files for a rack of machines without sticks, from the built ISO:
#
#   build/netboot/
#     tftp/vmlinuz, tftp/initrd.img      kernel and live-boot initramfs
#     tftp/ardoise.ipxe                  iPXE script (HTTP)
#     tftp/pxelinux.cfg/default          PXELINUX entry (HTTP fetch)
#     http/live/filesystem.squashfs      base + Ardoise layer merged into one squashfs,
#                                        because live-boot's fetch= takes a single file
#
#   make-netboot.sh [--iso ISO] [--server http://HOST:PORT] [--config URL]
#                   [--site-key SITE.pub.pem]... [--append "ardoise.ca=sha256:..."]
#
# --site-key puts the site's public key(s) into the image's /etc/ardoise/site-keys/: the
# trusted place a netbooted machine checks the signature of its config (rack.yaml.sig)
# against (`ardoise site keygen|sign`). --append adds kernel parameters.
# http/ardoise.ipxe is the same iPXE script, for `chain http://HOST:PORT/ardoise.ipxe`.
#
# Serve http/ with any static HTTP server and tftp/ over TFTP (or chain-load the iPXE
# script). Netbooted machines have no data partition: `ardoise.config=` on the kernel
# command line names their config (an http(s) URL), and their journal lives in RAM.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ISO="$ROOT/build/image/ardoise.iso"
OUT="$ROOT/build/netboot"
SERVER="http://192.0.2.1:8000"  # placeholder (TEST-NET-1): pass --server
CONFIG=""
SITE_KEYS=()
APPEND=""

while [ $# -gt 0 ]; do
	case "$1" in
	--iso) ISO="$2"; shift 2 ;;
	--server) SERVER="$2"; shift 2 ;;
	--config) CONFIG="$2"; shift 2 ;;
	--out) OUT="$2"; shift 2 ;;
	--site-key) SITE_KEYS+=("$(readlink -f "$2")"); shift 2 ;;
	--append) APPEND="$2"; shift 2 ;;
	*) sed -n '2,15p' "$0" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "make-netboot.sh: run as root" >&2; exit 1; }
ISO="$(readlink -f "$ISO")"
[ -f "$ISO" ] || { echo "make-netboot.sh: no ISO at $ISO (make image)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT/tftp/pxelinux.cfg" "$OUT/http/live"

xorriso -no_rc -osirrox on -indev "$ISO" \
	-extract /live "$tmp/live" >/dev/null 2>&1
kernel="$(ls "$tmp"/live/vmlinuz-* | head -1)"
initrd="$(ls "$tmp"/live/initrd.img-* | head -1)"
cp "$kernel" "$OUT/tftp/vmlinuz"
cp "$initrd" "$OUT/tftp/initrd.img"

# Merge the layers in live-boot's order (name order, later on top).
mkdir -p "$tmp/root"
for layer in $(cd "$tmp/live" && ls -1 *.squashfs | sort); do
	unsquashfs -quiet -no-progress -force -dest "$tmp/root" "$tmp/live/$layer" >/dev/null
done
if [ "${#SITE_KEYS[@]}" -gt 0 ]; then
	mkdir -p "$tmp/root/etc/ardoise/site-keys"
	for key in "${SITE_KEYS[@]}"; do
		grep -q "BEGIN PUBLIC KEY" "$key" || { echo "make-netboot.sh: $key is not a public key" >&2; exit 2; }
		install -m 0644 "$key" "$tmp/root/etc/ardoise/site-keys/$(basename "$key")"
	done
fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"
mksquashfs "$tmp/root" "$OUT/http/live/filesystem.squashfs" -noappend -quiet -comp zstd >/dev/null

append="boot=live components noeject nopersistence quiet console=tty1 console=ttyS0,115200"
append="$append fetch=${SERVER%/}/live/filesystem.squashfs"
[ -n "$CONFIG" ] && append="$append ardoise.config=$CONFIG"
[ -n "$APPEND" ] && append="$append $APPEND"

cat >"$OUT/tftp/ardoise.ipxe" <<EOF
#!ipxe
dhcp
kernel ${SERVER%/}/vmlinuz initrd=initrd.img $append
initrd ${SERVER%/}/initrd.img
boot
EOF
cp "$OUT/tftp/vmlinuz" "$OUT/tftp/initrd.img" "$OUT/tftp/ardoise.ipxe" "$OUT/http/"
cat >"$OUT/tftp/pxelinux.cfg/default" <<EOF
default ardoise
prompt 0
timeout 10
label ardoise
  kernel vmlinuz
  initrd initrd.img
  append $append
EOF
echo "netboot: $OUT (server $SERVER)"
ls -la "$OUT/tftp" "$OUT/http/live"
