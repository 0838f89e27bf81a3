# SPDX-License-Identifier: GPL-2.0
# A debug kernel built from Debian's linux-source-6.1: tinyconfig plus
# testing/vm/debug.config (lockdep, kmemleak, UBSAN, SLUB debug, atomic-sleep
# checks, and KVM so that preempt notifiers exist) and
# testing/vm/debug-kasan.config.  It is rebuilt only when a fragment or the
# source package changes.
KERNEL_DESC="Debian 12 linux-source-6.1, debug config"
KERNEL_MEM=1G
KERNEL_APPEND="panic_on_warn=1 kmemleak=on"
KERNEL_DEBUG=1
# KASAN, lockdep and kmemleak make the suite five times slower than on
# Debian's kernels (350 s for all of it, 80 s for runtime_block_test).
KERNEL_TIMEOUT=1800
KERNEL_STEP_TIMEOUT=600
# libfiber's tests (fiber-vm --libfiber): at full size on this kernel 16
# cases ran past their limits, 20000 fibers' stacks took million_test
# 300 s; a tenth of each loop and of the fibers proves as much to KASAN.
# So they take 830 s, the longest (stack_test, netpoll_test) 130 s.  A
# 10 ms sleep woke past its 50 ms bound here: bounds on lateness grow
# tenfold.
KERNEL_LIBFIBER_ENV="FIBER_TEST_FIBERS=2000 FIBER_TEST_SHRINK=10 FIBER_TEST_SLACK=10"
KERNEL_LIBFIBER_STEP_TIMEOUT=600
KERNEL_LIBFIBER_TIMEOUT=3600

kernel_prepare() {
	build_config_kernel debug "$FIBER_ROOT/testing/vm/debug.config" \
		"$FIBER_ROOT/testing/vm/debug-kasan.config"
}

kernel_build_module() {
	make -s -C "$KERNEL_TREE" ARCH=x86_64 M="$1" modules
}
