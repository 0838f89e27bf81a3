# SPDX-License-Identifier: GPL-2.0
# Debian 12's own kernel: the headers installed by the deps step, the image
# that matches them exactly, the module built with the host's gcc-12.
KERNEL_DESC="Debian 12 distro kernel (6.1)"

kernel_prepare() {
	distro_kernel / debian12 "Debian 12 distro kernel"
}

kernel_build_module() {
	make -s -C "/usr/src/linux-headers-$KERNEL_ABI" M="$1" modules
}
