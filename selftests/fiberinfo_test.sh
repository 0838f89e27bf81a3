#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fiberinfo, as a user runs it.  Inside the VM (module loaded) it checks the
# output; on a host without the module it checks the error path.  TAP.
here=$(dirname "$0")
fi=$here/fiberinfo
n=0 failed=0

result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

echo "TAP version 13"
echo "1..4"

out=$("$fi" --bogus 2>&1); rc=$?
[ $rc = 2 ] && [ "$out" = "usage: fiberinfo [--json]" ]
result $? "a bad argument prints the usage line and exits 2"

if [ -e /dev/fiber ]; then
	out=$("$fi" 2>&1); rc=$?
	[ $rc = 0 ] && echo "$out" | grep -q '^abi version: 1 ' &&
		echo "$out" | grep -q '^features:    get_info carriers hold delay$'
	result $? "reports the ABI version and features"

	out=$("$fi" --json 2>&1); rc=$?
	[ $rc = 0 ] && echo "$out" | grep -q '^{"abi_version": 1, "nr_groups": [1-9][0-9]*, "max_carriers": [1-9][0-9]*, "features": \["get_info", "carriers", "hold", "delay"\]}$'
	result $? "--json prints one JSON object"
	echo "ok 4 - the missing-module message # SKIP the module is loaded"
else
	echo "ok 2 - reports the ABI version and features # SKIP no /dev/fiber"
	echo "ok 3 - --json prints one JSON object # SKIP no /dev/fiber"
	n=3
	out=$("$fi" 2>&1); rc=$?
	[ $rc = 1 ] && [ "$out" = "fiberinfo: the fiber module is not loaded (/dev/fiber is missing)" ]
	result $? "without the module: one clear line and exit 1"
fi
exit $failed
