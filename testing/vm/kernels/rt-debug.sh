# SPDX-License-Identifier: GPL-2.0
# A PREEMPT_RT debug kernel: Debian 13's linux-source-6.12 (mainline 6.12
# has PREEMPT_RT), tinyconfig plus testing/vm/debug.config (lockdep,
# atomic-sleep checks, kmemleak, UBSAN, KVM for preempt notifiers) and
# testing/vm/debug-6.12.config (what 6.12 needs besides) and
# testing/vm/debug-rt.config (PREEMPT_RT, raw lock nesting), built in the
# trixie chroot with its gcc-14.  Debian's 6.12 RT image has no lockdep;
# this one says whether every lock the module takes in the scheduler path
# (preempt notifiers, under the runqueue lock) or in a hard interrupt is
# raw.  No KASAN: the debug kernel has it for the same code, and with
# lockdep over RT's sleeping spinlocks it would make the run far longer.
KERNEL_DESC="Debian 13 linux-source-6.12, PREEMPT_RT debug config"
KERNEL_MEM=1G
KERNEL_APPEND="panic_on_warn=1 kmemleak=on"
KERNEL_DEBUG=1
# The suite takes 250-325 s here (on a host loaded with other builds),
# 27 s for its longest program (netlink_test): four times that and more.
KERNEL_TIMEOUT=1500
KERNEL_STEP_TIMEOUT=300
# libfiber's tests run as on the debug kernel (kernels/debug.sh), for the
# same reasons: lockdep over every lock and TCG's slow wake-ups.
KERNEL_LIBFIBER_ENV="FIBER_TEST_FIBERS=2000 FIBER_TEST_SHRINK=10 FIBER_TEST_SLACK=10"
KERNEL_LIBFIBER_STEP_TIMEOUT=600
KERNEL_LIBFIBER_TIMEOUT=3600

kernel_prepare() {
	CHROOT=$(debian_chroot trixie trixie gcc-14 linux-source-6.12 flex \
		bison bc libelf-dev libssl-dev) || exit 1
	build_config_kernel --tarball /usr/src/linux-source-6.12.tar.xz \
		--chroot "$CHROOT" --cc gcc-14 rt-debug \
		"$FIBER_ROOT/testing/vm/debug.config" \
		"$FIBER_ROOT/testing/vm/debug-6.12.config" \
		"$FIBER_ROOT/testing/vm/debug-rt.config"
}

kernel_build_module() {
	chroot_build_module "$1" "$KERNEL_KDIR" "${KERNEL_MAKE_ARGS[@]}"
}
