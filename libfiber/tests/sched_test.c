// SPDX-License-Identifier: MIT
/*
 * The basic calls: fiber_main, fiber_go, fiber_yield, fiber_exit,
 * fiber_defer, fiber_id and fiber_num, their error paths, deadlock
 * reports and the context switch's floating-point state.  Tests that
 * depend on order run on one P; the rest on the default number.
 */
#include <errno.h>
#include <fenv.h>
#include <signal.h>
#include <string.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

static char trace[256];
static size_t trace_len;

static void note(char c)
{
	if (trace_len < sizeof(trace) - 1)
		trace[trace_len++] = c;
}

static int main_returns_42(int argc, char **argv)
{
	(void)argc, (void)argv;
	return 42;
}

TEST(main_return_value_is_exit_status)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_returns_42), 42));
}

static int main_checks_identity(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_id() == 1);
	CHECK(fiber_num() == 1);
	return 0;
}

TEST(main_is_fiber_1)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_checks_identity), 0));
}

static void yielder(void *arg)
{
	int i;

	for (i = 0; i < 3; i++) {
		note(*(char *)arg);
		fiber_yield();
	}
}

static int main_interleaves(int argc, char **argv)
{
	static char a = 'a', b = 'b';

	(void)argc, (void)argv;
	CHECK(fiber_go(yielder, &a) == 0);
	CHECK(fiber_go(yielder, &b) == 0);
	CHECK(fiber_num() == 3);
	while (fiber_num() > 1) {
		note('m');
		fiber_yield();
	}
	trace[trace_len] = 0;
	/* Between two turns of main, a and b each run once, in some order. */
	CHECK(strlen(trace) == 10);
	for (int i = 0; i < 9; i += 3) {
		CHECK(trace[i] == 'm');
		CHECK((trace[i + 1] == 'a' && trace[i + 2] == 'b') ||
		      (trace[i + 1] == 'b' && trace[i + 2] == 'a'));
	}
	return 0;
}

TEST(yield_lets_every_runnable_fiber_run_once)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_interleaves, 1,
						     NULL, 0), 0));
}

static void record(void *arg)
{
	note(*(char *)arg);
}

static void exits_early(void *arg)
{
	static char one = '1', two = '2', three = '3';

	(void)arg;
	CHECK(fiber_defer(record, &one) == 0);
	CHECK(fiber_defer(record, &two) == 0);
	CHECK(fiber_defer(record, &three) == 0);
	fiber_exit();
	note('X');	/* never reached */
}

static void returns_normally(void *arg)
{
	static char r = 'r';

	(void)arg;
	CHECK(fiber_defer(record, &r) == 0);
	note('n');
}

static int main_defers(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go(exits_early, NULL) == 0);
	wait_others();
	CHECK(fiber_go(returns_normally, NULL) == 0);
	wait_others();
	trace[trace_len] = 0;
	CHECK(strcmp(trace, "321nr") == 0);
	return 0;
}

TEST(deferred_calls_run_lifo_on_exit_and_return)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_defers), 0));
}

#define MANY 10000
static _Atomic long counter;
static _Atomic uint64_t ids[MANY];

static void count(void *arg)
{
	(void)arg;
	ids[counter++] = fiber_id();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int main_spawns_many(int argc, char **argv)
{
	long i, n = many_fibers(MANY);

	(void)argc, (void)argv;
	for (i = 0; i < n; i++)
		CHECK(fiber_go(count, NULL) == 0);
	wait_others();
	CHECK(counter == n);
	/* Each id used once, none is main's (Ps hand them out in blocks). */
	qsort(ids, n, sizeof(ids[0]), cmp_u64);
	CHECK(ids[0] > 1);
	for (i = 1; i < n; i++)
		CHECK(ids[i] > ids[i - 1]);
	return 0;
}

TEST(ten_thousand_fibers)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_spawns_many), 0));
}

/*
 * On one P, main does not yield while spawning: nothing else runs.  That
 * holds without the module only: with it, main's thread blocking in the
 * kernel (a page fault on a fresh stack) hands the P to a spare carrier,
 * which runs the new fibers meanwhile, as it should.  So this scenario
 * runs without it, whatever FIBER_KERNEL says (fiber-vm sets it on).
 */
static int main_counts_exactly(int argc, char **argv)
{
	long i, n = many_fibers(MANY);

	(void)argc, (void)argv;
	for (i = 0; i < n; i++) {
		CHECK(fiber_go(count, NULL) == 0);
		CHECK(fiber_num() == i + 2);
	}
	wait_others();
	CHECK(fiber_num() == 1);
	CHECK(counter == n);
	return 0;
}

TEST(fiber_num_is_exact_at_quiescent_points)
{
	setenv("FIBER_KERNEL", "off", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_counts_exactly, 1,
						     NULL, 0), 0));
}

static void writes_to_pipe(void *arg)
{
	CHECK(write(*(int *)arg, "x", 1) == 1);
}

static int pipe_fds[2];

static int main_exits_first(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go(writes_to_pipe, &pipe_fds[1]) == 0);
	fiber_exit();
}

/* Go: "no goroutines (main called runtime.Goexit) - deadlock!" */
TEST(main_fiber_exit_lets_others_finish_then_reports_deadlock)
{
	char c, err[256];

	ASSERT_EQ(0, pipe(pipe_fds));
	EXPECT_TRUE(exited_with(run_fiber_main_err(main_exits_first, err,
						   sizeof(err)), 2));
	EXPECT_NE(NULL, strstr(err, "main called fiber_exit) - deadlock!"))
		TH_LOG("stderr: %s", err);
	close(pipe_fds[1]);
	EXPECT_EQ(1, read(pipe_fds[0], &c, 1));
	close(pipe_fds[0]);
}

static int main_checks_errors(int argc, char **argv)
{
	(void)argc, (void)argv;
	/* NULL functions are misuses: strict_test. */
	CHECK(fiber_main(main_checks_errors, 0, NULL) == -EBUSY);
	return 0;
}

TEST(error_paths)
{
	/* Outside the runtime. */
	EXPECT_EQ(-ESRCH, fiber_go(count, NULL));
	EXPECT_EQ(-ESRCH, fiber_defer(record, NULL));
	EXPECT_EQ(0, fiber_id());
	EXPECT_EQ(-EINVAL, fiber_main(NULL, 0, NULL));
	/* Inside it. */
	EXPECT_TRUE(exited_with(run_fiber_main(main_checks_errors), 0));
}

static void rounds_up(void *arg)
{
	(void)arg;
	CHECK(fesetround(FE_UPWARD) == 0);
	fiber_yield();
	CHECK(fegetround() == FE_UPWARD);
}

static void rounds_to_nearest(void *arg)
{
	(void)arg;
	CHECK(fegetround() == FE_TONEAREST);
	fiber_yield();
	CHECK(fegetround() == FE_TONEAREST);
}

static int main_fp_modes(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go(rounds_up, NULL) == 0);
	CHECK(fiber_go(rounds_to_nearest, NULL) == 0);
	wait_others();
	return 0;
}

/* The rounding mode lives in MXCSR and the x87 control word: per fiber. */
TEST(floating_point_modes_are_per_fiber)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_fp_modes), 0));
}

TEST_HARNESS_MAIN
