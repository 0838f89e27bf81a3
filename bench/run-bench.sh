#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: libfiber against Go 1.19 and Boost.Context on this machine,
# side by side in one run.  Prints a table and writes bench/results.json,
# one object per case: {"case", "unit", "libfiber", "go", "boost"}, with
# null where a side has no such program.  See docs/performance.md.
#
# usage: run-bench.sh [OUT.json]
set -euo pipefail
FIBER_LOG_TAG=bench
. "$(dirname "$0")/../testing/vm/lib.sh"

out=${1:-$FIBER_ROOT/bench/results.json}
mkdir -p "$(dirname "$out")"
bin=$FIBER_BUILD/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v go >/dev/null || die "go is missing: run 'make deps' as root (package golang-go)"
log "building the Go side with $(go version | cut -d' ' -f3)"
export GOCACHE=$FIBER_CACHE/go-build GOPATH=$FIBER_CACHE/go GOFLAGS=-mod=mod GO111MODULE=off
go build -o "$bin/go-bench" "$FIBER_ROOT/bench/go/bench.go" "$FIBER_ROOT/bench/go/skynet.go"

# One process per case and side, so that no case inherits another's
# warmed-up stacks or heap.  Each case runs BENCH_ROUNDS times (3 by
# default), the two sides alternating, and the table shows each side's
# median: on a shared virtual machine one run of a case can be a third
# off the next, and alternating puts both sides in the same minutes.
# A case ending in _copied is libfiber's with copied stacks
# (FIBER_ATTR_COPY_STACK), beside Go's case of the plain name.
rounds=${BENCH_ROUNDS:-3}
case $rounds in
''|*[!0-9]*|0) die "BENCH_ROUNDS=$rounds: want a count of runs, 1 or more" ;;
esac
cases="yield_pingpong spawn_exit spawn_parked skynet parked_memory chan_pingpong chan_buffered select4 mutex_2procs tcp_echo"
copied="spawn_exit_copied spawn_parked_copied skynet_copied parked_memory_copied yield_pingpong_copied chan_pingpong_copied"
log "libfiber and Go on $(nproc) CPUs, $rounds rounds each: $cases $copied"
for c in $cases; do
	for _ in $(seq "$rounds"); do
		"$bin/fiber-bench" "$c" | tee -a "$tmp/libfiber"
		"$bin/go-bench" "$c" | tee -a "$tmp/go"
	done
done
for c in $copied; do
	for _ in $(seq "$rounds"); do
		"$bin/fiber-bench" "$c" | tee -a "$tmp/libfiber"
	done
done
# What watching costs: the library with its USDT probes compiled out
# (so what a probe costs while nothing attaches), and with FIBER_TRACE
# on (the trace goes to a file, deleted after each run).  Rows
# CASE_noprobes and CASE_traced; the summary below the table compares.
watched="yield_pingpong chan_pingpong spawn_exit skynet tcp_echo"
log "what watching costs (probes compiled out; tracing on): $watched"
for c in $watched; do
	for _ in $(seq "$rounds"); do
		"$bin/fiber-bench-noprobes" "$c" | sed "s/^$c /${c}_noprobes /" | tee -a "$tmp/libfiber"
		FIBER_TRACE=$tmp/trace.json "$bin/fiber-bench" "$c" |
			sed "s/^$c /${c}_traced /" | tee -a "$tmp/libfiber"
		rm -f "$tmp/trace.json"
	done
done
log "raw switch: libfiber's and Boost.Context's"
for _ in $(seq "$rounds"); do
	"$bin/boost-bench" | tee -a "$tmp/raw"
done

# Merge "CASE UNIT VALUE" lines into one row per case, each side's
# median of its rounds (mawk has no sort: an insertion sort will do).
awk -v out="$out" '
function add(side, c, x) { v[side, c] = (side SUBSEP c) in v ? v[side, c] " " x : x }
function median(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : sprintf("%.1f", (a[n / 2] + a[n / 2 + 1]) / 2)
}
function val(side, c) { return (side SUBSEP c) in v ? median(v[side, c]) : "null" }
FILENAME ~ /libfiber$/ {
	add("libfiber", $1, $3); unit[$1] = $2
	if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
}
FILENAME ~ /go$/ { add("go", $1, $3) }
FILENAME ~ /raw$/ {
	if ($1 == "raw_switch_libfiber") { add("libfiber", "raw_switch", $3) }
	if ($1 == "raw_switch_boost") {
		add("boost", "raw_switch", $3)
		add("boost", "yield_pingpong", $3)
	}
	unit["raw_switch"] = $2
}
END {
	order[++n] = "raw_switch"
	printf "[\n" > out
	printf "%-24s %-12s %12s %12s %12s %10s\n", "case", "unit", "libfiber", "go", "boost", "advantage"
	for (i = 1; i <= n; i++) {
		c = order[i]
		goc = c; sub(/_copied$/, "", goc)
		if (c ~ /_(noprobes|traced)$/)
			goc = ""	# compared with libfiber itself, below
		l = val("libfiber", c); g = val("go", goc); b = val("boost", c)
		# the advantage of libfiber over Go: > 1 is better, for times
		# (lower is better) and rates ("/s", higher is better) alike.
		ratio = "-"
		if (l != "null" && g != "null" && l + 0 > 0 && g + 0 > 0)
			ratio = sprintf("%.2f", unit[c] ~ /\/s$/ ? l / g : g / l)
		printf "%-24s %-12s %12s %12s %12s %10s\n", c, unit[c], l, g, b, ratio
		printf "  {\"case\": \"%s\", \"unit\": \"%s\", \"libfiber\": %s, \"go\": %s, \"boost\": %s}%s\n",
			c, unit[c], l, g, b, (i < n ? "," : "") > out
	}
	printf "]\n" > out
	# The cost of each way of watching, against the plain library.
	printf "\n%-16s %-14s %10s %10s %10s %8s %8s\n", "watching", "unit", "no probes",
		"probes", "traced", "probes", "trace"
	for (i = 1; i <= n; i++) {
		c = order[i]
		if (c !~ /_traced$/)
			continue
		base = c; sub(/_traced$/, "", base)
		p = val("libfiber", base); q = val("libfiber", base "_noprobes"); t = val("libfiber", c)
		if (p == "null" || q == "null" || t == "null" || p + 0 <= 0 || q + 0 <= 0)
			continue
		rate = unit[base] ~ /\/s$/
		printf "%-16s %-14s %10s %10s %10s %+7.1f%% %+7.1f%%\n", base, unit[base], q, p, t,
			100 * (rate ? q / p - 1 : p / q - 1), 100 * (rate ? p / t - 1 : t / p - 1)
	}
}' "$tmp/libfiber" "$tmp/go" "$tmp/raw"
log "wrote $out"
