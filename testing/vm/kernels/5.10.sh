# SPDX-License-Identifier: GPL-2.0
# Debian 11's own kernel (5.10 LTS), built for in a bullseye chroot with its
# gcc-10.  The oldest kernel the module supports: compat.h has what it
# lacks, and its generic netlink cannot keep a multicast group to
# CAP_NET_ADMIN, so the module offers no events group there.
KERNEL_DESC="Debian 11 distro kernel (5.10)"

kernel_prepare() {
	CHROOT=$(debian_chroot bullseye bullseye linux-headers-amd64) || exit 1
	distro_kernel "$CHROOT" debian11 "Debian 11 distro kernel"
}

kernel_build_module() {
	chroot_build_module "$1" "/usr/src/linux-headers-$KERNEL_ABI"
}
