#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP: every selftest program (build/bin/*_test, the C ones and the scripts
# of selftests/) on a host without fiber.ko, as a user runs them there, once
# as root and once as nobody.  None may fail or hang: each must exit 0 or 4
# (kselftest's skip), print no "not ok", and end within LIMIT seconds.  A
# program that needs the module must say so before any case runs: exit 4
# and a plan of "1..0 # SKIP ..." that names /dev/fiber.  Those that do not
# need it (libfiber's fallback, the tools' error paths) are listed below.
#
# With /dev/fiber present the check would run the suite against the module
# instead: it skips.  Without runuser or a user nobody, the nobody half
# skips; not as root, both do.  Expects make all selftests to have run (the
# scripts run fiberinfo and fiberstat from build/bin).
#
# usage: kselftest-skip-check.sh [PROGRAM...]   (default: every one)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FIBER_BUILD:-$root/build}
# A program's limit: far above what any takes without the module (the
# slowest, runtime_stress_test's fallback variant, takes 10 s).
limit=60
dev=/dev/fiber

# What runs without the module, and why.
declare -A runs_without=(
	# libfiber's fallback variants (sysmon's retake) run; the module's skip
	[runtime_block_test]=1 [runtime_process_test]=1 [runtime_stress_test]=1
	# FIBER_KERNEL=auto and =on where there is no /dev/fiber
	[runtime_fallback_test]=1
	# the command lines, and the missing-module message
	[fiberinfo_test]=1 [fiberstat_test]=1
)

if [ $# -gt 0 ]; then
	programs=("$@")
else
	programs=()
	for p in "$build"/bin/*_test; do
		[ -x "$p" ] && programs+=("${p##*/}")
	done
fi
if [ ${#programs[@]} -eq 0 ]; then
	echo "Bail out! no programs in $build/bin: run make all selftests first"
	exit 1
fi

echo "TAP version 13"
echo "1..$((2 * ${#programs[@]}))"
n=0 failed=0

# skip_all WHO WHY: one skipped result per program.
skip_all() {
	local p

	for p in "${programs[@]}"; do
		n=$((n + 1))
		echo "ok $n - $1: $p # SKIP $2"
	done
}

# A copy of build/bin that nobody can read and run wherever the tree is
# (a home directory, say), with VERSION where the scripts look for it.
tmp=$(mktemp -d)
cp -a "$build/bin" "$tmp/bin"
cp "$root/VERSION" "$tmp/VERSION"
chmod -R a+rX "$tmp"

# Whatever a program left running goes with it: a case in the middle of a
# hang when the program was killed is in a process group of its own (the
# harness's), which timeout does not reach.  Those are the processes whose
# program or working directory is in this run's copy.
reap() {
	local link pid

	find /proc -mindepth 2 -maxdepth 2 \( -name exe -o -name cwd \) \
		\( -lname "$tmp/*" -o -lname "$tmp" \) 2> /dev/null |
	while read -r link; do
		pid=${link#/proc/}
		pid=${pid%%/*}
		[ "$pid" = $$ ] || kill -KILL "$pid" 2> /dev/null
	done
}
trap 'reap; rm -rf "$tmp"' EXIT

# check WHO PROGRAM: run PROGRAM (as WHO: root or nobody) and judge it.
check() {
	local who=$1 p=$2 out=$tmp/out rc=0 start secs why=
	local -a run=(env FIBER_ROOT="$tmp")

	[ "$who" = root ] || run=(runuser -u "$who" -- "${run[@]}")
	start=$(date +%s.%N)
	(cd "$tmp/bin" && timeout -k 5 "$limit" "${run[@]}" "./$p") > "$out" 2>&1 < /dev/null || rc=$?
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	reap

	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="still running after $limit s"
	elif [ "$rc" != 0 ] && [ "$rc" != 4 ]; then
		why="exit $rc, neither 0 nor 4"
	elif grep -q '^not ok' "$out"; then
		why="a failed case"
	elif [ -z "${runs_without[$p]:-}" ]; then
		if [ "$rc" != 4 ]; then
			why="exit $rc: a program that needs the module must exit 4 without it"
		elif ! grep -q "^1\.\.0 # SKIP .*$dev" "$out"; then
			why="no plan of '1..0 # SKIP' naming $dev"
		fi
	fi
	n=$((n + 1))
	if [ -z "$why" ]; then
		echo "ok $n - $who: $p: exit $rc in $secs s$(grep -m1 -o "^1\.\.0 # SKIP .*" "$out" | sed 's/^1\.\.0 #/,/')"
	else
		failed=1
		tail -20 "$out" | sed 's/^/#   /'
		echo "not ok $n - $who: $p: $why (exit $rc in $secs s)"
	fi
}

if [ -e "$dev" ]; then
	skip_all root "$dev is here: this checks a host without the module"
	skip_all nobody "$dev is here: this checks a host without the module"
elif [ "$(id -u)" != 0 ]; then
	skip_all root "not root"
	skip_all nobody "not root: runuser needs it"
else
	for p in "${programs[@]}"; do
		check root "$p"
	done
	if ! command -v runuser > /dev/null; then
		skip_all nobody "no runuser here"
	elif ! id nobody > /dev/null 2>&1; then
		skip_all nobody "no user nobody here"
	else
		for p in "${programs[@]}"; do
			check nobody "$p"
		done
	fi
fi
exit $failed
