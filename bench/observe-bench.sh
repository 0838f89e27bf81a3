#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-observe: what observing the module costs its hot paths.  One
# VM run of bench/observe-bench-run: fiber-kbench's block and switch
# benchmarks with nobody observing ("quiet"), with fiberstat following the
# events group at 1000 and at 1 event a second ("events-1000",
# "events-1"), and with every fiber tracepoint on ("tracing"),
# two rounds of each in turns.  Prints them side by side, the better of
# the two rounds of each, as ratios to the futex baseline measured in the
# same round (under QEMU TCG only such ratios mean anything).  One vCPU,
# like bench-kernel's smp1, the least noisy configuration: the listener
# then also competes for the CPU, as it would on a busy machine.
#
# usage: observe-bench.sh [KERNEL]
set -euo pipefail
FIBER_LOG_TAG=bench-observe
. "$(dirname "$0")/../testing/vm/lib.sh"

kernel=${1:-6.1}
work=$FIBER_BUILD/vm/bench-observe-$kernel
mkdir -p "$work"
for p in fiber-kbench fiberstat observe-bench-run; do
	[ -x "$FIBER_BUILD/bin/$p" ] || die "no $FIBER_BUILD/bin/$p (run make first)"
done
log "booting $kernel (about a minute)"
rc=0
"$FIBER_ROOT/testing/vm/fiber-vm" -k "$kernel" --smp 1 -T 600 -o "$work" \
	--show observe-bench-run > "$work/observe.out" 2>&1 || rc=$?
grep '^{"bench":"kbench"' "$work/observe.out" > "$work/results.jsonl" || true
if [ "$rc" != 0 ] || [ ! -s "$work/results.jsonl" ]; then
	grep -E '^fiber-(kbench|vm)|^not ok' "$work/observe.out" | tail -n 5 >&2 || true
	die "the run failed (exit $rc); see $work/observe.out"
fi

# best CONFIG KEY: the smallest value of KEY over CONFIG's rounds.
best() {
	grep "\"config\":\"$1\"" "$work/results.jsonl" |
		sed -n "s/.*\"$2\":\"\{0,1\}\([0-9.]*\).*/\1/p" | sort -g | head -n 1
}

echo "== observing the module, on $kernel (best of 2 rounds; ratios are fiber/futex)"
configs="quiet events-1000 events-1 tracing"
printf '%-24s' ""
for c in $configs; do printf ' %13s' "$c"; done
printf '\n'
for key in block_wake_p50_ns block_wake_ratio_p50 switch_rt_p50_ns switch_rt_ratio_p50; do
	printf '%-24s' "$key"
	for c in $configs; do printf ' %13s' "$(best $c $key)"; done
	printf '\n'
done
log "results in $work/results.jsonl"
