# SPDX-License-Identifier: GPL-2.0
# Debian 13's PREEMPT_RT flavour of 6.12: spinlocks sleep, hard interrupts
# are threaded, and irq_work runs from a kthread unless marked hard.  Built
# for in the trixie chroot that 6.12 uses.  Debian's image has no lockdep:
# rt-debug is the same kernel with it.
KERNEL_DESC="Debian 13 distro kernel (6.12, PREEMPT_RT)"

kernel_prepare() {
	CHROOT=$(debian_chroot trixie trixie gcc-14 linux-headers-rt-amd64) || exit 1
	distro_kernel "$CHROOT" debian13 "Debian 13 distro kernel" \
		linux-headers-rt-amd64
}

kernel_build_module() {
	chroot_build_module "$1" "/usr/src/linux-headers-$KERNEL_ABI"
}
