#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# fiberstat, as a user runs it: every bad command line, then (with the
# module loaded, as in the VM) the table, show, stats, set, watch and their
# JSON; on a host without the module, the one-line error of each command.
# busybox sh only.  TAP, with the plan at the end.
here=$(dirname "$0")
fs=$here/fiberstat
usage='usage: fiberstat [--json] [show PID | stats | watch [-i SECS] [-n COUNT] | watch --events [-n COUNT] [--timeout SECS] | set KEY VALUE]'
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

# A bad command line gets the usage line alone on stderr, nothing on
# stdout, and exit 2, before the kernel is asked anything.
bad() {
	out=$("$fs" "$@" 2>/dev/null); rc=$?
	err=$("$fs" "$@" 2>&1 >/dev/null)
	[ $rc = 2 ] && [ -z "$out" ] && [ "$err" = "$usage" ]
	result $? "bad command line '$*': the usage line and exit 2"
}

bad --bogus
bad -x
bad bogus
bad show
bad show abc
bad show 0
bad show -1
bad show 12x
bad show 12 13
bad stats extra
bad set
bad set max_carriers
bad set nosuchkey 5
bad set max_carriers abc
bad set max_carriers -1
bad set max_carriers 4294967296
bad set max_carriers 5 6
bad --json set max_carriers 5
bad watch -i
bad watch -i abc
bad watch -i 0
bad watch -n abc
bad watch -n 0
bad watch --bogus
bad watch extra
bad watch --events -i 1
bad watch --timeout 1
bad watch --events --timeout
bad --version stats
bad --help stats
bad stats --version
bad stats --help

# --help: the usage line, then every command and setting, on stdout.
for h in --help -h; do
	out=$("$fs" $h 2>/dev/null); rc=$?
	err=$("$fs" $h 2>&1 >/dev/null)
	ok=0
	for word in show stats watch --events set max_carriers max_groups_per_user \
		events_per_sec --json --version; do
		echo "$out" | grep -q -- "$word" || { ok=1; echo "# $h does not mention $word"; }
	done
	[ $rc = 0 ] && [ -z "$err" ] && [ "$(echo "$out" | head -1)" = "$usage" ] && [ $ok = 0 ]
	result $? "$h prints the usage line and every command on stdout, exit 0"
done

out=$("$fs" --version 2>&1); rc=$?
if [ -f "$version_file" ]; then
	want="fiberstat $(cat "$version_file")"
	[ $rc = 0 ] && [ "$out" = "$want" ]
	result $? "--version prints '$want', from VERSION ($out)"
else
	[ $rc = 0 ] && echo "$out" | grep -qx 'fiberstat [0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*'
	result $? "--version prints 'fiberstat X.Y.Z' (no VERSION file here to compare) ($out)"
fi

if [ -c /dev/full ]; then
	err=$("$fs" --version 2>&1 >/dev/full); rc=$?
	[ $rc = 1 ] && [ "$err" = "fiberstat: writing the output: No space left on device" ]
	result $? "--version into a full disk: one line and exit 1 ($err)"
else
	skip "--version into a full disk" "no /dev/full"
fi

# Numbers for one key of a one-line JSON object.
json_num() {
	echo "$2" | sed -n "s/.*\"$1\": \([0-9][0-9]*\).*/\1/p"
}

if [ ! -e /dev/fiber ]; then
	for args in "" "--json" "stats" "show 1" "set max_carriers 5" "watch --events -n 1"; do
		# shellcheck disable=SC2086 # the words are the arguments
		out=$("$fs" $args 2>&1); rc=$?
		[ $rc = 1 ] && [ "$out" = "fiberstat: the fiber module is not loaded and could not be loaded" ]
		result $? "without the module, 'fiberstat $args' says so in one line and exits 1"
	done
	for t in "the table" "show" "show --json" "show of a pid without a group" \
		"stats" "stats --json" "set" "set out of range" "watch" \
		"watch --json" "watch --events --timeout"; do
		skip "$t" "the fiber module is not loaded (no /dev/fiber)"
	done
	finish
fi

skip "the missing-module message" "the fiber module is loaded"

