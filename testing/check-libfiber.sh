#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# libfiber's tests under a checker: `asan` runs the ASan+UBSan build
# (build/asan/tests, made by `make asan`), `valgrind` runs the normal build
# under valgrind's memcheck, `aarch64` runs the aarch64 build (made by
# `make aarch64`) under qemu-user, `clang` runs the build by clang (made by
# `make clang`).  Each test program's TAP goes to DIR (default
# build/results-MODE); without DIR the summary line is printed too.
#
# The tests that start thousands of fibers start at most FIBER_TEST_FIBERS
# (they say so in their output; many_fibers() in runtime_helpers.h): ASan
# maps shadow and a fake stack for every fiber, valgrind searches its list
# of registered stacks at every stack switch, and qemu-user translates
# every first touch.  Under valgrind the loops also shrink (FIBER_TEST_SLOW).
# Each program runs under a limit of its own, at least four times what it
# takes on an idle machine (testing/tap-times).
#
# usage: check-libfiber.sh asan|valgrind|aarch64|clang [DIR]
set -uo pipefail
FIBER_LOG_TAG=check-libfiber
. "$(dirname "$0")/vm/lib.sh"

mode=${1:-}
dir=${2:-}
summary=0
if [ -z "$dir" ]; then
	dir=$FIBER_BUILD/results-$mode
	rm -rf "$dir"
	summary=1
fi
mkdir -p "$dir"

case $mode in
asan)
	tests=("$FIBER_BUILD"/asan/tests/*_test)
	# Leak checking is on; a leak fails the program.  Fibers switch
	# stacks, which ASan is told about (libfiber/sanitizer.h).
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export FIBER_TEST_FIBERS=5000
	runner=()
	limit=300
	;;
valgrind)
	tests=("$FIBER_BUILD"/tests/libfiber/*_test)
	command -v valgrind >/dev/null || die "valgrind is missing: run 'make deps' as root"
	export FIBER_TEST_FIBERS=200 FIBER_TEST_SLOW=1
	# Children of fork() stay under valgrind; an error makes the
	# process exit with 99, which the tests see as a wrong status.
	runner=(valgrind --quiet --error-exitcode=99 --leak-check=no --fair-sched=yes
		--max-stackframe=4194304)
	limit=600
	;;
aarch64)
	# The same tests, cross-built (static) and run under qemu-user.
	# qemu runs them on the host's stronger memory order, so this
	# checks the switch and the ABI, not aarch64's weak ordering.
	tests=("$FIBER_BUILD"/aarch64/tests/*_test)
	command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 is missing: run 'make deps' as root"
	export FIBER_TEST_FIBERS=100000
	runner=(qemu-aarch64)
	limit=300
	;;
clang)
	# libfiber and its tests built by clang, as they are by gcc.
	tests=("$FIBER_BUILD"/clang/tests/libfiber/*_test)
	# The gcc build runs the full million; here a tenth shows the same
	# code, compiled by clang, at scale, in a tenth of the time.
	export FIBER_TEST_FIBERS=100000
	runner=()
	limit=600
	;;
*)
	die "usage: check-libfiber.sh asan|valgrind|aarch64|clang [DIR]"
	;;
esac

for t in "${tests[@]}"; do
	[ -x "$t" ] || die "$t is missing: run 'make all selftests asan aarch64 clang'"
	run_tap_into "$dir" "host-$mode-${t##*/}" "$limit" "${runner[@]}" "$t"
done

if [ "$summary" = 1 ]; then
	"$FIBER_ROOT/testing/tap-summary" "$dir"/*.tap
fi
