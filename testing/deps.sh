#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what a fresh Debian 12 machine lacks to build and test the project,
# and fetch the artifacts that come from outside it.  Idempotent: it installs
# only missing packages and reuses the cache on the next run.
#
#   testing/deps.sh              packages + kselftest headers + 6.1 kernel image
#   testing/deps.sh --check      report missing packages, install nothing
#   testing/deps.sh --kselftest  only extract the kselftest headers and checkpatch
#   testing/deps.sh --sysroot-arm64 DIR  Debian 13's arm64 libmnl-dev in DIR,
#                                the cross build's libmnl.a (make selftests-aarch64)
set -euo pipefail
FIBER_LOG_TAG=deps
. "$(dirname "$0")/vm/lib.sh"

PACKAGES=(
	build-essential		# gcc, make, libc headers
	clang			# fiber.h must build with clang and clang++ too
	linux-headers-amd64	# Debian 12's kernel headers, for fiber.ko
	linux-source-6.1	# the debug kernel and the kselftest headers
	qemu-system-x86		# the test VM (software emulation)
	qemu-system-arm		# ... and the arm64 one (fiber-vm -k arm64)
	busybox-static		# the VM's userland
	cpio			# its initramfs
	rsync			# kselftest's lib.mk installs the selftests with it
	debootstrap		# the Debian 13 chroot that builds for 6.12
	flex bison bc libelf-dev libssl-dev xz-utils perl # kernel build, checkpatch
	sparse			# make C=2 on the module
	libmnl-dev		# the netlink tools
	valgrind		# make check-valgrind
	gdb			# libfiber's gdb script, tested live and on a core
	gdb-multiarch		# ... and on aarch64, under qemu-aarch64's gdb stub
	systemtap-sdt-dev	# sys/sdt.h: libfiber's USDT probes
	bpftrace		# ... and the one-liner docs/debugging.md shows
	groff-base man-db	# checking the man pages
	pkg-config		# building against the installed libfiber
	debhelper dh-dkms dkms lintian fakeroot # the Debian packages, DKMS
	bash-completion		# testing fiberstat's completion
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user # libfiber on aarch64
	golang-go		# make bench: the Go side of each benchmark
	libboost-context-dev	# make bench: Boost.Context's raw switch
	python3-pil		# fiber-trace-png draws traces with Pillow
)

# The kselftest harness and checkpatch ship in Debian 12 only inside the
# linux-source-6.1 tarball: take just those files out of it.  From the
# kselftest folder: the harness's headers, lib.mk (the rules that
# selftests/Makefile includes) and the runner that an installed tree runs
# (run_kselftest.sh and kselftest/).
extract_from_source() {
	local tarball=/usr/src/linux-source-6.1.tar.xz
	local ks=$FIBER_CACHE/kselftest cp=$FIBER_CACHE/checkpatch
	local src=linux-source-6.1/tools/testing/selftests
	[ -s "$ks/kselftest_harness.h" ] && [ -s "$ks/lib.mk" ] &&
		[ -s "$cp/checkpatch.pl" ] && return 0
	[ -f "$tarball" ] || die "$tarball is missing: run 'make deps' as root"
	log "extracting the kselftest harness and runner, and checkpatch, from linux-source-6.1"
	mkdir -p "$ks" "$cp"
	tar -xJf "$tarball" -C "$ks" --strip-components=4 \
		"$src/kselftest_harness.h" "$src/kselftest.h" "$src/lib.mk" \
		"$src/run_kselftest.sh" "$src/kselftest/runner.sh" \
		"$src/kselftest/prefix.pl" "$src/kselftest/module.sh" ||
		die "cannot extract the kselftest harness"
	tar -xJf "$tarball" -C "$cp" --strip-components=2 \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch ||
		die "cannot extract checkpatch"
}

if [ "${1:-}" = --kselftest ]; then
	extract_from_source
	exit 0
fi

# The static programs for the arm64 VM link libmnl.a, which Debian 12's
# libmnl-dev lacks and Debian 13's has: its arm64 package, downloaded with
# the trixie chroot's apt (the one the arm64 kernel's module builds in).
# libmnl.a calls nothing newer than Debian 12's cross glibc has.
if [ "${1:-}" = --sysroot-arm64 ]; then
	dir=${2:?usage: deps.sh --sysroot-arm64 DIR}
	root=$(arm64_chroot) || exit 1
	fetch_debs "$root" "$dir" libmnl-dev:arm64
	[ -s "$dir/usr/lib/aarch64-linux-gnu/libmnl.a" ] || die "no libmnl.a in $dir"
	exit 0
fi

missing=()
for spec in "${PACKAGES[@]}"; do
	pkg=${spec%%#*}
	for p in $pkg; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$status" = installed ] || missing+=("$p")
	done
done

if [ "${1:-}" = --check ]; then
	[ ${#missing[@]} -eq 0 ] && { log "all packages present"; exit 0; }
	log "missing packages: ${missing[*]}"
	exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install failed"
fi

extract_from_source

# The image of Debian 12's kernel that matches the installed headers.
load_kernel 6.1
kernel_prepare
log "ready: headers and image for $KERNEL_ABI, cache in $FIBER_CACHE"
