# SPDX-License-Identifier: GPL-2.0
# Debian 13's own kernel.  Its headers want gcc-14, which Debian 12 lacks, so
# the module is built in a minimal trixie chroot kept in the cache.
KERNEL_DESC="Debian 13 distro kernel (6.12)"
TRIXIE_ROOT=$FIBER_CACHE/trixie-root

kernel_prepare() {
	if [ ! -e "$TRIXIE_ROOT/.complete" ]; then
		log "creating the Debian 13 build chroot (about a minute)"
		rm -rf "$TRIXIE_ROOT"
		debootstrap --variant=minbase \
			--include=gcc-14,make,linux-headers-amd64 \
			trixie "$TRIXIE_ROOT" "$DEBIAN_MIRROR" \
			> "$FIBER_CACHE/trixie-debootstrap.log" 2>&1 ||
			die "debootstrap failed, see $FIBER_CACHE/trixie-debootstrap.log"
		touch "$TRIXIE_ROOT/.complete"
	fi
	KERNEL_ABI=$(headers_abi "$TRIXIE_ROOT") || die "no headers in $TRIXIE_ROOT"
	KERNEL_IMAGE=$FIBER_CACHE/kernels/debian13/$KERNEL_ABI/vmlinuz
	fetch_kernel_image "$TRIXIE_ROOT" "$KERNEL_ABI" "${KERNEL_IMAGE%/*}"
	KERNEL_DESC="Debian 13 distro kernel $KERNEL_ABI"
}

kernel_build_module() {
	local inside="$TRIXIE_ROOT/build/fiber"
	rm -rf "$inside"
	mkdir -p "${inside%/*}"
	cp -r "$1" "$inside"
	chroot "$TRIXIE_ROOT" make -s -C "/usr/src/linux-headers-$KERNEL_ABI" \
		M=/build/fiber modules || return 1
	cp "$inside/module/fiber.ko" "$1/module/fiber.ko"
}
