# Ardoise — every target installs what it needs on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := .stamps
export PATH := $(CURDIR)/$(BIN):$(PATH)

APT_PACKAGES := python3 python3-venv python3-dev gcc make git util-linux e2fsprogs \
	fio nwipe bmap-tools coreutils xorriso mtools exfatprogs exfat-fuse dosfstools \
	gdisk parted qemu-system-x86 qemu-utils ovmf debootstrap squashfs-tools \
	postgresql chromium chromium-driver poppler-utils gettext zstd iproute2 \
	smartmontools nvme-cli hdparm sg3-utils curl ca-certificates file cpio \
	wrk fonts-dejavu-core \
	extlinux syslinux-common cloud-guest-utils fdisk \
	partclone ntfs-3g xfsprogs btrfs-progs f2fs-tools

.PHONY: test-vm help deps venv test lint unit demo bench image stick stick-image netboot lock clean translations po

help:
	@echo "make demo   - the whole appliance demo (ISO, ledger, QEMU, unattended run)"
	@echo "make test   - lint, unit, integration, ledger, the ISO booted in QEMU (stick, NVMe purge)"
	@echo "make bench  - benchmarks against fio, dd, nwipe, bmaptool"
	@echo "make image  - build the live ISO    make stick DEV=/dev/sdX - write a stick"

$(STAMP)/apt:
	@mkdir -p $(STAMP)
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES)
	@touch $@

deps: $(STAMP)/apt

$(STAMP)/venv: $(STAMP)/apt requirements/dev.lock pyproject.toml
	@mkdir -p $(STAMP)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q --require-hashes -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@touch $@

venv: $(STAMP)/venv translations

translations: $(STAMP)/venv
	$(BIN)/python -m appliance.i18n compile

# Extract every user-facing string and merge it into the French catalog (then translate).
po: venv
	@mkdir -p build
	$(BIN)/pybabel -q extract -F appliance/babel.cfg -k _ -k N_ -k Msg -k ngettext:1,2 -k npgettext:1c,2,3 \
		--no-location --sort-output -o build/ardoise.pot erasure appliance tui ledger
	$(BIN)/pybabel -q update --no-fuzzy-matching -i build/ardoise.pot \
		-d appliance/locale -D ardoise -l fr

lock:
	uv pip compile --universal --python-version 3.11 --generate-hashes -q \
		pyproject.toml -o requirements/appliance.lock
	uv pip compile --universal --python-version 3.11 --generate-hashes -q \
		--extra ledger --extra dev pyproject.toml -o requirements/dev.lock

lint: venv
	$(BIN)/ruff check erasure appliance tui ledger tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q tests/unit; rc=$$?; [ $$rc -eq 0 -o $$rc -eq 5 ]

test: venv lint
	bash tests/tools/start-postgres.sh
	$(BIN)/pytest -q -p no:cacheprovider tests; rc=$$?; [ $$rc -eq 0 -o $$rc -eq 5 ]

# Every VM test, also the long scenarios (unattended, offline, power cut, two netbooted machines).
test-vm: venv
	bash tests/tools/start-postgres.sh
	ARDOISE_VM_TESTS=1 $(BIN)/pytest -q -p no:cacheprovider tests/e2e

demo: venv
	$(BIN)/python -m appliance.demo

bench: venv
	$(BIN)/python -m bench $(BENCH)

image: venv
	bash image-build/build.sh

stick: image
	@test -n "$(DEV)" || { echo "usage: make stick DEV=/dev/sdX  (or make stick-image OUT=file.img)"; exit 2; }
	bash image-build/make-stick.sh --device "$(DEV)"

stick-image: image
	bash image-build/make-stick.sh --file "$(or $(OUT),build/ardoise-stick.img)"

netboot: image
	bash image-build/make-netboot.sh

clean:
	rm -rf build $(STAMP) .mypy_cache .ruff_cache
