#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-kernel: run fiber-kbench (bench/kbench.c) in the VM in
# several configurations and print the results side by side.
#
# usage: kbench-vm.sh [-k KERNEL] [CONFIG]... [-- KBENCH-ARGS...]
#
#   -k KERNEL     kernel to boot (default 6.1; see testing/vm/fiber-vm --list)
#   CONFIG        smp2, smp1 or smp2-idle-poll (default: all three)
#   KBENCH-ARGS   passed to fiber-kbench, e.g. -- -n 1000 -w 100
#
# Configurations: smp2 is the VM the selftests use (2 vCPUs); smp1 has one
# vCPU, so no wake-up ever crosses CPUs; smp2-idle-poll boots with
# idle=poll, so an idle vCPU spins instead of halting and a wake-up needs
# no interrupt to reach it (under TCG, waking a halted vCPU is slow).
#
# Each configuration is one VM run, judged like a test run, in
# build/vm/kbench-CONFIG (kbench.out there is its whole output).  Only
# ratios within one run mean anything: see docs/benchmarks.md.  Exits 1 if
# any run failed or printed no result.
set -euo pipefail
FIBER_LOG_TAG=kbench
. "$(dirname "$0")/../testing/vm/lib.sh"

kernel=6.1
configs=() args=()
all_configs=(smp2 smp1 smp2-idle-poll)

usage() { sed -n '7,11s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
	case $1 in
	-k | --kernel) kernel=${2:?}; shift ;;
	-h | --help) usage ;;
	--) shift; args=("$@"); break ;;
	smp2 | smp1 | smp2-idle-poll) configs+=("$1") ;;
	*) log "unknown argument $1"; usage 2 >&2 ;;
	esac
	shift
done
[ ${#configs[@]} -gt 0 ] || configs=("${all_configs[@]}")
[ -x "$FIBER_BUILD/bin/fiber-kbench" ] ||
	die "no $FIBER_BUILD/bin/fiber-kbench (run make first)"

# vm_options CONFIG: the fiber-vm options of a configuration.
vm_options() {
	case $1 in
	smp2) echo "--smp 2" ;;
	smp1) echo "--smp 1" ;;
	smp2-idle-poll) echo "--smp 2 --append idle=poll" ;;
	esac
}

# json KEY LINE: the value of KEY in the flat JSON LINE, or "-".
json() {
	local v
	v=$(printf '%s\n' "$2" | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p")
	echo "${v:--}"
}

declare -A result verdict
status=0
for c in "${configs[@]}"; do
	work=$FIBER_BUILD/vm/kbench-$c
	mkdir -p "$work"
	log "$c: booting $kernel with $(vm_options "$c")"
	rc=0
	# shellcheck disable=SC2046 # vm_options is meant to split
	"$FIBER_ROOT/testing/vm/fiber-vm" -k "$kernel" $(vm_options "$c") -T 300 \
		-o "$work" --show "fiber-kbench -c $c${args[*]:+ ${args[*]}}" \
		> "$work/kbench.out" 2>&1 || rc=$?
	# The program's output, then fiber-vm's verdict (its last line).
	sed -n '/^fiber-kbench: /,$p' "$work/kbench.out" | grep -v '^{' || true
	result[$c]=$(grep '^{"bench":"kbench"' "$work/kbench.out" | tail -n 1 || true)
	verdict[$c]=$(tail -n 1 "$work/kbench.out")
	if [ "$rc" != 0 ] || [ -z "${result[$c]}" ]; then
		status=1
		log "$c: the run failed (exit $rc); see $work/kbench.out"
		grep -E '^fiber-(kbench|vm)|^not ok' "$work/kbench.out" | tail -n 5 >&2 || true
	fi
	echo
done

# ---- side by side ----------------------------------------------------------
row() {
	local label=$1 key=$2 c
	printf '%-30s' "$label"
	for c in "${configs[@]}"; do
		printf ' %16s' "$(json "$key" "${result[$c]}")"
	done
	printf '\n'
}

echo "== fiber-kbench on $kernel, side by side (ns; ratios are fiber/futex)"
printf '%-30s' ""
for c in "${configs[@]}"; do printf ' %16s' "$c"; done
printf '\n'
row "block->spare p50" block_wake_p50_ns
row "block->spare p90" block_wake_p90_ns
row "block->spare p99" block_wake_p99_ns
row "block->spare rounds >1ms" block_wake_over_1ms
row "futex wake p50" futex_wake_p50_ns
row "futex wake p90" futex_wake_p90_ns
row "futex wake p99" futex_wake_p99_ns
row "futex wake rounds >1ms" futex_wake_over_1ms
row "block ratio of p50s" block_wake_ratio_p50
row "switch round trip mean" switch_rt_ns
row "switch round trip p50" switch_rt_p50_ns
row "switch rounds >1ms" switch_rt_over_1ms
row "futex round trip mean" futex_rt_ns
row "futex round trip p50" futex_rt_p50_ns
row "futex rounds >1ms" futex_rt_over_1ms
row "switch ratio of means" switch_rt_ratio
row "switch ratio of p50s" switch_rt_ratio_p50
row "spurious parks, block" block_wake_spurious
row "spurious parks, switch" switch_rt_spurious
printf '%-30s' "verdict"
for c in "${configs[@]}"; do
	v=${verdict[$c]}
	case $v in
	*" 0 failed"*) v=ok ;;
	*) v=FAILED ;;
	esac
	[ -n "${result[$c]}" ] || v=FAILED
	printf ' %16s' "$v"
done
printf '\n'
for c in "${configs[@]}"; do
	[ -z "${result[$c]}" ] || printf '%s\n' "${result[$c]}"
done
exit $status
