# SPDX-License-Identifier: GPL-2.0
# The debug kernel again (testing/vm/kernels/debug.sh, testing/vm/debug.config),
# with KCSAN instead of KASAN (testing/vm/debug-kcsan.config): data races in
# the module, such as a lockless read of a field that a lock guards
# elsewhere.  It runs the suite in about the debug kernel's time.
# shellcheck source=testing/vm/kernels/debug.sh
. "$FIBER_ROOT/testing/vm/kernels/debug.sh"
KERNEL_DESC="Debian 12 linux-source-6.1, debug config with KCSAN"
# No panic_on_warn: KCSAN panics on its first report with it, and the
# core kernel has races of its own (the judge keeps only fiber.ko's).
KERNEL_APPEND="kmemleak=on log_buf_len=4M"
KERNEL_KCSAN=1

kernel_prepare() {
	build_config_kernel kcsan "$FIBER_ROOT/testing/vm/debug.config" \
		"$FIBER_ROOT/testing/vm/debug-kcsan.config"
}
