// SPDX-License-Identifier: MIT
/*
 * Many fibers on 1 to 8 Ps: every fiber runs exactly once whatever the
 * number of Ps, and idle Ps steal from a busy one's local queue.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define NFIBERS	5000
#define ROUNDS	20

static _Atomic int ran[NFIBERS];
static _Atomic long yields;

static void worker(void *arg)
{
	long i = (long)arg;
	int r;

	for (r = 0; r < scaled(ROUNDS); r++) {
		yields++;
		fiber_yield();
	}
	ran[i]++;
}

/* A spawner fiber per 1000, so that spawning itself spreads over Ps. */
static void spawner(void *arg)
{
	long base = (long)arg, i;

	for (i = base; i < base + scaled(1000); i++)
		CHECK(fiber_go(worker, (void *)i) == 0);
}

static int main_many(int argc, char **argv)
{
	long i;

	(void)argc, (void)argv;
	for (i = 0; i < NFIBERS; i += 1000)
		CHECK(fiber_go(spawner, (void *)i) == 0);
	wait_others();
	for (i = 0; i < NFIBERS; i++)
		CHECK(ran[i] == (i % 1000 < scaled(1000)));
	CHECK(yields == NFIBERS / 1000 * scaled(1000) * scaled(ROUNDS));
	CHECK(fiber_num() == 1);
	return 0;
}

/* 20000 fibers started in all: 8-10 s under ASan, half a second natively. */
TEST(thousands_of_fibers_on_1_2_4_8_procs)
{
	int procs[] = { 1, 2, 4, 8 }, i;

	for (i = 0; i < 4; i++) {
		int status = run_fiber_main_procs(main_many, procs[i], NULL, 0);

		EXPECT_TRUE(exited_with(status, 0))
			TH_LOG("with %d procs: status %#x", procs[i], status);
	}
}
TEST_LIMIT(thousands_of_fibers_on_1_2_4_8_procs, 60)

#define NSTOLEN	200
static _Atomic int done;

static void quick(void *arg)
{
	(void)arg;
	done++;
}

/*
 * Main queues 200 fibers on its own P and then computes without ever
 * yielding.  They can only run if other Ms steal them.
 */
static int main_hogs_its_p(int argc, char **argv)
{
	struct timespec t0, t;
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < NSTOLEN; i++)
		CHECK(fiber_go(quick, NULL) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < NSTOLEN) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30) {
			fprintf(stderr, "only %d of %d fibers ran\n", done,
				NSTOLEN);
			return 1;
		}
	}
	CHECK(stats_now().steals > 0);
	return 0;
}

TEST(idle_procs_steal_from_a_busy_one)
{
	char err[512];

	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_hogs_its_p, 4, err,
						     sizeof(err)), 0))
		TH_LOG("stderr: %s", err);
}

TEST_HARNESS_MAIN
