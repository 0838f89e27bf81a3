// SPDX-License-Identifier: MIT
/*
 * fiber_lock_thread: a locked fiber stays on its thread, its thread runs
 * nothing else, nesting is counted, and exiting while locked ends the
 * thread.
 */
#include <dirent.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

static pid_t gettid_now(void)
{
	return (pid_t)syscall(SYS_gettid);
}

#define LOCKED	4
#define ROUNDS	500

static _Atomic pid_t locked_tids[LOCKED];
static _Atomic int locked_left;

static void locked_fiber(void *arg)
{
	long i = (long)arg;
	pid_t tid;
	int r;

	fiber_lock_thread();
	tid = gettid_now();
	locked_tids[i] = tid;
	for (r = 0; r < scaled(ROUNDS); r++) {
		fiber_yield();
		CHECK(gettid_now() == tid);
	}
	locked_tids[i] = 0;
	fiber_unlock_thread();
	locked_left--;
}

static void free_fiber(void *arg)
{
	int r, i;

	(void)arg;
	for (r = 0; r < scaled(ROUNDS); r++) {
		/* Never on a thread a locked fiber owns. */
		for (i = 0; i < LOCKED; i++)
			CHECK(locked_tids[i] != gettid_now());
		fiber_yield();
	}
}

static int main_locked(int argc, char **argv)
{
	long i;

	(void)argc, (void)argv;
	locked_left = LOCKED;
	for (i = 0; i < LOCKED; i++)
		CHECK(fiber_go(locked_fiber, (void *)i) == 0);
	for (i = 0; i < 16; i++)
		CHECK(fiber_go(free_fiber, NULL) == 0);
	wait_others();
	CHECK(locked_left == 0);
	return 0;
}

TEST(locked_fibers_never_migrate_and_own_their_thread)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_locked, 4, NULL, 0),
				0));
}

static int main_nesting(int argc, char **argv)
{
	(void)argc, (void)argv;
	fiber_unlock_thread();	/* not locked: ignored */
	fiber_lock_thread();
	fiber_lock_thread();
	CHECK(stats_now().threads_locked == 1);
	fiber_unlock_thread();
	CHECK(stats_now().threads_locked == 1);
	fiber_unlock_thread();
	CHECK(stats_now().threads_locked == 0);
	fiber_unlock_thread();
	CHECK(stats_now().threads_locked == 0);
	return 0;
}

TEST(nesting_is_counted)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_nesting, 2, NULL, 0),
				0));
}

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	CHECK(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static _Atomic pid_t exited_tid;

static void exits_locked(void *arg)
{
	(void)arg;
	fiber_lock_thread();
	exited_tid = gettid_now();
}

static int main_exit_locked(int argc, char **argv)
{
	char path[64];
	int i;

	(void)argc, (void)argv;
	CHECK(fiber_go(exits_locked, NULL) == 0);
	wait_others();
	CHECK(exited_tid != 0);
	/* The thread goes away (unless it was the main thread). */
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)exited_tid);
	if (exited_tid == getpid())
		return 0;
	for (i = 0; i < 1000 && access(path, F_OK) == 0; i++)
		usleep(1000);
	CHECK(access(path, F_OK) != 0);
	CHECK(count_threads() >= 2);
	/* The runtime still works: more fibers run. */
	CHECK(fiber_go(exits_locked, NULL) == 0);
	wait_others();
	return 0;
}

TEST(exiting_while_locked_takes_the_thread_along)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_exit_locked, 2, NULL,
						     0), 0));
}

/*
 * The program ends while the threads of locked fibers that just exited are
 * still ending.  A thread that ended with pthread_exit() unwound its stack,
 * which in a statically linked program reads the unwind tables through a
 * registry that exit() empties: such a thread, caught between, made glibc
 * abort the whole program (SIGABRT, and not a word).  On libfiber.so the
 * tables are found another way; the aarch64 build, static, shows it.
 */
#define ENDERS	8

static void exits_locked_now(void *arg)
{
	(void)arg;
	fiber_lock_thread();
}

/* Each run: end_rounds times, ENDERS locked fibers exit, then main returns. */
static int end_rounds;

static int main_exit_while_threads_end(int argc, char **argv)
{
	int i, j;

	(void)argc, (void)argv;
	for (j = 0; j < end_rounds; j++) {
		for (i = 0; i < ENDERS; i++)
			CHECK(fiber_go(exits_locked_now, NULL) == 0);
		wait_others();
	}
	return 0;
}

/* @runs programs of @rounds rounds each must all exit 0. */
static void expect_clean_ends(struct __test_metadata *_metadata, int runs,
			      int rounds)
{
	char err[2048] = "";
	int i, status = 0;

	end_rounds = rounds;
	for (i = 0; i < runs; i++) {
		status = run_fiber_main_procs(main_exit_while_threads_end, 2,
					      err, sizeof(err));
		if (!exited_with(status, 0))
			break;
	}
	EXPECT_TRUE(exited_with(status, 0))
		TH_LOG("run %d: wait status %#x: %s", i, status, err);
}

TEST(the_program_ends_while_threads_of_locked_fibers_end)
{
	expect_clean_ends(_metadata, scaled(40), 1);
}

/*
 * The same end, with every wake-up of an M late: m_wake() sets the M's
 * key, then waits FIBER_TEST_WAKE_DELAY before its FIBER_IOC_WAKE.  An M
 * out of its park meanwhile sees the key, takes the P, runs a locked
 * fiber and ends with it; its slot must stay until the late wake-up has
 * landed (kernel_unregister_m), else the waker's WAKE finds no carrier
 * and the program dies of it ("FIBER_IOC_WAKE of M2: No such process",
 * exit 2).  Without the module wake-ups go through futexes, and this
 * is the case above, slower.
 */
TEST(an_m_may_end_before_a_late_wake_up_lands)
{
	setenv("FIBER_TEST_WAKE_DELAY", "2ms", 1);
	expect_clean_ends(_metadata, scaled(20), 4);
	unsetenv("FIBER_TEST_WAKE_DELAY");
}

static int main_locks_main(int argc, char **argv)
{
	pid_t tid;
	int i;

	(void)argc, (void)argv;
	fiber_lock_thread();
	tid = gettid_now();
	for (i = 0; i < 100; i++) {
		CHECK(fiber_go(free_fiber, NULL) == 0);
		fiber_yield();
		CHECK(gettid_now() == tid);
	}
	wait_others();
	return 0;
}

TEST(locked_main_on_one_proc)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_locks_main, 1, NULL,
						     0), 0));
}

TEST_HARNESS_MAIN
