#!/bin/bash
# Capture the "qemu-7.2-*" drive fixtures (tests/fixtures/README.md) again:
# boots Debian 12's kernel with a tiny initramfs holding this host's nvme-cli,
# smartmontools, hdparm, sg3-utils and mmc-utils in QEMU with an emulated NVMe, AHCI,
# virtio-scsi and USB disk (then an SD card), runs the probe and erase commands there and
# copies their outputs out through a scratch virtio disk (a tar archive).
#
#   bash tests/tools/capture-drive-fixtures.sh [WORKDIR]     # outputs in WORKDIR/cap*/out
#
# Needs root, qemu-system-x86_64, apt-get, cpio. Touches only files under WORKDIR.
set -euo pipefail
W="${1:-/var/tmp/ardoise-fw-vm}"
KV=6.1.0-56-amd64
mkdir -p "$W" && cd "$W"
[ -f "linux-image-${KV}.deb" ] || { apt-get download "linux-image-${KV}" busybox-static mmc-utils
	mv linux-image-${KV}_*.deb "linux-image-${KV}.deb"; mv busybox-static_*.deb busybox-static.deb
	mv mmc-utils_*.deb mmc-utils.deb; }
rm -rf k bb mmc && dpkg-deb -x "linux-image-${KV}.deb" k && dpkg-deb -x busybox-static.deb bb \
	&& dpkg-deb -x mmc-utils.deb mmc

