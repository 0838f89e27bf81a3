# SPDX-License-Identifier: GPL-2.0
# Debian 13's own kernel.  Its headers want gcc-14, which Debian 12 lacks, so
# the module is built in a minimal trixie chroot kept in the cache.
KERNEL_DESC="Debian 13 distro kernel (6.12)"

kernel_prepare() {
	CHROOT=$(debian_chroot trixie trixie gcc-14 linux-headers-amd64) || exit 1
	distro_kernel "$CHROOT" debian13 "Debian 13 distro kernel"
}

kernel_build_module() {
	chroot_build_module "$1" "/usr/src/linux-headers-$KERNEL_ABI"
}
