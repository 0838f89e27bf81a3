// SPDX-License-Identifier: MIT
/*
 * fiber_stats and fiber_dump: counts by state, the size protocol of the
 * struct, the long-run report of sysmon, and the dump's format.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

static _Atomic int stop;

static void spins_politely(void *arg)
{
	(void)arg;
	while (!stop)
		fiber_yield();
}

static int main_counts(int argc, char **argv)
{
	struct fiber_stats s;
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < 10; i++)
		CHECK(fiber_go(spins_politely, NULL) == 0);
	s = stats_now();
	CHECK(s.size == sizeof(s));
	CHECK(s.live == 11);
	/* One P, and main does not yield: the snapshot is exact. */
	CHECK(s.running == 1 && s.runnable == 10);
	CHECK(s.syscall == 0 && s.waiting == 0);
	CHECK(s.procs == 1 && s.procs_idle == 0);
	CHECK(s.threads >= 1);
	CHECK(s.stack_size == 256 * 1024);
	CHECK(s.stack_mapped_bytes >= 11 * 256 * 1024);
	/*
	 * A stack is guarded when a fiber first runs on it: once we have
	 * yielded, the ten have started (FIFO, one P), each on its own.
	 */
	fiber_yield();
	s = stats_now();
	CHECK(s.stacks_guard_madvise + s.stacks_guard_mprotect +
	      s.stacks_canary >= 11);
	stop = 1;
	wait_others();
	s = stats_now();
	CHECK(s.live == 1 && s.running == 1 && s.runnable == 0);
	CHECK(s.dead >= 10);
	return 0;
}

TEST(counts_by_state)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_counts, 1, NULL, 0),
				0));
}

static int main_sizes(int argc, char **argv)
{
	struct fiber_stats small = { .size = 16 };
	struct {
		struct fiber_stats s;
		uint64_t future[4];
	} big;

	(void)argc, (void)argv;
	CHECK(fiber_stats(NULL) == -EINVAL);
	small.size = 8;
	CHECK(fiber_stats(&small) == -EINVAL);
	/* An older caller: only the fields it knows are written. */
	memset(&small, 0xff, sizeof(small));
	small.size = 16;
	CHECK(fiber_stats(&small) == 0);
	CHECK(small.size == 16 && small.runnable == 0);
	CHECK(small.running == ~0ULL);
	/* A newer caller: the tail it knows and we do not stays as it was. */
	memset(&big, 0xee, sizeof(big));
	big.s.size = sizeof(big);
	CHECK(fiber_stats(&big.s) == 0);
	CHECK(big.s.size == sizeof(big) && big.s.live == 1);
	CHECK(big.future[0] == 0xeeeeeeeeeeeeeeeeULL);
	return 0;
}

TEST(struct_size_protocol)
{
	struct fiber_stats s = { .size = sizeof(s) };

	EXPECT_EQ(-ESRCH, fiber_stats(&s));
	EXPECT_TRUE(exited_with(run_fiber_main(main_sizes), 0));
}

/*
 * sysmon reports a run of 10 ms, and needs two looks inside it, 10 ms
 * apart at most: 300 ms leaves room for a loaded machine (one ASan run
 * under full make check missed a 100 ms run).
 */
static void computes_300ms(void *arg)
{
	long ns = test_slow() ? 1000000000L : 300000000L;
	struct timespec t0, t;

	/* Ids come from per-P blocks: say ours, for the check below. */
	fprintf(stderr, "computing: fiber %llu\n",
		(unsigned long long)fiber_id());

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec <
	       ns);
}

static int main_long_run(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go(computes_300ms, NULL) == 0);
	wait_others();
	CHECK(stats_now().long_runs >= 1);
	return 0;
}

TEST(sysmon_reports_a_fiber_that_does_not_yield)
{
	char err[1024];

	setenv("FIBER_DEBUG", "1", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_long_run, 2, err,
						     sizeof(err)), 0));
	unsetenv("FIBER_DEBUG");
	{
		unsigned long long id = 0;
		const char *p = strstr(err, "computing: fiber ");
		char want[64];

		ASSERT_NE(NULL, p) TH_LOG("stderr: %s", err);
		id = strtoull(p + strlen("computing: fiber "), NULL, 10);
		snprintf(want, sizeof(want), "fiber %llu has run for", id);
		EXPECT_NE(NULL, strstr(err, want)) TH_LOG("stderr: %s", err);
	}
}

/*
 * A long run is measured from sysmon's first look at its P.  The main
 * fiber starts from runnext, which inherits the time slice and leaves
 * the P's schedtick at 0 (so do fibers a new M takes from runnext);
 * sysmon's view of the P, never taken, said 0 too, and its first look
 * counted the run as long since the clock's epoch (the machine's boot):
 * "fiber 1 has run for 26435260 ms" on a host up 7 hours, for a main
 * that computed 30 ms.  No report may claim more than the whole program
 * took.
 */