common_init() {
cat <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
cd /lib/modules/*
for m in crc64 crc64-rocksoft crct10dif_common crc-t10dif t10-pi scsi_common scsi_mod sd_mod sg \
	libata libahci ahci nvme-core nvme virtio_ring virtio virtio_pci_legacy_dev \
	virtio_pci_modern_dev virtio_pci virtio_scsi virtio_blk usb-common usbcore xhci-hcd xhci-pci \
	usb-storage mmc_core mmc_block cqhci sdhci sdhci-pci; do
	[ -f $m.ko ] && insmod $m.ko
done
sleep 8
O=/out
cap() { name=$1; shift; "$@" > $O/$name.out 2> $O/$name.err; echo $? > $O/$name.rc; }
EOF
}

disks_init() {
common_init
cat <<'EOF'
for d in /sys/block/sd?; do n=$(basename $d); echo "$n $(cat $d/device/vendor) $(cat $d/device/model) $(readlink -f $d)" >> $O/sd-map.txt; done
cap nvme-id-ctrl nvme id-ctrl /dev/nvme0 -o json
cap nvme-id-ns nvme id-ns /dev/nvme0n1 -o json
cap nvme-list-ns nvme list-ns /dev/nvme0 -o json
cap nvme-sanitize-log nvme sanitize-log /dev/nvme0 -o json
cap smartctl-nvme smartctl -j -x /dev/nvme0n1
for n in $(cd /sys/block; ls -d sd?); do
	cap smartctl-$n smartctl -j -x /dev/$n
	cap hdparm-I-$n hdparm -I /dev/$n
	cap hdparm-N-$n hdparm -N /dev/$n
	cap sg_inq-$n sg_inq /dev/$n
	cap sg_readcap-$n sg_readcap --long /dev/$n
	cap sg_opcodes-$n sg_opcodes /dev/$n
done
printf 'ARDOISE-MARKER-' > /tmp/m; for i in $(seq 1 12); do cat /tmp/m /tmp/m /tmp/m /tmp/m >> /tmp/m2; done
dd if=/tmp/m2 of=/dev/nvme0n1 bs=4096 count=1 conv=fsync 2>/dev/null
dd if=/dev/nvme0n1 bs=64 count=1 2>/dev/null | hexdump -C > $O/nvme-before.hex
cap nvme-format-ses1 nvme format /dev/nvme0n1 --ses=1 --force
dd if=/dev/nvme0n1 bs=64 count=1 2>/dev/null | hexdump -C > $O/nvme-after-ses1.hex
dd if=/tmp/m2 of=/dev/nvme0n1 bs=4096 count=1 conv=fsync 2>/dev/null
cap nvme-format-ses2 nvme format /dev/nvme0n1 --ses=2 --force
dd if=/dev/nvme0n1 bs=64 count=1 2>/dev/null | hexdump -C > $O/nvme-after-ses2.hex
cap nvme-sanitize-block nvme sanitize /dev/nvme0 --sanact=2
for n in $(cd /sys/block; ls -d sd?); do
	cap hdparm-setpass-$n hdparm --user-master u --security-set-pass ArdoiseTmp /dev/$n
	cap sg_sanitize-$n sg_sanitize --block --quick /dev/$n
done
tar cf /dev/vda -C / out; sync; poweroff -f
EOF
}

sd_init() {
common_init
cat <<'EOF'
cap mmc-extcsd mmc extcsd read /dev/mmcblk0
cap mmc-cid mmc cid read /sys/block/mmcblk0/device
cap mmc-sanitize mmc sanitize /dev/mmcblk0
cat /sys/block/mmcblk0/device/type > $O/mmc-type.txt
tar cf /dev/vda -C / out; sync; poweroff -f
EOF
}

initrd() {  # $1: init script generator, $2: output
	local R=root
	rm -rf $R && mkdir -p $R/{bin,proc,sys,dev,out,tmp,lib/modules/$KV}
	cp bb/bin/busybox $R/bin/
	for a in sh mount cat echo sleep tar ls dd insmod readlink poweroff sync hexdump seq basename; do
		ln -sf busybox $R/bin/$a; done
	for b in /usr/sbin/nvme /usr/sbin/smartctl /usr/sbin/hdparm /usr/bin/sg_inq /usr/bin/sg_readcap \
		/usr/bin/sg_opcodes /usr/bin/sg_sanitize mmc/usr/bin/mmc; do
		cp "$b" $R/bin/
		for l in $(ldd "$b" | grep -o '/[^ ]*'); do mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"; done
	done
	find k/lib/modules/$KV -name '*.ko' \( -path '*nvme/host*' -o -path '*ata*' -o -path '*scsi*' \
		-o -path '*virtio*' -o -path '*usb*' -o -path '*mmc*' -o -path '*crc*' -o -name 't10-pi.ko' \) \
		-exec cp {} $R/lib/modules/$KV/ \;
	$1 > $R/init && chmod +x $R/init
	(cd $R && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$2"
}

boot() {  # $1: initrd, $2: capture dir, rest: QEMU device arguments
	local rd=$1 dir=$2; shift 2
	rm -f out.img && truncate -s 32M out.img
	timeout 900 qemu-system-x86_64 -machine q35 -m 1024 -smp 1 -nographic -no-reboot \
		-kernel k/boot/vmlinuz-$KV -initrd "$rd" -append "console=ttyS0 panic=-1" \
		-drive file=out.img,format=raw,if=virtio "$@" > "$dir.serial.log" 2>&1
	rm -rf "$dir" && mkdir -p "$dir" && tar xf out.img -C "$dir"
}

initrd disks_init disks.gz
initrd sd_init sd.gz
for f in nvme sata scsi usb sd; do rm -f $f.img; truncate -s 256M $f.img; done
boot disks.gz cap \
	-drive file=nvme.img,format=raw,if=none,id=dnv -device nvme,serial=ARDOISENVME01,drive=dnv \
	-drive file=sata.img,format=raw,if=none,id=dsata \
	-device ide-hd,drive=dsata,bus=ide.0,serial=ARDOISESATA01,model=QEMU-SATA-DISK \
	-device virtio-scsi-pci,id=vs -drive file=scsi.img,format=raw,if=none,id=dscsi \
	-device scsi-hd,drive=dscsi,bus=vs.0,serial=ARDOISESCSI01 \
	-device qemu-xhci,id=xhci -drive file=usb.img,format=raw,if=none,id=dusb \
	-device usb-storage,drive=dusb,bus=xhci.0,serial=ARDOISEUSB01
boot sd.gz cap-mmc -device sdhci-pci -drive file=sd.img,format=raw,if=none,id=dsd \
	-device sd-card,drive=dsd
echo "outputs: $W/cap/out $W/cap-mmc/out"
