#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The test suite behind `make check`: host tests first, then the selftests
# in a VM for each kernel, then the VM runner's self-test.  Every suite
# writes TAP to build/results/; the last line printed is the total,
# "N passed, N failed, N skipped".  Expects `make` to have run, and KDIR in
# the environment for the module's lint (make check passes it).
#
# usage: check.sh [--host-only | --vm-only] [--hog N] [--libfiber] [KERNEL...]
#
#   --hog N     keep N busy loops running beside the whole suite (make
#               check-loaded): every test must pass on a loaded machine too
#   --libfiber  each VM also runs libfiber's own tests on the module
#               (fiber-vm --libfiber; make check-matrix)
set -uo pipefail
FIBER_LOG_TAG=check
. "$(dirname "$0")/vm/lib.sh"

host=1 vm=1 hogs=0 vm_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--host-only) vm=0 ;;
	--vm-only) host=0 ;;
	--hog) hogs=${2:?--hog wants a number of busy loops}; shift ;;
	--libfiber) vm_args+=(--libfiber) ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
	shift
done
case $hogs in *[!0-9]*) die "--hog wants a number of busy loops, not '$hogs'" ;; esac
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || read -r -a kernels <<< "$(kernel_names)"

results=$FIBER_BUILD/results
rm -rf "$results"
mkdir -p "$results"
start=$(date +%s)

run_tap() { run_tap_into "$results" "$@"; }

hog_pids=()
stop_hogs() { [ ${#hog_pids[@]} -eq 0 ] || kill "${hog_pids[@]}" 2> /dev/null; }
trap stop_hogs EXIT
for ((i = 0; i < hogs; i++)); do
	(while :; do :; done) &
	hog_pids+=($!)
done
[ "$hogs" = 0 ] || log "running beside $hogs busy loop(s)"

# Every program runs under a limit of its own, at least four times what it
# takes on an idle machine (testing/tap-times reports how close each came).
# The VM runs are bounded by fiber-vm itself: -T for the whole guest, and a
# limit per program inside it (STEP_TIMEOUT).
if [ "$host" = 1 ]; then
	for t in "$FIBER_BUILD"/tests/*/*_test; do
		[ -x "$t" ] || continue
		suite=${t%/*}
		run_tap "host-${suite##*/}-${t##*/}" 600 "$t"
	done
	# The tools' tests of the kselftest tree (the tools beside them),
	# here where there is no module; and the whole tree as an
	# administrator runs it: with the module absent, every module test
	# skips with its reason.
	FIBER_ROOT=$FIBER_ROOT run_tap host-fiberinfo 120 "$FIBER_BUILD/kselftest/fiber/fiberinfo_test.sh"
	FIBER_ROOT=$FIBER_ROOT run_tap host-fiberstat 120 "$FIBER_BUILD/kselftest/fiber/fiberstat_test.sh"
	# 50 s here (each of 22 tests twice, then the runner).
	run_tap host-kselftest 600 "$FIBER_ROOT/testing/kselftest-skip-check.sh"
	run_tap host-man-pages 120 "$FIBER_ROOT/testing/man-check.sh"
	run_tap host-fibertrace 300 "$FIBER_ROOT/tools/fibertrace/render_test.sh"
	run_tap host-libfiber-header 120 "$FIBER_ROOT/libfiber/tests/header/check.sh"
	# libfiber's gdb script, live and on a core: 3 s idle.
	run_tap host-gdb 300 "$FIBER_ROOT/libfiber/tests/gdb/gdb_test.sh"
	run_tap host-gdb-aarch64 300 "$FIBER_ROOT/libfiber/tests/gdb/gdb_aarch64_test.sh"
	run_tap host-probes 120 "$FIBER_ROOT/libfiber/tests/probes_test.sh"
	run_tap host-install 300 "$FIBER_ROOT/testing/install-check.sh"
	run_tap host-version 60 "$FIBER_ROOT/testing/version-check.sh"
	# dkms build of the install-dkms tree, then one short VM run on its
	# fiber.ko (none with --host-only): 26 s; the package test takes 55 s
	# with its bookworm chroot cached, 130 s when it first makes it.
	run_tap host-dkms 300 "$FIBER_ROOT/testing/dkms-check.sh" \
		$([ "$vm" = 1 ] || echo --no-vm)
	run_tap host-package 600 "$FIBER_ROOT/testing/package-check.sh"
	if [ -n "${KDIR:-}" ]; then
		run_tap host-lint-module 300 "$FIBER_ROOT/testing/lint.sh" "$KDIR"
	else
		echo "ok 1 - checkpatch and sparse # SKIP no KDIR given" > "$results/host-lint-module.tap"
	fi
	run_tap host-runner-judge 120 "$FIBER_ROOT/testing/vm/selftest.sh" --judge
	# valgrind runs a program's threads one at a time, so its suite
	# (the longest of the four) leaves a CPU free: it runs beside the
	# other three.
	"$FIBER_ROOT/testing/check-libfiber.sh" valgrind "$results" &
	valgrind_pid=$!
	"$FIBER_ROOT/testing/check-libfiber.sh" asan "$results"
	"$FIBER_ROOT/testing/check-libfiber.sh" aarch64 "$results"
	"$FIBER_ROOT/testing/check-libfiber.sh" clang "$results"
	wait "$valgrind_pid"
fi

if [ "$vm" = 1 ]; then
	for k in "${kernels[@]}"; do
		run_tap "vm-$k" 0 "$FIBER_ROOT/testing/vm/fiber-vm" --kernel "$k" \
			${vm_args[@]+"${vm_args[@]}"}
	done
	run_tap vm-runner-catches-failures 0 "$FIBER_ROOT/testing/vm/selftest.sh" \
		--vm "${kernels[@]}"
fi

log "finished in $(($(date +%s) - start)) s; TAP in $results"
"$FIBER_ROOT/testing/tap-times" "$results"/*.tap
"$FIBER_ROOT/testing/tap-summary" "$results"/*.tap
