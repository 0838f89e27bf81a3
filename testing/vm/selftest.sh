#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Self-test of the VM runner: a runner that passes everything is worse than
# none, so prove that each kind of failure fails the run.  Prints TAP.
#
#   selftest.sh --judge   crafted guest reports fed to the judge, and the
#                         host runner's limits (no VM)
#   selftest.sh --vm [KERNEL...]
#                         deliberately broken modules booted for real: one
#                         that warns (on 6.1), one that leaks (on debug),
#                         one that nests a spinlock_t in a raw spinlock
#                         (on rt-debug, only if named); with KERNELs, only
#                         those that are named
set -uo pipefail
. "$(dirname "$0")/lib.sh"

judge=$FIBER_ROOT/testing/vm/judge
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# guest_report: the steps on stdin, inside what a clean run reports
# around them (the guest started, the module in and out, no taint).
guest_report() {
	printf '%s\n' 'fiber-vm: start 6.1.0-test' 'fiber-vm: insmod 0'
	cat
	printf '%s\n' 'fiber-vm: rmmod 0' 'fiber-vm: tainted 12288' \
		'fiber-vm: dmesg [    1.000000] fiber: /dev/fiber ready, ABI 1' \
		'fiber-vm: done'
}

# A report as a clean run of one program with two passing cases writes it.
clean_report() {
	guest_report <<-'EOF'
	fiber-vm: step-begin demo_test
	TAP version 13
	1..2
	ok 1 dev.first
	ok 2 dev.second
	fiber-vm: step-end demo_test 0
	EOF
}

# The same with the programs run by the installed kselftest tree, as
# make check runs them: run_kselftest.sh as the step "kselftest", its TAP
# with one result per program and each program's TAP behind "# " (a
# program that skipped as a whole, one whose every case skipped, a
# script with its plan at the end).
runner_report() {
	guest_report <<-'EOF'
	fiber-vm: step-begin kselftest
	TAP version 13
	1..4
	# selftests: fiber: demo_test
	# TAP version 13
	# 1..2
	# ok 1 dev.first
	# # time: 0.250 s of 30 s: dev.first
	# ok 2 dev.second
	ok 1 selftests: fiber: demo_test
	# selftests: fiber: absent_test
	# TAP version 13
	# 1..0 # SKIP /dev/fiber missing: the fiber module is not loaded
	ok 2 selftests: fiber: absent_test # SKIP
	# selftests: fiber: root_test
	# TAP version 13
	# 1..1
	# ok 1 # SKIP needs root
	ok 3 selftests: fiber: root_test # SKIP
	# selftests: fiber: script_test.sh
	# TAP version 13
	# ok 1 - a script case
	# 1..1
	ok 4 selftests: fiber: script_test.sh
	fiber-vm: step-end kselftest 0 20.5 600
	EOF
}

# expect_judge DEBUG DESCRIPTION FAILURE SED_EXPRESSION [CONSOLE_TEXT]:
# judge the clean report (REPORT=runner_report: that one) edited by
# SED_EXPRESSION.  With FAILURE empty the
# judge must pass it; otherwise it must fail it on exactly one "not ok" line
# (with MANY=1 in the environment: on at least one), and that line must
# contain FAILURE, so that it fails for the right reason.
expect_judge() {
	local debug=$1 desc=$2 failure=$3 edit=$4 console=${5:-} got=0 ok=0
	local nfail
	"${REPORT:-clean_report}" | sed "$edit" > "$tmp/report"
	printf '%s\n' "$console" > "$tmp/console"
	FIBER_VM_KERNEL=selftest FIBER_VM_DEBUG=$debug \
		FIBER_VM_KCSAN=${KCSAN:-0} FIBER_VM_SETUP=${SETUP:-0} \
		FIBER_VM_SMP=${SMP:-} \
		"$judge" "$tmp/report" "$tmp/console" > "$tmp/tap" || got=$?
	if [ -z "$failure" ]; then
		[ "$got" = 0 ] && ok=1
	else
		nfail=$(grep -c "^not ok" "$tmp/tap")
		[ "$got" = 1 ] && grep "^not ok" "$tmp/tap" | grep -qF "$failure" &&
			{ [ "$nfail" = 1 ] || [ "${MANY:-0}" = 1 ]; } && ok=1
	fi
	tap_result "$ok" "judge: $desc" "$(cat "$tmp/tap")"
}

