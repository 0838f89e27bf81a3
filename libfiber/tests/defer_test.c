// SPDX-License-Identifier: MIT
/*
 * Scoped defer (FIBER_SCOPED_DEFER, FIBER_SCOPED_LOCK): the call is made
 * when its block is left, by its end, a return, a break or a goto, and
 * not again when the fiber ends; if the fiber exits inside the block,
 * fiber_exit() makes it, in order with the fiber_defer() calls.
 */
#include <errno.h>
#include <string.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

/* What ran, in order: one letter per call. */
static char trace[64];

static void note(void *arg)
{
	size_t n = strlen(trace);

	CHECK(n + 1 < sizeof(trace));
	trace[n] = *(const char *)arg;
}

static void reset_trace(void)
{
	memset(trace, 0, sizeof(trace));
}

static void expect_trace(const char *want)
{
	if (strcmp(trace, want)) {
		fprintf(stderr, "trace \"%s\", expected \"%s\"\n", trace, want);
		exit(1);
	}
}

/* Returns early from inside two blocks: both calls run, inner first. */
static int early_return(int stop)
{
	FIBER_SCOPED_DEFER(note, "a");
	{
		FIBER_SCOPED_DEFER(note, "b");
		if (stop)
			return 1;
		note("x");
	}
	note("y");
	return 0;
}

static int loop_and_goto(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		FIBER_SCOPED_DEFER(note, "l");
		if (i == 1)
			continue;
		if (i == 2)
			break;
		note("i");
	}
	{
		FIBER_SCOPED_DEFER(note, "g");
		goto out;
	}
out:
	return 0;
}

static void scoped_fiber(void *arg)
{
	(void)arg;
	CHECK(early_return(1) == 1);
	expect_trace("ba");
	CHECK(early_return(0) == 0);
	expect_trace("baxbya");
	reset_trace();
	CHECK(loop_and_goto() == 0);
	expect_trace("illlg");
	/* Nothing left for the fiber's end. */
	reset_trace();
}

static int main_block_exits(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go(scoped_fiber, NULL) == 0);
	wait_others();
	expect_trace("");	/* none ran again at the fiber's end */
	return 0;
}

TEST(runs_when_the_block_is_left_and_not_again)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_block_exits), 0));
}

/* ---- fiber_exit inside a block ---- */

static void exit_deeper(void)
{
	fiber_exit();
}

/*
 * A (fiber_defer), then block B, in which C (fiber_defer) and block D,
 * in which the fiber exits: D, C, B, A, like Go's Goexit, each once.
 */
static void exits_in_block(void *arg)
{
	(void)arg;
	CHECK(fiber_defer(note, "A") == 0);
	{
		FIBER_SCOPED_DEFER(note, "B");
		CHECK(fiber_defer(note, "C") == 0);
		{
			FIBER_SCOPED_DEFER(note, "D");
			exit_deeper();
		}
		note("x");
	}
	note("y");
}

/* The block ends first: B runs then, C and A at the fiber's end. */
static void block_then_exit(void *arg)
{
	(void)arg;
	CHECK(fiber_defer(note, "A") == 0);
	{
		FIBER_SCOPED_DEFER(note, "B");
		CHECK(fiber_defer(note, "C") == 0);
	}
	note("-");
}

static int main_fiber_exit(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go(exits_in_block, NULL) == 0);
	wait_others();
	expect_trace("DCBA");
	reset_trace();
	CHECK(fiber_go(block_then_exit, NULL) == 0);
	wait_others();
	expect_trace("B-CA");
	return 0;
}

TEST(fiber_exit_inside_the_block_makes_the_call_once)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_fiber_exit), 0));
}

/* ---- FIBER_SCOPED_LOCK ---- */

static fiber_mutex_t mu = FIBER_MUTEX_INITIALIZER;
static int shared;

static int locked_increment(int fail)
{
	FIBER_SCOPED_LOCK(&mu);
	CHECK(fiber_mutex_trylock(&mu) == -EBUSY);
	if (fail)
		return -1;	/* early: still unlocked */
	shared++;
	fiber_yield();		/* hold it across a switch */
	return 0;
}

static void incrementer(void *arg)
{
	int i;

	for (i = 0; i < 100; i++)
		CHECK(locked_increment(i % 3 == 0 && arg) <= 0);
}

static void exits_holding_the_lock(void *arg)
{
	(void)arg;
	FIBER_SCOPED_LOCK(&mu);
	shared = 1000;
	fiber_exit();
}

static int main_lock(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < 8; i++)
		CHECK(fiber_go(incrementer, i % 2 ? &shared : NULL) == 0);
	wait_others();
	CHECK(shared == 4 * 100 + 4 * 66);
	CHECK(fiber_mutex_trylock(&mu) == 0);	/* nobody kept it */
	CHECK(fiber_mutex_unlock(&mu) == 0);

	/* Goexit with the lock held: the exit unlocks it. */
	CHECK(fiber_go(exits_holding_the_lock, NULL) == 0);
	wait_others();
	CHECK(shared == 1000);
	CHECK(fiber_mutex_trylock(&mu) == 0);
	CHECK(fiber_mutex_unlock(&mu) == 0);
	return 0;
}

TEST(scoped_lock_never_outlives_its_block)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_lock, 4, NULL, 0), 0));
}

/* Outside a fiber the call is made at the block's end all the same. */
TEST(outside_a_fiber)
{
	reset_trace();
	EXPECT_EQ(1, early_return(1));
	EXPECT_EQ(0, strcmp(trace, "ba")) TH_LOG("trace %s", trace);
	{
		struct fiber_scope s = { note, (void *)"s", NULL, 0 };

		EXPECT_EQ(&s, fiber_scope_enter(&s));
		fiber_scope_exit(&s);
	}
	EXPECT_EQ(0, strcmp(trace, "bas")) TH_LOG("trace %s", trace);
}

TEST_HARNESS_MAIN
