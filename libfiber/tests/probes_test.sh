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

echo "TAP version 13"
echo "1..7"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $1"
	[ -z "${2:-}" ] || sed 's/^/#   /' "$2" | tail -30
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# probe_names FILE...: the libfiber probe names in the files' notes.
probe_names() {
	readelf -n "$@" 2>/dev/null | awk '
		/Provider: libfiber/ { want = 1; next }
		want && /Name:/ { print $2; want = 0 }' | sort -u
}

if ! command -v readelf > /dev/null; then
	for t in 1 2 3 4 5 6; do skip "probes $t" "readelf is not installed"; done
	exit 0
fi
printf '%s\n' "${probes[@]}" | sort > "$tmp/want"
if [ -z "$(probe_names "$lib")" ] &&
	! echo '#include <sys/sdt.h>' | cc -E - > /dev/null 2>&1; then
	skip "every probe in libfiber.so" "built without sys/sdt.h (systemtap-sdt-dev)"
	skip "every probe in libfiber.a" "built without sys/sdt.h (systemtap-sdt-dev)"
else
	probe_names "$lib" > "$tmp/shared"
	if cmp -s "$tmp/want" "$tmp/shared"; then ok "every probe in libfiber.so"
	else diff "$tmp/want" "$tmp/shared" > "$tmp/d"; not_ok "every probe in libfiber.so" "$tmp/d"; fi
	probe_names "${static_objs[@]}" > "$tmp/static"
	if cmp -s "$tmp/want" "$tmp/static"; then ok "every probe in libfiber.a"
	else diff "$tmp/want" "$tmp/static" > "$tmp/d"; not_ok "every probe in libfiber.a" "$tmp/d"; fi
fi

# Compiled out where the header is missing: the aarch64 objects.
a64=("$build"/aarch64/libfiber/*.o)
if [ ! -e "${a64[0]}" ]; then
	skip "no probes without sys/sdt.h (aarch64 build)" "no aarch64 build"
elif echo '#include <sys/sdt.h>' | aarch64-linux-gnu-gcc -E - > /dev/null 2>&1; then
	skip "no probes without sys/sdt.h (aarch64 build)" "the aarch64 compiler has sys/sdt.h"
elif [ -z "$(probe_names "${a64[@]}")" ]; then
	ok "no probes without sys/sdt.h (aarch64 build)"
else
	not_ok "no probes without sys/sdt.h (aarch64 build)"
fi

if ! command -v gdb > /dev/null || [ ! -x "$prog" ] || [ -z "$(probe_names "$lib")" ]; then
	for d in "gdb lists the probes" "create fires with the new fiber's id" \
		"park fires with its wait reason" "bpftrace counts parks by reason"; do
		skip "$d" "needs gdb, $prog and probes in libfiber.so"
	done
	exit 0
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
if [ "$listed" -ge "${#probes[@]}" ]; then ok "gdb lists the probes"
else not_ok "gdb lists the probes ($listed)" "$tmp/gdb"; fi
if grep -qx '@@create 1 0' "$tmp/gdb"; then ok "create fires with the new fiber's id"
else not_ok "create fires with the new fiber's id" "$tmp/gdb"; fi
if grep -qE '^@@park [a-zA-Z]' "$tmp/gdb"; then ok "park fires with its wait reason"
else not_ok "park fires with its wait reason" "$tmp/gdb"; fi

# docs/debugging.md's one-liner, on a program that parks in known ways:
# trace-demo's ticker sleeps 10 times.
demo=$build/bin/trace-demo
if ! command -v bpftrace > /dev/null; then
	skip "bpftrace counts parks by reason" "bpftrace is not installed"
elif [ ! -x "$demo" ]; then
	skip "bpftrace counts parks by reason" "no $demo (make vm-programs)"
elif ! timeout 60 bpftrace -e 'BEGIN { exit(); }' > "$tmp/bpf0" 2>&1; then
	skip "bpftrace counts parks by reason" "bpftrace cannot run here: $(grep -m1 -i error "$tmp/bpf0")"
else
	timeout 120 bpftrace -e "usdt:$demo:libfiber:park { @[str(arg1)] = count(); }" \
		-c "$demo $tmp/trace.json" > "$tmp/bpf" 2>&1
	if grep -qx '@\[sleep\]: 10' "$tmp/bpf" && grep -q '^@\[chan ' "$tmp/bpf"; then
		ok "bpftrace counts parks by reason"
	else
		not_ok "bpftrace counts parks by reason" "$tmp/bpf"
	fi
fi