# What a failed case printed (the harness's assertion message) must stand
# right above its result, where tap-summary and a reader of CI look for it;
# what a passed case printed must not.
expect_judge_explains() {
	local ok=0
	clean_report | sed -e 's/^ok 1 /# demo.c:5:first:all is well\n&/' \
		-e 's/^ok 2 /# demo.c:7:second:Expected 1 (1) == x (0)\nnot ok 2 /' \
		> "$tmp/report"
	: > "$tmp/console"
	FIBER_VM_KERNEL=selftest "$judge" "$tmp/report" "$tmp/console" > "$tmp/tap"
	grep -B1 '^not ok .*dev.second' "$tmp/tap" | grep -q 'Expected 1' &&
		! grep -q 'all is well' "$tmp/tap" && ok=1
	tap_result "$ok" "judge: a failed case's own output stands above its result" \
		"$(cat "$tmp/tap")"
}

# Run times reach the TAP, named by program and case, for testing/tap-times.
expect_judge_times() {
	local ok=0
	clean_report | sed -e 's/^ok 1 dev.first/&\n# time: 0.250 s of 30 s: dev.first/' \
		-e 's/step-end demo_test 0/& 12.5 300/' > "$tmp/report"
	: > "$tmp/console"
	FIBER_VM_KERNEL=selftest "$judge" "$tmp/report" "$tmp/console" > "$tmp/tap"
	grep -qxF '# time: 0.250 s of 30 s: demo_test: dev.first' "$tmp/tap" &&
		grep -qxF '# time: 12.500 s of 300 s: demo_test (whole program)' "$tmp/tap" &&
		"$FIBER_ROOT/testing/tap-times" "$tmp/tap" | grep -q ' 4%  .* 12.5 s of  300 s  tap: demo_test (whole program)$' &&
		ok=1
	tap_result "$ok" "judge: run times of a program and its cases reach the TAP" \
		"$(cat "$tmp/tap"; "$FIBER_ROOT/testing/tap-times" "$tmp/tap")"
}

# The results under run_kselftest.sh are named by program, skips say why,
# and each case's run time reaches the TAP.
expect_judge_runner_names() {
	local ok=0
	runner_report > "$tmp/report"
	: > "$tmp/console"
	FIBER_VM_KERNEL=selftest "$judge" "$tmp/report" "$tmp/console" > "$tmp/tap"
	grep -q '^ok [0-9]* - selftest: demo_test: dev.second$' "$tmp/tap" &&
		grep -q '^ok [0-9]* - selftest: absent_test: ran to completion # SKIP /dev/fiber missing: the fiber module is not loaded$' "$tmp/tap" &&
		grep -q '^ok [0-9]* - selftest: root_test: ran to completion # SKIP every case skipped$' "$tmp/tap" &&
		grep -q '^ok [0-9]* - selftest: script_test.sh: a script case$' "$tmp/tap" &&
		grep -qxF '# time: 0.250 s of 30 s: demo_test: dev.first' "$tmp/tap" &&
		grep -q '^ok [0-9]* - selftest: kselftest: run_kselftest.sh ran every test$' "$tmp/tap" &&
		grep -qx '# selftest: [0-9]* passed, 0 failed, 3 skipped' "$tmp/tap" && ok=1
	tap_result "$ok" "judge: results under run_kselftest.sh are named by test, skips say why" \
		"$(cat "$tmp/tap")"
}

# setup_steps RESULT RC RESULT RC: a sed expression that adds the steps of
# a guest setup to the report, setup-start after the insmod and setup-stop
# after the rmmod, each with one result ("ok" or "not ok") and an exit
# status.
setup_steps() {
	printf 's/^fiber-vm: insmod 0/&\\nfiber-vm: step-begin setup-start\\n1..1\\n%s 1 scheduler attached\\nfiber-vm: step-end setup-start %s/;' "$1" "$2"
	printf 's/^fiber-vm: rmmod 0/&\\nfiber-vm: step-begin setup-stop\\n1..1\\n%s 1 scheduler still attached\\nfiber-vm: step-end setup-stop %s/' "$3" "$4"
}

