#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# libfiber's gdb script (libfiber/gdb/libfiber-gdb.py) against a program
# with fibers parked in functions of their own (gdb_target.c):
#  - live: gdb runs build/tests/gdb/gdb_target (libfiber.so, the default
#    stack guards) to its breakpoint in gdb_target_ready(); `info fibers`
#    lists every fiber with its state and wait reason, `fiber N bt` names
#    the function each parked in, `fiber apply all bt` shows them all, a
#    plain `bt` afterwards is the thread's own again, and a corrupted
#    fiber list gives a one-line error;
#  - core: the same from a core of gdb_target_static (libfiber.a),
#    written by gdb's generate-core-file.  FIBER_STACK_GUARD=mprotect: on
#    Linux 6.13+ gcore does not copy a stack arena past its first
#    MADV_GUARD_INSTALL guard (docs/debugging.md);
#  - auto-load: both programs carry the .debug_gdb_scripts entry, and gdb
#    loads it without `source` where the safe-path allows it.
# Prints TAP; without gdb, or a gdb without Python, every test is a SKIP.
# No timing is assumed: the program itself waits until all are parked.
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${FIBER_BUILD:-$root/build}
script=$root/libfiber/gdb/libfiber-gdb.py
shared=$build/tests/gdb/gdb_target
static=$build/tests/gdb/gdb_target_static
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name:function pairs: the parked fibers, by the global holding the id.
parked=(chan:park_in_chan_recv sleep:park_in_sleep cond:park_in_cond_wait
	mutex:park_in_mutex_lock locked:park_locked_to_thread)
declare -A reason=([chan]="chan receive" [sleep]=sleep [cond]="cond wait"
	[mutex]=mutex [locked]="WaitGroup wait")

echo "TAP version 13"
# live: 1 + 12 (check_session) + 3; core: 1 + 11 + 1; auto-load: 5.
ntests=34
echo "1..$ntests"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $1"
	[ -z "${2:-}" ] || sed 's/^/#   /' "$2" | tail -40
}
# check DESCRIPTION LOG COMMAND...: ok if COMMAND succeeds.
check() {
	local desc=$1 log=$2
	shift 2
	if "$@"; then ok "$desc"; else not_ok "$desc" "$log"; fi
}
skip_all() {
	while [ "$n" -lt "$ntests" ]; do
		n=$((n + 1))
		echo "ok $n - gdb script test $n # SKIP $1"
	done
	exit 0
}

command -v gdb > /dev/null || skip_all "gdb is not installed"
[ "$(gdb -batch -nx -ex 'python print("py" + "ok")' 2>&1)" = pyok ] ||
	skip_all "this gdb has no Python"
for f in "$shared" "$static"; do
	[ -x "$f" ] || { echo "# $f is missing (run make selftests)"; skip_all "not built"; }
done

# section FILE NAME: the output between "@@NAME" and the next "@@".
section() {
	awk -v want="@@$2" '/^@@/ { on = ($0 == want); next } on' "$1"
}

# The commands of a session, after the program stopped at the marker.
# Each -ex runs even if one before it failed (a -x script would stop).
inspect=(-ex 'echo @@IDS\n'
	-ex 'printf "%d %d %d %d %d %d\n", gdb_target_main_id, gdb_target_chan_id, gdb_target_sleep_id, gdb_target_cond_id, gdb_target_mutex_id, gdb_target_locked_id'
	-ex 'echo @@INFO\n' -ex 'info fibers')
for p in "${parked[@]}"; do
	inspect+=(-ex "echo @@${p%%:*}\n" -ex "fiber gdb_target_${p%%:*}_id bt")
done
inspect+=(-ex 'echo @@BT1\n' -ex 'bt'
	-ex 'echo @@main\n' -ex 'fiber gdb_target_main_id bt'
	-ex 'echo @@ALL\n' -ex 'fiber apply all bt'
	-ex 'echo @@BT\n' -ex 'bt' -ex 'echo @@END\n')

