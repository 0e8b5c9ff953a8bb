#!/bin/bash
# Netboot files for a rack of machines without sticks, from the built ISO:
#
#   build/netboot/
#     tftp/vmlinuz, tftp/initrd.img      kernel and live-boot initramfs
#     tftp/ardoise.ipxe                  iPXE script (HTTP)
#     tftp/pxelinux.cfg/default          PXELINUX entry (HTTP fetch)
#     http/live/filesystem.squashfs      base + Ardoise layer merged into one squashfs,
#                                        because live-boot's fetch= takes a single file
#     http/bootx64.efi                   UEFI HTTP boot: the ISO's shim (Secure Boot)...
#     http/grubx64.efi                   ...which loads Debian's signed GRUB network image
#                                        (grubnetx64.efi.signed) from beside itself...
#     http/grub/grub.cfg                 ...which reads $prefix/grub.cfg, prefix "/grub" on
#                                        the boot server: the iPXE script's entry
#
#   make-netboot.sh [--iso ISO] [--server http://HOST:PORT] [--config URL] [--lang fr|en]
#                   [--site-key SITE.pub.pem]... [--append "ardoise.ca=sha256:..."]
#                   [--grub-deb grub-efi-amd64-signed_*.deb] [--out DIR]
#
# --site-key puts the site's public key(s) into the image's /etc/ardoise/site-keys/: the
# trusted place a netbooted machine checks the signature of its config (rack.yaml.sig)
# against (`ardoise site keygen|sign`). --append adds kernel parameters; --lang sets
# ardoise.lang=. --grub-deb names the grub-efi-amd64-signed package of the image's release
# (default: the one live-build cached while building the ISO); without one the UEFI HTTP boot
# files are left out, with a warning.
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
LANG_PARAM=""
GRUB_DEB=""

while [ $# -gt 0 ]; do
	case "$1" in
	--iso) ISO="$2"; shift 2 ;;
	--server) SERVER="$2"; shift 2 ;;
	--config) CONFIG="$2"; shift 2 ;;
	--out) OUT="$2"; shift 2 ;;
	--site-key) SITE_KEYS+=("$(readlink -f "$2")"); shift 2 ;;
	--append) APPEND="$2"; shift 2 ;;
	--lang) LANG_PARAM="$2"; shift 2 ;;
	--grub-deb) GRUB_DEB="$(readlink -f "$2")"; shift 2 ;;
	*) sed -n '2,22p' "$0" >&2; exit 2 ;;
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

append="boot=live components noeject nopersistence quiet libata.allow_tpm=1 console=tty1 console=ttyS0,115200"
append="$append fetch=${SERVER%/}/live/filesystem.squashfs"
[ -n "$CONFIG" ] && append="$append ardoise.config=$CONFIG"
[ -n "$LANG_PARAM" ] && append="$append ardoise.lang=$LANG_PARAM"
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

# UEFI HTTP boot (no iPXE): the firmware fetches the bootfile URL the DHCP server gives to
# vendor class "HTTPClient" (http/bootx64.efi). Shim fetches grubx64.efi from the same
# directory; Debian's grubnetx64 is built with prefix "/grub" and its memdisk config reads
# $prefix/grub.cfg, i.e. http://HOST[:PORT]/grub/grub.cfg on the server that served it.
if [ -z "$GRUB_DEB" ]; then
	GRUB_DEB="$(ls -1 "$ROOT"/build/image/lb/cache/packages.binary/grub-efi-amd64-signed_*.deb \
		2>/dev/null | sort -V | tail -1 || true)"
fi
if [ -n "$GRUB_DEB" ] && [ -f "$GRUB_DEB" ]; then
	dpkg-deb -x "$GRUB_DEB" "$tmp/grub-deb"
	signed="$tmp/grub-deb/usr/lib/grub/x86_64-efi-signed"
	[ -f "$signed/grubnetx64.efi.signed" ] || {
		echo "make-netboot.sh: $GRUB_DEB has no grubnetx64.efi.signed" >&2; exit 1; }
	xorriso -no_rc -osirrox on -indev "$ISO" -extract /EFI/boot/bootx64.efi "$tmp/bootx64.efi" \
		-extract /EFI/boot/grubx64.efi "$tmp/grubx64-iso.efi" >/dev/null 2>&1 || true
	[ -f "$tmp/bootx64.efi" ] || {
		echo "make-netboot.sh: the ISO has no /EFI/boot/bootx64.efi (shim)" >&2; exit 1; }
	# shim chains only a GRUB its release trusts (SBAT): the network image must come from the
	# package whose CD image (gcdx64) the ISO boots with
	if [ -f "$signed/gcdx64.efi.signed" ] && ! cmp -s "$signed/gcdx64.efi.signed" "$tmp/grubx64-iso.efi"; then
		echo "make-netboot.sh: $GRUB_DEB is not the GRUB of this ISO (pass the image's --grub-deb)" >&2
		exit 1
	fi
	install -m 0644 "$tmp/bootx64.efi" "$OUT/http/bootx64.efi"
	install -m 0644 "$signed/grubnetx64.efi.signed" "$OUT/http/grubx64.efi"
	mkdir -p "$OUT/http/grub"
	# GRUB names an HTTP server as a device: (http,HOST[:PORT])/path
	scheme="${SERVER%%://*}"
	rest="${SERVER#*://}"
	rest="${rest%/}"
	grub_host="${rest%%/*}"
	grub_path="${rest#"$grub_host"}"
	cat >"$OUT/http/grub/grub.cfg" <<EOF
# Ardoise over UEFI HTTP boot: the same kernel, initrd and command line as ardoise.ipxe
set timeout=1
set default=0
menuentry "Ardoise (network)" {
	echo "Ardoise: loading the kernel and initrd from ${SERVER%/}"
	linux (${scheme},${grub_host})${grub_path}/vmlinuz $append
	initrd (${scheme},${grub_host})${grub_path}/initrd.img
}
EOF
else
	echo "make-netboot.sh: no grub-efi-amd64-signed package (build cache or --grub-deb):" \
		"UEFI HTTP boot files left out" >&2
fi
echo "netboot: $OUT (server $SERVER)"
ls -la "$OUT/tftp" "$OUT/http" "$OUT/http/live"
