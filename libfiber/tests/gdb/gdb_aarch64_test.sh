#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# libfiber's gdb script on aarch64: build/aarch64/tests/gdb/gdb_target
# (static, the aarch64 cross build) runs under qemu-aarch64 with its gdb
# stub on a UNIX socket, and gdb-multiarch, stopped in gdb_target_ready(),
# must list every parked fiber and unwind each one from the frame that
# context_aarch64.S saves, up to fiber_context_start.  Prints TAP;
# SKIP without gdb-multiarch, qemu-aarch64 or the aarch64 build.
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${FIBER_BUILD:-$root/build}
prog=$build/aarch64/tests/gdb/gdb_target
script=$root/libfiber/gdb/libfiber-gdb.py
tmp=$(mktemp -d)
qpid=
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$tmp"' EXIT

functions=(park_in_chan_recv park_in_sleep park_in_cond_wait park_in_mutex_lock
	park_locked_to_thread)
. "$root/testing/vm/lib.sh"
echo "TAP version 13"
# result STATUS DESCRIPTION: tap_check, with gdb's output on a failure.
# The program's own output too: once (in many runs) it never reached
# gdb_target_ready(), and gdb waited out its limit.
result() {
	tap_check "$1" "$2" "$(tail -40 "$tmp/gdb"; echo "--- the program:"
		tail -20 "$tmp/prog.out")"
}
skip_all() {
	local i
	for i in $(seq $((2 + ${#functions[@]}))); do
		tap_skip "aarch64 gdb $i" "$1"
	done
	tap_plan
	exit
}
command -v gdb-multiarch > /dev/null || skip_all "gdb-multiarch is not installed"
command -v qemu-aarch64 > /dev/null || skip_all "qemu-aarch64 is not installed"
[ -x "$prog" ] || skip_all "no $prog (make aarch64)"
gdb-multiarch -nx -batch -ex 'python print("py")' 2>/dev/null | grep -qx py ||
	skip_all "gdb-multiarch has no Python"

# The core test's reason applies to the stub too: gdb reads the stacks.
# It takes a second; 60 s is the limit of each.
FIBER_STACK_GUARD=mprotect timeout 60 qemu-aarch64 -L /usr/aarch64-linux-gnu \
	-g "$tmp/gdb.sock" "$prog" > "$tmp/prog.out" 2>&1 &
qpid=$!
for _ in $(seq 100); do [ -S "$tmp/gdb.sock" ] && break; sleep 0.1; done
timeout 60 gdb-multiarch -batch -nx -ex 'set architecture aarch64' \
	-ex "file $prog" -ex "target remote $tmp/gdb.sock" -ex "source $script" \
	-ex 'break gdb_target_ready' -ex 'continue' \
	-ex 'echo @@INFO\n' -ex 'info fibers' \
	-ex 'echo @@ALL\n' -ex 'fiber apply all bt' \
	-ex 'echo @@BT\n' -ex 'bt' -ex 'echo @@END\n' -ex 'kill' > "$tmp/gdb" 2>&1
sed -n '/^@@INFO$/,/^@@ALL$/p' "$tmp/gdb" > "$tmp/info"
sed -n '/^@@ALL$/,/^@@BT$/p' "$tmp/gdb" > "$tmp/all"
sed -n '/^@@BT$/,/^@@END$/p' "$tmp/gdb" > "$tmp/bt"

[ "$(grep -c ' waiting ' "$tmp/info")" -eq 5 ]
result $? "info fibers lists the five parked fibers"
for f in "${functions[@]}"; do
	# Each fiber's backtrace: its function, then down to the first frame.
	awk -v f="$f" '/^Fiber /{ if (seen && start) ok = 1; seen = 0; start = 0 }
		$0 ~ " in " f " " { seen = 1 } seen && /fiber_context_start/ { start = 1 }
		END { if (seen && start) ok = 1; exit !ok }' "$tmp/all"
	result $? "fiber apply all bt: $f, unwound to fiber_context_start"
done
grep -Eq '^#0  (0x[0-9a-f]+ in )?gdb_target_ready ' "$tmp/bt"
result $? "a plain bt afterwards is the thread's own"
tap_plan
