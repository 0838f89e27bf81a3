#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-scaling: libfiber against Go 1.19 at 1, 2, 4, 8 and 16 Ps
# (GOMAXPROCS alike), on skynet, a channel pipeline and a contended mutex.
# Prints a table and writes bench/results-scaling.json, one object per case
# and P count: {"case", "procs", "unit", "libfiber", "go", "cpus"}, cpus
# being what nproc says.  See docs/performance.md, "Scaling".
#
# Each value is the median of FIBER_SCALING_RUNS runs (default 3), every
# run a fresh process, the two sides taking turns to go first.
#
# usage: run-scaling.sh [OUT.json]
#   FIBER_SCALING_PROCS  the P counts (default "1 2 4 8 16")
#   FIBER_SCALING_RUNS   runs per side and point (default 3)
#   FIBER_SCALING_CASES  the cases (default "skynet pipeline mutex")
set -euo pipefail
FIBER_LOG_TAG=bench-scaling
. "$(dirname "$0")/../testing/vm/lib.sh"

out=${1:-$FIBER_ROOT/bench/results-scaling.json}
mkdir -p "$(dirname "$out")"
bin=$FIBER_BUILD/bin
procs_list=${FIBER_SCALING_PROCS:-1 2 4 8 16}
runs=${FIBER_SCALING_RUNS:-3}
cases=${FIBER_SCALING_CASES:-skynet pipeline mutex}
cpus=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $runs in
''|*[!0-9]*|0) die "FIBER_SCALING_RUNS=$runs: want a count of runs, 1 or more" ;;
esac
[ -x "$bin/fiber-scaling" ] || die "$bin/fiber-scaling is missing: run 'make bench-scaling'"
command -v go >/dev/null || die "go is missing: run 'make deps' as root (package golang-go)"
log "building the Go side with $(go version | cut -d' ' -f3)"
export GOCACHE=$FIBER_CACHE/go-build GOPATH=$FIBER_CACHE/go GOFLAGS=-mod=mod GO111MODULE=off
go build -o "$bin/go-scaling" "$FIBER_ROOT/bench/go/scaling.go" "$FIBER_ROOT/bench/go/skynet.go"
# Each program sets its own P count; leave neither runtime another default.
unset FIBER_MAXPROCS GOMAXPROCS

# run SIDE CASE PROCS: one run in a fresh process; appends its value to
# $tmp/SIDE.CASE.PROCS and its unit to $tmp/unit.CASE.
run() {
	local side=$1 c=$2 p=$3 prog line f_case f_procs unit value rest
	case $side in
	libfiber) prog=$bin/fiber-scaling ;;
	go) prog=$bin/go-scaling ;;
	esac
	line=$("$prog" "$c" "$p") || die "$side: $c at $p Ps failed"
	read -r f_case f_procs unit value rest <<< "$line"
	if [ "$f_case" != "$c" ] || [ "$f_procs" != "$p" ] || [ -n "$rest" ] ||
		! [[ $value =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		die "$side: $c at $p Ps printed '$line'"
	fi
	log "$side $c $p: $value $unit"
	echo "$value" >> "$tmp/$side.$c.$p"
	echo "$unit" > "$tmp/unit.$c"
}

# median FILE: the middle value (the lower of the two middle ones for an
# even count).
median() {
	sort -g "$1" | sed -n "$((($(wc -l < "$1") + 1) / 2))p"
}

log "libfiber and Go on $cpus CPUs, at $procs_list Ps, $runs runs each: $cases"
turn=0
for c in $cases; do
	for p in $procs_list; do
		for ((r = 0; r < runs; r++)); do
			if ((turn++ % 2 == 0)); then
				run libfiber "$c" "$p"
				run go "$c" "$p"
			else
				run go "$c" "$p"
				run libfiber "$c" "$p"
			fi
		done
		echo "$c $p $(cat "$tmp/unit.$c") $(median "$tmp/libfiber.$c.$p")" \
			"$(median "$tmp/go.$c.$p")" >> "$tmp/results"
	done
done

# "CASE PROCS UNIT LIBFIBER GO" lines into the table and the JSON.
awk -v out="$out" -v cpus="$cpus" '
{ row[++n] = $0 }
END {
	printf "[\n" > out
	printf "%-10s %5s %-8s %12s %12s %10s\n", "case", "procs", "unit", "libfiber", "go", "advantage"
	for (i = 1; i <= n; i++) {
		split(row[i], f, " ")
		# the advantage of libfiber over Go, > 1 is better: every unit
		# here is a time, so Go'\''s over libfiber'\''s.
		ratio = f[4] + 0 > 0 ? sprintf("%.2f", f[5] / f[4]) : "-"
		printf "%-10s %5s %-8s %12s %12s %10s\n", f[1], f[2], f[3], f[4], f[5], ratio
		printf "  {\"case\": \"%s\", \"procs\": %s, \"unit\": \"%s\", \"libfiber\": %s, \"go\": %s, \"cpus\": %s}%s\n",
			f[1], f[2], f[3], f[4], f[5], cpus, (i < n ? "," : "") > out
	}
	printf "]\n" > out
}' "$tmp/results"
log "wrote $out"
