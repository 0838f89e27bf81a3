// SPDX-License-Identifier: MIT
/*
 * fiber_maxprocs: the default, FIBER_MAXPROCS, queries, and changes up
 * and down while fibers run.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

static int main_default_is_cpus(int argc, char **argv)
{
	cpu_set_t set;

	(void)argc, (void)argv;
	CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
	CHECK(fiber_maxprocs(0) == CPU_COUNT(&set));
	CHECK(stats_now().procs == (uint32_t)CPU_COUNT(&set));
	return 0;
}

TEST(default_is_the_cpus_the_process_may_use)
{
	unsetenv("FIBER_MAXPROCS");
	EXPECT_TRUE(exited_with(run_fiber_main(main_default_is_cpus), 0));
}

static int main_env_three(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_maxprocs(-1) == 3);
	return 0;
}

TEST(environment_sets_the_default)
{
	setenv("FIBER_MAXPROCS", "3", 1);
	EXPECT_TRUE(exited_with(run_fiber_main(main_env_three), 0));
	unsetenv("FIBER_MAXPROCS");
}

static int main_set_before_start(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_maxprocs(0) == 5);
	return 0;
}

TEST(set_before_fiber_main)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_set_before_start, 5,
						     NULL, 0), 0));
}

#define WORKERS	64
#define ROUNDS	2000

static _Atomic long total;
static _Atomic int finished;

static void worker(void *arg)
{
	int r;

	(void)arg;
	for (r = 0; r < scaled(ROUNDS); r++) {
		total++;
		fiber_yield();
	}
	finished++;
}

/* Resize the Ps again and again while 64 fibers yield on them. */
static void resizer(void *arg)
{
	int sizes[] = { 1, 8, 2, 16, 3, 1, 4, 2 }, i;

	(void)arg;
	for (i = 0; i < 40; i++) {
		int n = sizes[i % 8], prev = fiber_maxprocs(n);

		CHECK(prev >= 1);
		CHECK(fiber_maxprocs(0) == n);
		CHECK(stats_now().procs == (uint32_t)n);
		fiber_yield();
	}
}

static int main_resizes(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < WORKERS; i++)
		CHECK(fiber_go(worker, NULL) == 0);
	CHECK(fiber_go(resizer, NULL) == 0);
	wait_others();
	CHECK(finished == WORKERS);
	CHECK(total == WORKERS * scaled(ROUNDS));
	CHECK(fiber_maxprocs(0) == 2);
	return 0;
}

TEST(up_and_down_under_load_loses_nothing)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_resizes, 4, NULL, 0),
				0));
}

/* Several fibers resizing at once: each stop of the world waits its turn. */
static void racing_resizer(void *arg)
{
	long seed = (long)arg;
	int i;

	for (i = 0; i < scaled(30); i++) {
		CHECK(fiber_maxprocs(1 + (int)((seed + i) % 4)) >= 1);
		fiber_yield();
	}
}

static int main_concurrent_resizes(int argc, char **argv)
{
	long i;

	(void)argc, (void)argv;
	finished = 0;
	total = 0;
	for (i = 0; i < 16; i++)
		CHECK(fiber_go(worker, NULL) == 0);
	for (i = 0; i < 4; i++)
		CHECK(fiber_go(racing_resizer, (void *)i) == 0);
	wait_others();
	CHECK(finished == 16);
	CHECK(total == 16 * scaled(ROUNDS));
	return 0;
}

TEST(concurrent_resizes_take_turns)
{
	int i;

	for (i = 0; i < 5; i++)
		ASSERT_TRUE(exited_with(run_fiber_main_procs(
			main_concurrent_resizes, 4, NULL, 0), 0));
}

static int main_resize_in_syscall(int argc, char **argv)
{
	(void)argc, (void)argv;
	fiber_syscall_enter();
	/* Ends the section first, then resizes. */
	CHECK(fiber_maxprocs(3) == 2);
	CHECK(stats_now().syscall == 0);
	CHECK(fiber_maxprocs(0) == 3);
	return 0;
}

TEST(resize_inside_a_syscall_section)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_resize_in_syscall,
						     2, NULL, 0), 0));
}

static int main_clamps(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_maxprocs(100000) == 2);
	CHECK(fiber_maxprocs(0) == 1024);
	CHECK(fiber_maxprocs(1) == 1024);
	return 0;
}

TEST(huge_values_are_clamped_to_1024)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_clamps, 2, NULL, 0),
				0));
}

static void *foreign_thread(void *arg)
{
	(void)arg;
	return (void *)(long)fiber_maxprocs(3);
}

static int main_foreign(int argc, char **argv)
{
	pthread_t t;
	void *ret;

	(void)argc, (void)argv;
	CHECK(pthread_create(&t, NULL, foreign_thread, NULL) == 0);
	CHECK(pthread_join(t, &ret) == 0);
	CHECK((long)ret == -ESRCH);
	CHECK(fiber_maxprocs(0) == 2);
	return 0;
}

TEST(changing_from_a_thread_without_a_fiber_is_esrch)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_foreign, 2, NULL, 0),
				0));
}

TEST_HARNESS_MAIN