judge_tests() {
	# a sed expression that adds a kernel log line to the report
	local dmesg='s/^fiber-vm: done/fiber-vm: dmesg %s\\n&/'
	local cut='ran to completion'

	# The positive control: without it the failures below prove nothing.
	expect_judge 0 "a clean run passes" "" ''
	expect_judge 1 "a clean debug run with no kmemleak report passes" "" ''
	MANY=1 expect_judge 0 "a missing report fails" "guest started" '1,$d'
	MANY=1 expect_judge 0 "a report cut short fails" "report complete" '/rmmod/,$d'
	expect_judge 0 "a failed test case fails" "dev.second" 's/^ok 2 /not ok 2 /'
	expect_judge_explains
	expect_judge_times
	# The installed kselftest tree's runner, as make check runs it.
	REPORT=runner_report expect_judge 0 "run_kselftest.sh's clean run passes" "" ''
	expect_judge_runner_names
	REPORT=runner_report expect_judge 0 "a failed case under run_kselftest.sh fails" "demo_test: dev.second" \
		's/^# ok 2 dev.second/# not ok 2 dev.second/; s/^ok 1 selftests: fiber: demo_test$/not ok 1 selftests: fiber: demo_test # exit=1/'
	REPORT=runner_report expect_judge 0 "a test run_kselftest.sh timed out fails" "script_test.sh: ran to completion (killed: timeout)" \
		's/^ok 4 selftests: fiber: script_test.sh$/#\nnot ok 4 selftests: fiber: script_test.sh # TIMEOUT 400 seconds/'
	REPORT=runner_report expect_judge 0 "a test failing with every case passed fails" "demo_test: $cut (exit 1" \
		's/^ok 1 selftests: fiber: demo_test$/not ok 1 selftests: fiber: demo_test # exit=1/'
	REPORT=runner_report expect_judge 0 "a skip of a test that passed a case fails" "root_test: $cut (exit 4" \
		's/^# ok 1 # SKIP needs root/# ok 1 dev.ran/'
	REPORT=runner_report expect_judge 0 "a test run_kselftest.sh never reached fails" "3 of 4 tests" \
		'/^# selftests: fiber: script_test.sh/,/^ok 4 /d'
	REPORT=runner_report expect_judge 0 "a test cut short under run_kselftest.sh fails" "script_test.sh: $cut" \
		'/^ok 4 /d'
	# A libfiber step (fiber-vm --libfiber) must have moved the module's
	# totals of blocks and wake-ups, or it ran on the fallback.
	expect_judge 0 "a libfiber step that used fiber.ko passes" "" \
		's/^fiber-vm: step-end demo_test 0/fiber-vm: module-use demo_test 10 20 15 22\n&/'
	expect_judge 0 "a libfiber step that never used fiber.ko fails" "ran on fiber.ko (0 blocks, 0 wake-ups)" \
		's/^fiber-vm: step-end demo_test 0/fiber-vm: module-use demo_test 10 20 10 20\n&/'
	expect_judge 0 "a libfiber step whose every case skipped skips that check" "" \
		's/^ok \([12]\) .*/ok \1 # SKIP fallback only/; s/^fiber-vm: step-end demo_test 0/fiber-vm: module-use demo_test 10 20 10 20\n&/'
	expect_judge 0 "a program killed by the timeout fails" "timeout" \
		's/step-end demo_test 0/step-end demo_test 137/'
	expect_judge 0 "fewer results than planned fails" "1 of 2 planned" '/^ok 2 /d'
	expect_judge 0 "a non-zero exit with every case passing fails" "$cut" \
		's/step-end demo_test 0/step-end demo_test 3/'
	# Exit 4, kselftest's skip, is a program's own word that it tested
	# nothing here: every case skipped, or none could start.
	expect_judge 0 "exit 4 with every case skipped passes" "" \
		's/^ok \([12]\) .*/ok \1 # SKIP no such feature/; s/step-end demo_test 0/step-end demo_test 4/'
	expect_judge 0 "exit 4 with a plan of 1..0 # SKIP passes" "" \
		's/^1\.\.2/1..0 # SKIP \/dev\/fiber: no such file/; /^ok /d; s/step-end demo_test 0/step-end demo_test 4/'
	expect_judge 0 "exit 4 after a passed case fails" "$cut" \
		's/^ok 2 .*/ok 2 # SKIP no such feature/; s/step-end demo_test 0/step-end demo_test 4/'
	expect_judge 0 "a program with no TAP output fails" "no TAP output" \
		'/^TAP/,/^ok 2/d'
	SMP=2 expect_judge 0 "a guest with every vCPU online passes" "" \
		's/^fiber-vm: insmod 0/&\nfiber-vm: cpus 2/'
	SMP=2 expect_judge 0 "a guest that found fewer CPUs than its vCPUs fails" "1 online of 2" \
		's/^fiber-vm: insmod 0/&\nfiber-vm: cpus 1/'
	SMP=2 expect_judge 0 "a guest that never said how many CPUs it had fails" "no report" ''
	expect_judge 0 "insmod failing fails" "inserted" 's/insmod 0/insmod 1/'
	expect_judge 0 "rmmod failing fails" "removed" 's/rmmod 0/rmmod 1/'
	expect_judge 0 "a WARNING in dmesg fails" "kernel log" \
		"$(printf "$dmesg" 'WARNING: CPU: 0 PID: 1 at module\/device.c:42')"
	expect_judge 0 "a lockdep report in dmesg fails" "kernel log" \
		"$(printf "$dmesg" 'WARNING: possible circular locking dependency detected')"
	expect_judge 0 "a KASAN report in dmesg fails" "kernel log" \
		"$(printf "$dmesg" 'BUG: KASAN: slab-use-after-free in fiber_ioctl')"
	expect_judge 0 "an RCU stall in dmesg fails" "kernel log" \
		"$(printf "$dmesg" 'rcu: INFO: rcu_preempt detected stalls on CPUs\/tasks:')"
	expect_judge 0 "an Oops seen only on the console fails" "kernel log" '' \
		'[    2.000000] Oops: 0002 [#1] PREEMPT SMP'
	expect_judge 0 "an arm64 stack dump in dmesg fails" "kernel log" \
		"$(printf "$dmesg" 'Call trace:')"
	expect_judge 0 "taint W (a warning happened) fails" "tainted=12800" \
		's/tainted 12288/tainted 12800/'
	expect_judge 0 "an unreadable taint fails" "tainted=unknown" \
		's/tainted 12288/tainted garbage/'
	expect_judge 1 "a kmemleak report fails on a debug kernel" "1 leaks" \
		's/^fiber-vm: done/fiber-vm: kmemleak unreferenced object 0xffff888003a1b200 (size 128):\n&/'
	expect_judge 1 "a kmemleak report of a process's object fails" "1 leaks" \
		's/^fiber-vm: done/fiber-vm: kmemleak unreferenced object 0xffff888003a1b200 (size 128):\nfiber-vm: kmemleak   comm "insmod", pid 93, jiffies 4294937296\nfiber-vm: kmemleak   backtrace:\nfiber-vm: kmemleak     [<ffffffff8128ba99>] kmem_cache_alloc+0xf0\/0x11c\nfiber-vm: dmesg [ 300.1] kmemleak: 1 new suspected memory leaks (see \/sys\/kernel\/debug\/kmemleak)\n&/'
	expect_judge 1 "a kmemleak report of an object from boot (pid 0) passes" "" \
		's/^fiber-vm: done/fiber-vm: kmemleak unreferenced object 0xffff88800014dcc0 (size 216):\nfiber-vm: kmemleak   comm "swapper\/0", pid 0, jiffies 4294892296\nfiber-vm: kmemleak   backtrace:\nfiber-vm: kmemleak     [<ffffffff813ac14c>] acpi_ut_init_globals+0xb\/0x4c8\nfiber-vm: dmesg [ 300.1] kmemleak: 1 new suspected memory leaks (see \/sys\/kernel\/debug\/kmemleak)\n&/'
	expect_judge 1 "kmemleak missing on a debug kernel fails" "unavailable" \
		's/^fiber-vm: done/fiber-vm: kmemleak-missing\n&/'
	# A kernel definition's guest setup (sid-scx's sched_ext scheduler)
	# runs as the steps setup-start and setup-stop, which the judge
	# requires: one that failed, or never ran, fails the run.
	SETUP=1 expect_judge 0 "a run whose guest setup passed passes" "" \
		"$(setup_steps ok 0 ok 0)"
	SETUP=1 expect_judge 0 "a run without its guest setup fails" "guest setup ran" ''
	SETUP=1 expect_judge 0 "a guest setup that failed fails" "setup-start: scheduler attached" \
		"$(setup_steps "not ok" 1 ok 0)"
	SETUP=1 expect_judge 0 "a guest setup whose end check failed fails" \
		"setup-stop: scheduler still attached" "$(setup_steps ok 0 "not ok" 1)"
	# On the KCSAN kernel a data race in the core kernel alone is only
	# counted; one whose stack names fiber.ko fails.
	local sep='fiber-vm: dmesg =================================================='
	KCSAN=1 expect_judge 1 "a KCSAN report of the core kernel alone passes" "" \
		"s/^fiber-vm: done/$sep\nfiber-vm: dmesg BUG: KCSAN: data-race in tick_sched_do_timer \/ tick_nohz_next_event\nfiber-vm: dmesg  tick_sched_do_timer+0x1c\/0x90\n$sep\n&/"
	KCSAN=1 expect_judge 1 "a KCSAN report that touches fiber.ko fails" "kernel log" \
		"s/^fiber-vm: done/$sep\nfiber-vm: dmesg BUG: KCSAN: data-race in fiber_sched_in \/ fiber_ioctl_wake\nfiber-vm: dmesg write to 0xffff88803f967d28 of 8 bytes by task 94 on cpu 0:\nfiber-vm: dmesg  fiber_sched_in+0x1c\/0x90 [fiber]\n$sep\n&/"
	KCSAN=1 expect_judge 1 "a KCSAN race of the core kernel under a call from fiber.ko passes" "" \
		"s/^fiber-vm: done/$sep\nfiber-vm: dmesg BUG: KCSAN: data-race in hrtimer_wakeup \/ schedule_hrtimeout_range_clock\nfiber-vm: dmesg read to 0xffff88803f967d28 of 8 bytes by task 94 on cpu 0:\nfiber-vm: dmesg  schedule_hrtimeout_range_clock+0xd4\/0x142\nfiber-vm: dmesg  fiber_park_common+0x4f5\/0x75a [fiber]\n$sep\n&/"
}

