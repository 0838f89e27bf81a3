#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP: the man pages in docs/man/man{3,4,8}, as make install installs them
# and as `man -M docs/man PAGE` reads them from the source tree.
#   - every symbol libfiber exports (libfiber.map) has a page in man3;
#   - every page lies in the folder of its section, and its .TH names it;
#   - every page formats without a groff warning (groff -man -ww);
#   - every .so link points at a page in the tree that lists the link's
#     name under NAME;
#   - man(1) renders each link page, fiber(4) and the tools' pages, with
#     nothing on stderr (skipped where man is not installed).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mandir=$root/docs/man
syms=$(sed -n 's/^\t\t\(fiber_[a-z_]*\);$/\1/p' "$root/libfiber/libfiber.map")
. "$root/testing/vm/lib.sh"
echo "TAP version 13"

[ -n "$syms" ]
tap_check $? "libfiber.map names the exported symbols"
for s in $syms; do
	[ -f "$mandir/man3/$s.3" ]
	tap_check $? "$s has a man page (docs/man/man3/$s.3)"
done

# The pages, and the link pages among them with their targets.
pages=()
links=()
for f in "$mandir"/man*/*; do
	[ -f "$f" ] && pages+=("${f#"$mandir"/}")
done
[ ${#pages[@]} -gt 0 ]
tap_check $? "docs/man holds pages (${#pages[@]})"

for p in "${pages[@]}"; do
	f=$mandir/$p
	dir=${p%%/*}
	name=${p##*/}
	sec=${name##*.}
	if [ "man$sec" != "$dir" ]; then
		tap_check 1 "$p lies in the folder of its section" "section $sec in $dir"
		continue
	fi
	target=$(sed -n 's/^\.so \(.*\)$/\1/p' "$f")
	if [ -n "$target" ]; then
		links+=("$p")
		tf=$mandir/$target
		if [ ! -f "$tf" ]; then
			tap_check 1 "$p links to $target" "no docs/man/$target"
			continue
		fi
		# The NAME line is the one after .SH NAME.
		names=$(sed -n '/^\.SH NAME/{n;s/ \\-.*//;s/,//g;p;q}' "$tf")
		[[ " $names " == *" ${name%.*} "* ]]
		tap_check $? "$p links to $target, which lists ${name%.*}" "NAME: $names"
		continue
	fi
	th=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\).*/\1 \2/p' "$f")
	want="${name%.*} $sec"
	[ "$th" = "${want^^}" ]
	tap_check $? "$p: .TH names it (${want^^})" ".TH says '$th'"
	warn=$(cd "$mandir" && LC_ALL=C.UTF-8 groff -man -ww -z "$p" 2>&1)
	[ -z "$warn" ]
	tap_check $? "$p formats without a groff warning" "$warn"
done

# man -M on the source tree, as a user reads the pages before installing.
rendered=("${links[@]}")
for p in "${pages[@]}"; do
	case $p in man1/* | man4/* | man8/*) rendered+=("$p") ;; esac
done
if ! command -v man > /dev/null; then
	for p in "${rendered[@]}"; do
		tap_skip "man -M docs/man renders $p" "man is not installed"
	done
else
	err=$(mktemp)
	trap 'rm -f "$err"' EXIT
	for p in "${rendered[@]}"; do
		name=${p##*/}
		sec=${name##*.}
		f=$mandir/$p
		target=$(sed -n 's/^\.so \(.*\)$/\1/p' "$f")
		[ -z "$target" ] || f=$mandir/$target
		title=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\).*/\1(\2)/p' "$f" 2> /dev/null)
		out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man -M "$mandir" -P cat "$sec" "${name%.*}" 2> "$err")
		rc=$?
		[ $rc = 0 ] && [ ! -s "$err" ] && [[ $out == "$title "* ]] &&
			[[ $out == *$'\nNAME\n'* ]]
		tap_check $? "man -M docs/man renders $p ($title)" \
			"exit $rc; stderr: $(head -1 "$err"); first line: ${out%%$'\n'*}"
	done
fi
tap_plan
