# SPDX-License-Identifier: GPL-2.0
# Debian unstable's newest kernel (7.x: lazy preemption, PREEMPT_DYNAMIC,
# sched_ext), built for in a sid chroot with the compiler its headers name.
# sid replaces its kernel every few weeks and the mirror keeps only the
# newest, so a chroot whose kernel is gone follows sid to the new one.
KERNEL_DESC="Debian unstable distro kernel (7.x)"

kernel_prepare() {
	CHROOT=$(debian_chroot sid sid linux-headers-amd64) || exit 1
	KERNEL_ABI=$(headers_abi "$CHROOT") || die "no headers in $CHROOT"
	if [ ! -s "$FIBER_CACHE/kernels/sid/$KERNEL_ABI/vmlinuz" ]; then
		log "bringing the sid chroot's kernel headers up to date"
		chroot "$CHROOT" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends linux-headers-amd64' \
			> "$FIBER_CACHE/sid-apt.log" 2>&1 ||
			die "cannot update the sid chroot, see $FIBER_CACHE/sid-apt.log"
	fi
	distro_kernel "$CHROOT" sid "Debian unstable distro kernel"
}

kernel_build_module() {
	chroot_build_module "$1" "/usr/src/linux-headers-$KERNEL_ABI"
}