# check_session NAME LOG: the checks on one session's output.
check_session() {
	local name=$1 log=$2 ids main fid p f bad
	section "$log" IDS > "$tmp/ids"
	read -r main ids_chan ids_sleep ids_cond ids_mutex ids_locked < "$tmp/ids" 2>/dev/null
	declare -A id=([chan]=${ids_chan:-x} [sleep]=${ids_sleep:-x}
		[cond]=${ids_cond:-x} [mutex]=${ids_mutex:-x} [locked]=${ids_locked:-x})
	section "$log" INFO > "$tmp/info"
	bad=
	for p in "${parked[@]}"; do
		f=${p%%:*}
		grep -Eq "^  ${id[$f]} +waiting +${reason[$f]} " "$tmp/info" ||
			bad+=" $f"
	done
	check "$name: info fibers lists each parked fiber waiting, with its reason" \
		"$log" test -z "$bad"
	if [ "$name" = live ]; then
		check "$name: info fibers marks the main fiber running on this thread" \
			"$log" grep -Eq "^\* ${main:-x} +running +M[0-9]+/[0-9]+ " "$tmp/info"
	else
		# gdb selects the thread that stopped, which ran the main fiber.
		check "$name: info fibers marks the main fiber running on this thread" \
			"$log" grep -Eq "^\* ${main:-x} +running " "$tmp/info"
	fi
	check "$name: info fibers shows the locked fiber's M and thread" \
		"$log" grep -Eq "^  ${id[locked]} .* locked M[0-9]+/[0-9]+ " "$tmp/info"
	for p in "${parked[@]}"; do
		f=${p%%:*}
		section "$log" "$f" > "$tmp/bt"
		check "$name: fiber N bt of the fiber in ${reason[$f]} names ${p#*:}" \
			"$log" grep -q " in ${p#*:} (" "$tmp/bt"
	done
	if [ "$name" = live ]; then
		section "$log" main > "$tmp/bt"
		check "$name: fiber N bt of the running main fiber names target_main" \
			"$log" grep -q "target_main (" "$tmp/bt"
	fi
	section "$log" ALL > "$tmp/all"
	bad=
	for f in park_in_chan_recv park_in_sleep park_in_cond_wait \
		park_in_mutex_lock park_locked_to_thread target_main; do
		grep -q " $f (" "$tmp/all" || bad+=" $f"
	done
	check "$name: fiber apply all bt shows all six fibers" "$log" test -z "$bad"
	# Right after fiber N bt of a parked fiber, and at the end.
	for f in BT1 BT; do
		section "$log" $f > "$tmp/bt"
		check "$name: bt after the fiber commands is the thread's own again ($f)" \
			"$log" eval 'grep -q "^#0  gdb_target_ready" "$tmp/bt" && ! grep -q park_in "$tmp/bt"'
	done
}

# ---- live ----------------------------------------------------------------
live=$tmp/live.log
timeout 300 gdb -batch -nx -ex "source $script" -ex 'break gdb_target_ready' \
	-ex run "${inspect[@]}" \
	-ex 'echo @@LOOP\n' \
	-ex "set var ((struct fiber *)'stats.c'::allfibers)->allnext = 'stats.c'::allfibers" \
	-ex 'info fibers' \
	-ex 'echo @@UNREADABLE\n' \
	-ex "set var ((struct fiber *)'stats.c'::allfibers)->allnext = (struct fiber *)16" \
	-ex 'info fibers' -ex 'echo @@END\n' -ex kill \
	"$shared" > "$live" 2>&1 < /dev/null
if grep -q "ptrace: Operation not permitted" "$live"; then
	skip_all "gdb may not trace a process here (ptrace)"
fi
check "live: gdb stops at gdb_target_ready" "$live" \
	grep -q "hit Breakpoint 1, gdb_target_ready" "$live"
check_session live "$live"
check "live: a fiber list that loops gives a one-line error" "$live" \
	eval '[ "$(section "$live" LOOP | grep -c "^libfiber: the fiber list loops")" = 1 ]'
check "live: an unreadable fiber list gives a one-line error" "$live" \
	eval '[ "$(section "$live" UNREADABLE | grep -c "^libfiber: the fiber list is unreadable after [0-9]* fibers: Cannot access memory at address 0x")" = 1 ]'
check "live: no Python exception" "$live" eval '! grep -q "Python Exception\|Traceback" "$live"'

# ---- core ----------------------------------------------------------------
core=$tmp/core
FIBER_STACK_GUARD=mprotect timeout 300 gdb -batch -nx -ex 'break gdb_target_ready' \
	-ex run -ex "generate-core-file $core" -ex kill \
	"$static" > "$tmp/gcore.log" 2>&1 < /dev/null
check "core: generate-core-file wrote a core of gdb_target_static" \
	"$tmp/gcore.log" test -s "$core"
clog=$tmp/core.log
timeout 300 gdb -batch -nx -ex "source $script" "${inspect[@]}" "$static" "$core" \
	> "$clog" 2>&1 < /dev/null
check_session core "$clog"
check "core: no Python exception" "$clog" eval '! grep -q "Python Exception\|Traceback" "$clog"'

# ---- auto-load -----------------------------------------------------------
for f in "$build/libfiber/libfiber.so.0" "$static"; do
	readelf -SW "$f" > "$tmp/sections" 2>&1
	check "auto-load: $(basename "$f") has a .debug_gdb_scripts section" \
		"$tmp/sections" grep -q ' \.debug_gdb_scripts ' "$tmp/sections"
done
alog=$tmp/auto.log
timeout 300 gdb -batch -nx -iex "add-auto-load-safe-path $build" \
	-ex 'info auto-load python-scripts' -ex 'echo @@INFO\n' -ex 'info fibers' \
	"$static" "$core" > "$alog" 2>&1 < /dev/null
check "auto-load: gdb loads the script when the safe-path allows it" "$alog" \
	grep -Eq '^Yes +libfiber-gdb.py' "$alog"
check "auto-load: info fibers works without source" "$alog" \
	eval 'section "$alog" INFO | grep -q "^  [0-9]* *waiting *chan receive"'
nlog=$tmp/noauto.log
timeout 300 gdb -batch -nx -iex 'set auto-load safe-path /nonexistent' \
	-ex 'info auto-load python-scripts' "$static" > "$nlog" 2>&1 < /dev/null
check "auto-load: and does not outside the safe-path" "$nlog" \
	grep -Eq '^No +libfiber-gdb.py' "$nlog"