static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int main_computes_30ms(int argc, char **argv)
{
	int64_t t0 = now_ns();

	(void)argc, (void)argv;
	while (now_ns() - t0 < 30000000)
		;
	return 0;
}

TEST(a_long_run_is_timed_from_sysmons_first_look)
{
	char err[1024];
	long long took_ms;
	const char *p;
	int64_t t0;

	setenv("FIBER_DEBUG", "1", 1);
	t0 = now_ns();
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_computes_30ms, 1,
						     err, sizeof(err)), 0))
		TH_LOG("stderr: %s", err);
	unsetenv("FIBER_DEBUG");
	took_ms = (now_ns() - t0) / 1000000 + 1;
	for (p = err; (p = strstr(p, "has run for ")); p++)
		EXPECT_LE(strtoll(p + strlen("has run for "), NULL, 10), took_ms)
			TH_LOG("the program took %lld ms; stderr: %s", took_ms, err);
}

static int dump_pipe[2];

static void parked_forever(void *arg)
{
	(void)arg;
	while (!stop)
		fiber_yield();
}

static int main_dump(int argc, char **argv)
{
	(void)argc, (void)argv;
	stop = 0;
	CHECK(fiber_go(parked_forever, NULL) == 0);
	fiber_lock_thread();
	fiber_dump(dump_pipe[1]);
	fiber_unlock_thread();
	stop = 1;
	wait_others();
	return 0;
}

TEST(dump_lists_every_live_fiber)
{
	char out[4096] = "";
	ssize_t n;

	ASSERT_EQ(0, pipe(dump_pipe));
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_dump, 1, NULL, 0), 0));
	close(dump_pipe[1]);
	n = read(dump_pipe[0], out, sizeof(out) - 1);
	close(dump_pipe[0]);
	ASSERT_GT(n, 0);
	out[n] = 0;
	EXPECT_NE(NULL, strstr(out, "libfiber: 2 fibers, 1 procs\n")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "fiber 1 [running], locked to thread, the caller:\n\t#0 "))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\tcreated by fiber 0 at fiber_main\n"))
		TH_LOG("%s", out);
	/* Made, never run: no frame yet; then the place that made it. */
	EXPECT_NE(NULL, strstr(out, "fiber 2 [runnable]:\n\t(not started yet)\n"
				    "\tcreated by fiber 1 at main_dump+0x"))
		TH_LOG("%s", out);
}

static void touches_stack(void *arg)
{
	volatile char buf[32 * 1024];

	(void)arg;
	buf[0] = 1;
	buf[sizeof(buf) - 1] = 1;
	/*
	 * All alive at once, each on a stack of its own: one that ended
	 * would hand its warm stack to the next to start.
	 */
	fiber_yield();
}

/* Dead fibers' stacks go back to the kernel once idle for a second. */
static int main_scavenges(int argc, char **argv)
{
	struct fiber_stats s;
	long i, n = scaled(2000);

	(void)argc, (void)argv;
	for (i = 0; i < n; i++)
		CHECK(fiber_go(touches_stack, NULL) == 0);
	wait_others();
	s = stats_now();
	/*
	 * Not one dead fiber per go: on fiber.ko a spare may take the P
	 * while main faults, and run fibers that end and are reused by
	 * the gos after it.
	 */
	CHECK(s.dead > 0 && s.live == 1);
	for (i = 0; i < 100 && stats_now().scavenged_bytes == 0; i++) {
		fiber_syscall_enter();
		usleep(50 * 1000);
		fiber_syscall_exit();
	}
	CHECK(stats_now().scavenged_bytes > 0);
	/* The scavenged stacks still work. */
	for (i = 0; i < n; i++)
		CHECK(fiber_go(touches_stack, NULL) == 0);
	wait_others();
	return 0;
}

TEST(scavenger_returns_idle_stacks)
{
	EXPECT_CLEAN_RUN_PROCS(main_scavenges, 1);
}

/* With nothing to do, the other threads park: none spins, all idle. */
static int main_goes_idle(int argc, char **argv)
{
	struct fiber_stats s;
	long i, n = scaled(1000);

	(void)argc, (void)argv;
	for (i = 0; i < n; i++)
		CHECK(fiber_go(touches_stack, NULL) == 0);
	wait_others();
	for (i = 0; i < 100; i++) {
		s = stats_now();
		if (s.threads_spinning == 0 && s.procs_idle == 3 &&
		    s.threads_idle == s.threads - 1)
			return 0;
		fiber_syscall_enter();
		usleep(10 * 1000);
		fiber_syscall_exit();
	}
	fprintf(stderr, "threads %u idle %u spinning %u, procs idle %u\n",
		s.threads, s.threads_idle, s.threads_spinning, s.procs_idle);
	return 1;
}

TEST(idle_threads_park_instead_of_spinning)
{
	char err[512];

	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_goes_idle, 4, err,
						     sizeof(err)), 0))
		TH_LOG("stderr: %s", err);
}

TEST_HARNESS_MAIN
