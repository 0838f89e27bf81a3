#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-vm: libfiber with the module, without it (sysmon's fallback)
# and Go 1.19, in one VM run (bench/vm-bench-run is the guest side).
# Writes bench/results-vm.json, a list of objects
# {"case", "unit", "module", "fallback", "go"} (null where a side has no
# such number), and prints it.  TCG emulates the CPU: compare within the
# run, never across runs or with the host.  See docs/performance.md.
#
# usage: bench-vm.sh [KERNEL [OUT.json]]   (default: 6.1)
set -euo pipefail
FIBER_LOG_TAG=bench-vm
. "$(dirname "$0")/../testing/vm/lib.sh"

kernel=${1:-6.1}
out=${2:-$FIBER_ROOT/bench/results-vm.json}
mkdir -p "$(dirname "$out")"
bin=$FIBER_BUILD/bin
vmdir=$FIBER_BUILD/vm/bench-vm-$kernel

command -v go >/dev/null || die "go is missing: run 'make deps' as root (package golang-go)"
export GOCACHE=$FIBER_CACHE/go-build GOPATH=$FIBER_CACHE/go GO111MODULE=off
log "building the Go side, static, with $(go version | cut -d' ' -f3)"
CGO_ENABLED=0 go build -o "$bin/go-vmbench" "$FIBER_ROOT/bench/go-vm/main.go"

"$FIBER_ROOT/testing/vm/fiber-vm" --kernel "$kernel" --show vm-bench-run -o "$vmdir" >&2 ||
	die "the VM run failed: see $vmdir"
grep -q '^RESULT ' "$vmdir/report.log" || die "no results in $vmdir/report.log"

awk -v out="$out" '
function num(side, c) { return (side SUBSEP c) in v ? v[side, c] : "null" }
function row(c, unit, m, f, g) {
	line = sprintf("  {\"case\": \"%s\", \"unit\": \"%s\", \"module\": %s, \"fallback\": %s, \"go\": %s}", c, unit, m, f, g)
	rows = rows (rows == "" ? "" : ",\n") line
}
function ratio(c) {
	if (!(("module" SUBSEP c) in v) || !(("fallback" SUBSEP c) in v) || v["fallback", c] == 0)
		return "null"
	return sprintf("%.4f", v["module", c] / v["fallback", c] - 1)
}
# Times per operation (*_ns) are measured several times: keep the best.
/^RESULT / {
	if ($3 ~ /_ns$/ && ($2, $3) in v && v[$2, $3] <= $4 + 0)
		next
	v[$2, $3] = $4 + 0
}
END {
	row("block_to_run_p50", "ns", num("module", "block_to_run_p50"), num("fallback", "block_to_run_p50"), num("go", "block_to_run_p50"))
	row("block_to_run_p99", "ns", num("module", "block_to_run_p99"), num("fallback", "block_to_run_p99"), num("go", "block_to_run_p99"))
	row("utilisation_half_blocking", "fraction", num("module", "utilisation_half_blocking"), num("fallback", "utilisation_half_blocking"), num("go", "utilisation_half_blocking"))
	row("syscall_overhead", "ratio-1", ratio("syscall_ns"), "null", "null")
	row("switch_overhead", "ratio-1", ratio("switch_ns"), "null", "null")
	row("syscall_ns", "ns", num("module", "syscall_ns"), num("fallback", "syscall_ns"), "null")
	row("switch_ns", "ns", num("module", "switch_ns"), num("fallback", "switch_ns"), "null")
	row("block_to_run_p50_delay_20us", "ns", num("module-delay-20us", "block_to_run_p50"), "null", "null")
	row("block_to_run_p99_delay_20us", "ns", num("module-delay-20us", "block_to_run_p99"), "null", "null")
	row("utilisation_half_blocking_delay_20us", "fraction", num("module-delay-20us", "utilisation_half_blocking"), "null", "null")
	# What each 1 ms sleep of the utilisation case costs (docs/performance.md).
	for (k = split("util_sleeps_per_s util_switches_per_sleep util_claims_per_sleep util_grants_per_sleep util_solo_user_share util_solo_sys_share util_mixed_user_share util_mixed_sys_share", w, " "); k > 0; k--)
		row(w[k], w[k] ~ /per_s$/ ? "1/s" : w[k] ~ /share$/ ? "fraction" : "count", num("module", w[k]), num("fallback", w[k]), "null")
	row("utilisation_half_blocking_nohold", "fraction", num("module-nohold", "utilisation_half_blocking"), "null", "null")
	row("util_switches_per_sleep_nohold", "count", num("module-nohold", "util_switches_per_sleep"), "null", "null")
	row("util_grants_per_sleep_nohold", "count", num("module-nohold", "util_grants_per_sleep"), "null", "null")
	printf "[\n%s\n]\n", rows > out
}' "$vmdir/report.log"
cat "$out"
log "wrote $out (the VM run is in $vmdir)"
