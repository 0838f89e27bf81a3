// SPDX-License-Identifier: MIT
/*
 * One million fibers alive at once, with the default stack size and
 * guard, on a machine with the default vm.max_map_count.
 */
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "runtime_helpers.h"

static long nfibers = 1000000;
static _Atomic long started;
static _Atomic int release;

static void lives(void *arg)
{
	(void)arg;
	started++;
	while (!release)
		fiber_yield();
}

static int main_million(int argc, char **argv)
{
	struct fiber_stats s;
	long i;

	(void)argc, (void)argv;
	for (i = 0; i < nfibers; i++)
		CHECK(fiber_go(lives, NULL) == 0);
	while (started < nfibers)
		fiber_yield();
	s = stats_now();
	CHECK(s.live == (uint64_t)nfibers + 1);
	CHECK(fiber_num() == nfibers + 1);
	printf("# %ld live fibers; stacks: %llu madvise-guarded, %llu mprotect-guarded, %llu canary; %llu GiB of address space\n",
	       nfibers, (unsigned long long)s.stacks_guard_madvise,
	       (unsigned long long)s.stacks_guard_mprotect,
	       (unsigned long long)s.stacks_canary,
	       (unsigned long long)(s.stack_mapped_bytes >> 30));
	release = 1;
	wait_others();
	return 0;
}

TEST(one_million_live_fibers)
{
	const char *scale = getenv("FIBER_TEST_FIBERS");

	/* The sanitizer runs shrink it: their shadow memory would not fit. */
	if (scale) {
		nfibers = atol(scale);
		TH_LOG("FIBER_TEST_FIBERS=%ld", nfibers);
	}
	EXPECT_TRUE(EXITED_WITH(run_fiber_main(main_million), 0));
}

TEST_HARNESS_MAIN
