#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP: every symbol libfiber exports (libfiber.map) has a man page in
# docs/man/man3, every page formats without a groff warning, and every
# .so link points at a page that exists; the tools' pages (fiberstat.8)
# format without a warning too.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
man=$root/docs/man/man3
syms=$(sed -n 's/^\t\t\(fiber_[a-z_]*\);$/\1/p' "$root/libfiber/libfiber.map")
n=0
echo "TAP version 13"
for s in $syms; do
	n=$((n + 1))
	if [ -f "$man/$s.3" ]; then
		echo "ok $n - $s has a man page"
	else
		echo "not ok $n - $s has no man page docs/man/man3/$s.3"
	fi
done
# formats FILE NAME: TAP line $n, whether FILE formats without a warning.
formats() {
	local warn

	warn=$(LC_ALL=C.UTF-8 groff -man -ww -z "$1" 2>&1)
	if [ -z "$warn" ]; then
		echo "ok $n - $2 formats cleanly"
	else
		echo "not ok $n - $2: $warn" | head -1
	fi
}

for f in "$man"/*.3; do
	n=$((n + 1))
	page=${f##*/}
	if target=$(sed -n 's/^\.so man3\///p' "$f") && [ -n "$target" ]; then
		if [ -f "$man/$target" ]; then
			echo "ok $n - $page links to $target"
		else
			echo "not ok $n - $page links to missing $target"
		fi
		continue
	fi
	formats "$f" "$page"
done
for f in "$root"/docs/man/man8/*.8; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	formats "$f" "docs/man/man8/${f##*/}"
done
echo "1..$n"
