// SPDX-License-Identifier: MIT
/*
 * One million fibers alive at once, with the default stack size and
 * guard, on a machine with the default vm.max_map_count.
 */
#include <stdlib.h>
#include <string.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define FIBERS	1000000

static long nfibers;
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

/*
 * Most of its time is the first touch of a million stacks, two page faults
 * per fiber, and page faults are what machines of one kind differ in most:
 * it takes 33 s on one whose faults are slow.  Hence its own limit.
 */
TEST(one_million_live_fibers)
{
	nfibers = many_fibers(FIBERS);
	EXPECT_TRUE(exited_with(run_fiber_main(main_million), 0));
}
TEST_LIMIT(one_million_live_fibers, 300)

TEST_HARNESS_MAIN
