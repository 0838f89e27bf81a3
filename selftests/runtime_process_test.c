// SPDX-License-Identifier: GPL-2.0
/*
 * libfiber on the module across a process's life: a carrier thread that
 * exits (a locked fiber ending takes its M along), fork() from a fiber
 * (the child _exits, or execs a fiber program of its own), execve() from
 * a fiber while its carriers are registered, and the settings read from
 * the environment: FIBER_KERNEL, FIBER_HANDOFF_DELAY, FIBER_HOLD_ON_WAKE,
 * good and bad.
 *
 * The program execs itself for the exec cases: with RUNTIME_EXEC_CHILD
 * set it runs mini_block() under fiber_main() from a constructor, before
 * the harness starts, and exits 0 if a blocked fiber stalled nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_check.h"

#define MINI_COMPUTERS	20

/* ---- one blocked fiber, MINI_COMPUTERS behind it on the same P ---------- */

static struct {
	int pipefd[2];
	_Atomic int done;
	int done_at_wake;
	fiber_wg_t wg;
} mini;

static void mini_compute(void *arg)
{
	volatile uint64_t x = (uintptr_t)arg;
	long i;

	for (i = 0; i < 200000; i++)
		x = x * 6364136223846793005ULL + 1;
	atomic_fetch_add(&mini.done, 1);
}

static void *mini_releaser(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 20000 && atomic_load(&mini.done) < MINI_COMPUTERS; i++)
		usleep(1000);
	usleep(10000);
	CHECK(write(mini.pipefd[1], "x", 1) == 1);
	return NULL;
}

static void mini_blocker(void *arg)
{
	long i;
	char c;

	(void)arg;
	for (i = 0; i < MINI_COMPUTERS; i++)
		CHECK(fiber_go(mini_compute, (void *)i) == 0);
	CHECK(read(mini.pipefd[0], &c, 1) == 1);
	mini.done_at_wake = atomic_load(&mini.done);
	fiber_wg_done(&mini.wg);
}

/* Block one fiber in read() with fibers queued behind it on this P. */
static int mini_block(void)
{
	pthread_t t;

	memset(&mini, 0, sizeof(mini));
	CHECK(pipe(mini.pipefd) == 0);
	CHECK(pthread_create(&t, NULL, mini_releaser, NULL) == 0);
	fiber_wg_add(&mini.wg, 1);
	CHECK(fiber_go(mini_blocker, NULL) == 0);
	fiber_wg_wait(&mini.wg);
	pthread_join(t, NULL);
	close(mini.pipefd[0]);
	close(mini.pipefd[1]);
	return mini.done_at_wake;
}

/* ---- the exec'd image ----------------------------------------------------- */

static int exec_child_main(int argc, char **argv)
{
	struct fiber_stats s;

	(void)argc;
	(void)argv;
	s = stats_now();
	CHECK(s.kernel == (strcmp(getenv("FIBER_KERNEL"), "on") == 0));
	CHECK(mini_block() == MINI_COMPUTERS);
	return 0;
}

__attribute__((constructor)) static void exec_child(void)
{
	if (!getenv("RUNTIME_EXEC_CHILD"))
		return;
	unsetenv("RUNTIME_EXEC_CHILD");
	fiber_maxprocs(1);
	if (fiber_main(exec_child_main, 0, NULL))
		_exit(99);	/* it did not start; it never returns otherwise */
}

static void exec_self(void)
{
	char *argv[] = { "runtime_process_test", NULL };

	setenv("RUNTIME_EXEC_CHILD", "1", 1);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "execv: %s\n", strerror(errno));
	_exit(98);
}

/* ---- the scenarios ---------------------------------------------------------- */

static bool module_mode(void)
{
	return strcmp(getenv("FIBER_KERNEL"), "on") == 0;
}

/* Is any carrier slot held by thread @tid? */
static bool tid_is_carrier(pid_t tid)
{
	const struct fiber_shared *sh;
	const struct fiber_slot *s;
	unsigned int n, i;

	sh = fiber_kernel_shared(&n);
	for (i = 0; sh && i < n; i++) {
		s = fiber_slot_at(sh, i);
		if (FIBER_SLOT_STATE(s->state) != FIBER_SLOT_FREE && s->tid == (uint32_t)tid)
			return true;
	}
	return false;
}

static _Atomic pid_t exiter_tid;

static void locked_exiter(void *arg)
{
	(void)arg;
	fiber_lock_thread();
	atomic_store(&exiter_tid, (pid_t)syscall(SYS_gettid));
	/* A block on a locked thread hands its P off like any other. */
	CHECK(mini_block() == MINI_COMPUTERS);
	/* Ending while locked ends the thread, registered or not. */
}

static int thread_exit_main(int argc, char **argv)
{
	char path[64];
	pid_t tid;
	int i;

	(void)argc;
	(void)argv;
	/*
	 * The main thread cannot end without ending the process (libfiber
	 * parks it for good instead), so keep the exiter off it.
	 */
	fiber_lock_thread();
	CHECK(fiber_go(locked_exiter, NULL) == 0);
	wait_others();
	tid = atomic_load(&exiter_tid);
	CHECK(tid > 0);
	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	for (i = 0; i < 500 && access(path, F_OK) == 0; i++)
		fiber_sleep(10000000);
	CHECK(access(path, F_OK) != 0);
	if (module_mode())
		CHECK(!tid_is_carrier(tid));
	/* The runtime goes on as before. */
	CHECK(mini_block() == MINI_COMPUTERS);
	return 0;
}

