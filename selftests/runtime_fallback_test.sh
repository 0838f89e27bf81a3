#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# libfiber when /dev/fiber is not there, as when the module is not loaded.
# FIBER_KERNEL=auto runs on sysmon's retake and says why; FIBER_KERNEL=on
# refuses to start with a one-line error.  The program run is
# runtime_process_test's exec'd image: one fiber blocks in read() on one P
# while 20 others must finish.  TAP; exit 1 if a case failed, 4 (kselftest's
# skip) if none could run.
#
# The device node is moved away and back rather than the module removed
# and loaded again: each unload turns the preempt-notifier static key off,
# a jump-label patch in __schedule() that has hung QEMU-TCG guests (see
# docs/testing.md), and the run already unloads once at its end.  On a
# host without the module there is nothing to hide: the cases run as they
# are.
here=$(dirname "$0")
prog=$here/runtime_process_test
dev=/dev/fiber
hidden=/dev/.fiber-hidden-by-test
n=0 failed=0

result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}

echo "TAP version 13"
echo "1..3"

hid=0
if [ -e "$dev" ]; then
	if ! err=$(mv "$dev" "$hidden" 2>&1); then
		for t in 1 2 3; do
			echo "ok $t # SKIP cannot hide $dev here: $err"
		done
		exit 4
	fi
	hid=1
fi

out=$(RUNTIME_EXEC_CHILD=1 FIBER_KERNEL=auto FIBER_DEBUG=1 "$prog" 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q '^libfiber: without the module (cannot open /dev/fiber: No such file or directory); sysmon retakes Ps$'
result $? "FIBER_KERNEL=auto without the module: runs on sysmon, and says why"
[ $rc = 0 ] || echo "$out" | sed 's/^/# /'

out=$(RUNTIME_EXEC_CHILD=1 FIBER_KERNEL=on "$prog" 2>&1); rc=$?
[ $rc = 99 ] && [ "$out" = "libfiber: FIBER_KERNEL=on, but cannot open /dev/fiber: No such file or directory" ]
result $? "FIBER_KERNEL=on without the module: a clear error at start"
[ $rc = 99 ] || echo "$out" | sed 's/^/# /'

if [ $hid = 1 ]; then
	mv "$hidden" "$dev"
	result $? "$dev back in place"
else
	n=$((n + 1))
	echo "ok $n - $dev back in place # SKIP there was no $dev to hide"
fi
exit $failed
