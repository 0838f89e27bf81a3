# SPDX-License-Identifier: GPL-2.0
# Debian 13's own arm64 kernel, the one release as 6.12, under
# qemu-system-aarch64 (TCG, -M virt -cpu max): the module's and libfiber's
# arm64 code (LSE atomics, acquire/release, the C memory model's freedom on
# a weakly-ordered target), though TCG on an x86 host runs it with the
# host's ordering.  fiber.ko is cross-built in the trixie chroot of 6.12:
# its gcc-14-aarch64-linux-gnu, the arm64 headers of the same version
# extracted beside the amd64 ones, whose kbuild (scripts, tools) they share
# as the packages would; the programs come from make selftests-aarch64.
KERNEL_DESC="Debian 13 distro kernel, arm64 (6.12)"
KERNEL_ARCH=aarch64
# The suite takes 160-200 s here (2 host CPUs shared with other VMs, load
# 5-7), against about 100 s for x86 on Debian's kernels: TCG emulates
# arm64 on x86 at some cost.  Its longest program, claim_test, took 20-50
# s.  Four times as much and more:
KERNEL_TIMEOUT=900
KERNEL_STEP_TIMEOUT=300

kernel_prepare() {
	local ver deb want have
	CHROOT=$(arm64_chroot gcc-14 gcc-14-aarch64-linux-gnu linux-headers-amd64) || exit 1
	# The arm64 ABI of the amd64 headers' version: the kbuild installed
	# for those is the one these need.
	KERNEL_ABI=$(headers_abi "$CHROOT") || die "no headers in $CHROOT"
	ver=${KERNEL_ABI%-amd64}
	KERNEL_ABI=$ver-arm64
	KERNEL_HEADERS=/usr/src/linux-headers-$KERNEL_ABI
	if [ ! -e "$CHROOT$KERNEL_HEADERS/.fiber-complete" ]; then
		# linux-headers-ABI-common (all) is installed already, as a
		# dependency of the amd64 headers: the same package, so only the
		# arm64 part is extracted, where dpkg would put it.  Its scripts
		# and tools links then reach linux-kbuild-VER, as installed.
		fetch_debs "$CHROOT" "$FIBER_CACHE/debs/linux-headers-$KERNEL_ABI" \
			"linux-headers-$KERNEL_ABI:arm64"
		deb=$(sed -n 1p "$FIBER_CACHE/debs/linux-headers-$KERNEL_ABI/.debs")
		want=$(echo "$deb" | cut -d_ -f2)
		have=$(dpkg-query --admindir="$CHROOT/var/lib/dpkg" -W \
			-f='${Version}' "linux-headers-$ver-common" 2>/dev/null) || true
		[ "$want" = "$have" ] ||
			die "$deb wants linux-headers-$ver-common $want, $CHROOT has '$have'"
		rm -rf "$CHROOT$KERNEL_HEADERS"
		cp -a "$FIBER_CACHE/debs/linux-headers-$KERNEL_ABI$KERNEL_HEADERS" \
			"$CHROOT$KERNEL_HEADERS" || die "cannot copy the arm64 headers"
		echo "$deb" > "$CHROOT$KERNEL_HEADERS/.fiber-complete"
	fi
	KERNEL_IMAGE=$FIBER_CACHE/kernels/debian13-arm64/$KERNEL_ABI/vmlinuz
	# The deb's vmlinuz is a plain arm64 Image, which -kernel boots.
	fetch_kernel_image "$CHROOT" "$KERNEL_ABI" "${KERNEL_IMAGE%/*}"
	# The guest's userland.
	fetch_debs "$CHROOT" "$FIBER_CACHE/debs/busybox-static-arm64" busybox-static:arm64
	KERNEL_BUSYBOX=$FIBER_CACHE/debs/busybox-static-arm64/usr/bin/busybox
	KERNEL_DESC="Debian 13 distro kernel $KERNEL_ABI"
}

kernel_build_module() {
	chroot_build_module "$1" "$KERNEL_HEADERS" ARCH=arm64 \
		CROSS_COMPILE=aarch64-linux-gnu-
}