static int fork_main(int argc, char **argv)
{
	int status, p[2];
	pid_t pid;
	char c;

	(void)argc;
	(void)argv;
	/* A child that only writes and exits. */
	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (write(p[1], "c", 1) != 1)
			_exit(1);
		_exit(7);
	}
	/* Both block the M (and, with the module, hand the P off). */
	CHECK(read(p[0], &c, 1) == 1 && c == 'c');
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	/* A child that becomes a fiber program itself. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		exec_self();
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* And this one still works. */
	CHECK(mini_block() == MINI_COMPUTERS);
	return 0;
}

static void busy(void *arg)
{
	(void)arg;
	for (;;)
		fiber_sleep(1000000);
}

static int exec_main(int argc, char **argv)
{
	int i;

	(void)argc;
	(void)argv;
	/* Carriers parked, sleeping, running: exec replaces them all. */
	for (i = 0; i < 8; i++)
		CHECK(fiber_go(busy, NULL) == 0);
	CHECK(mini_block() == MINI_COMPUTERS);
	exec_self();
	return 1;
}

FIXTURE(process) {
};

RUNTIME_MODES(process);

FIXTURE_SETUP(process)
{
	RUNTIME_MODE_SETUP();
}

FIXTURE_TEARDOWN(process)
{
}

TEST_F_TIMEOUT(process, thread_exit, 120)
{
	SKIPPED_IN_SETUP();
	EXPECT_EQ(0, run_fiber_main_procs(thread_exit_main, 1, NULL, 0));
}

TEST_F_TIMEOUT(process, fork, 120)
{
	SKIPPED_IN_SETUP();
	EXPECT_EQ(0, run_fiber_main_procs(fork_main, 1, NULL, 0));
}

TEST_F_TIMEOUT(process, exec, 120)
{
	SKIPPED_IN_SETUP();
	EXPECT_EQ(0, run_fiber_main_procs(exec_main, 1, NULL, 0));
}

/* ---- settings --------------------------------------------------------------- */

static int noop_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Run noop_main with @name=@value; expect fiber_main() to refuse. */
static void expect_refused(struct __test_metadata *_metadata, const char *name,
			   const char *value, const char *message)
{
	char err[512];
	int status;

	setenv("FIBER_KERNEL", "auto", 1);
	setenv(name, value, 1);
	status = run_fiber_main_procs(noop_main, 1, err, sizeof(err));
	unsetenv(name);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 99);
	EXPECT_NE(NULL, strstr(err, message))
		TH_LOG("stderr: %s", err);
}

TEST(bad_settings_are_refused)
{
	expect_refused(_metadata, "FIBER_KERNEL", "maybe",
		       "FIBER_KERNEL=maybe is not one of auto, on, off");
	expect_refused(_metadata, "FIBER_HANDOFF_DELAY", "5 parsecs",
		       "FIBER_HANDOFF_DELAY=5 parsecs is not a duration");
	expect_refused(_metadata, "FIBER_HANDOFF_DELAY", "2s",
		       "FIBER_HANDOFF_DELAY=2s is not a duration of at most 1s");
	expect_refused(_metadata, "FIBER_HOLD_ON_WAKE", "yes",
		       "FIBER_HOLD_ON_WAKE=yes is neither 0 nor 1");
	expect_refused(_metadata, "FIBER_MAX_CARRIERS", "1",
		       "FIBER_MAX_CARRIERS=1 is not a number of threads from 2 up");
	expect_refused(_metadata, "FIBER_TEST_WAKE_DELAY", "soon",
		       "FIBER_TEST_WAKE_DELAY=soon is not a duration of at most 1s");
}

/* Spares start at fiber_main(), but a slow kernel may take a while. */
static void wait_for_spare(void)
{
	int i;

	for (i = 0; i < 1000 && stats_now().kernel_spares == 0; i++)
		fiber_sleep(10000000);
	CHECK(stats_now().kernel_spares > 0);
}

static void noop_main_fiber(void *arg)
{
	(void)arg;
}

/* A 20 ms sleep on one P with a fiber queued: claimed, or not. */
static int short_block_main(int argc, char **argv)
{
	struct timespec ts = { .tv_nsec = 20000000 };
	struct fiber_stats s;

	(void)argc;
	(void)argv;
	wait_for_spare();
	CHECK(fiber_go(noop_main_fiber, NULL) == 0);
	CHECK(nanosleep(&ts, NULL) == 0);
	wait_others();
	s = stats_now();
	CHECK(s.kernel == 1);
	fprintf(stderr, "# claims %llu grants %llu\n",
		(unsigned long long)s.kernel_claims,
		(unsigned long long)s.kernel_grants);
	return s.kernel_claims == 0 ? 10 : 11;
}