# The host runner (run_tap_into) stops a program that outlives its limit
# and fails it for that; a program within its limit passes.
limit_tests() {
	local ok=0 start
	mkdir -p "$tmp/runner"
	start=$SECONDS
	run_tap_into "$tmp/runner" hangs 1 sleep 60 2> /dev/null
	grep -q '^not ok .*hangs killed: still running after its limit of 1 s' \
		"$tmp/runner/hangs.tap" && [ $((SECONDS - start)) -lt 30 ] && ok=1
	tap_result "$ok" "runner: a host program past its limit is stopped and fails" \
		"$(cat "$tmp/runner/hangs.tap")"
	ok=0
	run_tap_into "$tmp/runner" quick 60 sh -c 'echo "ok 1 - quick"; echo 1..1' 2> /dev/null
	! grep -q '^not ok' "$tmp/runner/quick.tap" &&
		grep -q '^# time: [0-9.]* s of 60 s: (whole program)$' "$tmp/runner/quick.tap" && ok=1
	tap_result "$ok" "runner: a host program within its limit passes, with its run time" \
		"$(cat "$tmp/runner/quick.tap")"
	ok=0
	run_tap_into "$tmp/runner" skips 60 sh -c 'echo "ok 1 - a # SKIP why"; echo 1..1; exit 4' 2> /dev/null
	! grep -q '^not ok' "$tmp/runner/skips.tap" && ok=1
	tap_result "$ok" "runner: a host program whose every case skipped may exit 4" \
		"$(cat "$tmp/runner/skips.tap")"
	ok=0
	run_tap_into "$tmp/runner" passes 60 sh -c 'echo "ok 1 - a"; echo 1..1; exit 4' 2> /dev/null
	grep -q '^not ok .*passes exited with status 4' "$tmp/runner/passes.tap" && ok=1
	tap_result "$ok" "runner: exit 4 after a passed case fails" \
		"$(cat "$tmp/runner/passes.tap")"
}

