#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The test suite behind `make check`: host tests first, then the selftests
# in a VM for each kernel, then the VM runner's self-test.  Every suite
# writes TAP to build/results/; the last line printed is the total,
# "N passed, N failed, N skipped".  Expects `make` to have run, and KDIR in
# the environment for the module's lint (make check passes it).
#
# usage: check.sh [--host-only | --vm-only] [KERNEL...]
set -uo pipefail
FIBER_LOG_TAG=check
. "$(dirname "$0")/vm/lib.sh"

host=1 vm=1
case ${1:-} in
--host-only) vm=0; shift ;;
--vm-only) host=0; shift ;;
esac
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || read -r -a kernels <<< "$(kernel_names)"

results=$FIBER_BUILD/results
rm -rf "$results"
mkdir -p "$results"
start=$(date +%s)

run_tap() { run_tap_into "$results" "$@"; }

if [ "$host" = 1 ]; then
	for t in "$FIBER_BUILD"/tests/*/*_test; do
		[ -x "$t" ] || continue
		suite=${t%/*}
		run_tap "host-${suite##*/}-${t##*/}" "$t"
	done
	run_tap host-fiberinfo "$FIBER_BUILD/bin/fiberinfo_test"
	run_tap host-fiberstat "$FIBER_BUILD/bin/fiberstat_test"
	run_tap host-man-pages "$FIBER_ROOT/tools/man-check.sh"
	if [ -n "${KDIR:-}" ]; then
		run_tap host-lint-module "$FIBER_ROOT/tools/lint.sh" "$KDIR"
	else
		echo "ok 1 - checkpatch and sparse # SKIP no KDIR given" > "$results/host-lint-module.tap"
	fi
	run_tap host-runner-judge "$FIBER_ROOT/tools/vm/selftest.sh" --judge
	"$FIBER_ROOT/tools/check-libfiber.sh" asan "$results"
	"$FIBER_ROOT/tools/check-libfiber.sh" valgrind "$results"
	"$FIBER_ROOT/tools/check-libfiber.sh" aarch64 "$results"
fi

if [ "$vm" = 1 ]; then
	for k in "${kernels[@]}"; do
		run_tap "vm-$k" "$FIBER_ROOT/tools/vm/fiber-vm" --kernel "$k"
	done
	run_tap vm-runner-catches-failures "$FIBER_ROOT/tools/vm/selftest.sh" \
		--vm "${kernels[@]}"
fi

log "finished in $(($(date +%s) - start)) s; TAP in $results"
"$FIBER_ROOT/tools/tap-summary" "$results"/*.tap
