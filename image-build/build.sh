#!/bin/bash
# Build the Ardoise live ISO (Debian 13 trixie, amd64, UEFI Secure Boot + BIOS).
#
#   bash image-build/build.sh            # build/image/ardoise.iso
#   bash image-build/build.sh --plain    # build/plain/plain.iso: same lb config, no Ardoise
#   bash image-build/build.sh --print-key
#
# Two layers, each cached by the hash of its inputs:
#   base  live-build image: image-build/{auto,config} + requirements/appliance.lock (the
#         venv /opt/ardoise with our hash-locked dependencies). Minutes to build.
#   app   a small squashfs with our own code (wheel built from this tree) and
#         /etc/ardoise/build.json, added to the base ISO's /live/ by xorriso. Seconds.
# live-boot stacks every /live/*.squashfs in name order, the last on top: the app layer
# (overlay-ardoise.squashfs) lands on top of the base (filesystem.squashfs).
# Runs as root on Debian 12 or 13; installs trixie's live-build when missing.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="${ARDOISE_BUILD_DIR:-$ROOT/build}"
MIRROR="${ARDOISE_MIRROR:-http://deb.debian.org/debian/}"
LB_VERSIONS="20250505+deb13u1 20250505"   # trixie's live-build
BASE_FORMAT=1                             # bump to force a base rebuild
PY_VERSION=3.13                           # trixie's python3
MODE=ardoise
PRINT_KEY=0

for arg in "$@"; do
	case "$arg" in
	--plain) MODE=plain ;;
	--print-key) PRINT_KEY=1 ;;
	*) echo "usage: $0 [--plain] [--print-key]" >&2; exit 2 ;;
	esac
done

log() { echo "build.sh: $*" >&2; }
sha() { sha256sum | cut -d' ' -f1; }

