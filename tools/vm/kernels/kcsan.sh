# SPDX-License-Identifier: GPL-2.0
# The debug kernel again (tools/vm/debug.config), with KCSAN instead of
# KASAN (tools/vm/debug-kcsan.config): data races in the module, such as a
# lockless read of a field that a lock guards elsewhere.
KERNEL_DESC="Debian 12 linux-source-6.1, debug config with KCSAN"
KERNEL_MEM=1G
# No panic_on_warn: KCSAN panics on its first report with it, and the
# core kernel has races of its own (the judge keeps only fiber.ko's).
KERNEL_APPEND="kmemleak=on log_buf_len=4M"
KERNEL_DEBUG=1
KERNEL_KCSAN=1
# KCSAN slows the suite about as much as KASAN does on the debug kernel.
KERNEL_TIMEOUT=1800
KERNEL_STEP_TIMEOUT=600

kernel_prepare() {
	build_config_kernel kcsan "$FIBER_ROOT/tools/vm/debug.config" \
		"$FIBER_ROOT/tools/vm/debug-kcsan.config"
}

kernel_build_module() {
	make -s -C "$KERNEL_TREE" ARCH=x86_64 M="$1" modules
}
