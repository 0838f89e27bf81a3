#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# libfiber as a user builds against it:
#  - fiber.h everywhere a C programmer works: use_every_macro.c compiled as
#    C99, C11 and C17 with gcc and clang, and as C++11, C++17 and C++20
#    with g++ and clang++, each with -Wall -Wextra -pedantic -Werror,
#    linked against libfiber.so and run; and, in each of those, the same
#    program ignoring the result of a FIBER_MUST_CHECK call must not
#    compile;
#  - own_names.c, which defines names libfiber uses inside (schedule,
#    execute, sched, timer_add, netpoll), linked against libfiber.a and
#    against libfiber.so and run.
# Prints TAP; a compiler that is missing is a SKIP that names it.
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${FIBER_BUILD:-$root/build}
lib=$build/libfiber/libfiber.so.0
archive=$build/libfiber/libfiber.a
src=$root/libfiber/tests/header/use_every_macro.c
own=$root/libfiber/tests/header/own_names.c
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cases=(
	"gcc -std=c99" "gcc -std=c11" "gcc -std=c17"
	"clang -std=c99" "clang -std=c11" "clang -std=c17"
	"g++ -x c++ -std=c++11" "g++ -x c++ -std=c++17" "g++ -x c++ -std=c++20"
	"clang++ -x c++ -std=c++11" "clang++ -x c++ -std=c++17" "clang++ -x c++ -std=c++20"
)
echo "TAP version 13"
echo "1..$((${#cases[@]} * 2 + 2))"
n=0

# Build and run: check NUMBER DESCRIPTION COMMAND...
build_and_run() {
	local n=$1 desc=$2 out
	shift 2
	if ! "$@" -o "$tmp/t" > "$tmp/log" 2>&1; then
		sed 's/^/# /' "$tmp/log"
		echo "not ok $n - $desc: does not build cleanly"
	elif ! out=$(LD_LIBRARY_PATH=${lib%/*} timeout 30 "$tmp/t" 2>&1) ||
		[ "$out" != ok ]; then
		printf '%s\n' "$out" | sed 's/^/# /'
		echo "not ok $n - $desc: the program failed"
	else
		echo "ok $n - $desc"
	fi
}

for c in "${cases[@]}"; do
	n=$((n + 1))
	read -r -a cmd <<< "$c"
	desc="fiber.h with ${cmd[0]} ${cmd[-1]}"
	if ! command -v "${cmd[0]}" > /dev/null; then
		echo "ok $n - $desc # SKIP ${cmd[0]} is not installed"
		continue
	fi
	if [ ! -e "$lib" ]; then
		echo "not ok $n - $desc: $lib is missing (run make)"
		continue
	fi
	build_and_run "$n" "$desc" "${cmd[@]}" -Wall -Wextra -pedantic -Werror \
		-I"$root/libfiber/include" -I"$root/uapi" "$src" \
		-x none "$lib" -lpthread
done
for c in "${cases[@]}"; do
	n=$((n + 1))
	read -r -a cmd <<< "$c"
	desc="an ignored FIBER_MUST_CHECK result is an error with ${cmd[0]} ${cmd[-1]}"
	if ! command -v "${cmd[0]}" > /dev/null; then
		echo "ok $n - $desc # SKIP ${cmd[0]} is not installed"
	# Compiled, not -fsyntax-only: gcc warns about results late.
	elif "${cmd[@]}" -c -o "$tmp/o" -Wall -Wextra -pedantic -Werror \
		-DIGNORE_A_RESULT -I"$root/libfiber/include" -I"$root/uapi" \
		"$src" > "$tmp/log" 2>&1; then
		echo "not ok $n - $desc: it compiled"
	elif ! grep -q 'unused-result' "$tmp/log"; then
		sed 's/^/# /' "$tmp/log"
		echo "not ok $n - $desc: it failed for another reason"
	else
		echo "ok $n - $desc"
	fi
done
for with in "$archive" "$lib"; do
	n=$((n + 1))
	if [ ! -e "$with" ]; then
		echo "not ok $n - a program's own names beside ${with##*/}: it is missing (run make)"
		continue
	fi
	build_and_run "$n" "a program's own names beside ${with##*/}" \
		cc -Wall -Wextra -Werror -I"$root/libfiber/include" -I"$root/uapi" \
		"$own" "$with" -lpthread
done
