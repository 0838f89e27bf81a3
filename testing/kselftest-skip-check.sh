#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP: the installed kselftest tree (build/kselftest, from make selftests)
# on a host without fiber.ko, as an administrator runs it there: each of
# its tests once as root and once as nobody, then the whole tree through
# its run_kselftest.sh as root.  None may fail or hang: each must exit 0 or
# 4 (kselftest's skip), print no "not ok", and end within LIMIT seconds.  A
# test that needs the module must say so before any case runs: exit 4 and
# a plan of "1..0 # SKIP ..." that names /dev/fiber.  Those that do not
# need it (libfiber's fallback, the tools' error paths) are listed below.
# The runner must end with exit 0 and every test "ok", skipped or not.
#
# With /dev/fiber present the check would run the suite against the module
# instead: it skips.  Without runuser or a user nobody, the nobody half
# skips; not as root, all do.
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
	[runtime_fallback_test.sh]=1
	# the command lines, and the missing-module message
	[fiberinfo_test.sh]=1 [fiberstat_test.sh]=1
)
list=$build/kselftest/kselftest-list.txt

if [ $# -gt 0 ]; then
	programs=("$@")
else
	mapfile -t programs < <(sed -n 's/^fiber://p' "$list" 2> /dev/null)
fi
if [ ${#programs[@]} -eq 0 ]; then
	echo "Bail out! no tests in $list: run make selftests first"
	exit 1
fi

echo "TAP version 13"
echo "1..$((2 * ${#programs[@]} + 1))"
n=0 failed=0

# skip_all WHO WHY: one skipped result per program.
skip_all() {
	local p

	for p in "${programs[@]}"; do
		n=$((n + 1))
		echo "ok $n - $1: $p # SKIP $2"
	done
}

# A copy of the tree that nobody can read and run wherever the build is (a
# home directory, say), with VERSION where the scripts look for it.
tmp=$(mktemp -d)
cp -a "$build/kselftest" "$tmp/ksft"
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
	(cd "$tmp/ksft/fiber" && timeout -k 5 "$limit" "${run[@]}" "./$p") > "$out" 2>&1 < /dev/null || rc=$?
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

# run_all: the tree's run_kselftest.sh, as root, within the sum of the
# limits.  Its output is appended to: it reopens /dev/stdout for its tests.
run_all() {
	local out=$tmp/all rc=0 why='' total
	: > "$out"
	(cd / && timeout -k 5 $((limit * ${#programs[@]})) \
		"$tmp/ksft/run_kselftest.sh") >> "$out" 2>&1 < /dev/null || rc=$?
	reap
	total=$(grep -c '^\(not \)\{0,1\}ok [0-9]* selftests: ' "$out")
	if [ "$rc" != 0 ]; then
		why="exit $rc"
	elif grep -q '^not ok' "$out"; then
		why="a test failed"
	elif [ "$total" != "${#programs[@]}" ]; then
		why="$total results for ${#programs[@]} tests"
	fi
	n=$((n + 1))
	if [ -z "$why" ]; then
		echo "ok $n - run_kselftest.sh: every test ok, $(grep -c '^ok .* # SKIP' "$out") of $total skipped"
	else
		failed=1
		grep -v '^# ok' "$out" | tail -30 | sed 's/^/#   /'
		echo "not ok $n - run_kselftest.sh: $why"
	fi
}

if [ -e "$dev" ]; then
	skip_all root "$dev is here: this checks a host without the module"
	skip_all nobody "$dev is here: this checks a host without the module"
	n=$((n + 1)); echo "ok $n - run_kselftest.sh # SKIP $dev is here"
elif [ "$(id -u)" != 0 ]; then
	skip_all root "not root"
	skip_all nobody "not root: runuser needs it"
	n=$((n + 1)); echo "ok $n - run_kselftest.sh # SKIP not root"
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
	run_all
fi
exit $failed