# A group with no carriers: opening /dev/fiber makes one, owned by the
# process that opened it, here sleep.
sleep 60 3<>/dev/fiber &
owner=$!
# The shell forks, opens, then execs sleep: wait for the exec.
i=0
while [ "$(cat /proc/$owner/comm 2>/dev/null)" != sleep ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done

header='^ *PID COMM  *ID CARRIERS  *RUN  *BLK  *CLM  *WAIT  *PARK  *PEND  *BLOCKS  *CLAIMS  *GRANTS$'
out=$("$fs" 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | head -1 | grep -q "$header" &&
	echo "$out" | grep -q "^ *$owner sleep  *[0-9][0-9]*  *0  *0  *0  *0  *0  *0  *0 "
result $? "the table has its header and a line for the group of pid $owner"

uid=$(id -u)
out=$("$fs" show $owner 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "^group [0-9][0-9]*: pid $owner (sleep) uid $uid$" &&
	echo "$out" | grep -q '^  config:   max_carriers [0-9][0-9]*, handoff_delay_ns [0-9][0-9]*, hold_on_wake [01]$' &&
	echo "$out" | grep -q '^  carriers: 0 (running 0, blocked 0, claimed 0, waiting 0, parked 0), 0 events pending$' &&
	echo "$out" | grep -q '^  counters: blocks 0, notifications 0, claims 0, holds 0, grants 0, wakeups 0, park_timeouts 0$' &&
	echo "$out" | grep -q '^   SLOT     TID STATE'
result $? "show PID prints the group's settings, states and counters"

out=$("$fs" show $owner --json 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "^{\"groups\": \[{\"id\": [0-9][0-9]*, \"pid\": $owner, \"comm\": \"sleep\", \"uid\": $uid, \"dead\": false, \"max_carriers\": [0-9][0-9]*, \"handoff_delay_ns\": [0-9][0-9]*, \"hold_on_wake\": [01], \"nr_carriers\": 0, \"states\": {\"running\": 0, \"blocked\": 0, \"claimed\": 0, \"waiting\": 0, \"parked\": 0}, \"nr_pending\": 0, \"counters\": {\"blocks\": 0, \"notifications\": 0, \"claims\": 0, \"holds\": 0, \"grants\": 0, \"wakeups\": 0, \"park_timeouts\": 0}, \"carriers\": \[\]}\]}$"
result $? "show PID --json prints one object with an empty carriers array"

out=$("$fs" --json 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q '^{"groups": \[.*\]}$' &&
	echo "$out" | grep -q "\"pid\": $owner, \"comm\": \"sleep\"" &&
	! echo "$out" | grep -q '"carriers"'
result $? "--json lists the groups without carriers"

# This shell has no group: the kernel says so, and fiberstat passes it on.
out=$("$fs" show $$ 2>&1); rc=$?
[ $rc = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q '^fiberstat: .*no fiber group'
result $? "show of a pid without a group: the kernel's message and exit 1 ($out)"

kill $owner 2>/dev/null
wait $owner 2>/dev/null

out=$("$fs" stats 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q '^abi version:          1$' &&
	echo "$out" | grep -q '^max_groups_per_user:  [1-9][0-9]*$' &&
	[ "$(echo "$out" | wc -l)" = 15 ]
result $? "stats prints the totals and settings"

json=$("$fs" stats --json 2>&1); rc=$?
c='"blocks": [0-9]*, "notifications": [0-9]*, "claims": [0-9]*, "holds": [0-9]*, "grants": [0-9]*, "wakeups": [0-9]*, "park_timeouts": [0-9]*'
[ $rc = 0 ] && echo "$json" | grep -q "^{\"abi_version\": 1, \"nr_groups\": [0-9]*, \"nr_carriers\": [0-9]*, \"counters\": {$c}, \"events_sent\": [0-9]*, \"events_dropped\": [0-9]*, \"max_carriers\": [1-9][0-9]*, \"max_groups_per_user\": [1-9][0-9]*, \"events_per_sec\": [1-9][0-9]*}$"
result $? "stats --json prints one object of the documented shape"

old=$(json_num max_groups_per_user "$json")
new=$((old + 7))
if [ "$uid" = 0 ]; then
	"$fs" set max_groups_per_user $new && now=$(json_num max_groups_per_user "$("$fs" --json stats)") &&
		[ "$now" = $new ] && "$fs" set max_groups_per_user "$old" &&
		now=$(json_num max_groups_per_user "$("$fs" stats --json)") && [ "$now" = "$old" ]
	result $? "set max_groups_per_user $new as root, then back to $old, as stats shows"
else
	skip "set" "needs root (CAP_SYS_ADMIN)"
fi

# The family's policy checks the range before the command checks
# CAP_SYS_ADMIN: anyone gets the kernel's range message.
out=$("$fs" set max_groups_per_user 0 2>&1); rc=$?
now=$(json_num max_groups_per_user "$("$fs" stats --json)")
[ $rc = 1 ] && echo "$out" | grep -q '^fiberstat: .*range' && [ "$now" = "$old" ]
result $? "set out of range: the kernel's message, exit 1, nothing changed ($out)"

out=$("$fs" watch -i 0.1 -n 3 2>&1); rc=$?
[ $rc = 0 ] && [ "$(echo "$out" | grep -c "$header")" = 3 ] &&
	! echo "$out" | grep -q "$(printf '\033')"
result $? "watch -n 3 refreshes three times, without escapes into a pipe"

out=$("$fs" watch --json -n 2 -i 0.1 2>&1); rc=$?
[ $rc = 0 ] && [ "$(echo "$out" | grep -c '^{"groups": \[.*\]}$')" = 2 ] &&
	[ "$(echo "$out" | wc -l)" = 2 ]
result $? "watch --json prints one object per refresh"

# Nobody blocks now (no carriers), so nothing comes.  A kernel that cannot
# keep the events group to CAP_NET_ADMIN has none (fiberinfo's features).
out=$("$fs" watch --events -n 1 --timeout 1 2>&1); rc=$?
if ! "$here/fiberinfo" | grep -q '^features:.* events'; then
	[ $rc = 1 ] && [ "$out" = 'fiberstat: the fiber module has no "events" multicast group' ]
	result $? "watch --events without an events group: one line and exit 1 ($out)"
elif [ "$uid" != 0 ]; then
	skip "watch --events --timeout" "needs root, to listen to the events group (CAP_NET_ADMIN)"
else
	[ $rc = 1 ] && [ "$out" = "fiberstat: no event within 1 s" ]
	result $? "watch --events --timeout gives up with one line and exit 1"
fi

finish
