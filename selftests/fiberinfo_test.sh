#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fiberinfo, as a user runs it: the command line (--help, --version, bad
# arguments) anywhere; inside the VM (module loaded) the output, and that
# looking creates no group; on a host without the module the error path.
# busybox sh only.  TAP, with the plan at the end.
here=$(dirname "$0")
fi=$here/fiberinfo
fs=$here/fiberstat
usage='usage: fiberinfo [--json]'
# The project's version, where the source tree is (make check says where:
# FIBER_ROOT); an installed tree has only the programs.
version_file=${FIBER_ROOT:-/nonexistent}/VERSION
n=0 failed=0 skipped=0

result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

skip() {
	n=$((n + 1))
	skipped=$((skipped + 1))
	echo "ok $n - $1 # SKIP $2"
}

# kselftest's exit status: 1 if a case failed, 4 if every case skipped.
finish() {
	echo "1..$n"
	[ $failed = 0 ] && [ $skipped = $n ] && exit 4
	exit $failed
}

echo "TAP version 13"

# A bad command line: the usage line alone on stderr, nothing on stdout,
# exit 2, before the module is asked anything.
bad() {
	out=$("$fi" "$@" 2>/dev/null); rc=$?
	err=$("$fi" "$@" 2>&1 >/dev/null)
	[ $rc = 2 ] && [ -z "$out" ] && [ "$err" = "$usage" ]
	result $? "bad command line '$*': the usage line on stderr and exit 2"
}

bad --bogus
bad -x
bad bogus
bad --json extra
bad --json --json
bad --version --json
bad --help --json

for h in --help -h; do
	out=$("$fi" $h 2>/dev/null); rc=$?
	err=$("$fi" $h 2>&1 >/dev/null)
	[ $rc = 0 ] && [ -z "$err" ] && [ "$(echo "$out" | head -1)" = "$usage" ] &&
		echo "$out" | grep -q -- '^  --json ' && echo "$out" | grep -q -- '--version'
	result $? "$h prints the usage line and the options on stdout, exit 0"
done

out=$("$fi" --version 2>&1); rc=$?
if [ -f "$version_file" ]; then
	want="fiberinfo $(cat "$version_file")"
	[ $rc = 0 ] && [ "$out" = "$want" ]
	result $? "--version prints '$want', from VERSION ($out)"
else
	[ $rc = 0 ] && echo "$out" | grep -qx 'fiberinfo [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*'
	result $? "--version prints 'fiberinfo X.Y.Z' (no VERSION file here to compare) ($out)"
fi

if [ -c /dev/full ]; then
	err=$("$fi" --version 2>&1 >/dev/full); rc=$?
	[ $rc = 1 ] && [ "$err" = "fiberinfo: writing the output: No space left on device" ]
	result $? "--version into a full disk: one line and exit 1 ($err)"
else
	skip "--version into a full disk" "no /dev/full"
fi

if [ ! -e /dev/fiber ]; then
	for args in "" "--json"; do
		# shellcheck disable=SC2086 # the words are the arguments
		out=$("$fi" $args 2>&1); rc=$?
		[ $rc = 1 ] && [ "$out" = "fiberinfo: the fiber module is not loaded and could not be loaded" ]
		result $? "without the module, 'fiberinfo $args' says so in one line and exits 1 ($out)"
	done
	for t in "reports the ABI version and features" "--json prints one JSON object" \
		"creates no group"; do
		skip "$t" "the fiber module is not loaded (no /dev/fiber)"
	done
	finish
fi

skip "the missing-module message" "the fiber module is loaded"

# Every kernel the VM boots has the events group but Debian 11's 5.10,
# whose generic netlink cannot keep it to CAP_NET_ADMIN (module/compat.h).
events=" events" events_json=', "events"'
[ "${FIBER_VM_KERNEL:-}" = 5.10 ] && events= events_json=

out=$("$fi" 2>&1); rc=$?
[ $rc = 0 ] && [ "$(echo "$out" | wc -l)" = 5 ] &&
	echo "$out" | grep -q '^device:      /dev/fiber (mode 0666, group [^)]*)$' &&
	echo "$out" | grep -q '^abi version: 1 (this tool: 1)$' &&
	echo "$out" | grep -q '^groups:      [0-9][0-9]* open$' &&
	echo "$out" | grep -q '^carriers:    at most [1-9][0-9]* per group$' &&
	echo "$out" | grep -q "^features:    get_info carriers hold delay$events\$"
result $? "reports the device, ABI version, groups, carrier limit and features"

out=$("$fi" --json 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -qx "{\"abi_version\": 1, \"nr_groups\": [0-9][0-9]*, \"max_carriers\": [1-9][0-9]*, \"features\": \\[\"get_info\", \"carriers\", \"hold\", \"delay\"$events_json\\]}"
result $? "--json prints one JSON object"

# Looking creates no group.  Hold one group, and let this user (root) have
# no other: opening /dev/fiber now fails, as the probe shows, so a
# fiberinfo that opened it would fail too.  It must succeed, and count the
# held group without a group of its own.
json_num() {
	echo "$2" | sed -n "s/.*\"$1\": \([0-9][0-9]*\).*/\1/p"
}

if [ ! -x "$fs" ]; then
	skip "creates no group" "no fiberstat beside fiberinfo"
elif [ "$(id -u)" != 0 ]; then
	skip "creates no group" "needs root, to set max_groups_per_user (CAP_SYS_ADMIN)"
else
	sleep 60 3<>/dev/fiber &
	holder=$!
	i=0
	while [ "$(cat /proc/$holder/comm 2>/dev/null)" != sleep ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	st=$("$fs" stats --json)
	old=$(json_num max_groups_per_user "$st")
	groups=$(json_num nr_groups "$st")
	ok=1
	if [ -n "$old" ] && "$fs" set max_groups_per_user 1; then
		if (: 4<>/dev/fiber) 2>/dev/null; then
			echo "# the probe opened /dev/fiber past a limit of 1: the test cannot tell"
		else
			out=$("$fi" --json 2>&1); rc=$?
			[ $rc = 0 ] && [ "$(json_num nr_groups "$out")" = "$groups" ] && ok=0
			echo "# $groups group(s) before; fiberinfo --json: $out"
		fi
		"$fs" set max_groups_per_user "$old" || ok=1
	fi
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null
	result $ok "creates no group: works at the group limit, and counts only the $groups held"
fi

finish
