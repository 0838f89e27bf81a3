#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# libfiber's USDT probes (libfiber/trace.h): every probe is in the
# library's .note.stapsdt, shared and static, and gdb fires them with
# their arguments: `create` with the new fiber's id and its creator's,
# `park` with the wait reason as a string.  Where sys/sdt.h was missing
# the probes are compiled out: the aarch64 cross build (Debian has no
# arm64 sys/sdt.h without the arm64 package) must carry no note.  And
# docs/debugging.md's bpftrace one-liner, run on demo/trace-demo.c,
# counts its parks by wait reason (SKIP where bpftrace cannot run).
# Prints TAP.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FIBER_BUILD:-$root/build}
lib=$build/libfiber/libfiber.so.0
static_objs=("$build"/libfiber/static/*.o)
prog=$build/tests/gdb/gdb_target
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

probes=(create start park ready exit yield steal syscall_enter syscall_exit
	handoff claim grant)

. "$root/testing/vm/lib.sh"
echo "TAP version 13"

# probe_names FILE...: the libfiber probe names in the files' notes.
probe_names() {
	readelf -n "$@" 2>/dev/null | awk '
		/Provider: libfiber/ { want = 1; next }
		want && /Name:/ { print $2; want = 0 }' | sort -u
}

if ! command -v readelf > /dev/null; then
	for t in 1 2 3 4 5 6 7; do tap_skip "probes $t" "readelf is not installed"; done
	tap_plan
	exit
fi
printf '%s\n' "${probes[@]}" | sort > "$tmp/want"
if [ -z "$(probe_names "$lib")" ] &&
	! echo '#include <sys/sdt.h>' | cc -E - > /dev/null 2>&1; then
	tap_skip "every probe in libfiber.so" "built without sys/sdt.h (systemtap-sdt-dev)"
	tap_skip "every probe in libfiber.a" "built without sys/sdt.h (systemtap-sdt-dev)"
else
	probe_names "$lib" > "$tmp/shared"
	tap_check "$(cmp -s "$tmp/want" "$tmp/shared"; echo $?)" "every probe in libfiber.so" \
		"$(diff "$tmp/want" "$tmp/shared")"
	probe_names "${static_objs[@]}" > "$tmp/static"
	tap_check "$(cmp -s "$tmp/want" "$tmp/static"; echo $?)" "every probe in libfiber.a" \
		"$(diff "$tmp/want" "$tmp/static")"
fi

# Compiled out where the header is missing: the aarch64 objects.
a64=("$build"/aarch64/libfiber/*.o)
d="no probes without sys/sdt.h (aarch64 build)"
if [ ! -e "${a64[0]}" ]; then
	tap_skip "$d" "no aarch64 build"
elif echo '#include <sys/sdt.h>' | aarch64-linux-gnu-gcc -E - > /dev/null 2>&1; then
	tap_skip "$d" "the aarch64 compiler has sys/sdt.h"
else
	[ -z "$(probe_names "${a64[@]}")" ]
	tap_check $? "$d" "$(probe_names "${a64[@]}")"
fi

if ! command -v gdb > /dev/null || [ ! -x "$prog" ] || [ -z "$(probe_names "$lib")" ]; then
	for d in "gdb lists the probes" "create fires with the new fiber's id" \
		"park fires with its wait reason" "bpftrace counts parks by reason"; do
		tap_skip "$d" "needs gdb, $prog and probes in libfiber.so"
	done
	tap_plan
	exit
fi
# The first fiber is fiber 1 (the main fiber), made by no fiber (0).
timeout 120 gdb -batch -nx \
	-ex 'set breakpoint pending on' -ex 'start' \
	-ex 'info probes stap libfiber' \
	-ex 'break -probe-stap libfiber:create' -ex 'continue' \
	-ex 'printf "@@create %d %d\n", $_probe_arg0, $_probe_arg1' \
	-ex 'delete' -ex 'break -probe-stap libfiber:park' -ex 'continue' \
	-ex 'printf "@@park %s\n", (char *)$_probe_arg1' \
	-ex 'kill' "$prog" > "$tmp/gdb" 2>&1
listed=$(grep -cE '^stap +libfiber +[a-z_]+ ' "$tmp/gdb")
[ "$listed" -ge "${#probes[@]}" ]
tap_check $? "gdb lists the probes ($listed)" "$(tail -30 "$tmp/gdb")"
grep -qx '@@create 1 0' "$tmp/gdb"
tap_check $? "create fires with the new fiber's id" "$(tail -30 "$tmp/gdb")"
grep -qE '^@@park [a-zA-Z]' "$tmp/gdb"
tap_check $? "park fires with its wait reason" "$(tail -30 "$tmp/gdb")"

# docs/debugging.md's one-liner, on a program that parks in known ways:
# trace-demo's ticker sleeps 10 times.
demo=$build/bin/trace-demo
d="bpftrace counts parks by reason"
if ! command -v bpftrace > /dev/null; then
	tap_skip "$d" "bpftrace is not installed"
elif [ ! -x "$demo" ]; then
	tap_skip "$d" "no $demo (make vm-programs)"
elif ! timeout 60 bpftrace -e 'BEGIN { exit(); }' > "$tmp/bpf0" 2>&1; then
	tap_skip "$d" "bpftrace cannot run here: $(grep -m1 -i error "$tmp/bpf0")"
else
	timeout 120 bpftrace -e "usdt:$demo:libfiber:park { @[str(arg1)] = count(); }" \
		-c "$demo $tmp/trace.json" > "$tmp/bpf" 2>&1
	grep -qx '@\[sleep\]: 10' "$tmp/bpf" && grep -q '^@\[chan ' "$tmp/bpf"
	tap_check $? "$d" "$(tail -30 "$tmp/bpf")"
fi
tap_plan
