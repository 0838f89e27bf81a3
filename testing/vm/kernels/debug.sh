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

kernel_prepare() {
	build_config_kernel debug "$FIBER_ROOT/testing/vm/debug.config" \
		"$FIBER_ROOT/testing/vm/debug-kasan.config"
}

kernel_build_module() {
	make -s -C "$KERNEL_TREE" ARCH=x86_64 M="$1" modules
}
