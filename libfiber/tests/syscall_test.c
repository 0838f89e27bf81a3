// SPDX-License-Identifier: MIT
/*
 * fiber_syscall_enter/exit: a fiber blocked in a system call does not
 * stall the others, even on a single P, because sysmon hands its P to
 * another thread.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <stdatomic.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define WORKERS	100
static _Atomic int finished;
static _Atomic int others_done_before_wake;
static int done_pipe[2];
static int poll_ret, poll_errno, poll_revents;
static long long poll_ms;

/*
 * Blocks in the kernel until the last worker says it finished, or 20 s.
 * Had the sleeper kept the only P, no worker could run: it would wake by
 * its timeout with none finished.  (A fixed sleep instead made the test
 * depend on the machine's speed.)
 */
static void sleeper(void *arg)
{
	struct pollfd pfd = { .fd = done_pipe[0], .events = POLLIN };
	int64_t t0 = fiber_now();

	(void)arg;
	fiber_syscall_enter();
	/*
	 * Without the module, sysmon's retake signal may still catch us
	 * (it saw us in a restartable call just before we entered the
	 * section), and poll() is never restarted: EINTR, as
	 * docs/libfiber.md says ("Which calls, and EINTR").
	 */
	do {
		poll_ret = poll(&pfd, 1, 20000);
		poll_errno = errno;
	} while (poll_ret < 0 && poll_errno == EINTR &&
		 fiber_now() - t0 < 20000000000LL);
	fiber_syscall_exit();
	others_done_before_wake = finished;
	poll_revents = pfd.revents;
	poll_ms = (fiber_now() - t0) / 1000000;
}

static void worker(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 100; i++)
		fiber_yield();
	if (atomic_fetch_add(&finished, 1) + 1 == WORKERS)
		CHECK(write(done_pipe[1], "x", 1) == 1);
}

static int main_one_p(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	CHECK(pipe(done_pipe) == 0);
	CHECK(fiber_go(sleeper, NULL) == 0);
	fiber_yield();		/* let it enter the call */
	for (i = 0; i < WORKERS; i++)
		CHECK(fiber_go(worker, NULL) == 0);
	wait_others();
	CHECK(finished == WORKERS);
	if (others_done_before_wake != WORKERS)
		fprintf(stderr, "the sleeper woke with %d of %d workers done: poll returned %d (%s, revents %#x) after %lld ms\n",
			others_done_before_wake, WORKERS, poll_ret,
			strerror(poll_errno), poll_revents, poll_ms);
	CHECK(others_done_before_wake == WORKERS);
	CHECK(stats_now().handoffs >= 1);
	CHECK(fiber_maxprocs(0) == 1);
	return 0;
}

TEST(blocked_fiber_does_not_stall_a_single_p)
{
	char err[512];

	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_one_p, 1, err,
						     sizeof(err)), 0))
		TH_LOG("stderr: %s", err);
}

/* Many short calls from many fibers: the fast path and the races with
 * sysmon and with other Ms for the P. */
#define CALLERS	32
static _Atomic long calls;

static void caller(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < scaled(2000); i++) {
		fiber_syscall_enter();
		if (i % 100 == 0)
			usleep(50);
		else
			(void)getppid();
		fiber_syscall_exit();
		calls++;
		if (i % 10 == 0)
			fiber_yield();
	}
}

static int main_many_calls(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < CALLERS; i++)
		CHECK(fiber_go(caller, NULL) == 0);
	wait_others();
	CHECK(calls == CALLERS * scaled(2000));
	CHECK(stats_now().syscall == 0);
	return 0;
}

TEST(many_short_calls_on_1_and_4_procs)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_many_calls, 1, NULL,
						     0), 0));
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_many_calls, 4, NULL,
						     0), 0));
}

static void forgets_exit(void *arg)
{
	(void)arg;
	fiber_syscall_enter();
	fiber_syscall_enter();	/* nested: ignored */
	/* fiber_yield ends the section first. */
	fiber_yield();
	CHECK(stats_now().syscall == 0);
	fiber_syscall_exit();	/* not in a call: ignored */
	fiber_syscall_enter();
}	/* exits inside a section: ended for it */

static void enters_syscall(void *arg)
{
	(void)arg;
	fiber_syscall_enter();
}

/* A deferred call that opens a section as the fiber ends. */
static void defers_a_syscall(void *arg)
{
	(void)arg;
	CHECK(fiber_defer(enters_syscall, NULL) == 0);
}

static int main_misuse(int argc, char **argv)
{
	(void)argc, (void)argv;
	fiber_syscall_exit();
	CHECK(fiber_go(defers_a_syscall, NULL) == 0);
	wait_others();
	CHECK(fiber_go(forgets_exit, NULL) == 0);
	wait_others();
	CHECK(fiber_num() == 1);
	return 0;
}

TEST(unbalanced_calls_are_harmless)
{
	/* Outside the runtime, no-ops. */
	fiber_syscall_enter();
	fiber_syscall_exit();
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_misuse, 2, NULL, 0),
				0));
}

TEST_HARNESS_MAIN