# expect_vm_failure KERNEL MAKEVAR PATTERN DESCRIPTION: boot KERNEL with a
# module built with MAKEVAR=y; the run must fail and its TAP must have a
# failed line matching PATTERN.
expect_vm_failure() {
	local kernel=$1 var=$2 pattern=$3 desc=$4 got=0
	"$FIBER_ROOT/testing/vm/fiber-vm" -k "$kernel" -D "$var=y" \
		-o "$FIBER_BUILD/vm/selftest-$kernel" -t "$tmp/vm.tap" \
		info_test > /dev/null 2> "$tmp/vm.err" || got=$?
	if [ "$got" = 1 ] && grep -q "^not ok .*$pattern" "$tmp/vm.tap"; then
		tap_result 1 "runner: $desc"
	else
		tap_result 0 "runner: $desc (exit $got)" \
			"$(cat "$tmp/vm.err" "$tmp/vm.tap" 2>/dev/null | tail -30)"
	fi
}

# A guest that dies before its first report is booted once more (QEMU's
# TCG flakes at boot), and fails if it dies again: no init to run here.
expect_boot_retry() {
	local got=0 desc="a guest that dies at boot is booted once more, and fails"
	"$FIBER_ROOT/testing/vm/fiber-vm" -k 6.1 --append rdinit=/nonexistent \
		-o "$FIBER_BUILD/vm/selftest-boot" -t "$tmp/vm.tap" \
		info_test > /dev/null 2> "$tmp/vm.err" || got=$?
	if [ "$got" = 1 ] && grep -q "^not ok .*guest started" "$tmp/vm.tap" &&
	   grep -q "^# booted twice: .*Kernel panic" "$tmp/vm.tap" &&
	   grep -q "booting once more" "$tmp/vm.err"; then
		tap_result 1 "runner: $desc"
	else
		tap_result 0 "runner: $desc (exit $got)" \
			"$(cat "$tmp/vm.err" "$tmp/vm.tap" 2>/dev/null | tail -30)"
	fi
}

