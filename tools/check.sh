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

# run_tap NAME COMMAND...: run a TAP-producing program into NAME.tap.  A
# program that dies or exits non-zero without reporting a failed case gets a
# failed case of its own, so that a crash never reads as a pass.
run_tap() {
	local name=$1 rc=0
	shift
	log "running $name"
	"$@" > "$results/$name.tap" 2> >(tee "$results/$name.err" >&2) || rc=$?
	if [ "$rc" != 0 ] && ! grep -q '^not ok' "$results/$name.tap"; then
		echo "not ok 9999 - $name exited with status $rc" >> "$results/$name.tap"
		sed 's/^/# /' "$results/$name.err" | tail -20 >> "$results/$name.tap"
	fi
	grep -E '^(not ok|#   [^ ])' "$results/$name.tap" | head -40 >&2 || true
}

if [ "$host" = 1 ]; then
	for t in "$FIBER_BUILD"/tests/*/*_test; do
		[ -x "$t" ] || continue
		suite=${t%/*}
		run_tap "host-${suite##*/}-${t##*/}" "$t"
	done
	run_tap host-fiberinfo "$FIBER_BUILD/bin/fiberinfo_test"
	if [ -n "${KDIR:-}" ]; then
		run_tap host-lint-module "$FIBER_ROOT/tools/lint.sh" "$KDIR"
	else
		echo "ok 1 - checkpatch and sparse # SKIP no KDIR given" > "$results/host-lint-module.tap"
	fi
	run_tap host-runner-judge "$FIBER_ROOT/tools/vm/selftest.sh" --judge
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