# Hash of a list of files: their paths (relative to ROOT), modes and contents.
hash_files() {
	(cd "$ROOT" && sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
}

base_key() {
	local inputs=(image-build/auto image-build/config)
	[ "$MODE" = plain ] && inputs=(image-build/auto image-build/config/bootloaders)
	{
		echo "format=$BASE_FORMAT mode=$MODE"
		(cd "$ROOT" && find "${inputs[@]}" -type f -print0 | hash_files)
		(cd "$ROOT" && find "${inputs[@]}" -type f -perm -u+x | sort)
		if [ "$MODE" = ardoise ]; then sha256sum <"$ROOT/requirements/appliance.lock"; fi
	} | sha
}

app_sources() {
	(cd "$ROOT" && find erasure appliance tui ledger pyproject.toml README.md \
		-name __pycache__ -prune -o -type f ! -name '*.pyc' -print0)
}

app_key() {
	{ echo "base=$1"; sha256sum <"$HERE/build.sh"; app_sources | hash_files; } | sha
}

ensure_live_build() {
	if command -v lb >/dev/null && [[ "$(lb --version 2>/dev/null)" == 2025* ]]; then
		return
	fi
	local tmp v
	tmp="$(mktemp -d)"
	for v in $LB_VERSIONS; do
		if curl -fsSL -o "$tmp/live-build.deb" \
			"${MIRROR%/}/pool/main/l/live-build/live-build_${v}_all.deb"; then
			log "installing live-build $v"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tmp/live-build.deb" >&2
			rm -rf "$tmp"
			return
		fi
	done
	rm -rf "$tmp"
	echo "build.sh: cannot download trixie's live-build ($LB_VERSIONS)" >&2
	exit 1
}

ensure_host_tools() {
	local missing=()
	command -v xorriso >/dev/null || missing+=(xorriso)
	command -v mksquashfs >/dev/null || missing+=(squashfs-tools)
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v curl >/dev/null || missing+=(curl)
	if [ "${#missing[@]}" -gt 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	fi
}

# Wheels for trixie's Python, checked against the lock's hashes by pip.
download_wheels() {
	local dest="$1"
	mkdir -p "$dest"
	"$ROOT/.venv/bin/pip" download --quiet --disable-pip-version-check --require-hashes \
		--only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
		--abi "cp${PY_VERSION/./}" --abi abi3 --abi none \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64 \
		--platform linux_x86_64 --platform any \
		-r "$ROOT/requirements/appliance.lock" -d "$dest" >&2
	cp "$ROOT/requirements/appliance.lock" "$dest/appliance.lock"
}

# live-build can leave bind mounts behind (chroot/live-build/config): undo those under $1.
release_mounts() {
	awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" || true; done
}

build_base() {
	local key="$1" out="$2" work="$3"
	log "building the $MODE base image (key ${key:0:12}) in $work"
	mkdir -p "$work"
	release_mounts "$work"
	# Keep live-build's package and bootstrap caches between builds; everything else fresh.
	if [ -d "$work/config" ]; then (cd "$work" && lb clean noauto >&2) || true; fi
	rm -rf "$work/auto" "$work/config" "$work"/*.iso "$work/build.log"
	cp -a "$HERE/auto" "$work/auto"
	if [ "$MODE" = ardoise ]; then
		cp -a "$HERE/config" "$work/config"
		download_wheels "$work/config/includes.chroot/root/ardoise-wheels"
	else
		# A plain trixie live system: same flags and boot menus, live-build's default
		# package set (live-boot + live-config), none of our packages, hooks or files.
		# It shares the Ardoise build's package and bootstrap caches (same flags).
		mkdir -p "$work/config" "$BUILD/image/lb/cache"
		[ -e "$work/cache" ] || ln -s "$BUILD/image/lb/cache" "$work/cache"
		cp -a "$HERE/config/bootloaders" "$work/config/bootloaders"
	fi
	(cd "$work" && lb config >&2 && lb build >&2)
	release_mounts "$work"
	local iso
	iso="$(ls "$work"/*.hybrid.iso)"
	mv "$iso" "$out"
	cp "$work/chroot.packages.live" "$out.packages" 2>/dev/null ||
		cp "$work"/*.packages "$out.packages" 2>/dev/null || true
}

# Our code as a squashfs layer: the wheel unpacked into the venv's site-packages,
# console scripts, build info; byte-compiled with trixie's python from the base chroot.
build_app_layer() {
	local key="$1" base_iso="$2" layer="$3" work="$4"
	local tmp tree site
	tmp="$(mktemp -d)"
	tree="$tmp/tree"
	site="$tree/opt/ardoise/lib/python$PY_VERSION/site-packages"
	mkdir -p "$tmp/src" "$site" "$tree/opt/ardoise/bin" "$tree/etc/ardoise"
	(cd "$ROOT" && app_sources | xargs -0 cp --parents -t "$tmp/src")
	(cd "$tmp/src" && "$ROOT/.venv/bin/pip" wheel --quiet --no-deps --no-build-isolation \
		--disable-pip-version-check -w "$tmp/wheel" . >&2)
	"$ROOT/.venv/bin/python" - "$tmp"/wheel/*.whl "$site" "$tree/opt/ardoise/bin" <<'PY'
import configparser, sys, zipfile
from pathlib import Path
wheel, site, bindir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
with zipfile.ZipFile(wheel) as zf:
    zf.extractall(site)
    eps = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
    cp = configparser.ConfigParser()
    cp.read_string(zf.read(eps).decode())
for name, target in cp.items("console_scripts") if cp.has_section("console_scripts") else []:
    module, func = target.split(":")
    script = bindir / name
    script.write_text(
        "#!/opt/ardoise/bin/python3\nimport sys\n"
        f"from {module} import {func}\n"
        f"if __name__ == '__main__':\n    sys.exit({func}())\n")
    script.chmod(0o755)
PY
	local chroot="$work/chroot"
	if [ -x "$chroot/usr/bin/python3" ]; then
		# .pyc made by trixie's python, so that the first start on a slow machine is not spent
		# compiling; unchecked-hash keeps them valid whatever the file dates.
		local inside="$chroot/tmp/ardoise-compile"
		rm -rf "$inside" && mkdir -p "$inside" && cp -a "$site/." "$inside/"
		chroot "$chroot" /usr/bin/python3 -m compileall -q -j 0 \
			--invalidation-mode unchecked-hash /tmp/ardoise-compile >&2 || true
		cp -a "$inside/." "$site/" && rm -rf "$inside"
	fi
	local commit dirty
	commit="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
	dirty=false
	[ -n "$(git -C "$ROOT" status --porcelain -- erasure appliance tui pyproject.toml 2>/dev/null)" ] && dirty=true
	"$ROOT/.venv/bin/python" - "$tree/etc/ardoise/build.json" <<PY
import json, sys
info = {
    "name": "ardoise",
    "version": "$("$ROOT/.venv/bin/python" -c 'import appliance; print(appliance.__version__)' 2>/dev/null || echo unknown)",
    "git_commit": "$commit",
    "git_dirty": $([ "$dirty" = true ] && echo True || echo False),
    "source_date_epoch": $SOURCE_DATE_EPOCH,
    "distribution": "trixie",
    "base_key": "$(basename "$base_iso" .iso | sed 's/^base-//')",
    "app_key": "$key",
    "package_list_sha256": "$(cat "$HERE"/config/package-lists/*.list.chroot | sha)",
    "packages_sha256": "$( (cat "$base_iso.packages" 2>/dev/null || true) | sha)",
    "lock_sha256": "$(sha <"$ROOT/requirements/appliance.lock")",
}
with open(sys.argv[1], "w") as fh:
    json.dump(info, fh, indent=2, sort_keys=True)
    fh.write("\n")
PY
	# file and filesystem dates come from SOURCE_DATE_EPOCH (mksquashfs reads it)
	mksquashfs "$tree" "$layer" -noappend -quiet -comp zstd -all-root >&2
	rm -rf "$tmp"
}

main() {
	[ "$(id -u)" -eq 0 ] || { echo "build.sh: run as root (live-build needs it)" >&2; exit 1; }
	export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"
	# One build at a time (parallel test sessions share build/): a second caller waits,
	# then finds the first one's result in the cache.
	if [ "$PRINT_KEY" != 1 ]; then
		mkdir -p "$BUILD"
		exec 9>"$BUILD/.build.lock"
		if ! flock -n 9; then log "another build is running: waiting for it"; flock 9; fi
	fi
	local bkey
	bkey="$(base_key)"
	if [ "$MODE" = plain ]; then
		local out="$BUILD/plain"
		if [ "$PRINT_KEY" = 1 ]; then echo "$bkey"; return; fi
		mkdir -p "$out"
		local iso="$out/base-$bkey.iso"
		if [ ! -f "$iso" ]; then
			ensure_live_build; ensure_host_tools
			local t0=$SECONDS
			build_base "$bkey" "$iso" "$out/lb"
			log "plain image built in $((SECONDS - t0)) s"
		fi
		ln -sfn "$(basename "$iso")" "$out/plain.iso"
		report "$out/plain.iso"
		return
	fi
	local akey
	akey="$(app_key "$bkey")"
	if [ "$PRINT_KEY" = 1 ]; then echo "base $bkey"; echo "app $akey"; return; fi
	local out="$BUILD/image"
	mkdir -p "$out"
	local base_iso="$out/base-$bkey.iso" final="$out/ardoise-$akey.iso"
	local t0=$SECONDS
	if [ ! -f "$final" ]; then
		if [ ! -f "$base_iso" ]; then
			ensure_live_build; ensure_host_tools
			build_base "$bkey" "$base_iso" "$out/lb"
			log "base image built in $((SECONDS - t0)) s"
		fi
		local layer="$out/app-$akey.squashfs"
		build_app_layer "$akey" "$base_iso" "$layer" "$out/lb"
		rm -f "$final.tmp"
		xorriso -no_rc -indev "$base_iso" -outdev "$final.tmp" -boot_image any replay \
			-map "$layer" /live/overlay-ardoise.squashfs >&2 2>"$out/xorriso.log" ||
			{ cat "$out/xorriso.log" >&2; exit 1; }
		mv "$final.tmp" "$final"
		rm -f "$layer"
		# keep the three newest app ISOs
		ls -1t "$out"/ardoise-*.iso 2>/dev/null | tail -n +4 | xargs -r rm -f
	fi
	ln -sfn "$(basename "$final")" "$out/ardoise.iso"
	log "done in $((SECONDS - t0)) s"
	report "$out/ardoise.iso"
}

report() {
	local iso size
	iso="$(readlink -f "$1")"
	size="$(stat -c %s "$iso")"
	echo "iso:    $1 -> $(basename "$iso")"
	echo "size:   $size bytes ($((size / 1024 / 1024)) MiB)"
	echo "sha256: $(sha256sum "$iso" | cut -d' ' -f1)"
}

main