vm_tests() {
	local only=" ${*:-6.1 debug} "

	[[ $only = *" 6.1 "* ]] &&
		expect_vm_failure 6.1 FIBER_RUNNER_SELFTEST_WARN "kernel log free of" \
			"a module that WARNs in its ioctl fails the 6.1 run"
	[[ $only = *" 6.1 "* ]] && expect_boot_retry
	[[ $only = *" debug "* ]] &&
		expect_vm_failure debug FIBER_RUNNER_SELFTEST_LEAK "kmemleak" \
			"a module that leaks in its ioctl fails the debug-kernel run"
	# Only when asked for: make check's default kernels do not build it.
	[[ $only = *" rt-debug "* ]] &&
		expect_vm_failure rt-debug FIBER_RUNNER_SELFTEST_RAW_NESTING \
			"kernel log free of" \
			"a module that nests a spinlock_t in a raw spinlock fails the rt-debug run"
	[ "$tap_n" -gt 0 ] || echo "ok 1 - runner self-test # SKIP needs kernel 6.1, debug or rt-debug"
}

case ${1:-} in
--judge) judge_tests; limit_tests ;;
--vm) shift; vm_tests "$@" ;;
*) echo "usage: $0 --judge|--vm" >&2; exit 2 ;;
esac
tap_plan