TEST(handoff_delay)
{
	RUNTIME_REQUIRE_MODULE();
	/* Default, no delay: the P goes to a spare at once. */
	EXPECT_TRUE(exited_with(run_fiber_main_procs(short_block_main, 1, NULL, 0), 11));
	/* Blocks shorter than the delay are not handed off at all. */
	setenv("FIBER_HANDOFF_DELAY", "1s", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_procs(short_block_main, 1, NULL, 0), 10));
	/* A delay shorter than the block: handed off once it has passed. */
	setenv("FIBER_HANDOFF_DELAY", "2ms", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_procs(short_block_main, 1, NULL, 0), 11));
	unsetenv("FIBER_HANDOFF_DELAY");
}

static int hold_off_main(int argc, char **argv)
{
	struct fiber_stats s;

	(void)argc;
	(void)argv;
	CHECK(mini_block() == MINI_COMPUTERS);
	s = stats_now();
	/* Claimed, but never held: the M came back and found a P itself. */
	CHECK(s.kernel_claims >= 1);
	CHECK(s.kernel_grants == 0);
	return 0;
}

TEST(hold_on_wake_off)
{
	RUNTIME_REQUIRE_MODULE();
	setenv("FIBER_HOLD_ON_WAKE", "0", 1);
	EXPECT_EQ(0, run_fiber_main_procs(hold_off_main, 1, NULL, 0));
	unsetenv("FIBER_HOLD_ON_WAKE");
}

/* ---- the spare pool ---------------------------------------------------------- */

#define SLEEPERS	12

static void sleeper(void *arg)
{
	struct timespec ts = { .tv_nsec = 300000000 };

	(void)arg;
	CHECK(nanosleep(&ts, NULL) == 0);
}

static int pool_pipe[2];
static _Atomic int pool_blocked;

static void pool_reader(void *arg)
{
	char c;

	(void)arg;
	atomic_fetch_add(&pool_blocked, 1);
	CHECK(read(pool_pipe[0], &c, 1) == 1);
}

/*
 * SLEEPERS fibers on one P block in read() until main writes.  Main runs
 * again only once all of them are blocked, each holding a thread, so the
 * pool has grown past them.  Then, idle, spares beyond fiber_maxprocs()
 * exit.
 */
static int pool_main(int argc, char **argv)
{
	struct fiber_stats s;
	int i;

	(void)argc;
	(void)argv;
	CHECK(pipe(pool_pipe) == 0);
	for (i = 0; i < SLEEPERS; i++)
		CHECK(fiber_go(pool_reader, NULL) == 0);
	while (atomic_load(&pool_blocked) < SLEEPERS)
		fiber_yield();
	s = stats_now();
	fprintf(stderr, "# %u threads with %d fibers blocked\n", s.threads, SLEEPERS);
	CHECK((int)s.threads > SLEEPERS);
	for (i = 0; i < SLEEPERS; i++)
		CHECK(write(pool_pipe[1], "x", 1) == 1);
	wait_others();
	for (i = 0; i < 1500 && stats_now().threads_retired == 0; i++)
		fiber_sleep(10000000);
	s = stats_now();
	fprintf(stderr, "# %u threads retired, %u left, %u spares parked\n",
		s.threads_retired, s.threads, s.kernel_spares);
	CHECK(s.threads_retired > 0);
	return 0;
}

TEST(spare_pool_grows_and_shrinks)
{
	RUNTIME_REQUIRE_MODULE();
	EXPECT_EQ(0, run_fiber_main_procs(pool_main, 1, NULL, 0));
}
/* A spare retires after 5 s asleep: 5 s on x86, 5-10 s on arm64 (TCG). */
TEST_LIMIT(spare_pool_grows_and_shrinks, 60)

static int limit_main(int argc, char **argv)
{
	struct fiber_stats s;
	int i;

	(void)argc;
	(void)argv;
	for (i = 0; i < SLEEPERS; i++)
		CHECK(fiber_go(sleeper, NULL) == 0);
	wait_others();
	s = stats_now();
	CHECK(s.kernel == 1);
	CHECK(s.carriers <= 3);
	return 0;
}

/* Past the limit: one clear line, and everything still finishes. */
TEST(carrier_limit)
{
	char err[1024];
	int status;

	RUNTIME_REQUIRE_MODULE();
	setenv("FIBER_MAX_CARRIERS", "3", 1);
	status = run_fiber_main_procs(limit_main, 1, err, sizeof(err));
	unsetenv("FIBER_MAX_CARRIERS");
	EXPECT_EQ(0, status) TH_LOG("stderr: %s", err);
	EXPECT_NE(NULL, strstr(err, "libfiber: 3 threads are registered with the fiber module, its limit for this process"))
		TH_LOG("stderr: %s", err);
	/* Said once, not once per thread. */
	EXPECT_EQ(1, count_substr(err, "threads are registered with the fiber module"));
}

/*
 * No FIBER_NEEDS_DEVICE(): without the module its fallback variants exit, fork and exec the same ways, and bad settings are refused either way,
 * and the module's cases skip one by one.
 */
TEST_HARNESS_MAIN
