// SPDX-License-Identifier: MIT
/*
 * fiber_select: uniform choice among ready cases, timeouts, the
 * non-blocking form, nil channels, closed channels, errors, and selects
 * racing each other over shared channels across Ps.
 */
#include <errno.h>
#include <string.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define PICKS	30000

static int main_fair(int argc, char **argv)
{
	fiber_chan_t *ch[3];
	struct fiber_case cs[3];
	int counts[3] = { 0 }, i, k, v = 1;

	(void)argc, (void)argv;
	for (i = 0; i < 3; i++)
		ch[i] = fiber_chan_new(sizeof(int), 1);
	for (k = 0; k < PICKS; k++) {
		for (i = 0; i < 3; i++) {
			if (fiber_chan_len(ch[i]) == 0)
				CHECK(fiber_chan_send(ch[i], &v) == 0);
			cs[i] = (struct fiber_case){ .op = FIBER_CASE_RECV,
						     .chan = ch[i], .elem = &v };
		}
		i = fiber_select(cs, 3, 0);
		CHECK(i >= 0 && i < 3 && cs[i].result == 1);
		counts[i]++;
	}
	for (i = 0; i < 3; i++) {
		printf("# case %d: %d of %d\n", i, counts[i], PICKS);
		/* 33% +- 3% */
		CHECK(counts[i] > PICKS * 30 / 100 && counts[i] < PICKS * 36 / 100);
		fiber_chan_free(ch[i]);
	}
	return 0;
}

TEST(picks_uniformly_among_ready_cases)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_fair), 0));
}

static void sends_late(void *arg)
{
	int v = 42;

	fiber_sleep(20 * 1000000);
	CHECK(fiber_chan_send(arg, &v) == 0);
}

static int main_timeout(int argc, char **argv)
{
	fiber_chan_t *ch = fiber_chan_new(sizeof(int), 0);
	int v = 0;
	struct fiber_case cs[2] = {
		{ .op = FIBER_CASE_RECV, .chan = ch, .elem = &v },
		{ .op = FIBER_CASE_TIMEOUT, .timeout_ns = 5 * 1000000 },
	};
	int64_t t0 = fiber_now();

	(void)argc, (void)argv;
	/* Nobody sends: the timeout wins, after at least 5 ms. */
	CHECK(fiber_select(cs, 2, 0) == 1);
	CHECK(fiber_now() - t0 >= 5 * 1000000);
	/* A sender within the timeout wins. */
	CHECK(fiber_go(sends_late, ch) == 0);
	cs[1].timeout_ns = 10LL * 1000000000;
	CHECK(fiber_select(cs, 2, 0) == 0);
	CHECK(cs[0].result == 1 && v == 42);
	/* A zero timeout is ready at once. */
	cs[1].timeout_ns = 0;
	CHECK(fiber_select(cs, 2, 0) == 1);
	wait_others();
	fiber_chan_free(ch);
	return 0;
}

TEST(timeout_case)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_timeout), 0));
}

static int main_nonblock(int argc, char **argv)
{
	fiber_chan_t *ch = fiber_chan_new(sizeof(int), 1);
	int v = 5;
	struct fiber_case cs[2] = {
		{ .op = FIBER_CASE_RECV, .chan = ch, .elem = &v },
		{ .op = FIBER_CASE_RECV, .chan = NULL, .elem = &v },
	};

	(void)argc, (void)argv;
	CHECK(fiber_select(cs, 2, FIBER_SELECT_NONBLOCK) == -EAGAIN);
	CHECK(fiber_select(NULL, 0, FIBER_SELECT_NONBLOCK) == -EAGAIN);
	/* A send case into a buffer with room is ready. */
	cs[0].op = FIBER_CASE_SEND;
	CHECK(fiber_select(cs, 2, FIBER_SELECT_NONBLOCK) == 0);
	CHECK(cs[0].result == 0);
	CHECK(fiber_select(cs, 2, FIBER_SELECT_NONBLOCK) == -EAGAIN);
	/*
	 * Closed: a receive is ready with 1 while values are buffered, then
	 * with 0.  (A send is ready with -EPIPE, a misuse: strict_test.)
	 */
	CHECK(fiber_chan_close(ch) == 0);
	cs[0].op = FIBER_CASE_RECV;
	CHECK(fiber_select(cs, 2, 0) == 0 && cs[0].result == 1 && v == 5);
	CHECK(fiber_select(cs, 2, 0) == 0 && cs[0].result == 0 && v == 0);
	/* Errors. */
	cs[0].op = 99;
	CHECK(fiber_select(cs, 2, 0) == -EINVAL);
	cs[0].op = FIBER_CASE_RECV;
	CHECK(fiber_select(cs, 2, 8) == -EINVAL);
	CHECK(fiber_select(cs, -1, 0) == -EINVAL);
	CHECK(fiber_select(NULL, 2, 0) == -EINVAL);
	fiber_chan_free(ch);
	return 0;
}

TEST(nonblocking_nil_closed_and_errors)
{
	struct fiber_case c = { .op = FIBER_CASE_TIMEOUT };

	EXPECT_EQ(-ESRCH, fiber_select(&c, 1, 0));
	EXPECT_TRUE(exited_with(run_fiber_main(main_nonblock), 0));
}

/*
 * Many selecting fibers on two shared channels, across Ps: every value
 * sent is received exactly once, and waiters left on the losing channel
 * are cleaned up (the channels are freed at the end under ASan).
 */
#define SELECTORS	16
#define VALUES		4000

static fiber_chan_t *a, *b, *quit;
static _Atomic long got_sum, got_n;

static void selector(void *arg)
{
	long v;
	struct fiber_case cs[3] = {
		{ .op = FIBER_CASE_RECV, .chan = a, .elem = &v },
		{ .op = FIBER_CASE_RECV, .chan = b, .elem = &v },
		{ .op = FIBER_CASE_RECV, .chan = quit, .elem = NULL },
	};

	(void)arg;
	for (;;) {
		int i = fiber_select(cs, 3, 0);

		CHECK(i >= 0);
		if (i == 2)
			return;
		CHECK(cs[i].result == 1);
		got_sum += v;
		got_n++;
	}
}

static void feeder(void *arg)
{
	fiber_chan_t *ch = arg;
	long i;

	for (i = 1; i <= scaled(VALUES); i++)
		CHECK(fiber_chan_send(ch, &i) == 0);
}

static int main_race(int argc, char **argv)
{
	long n = scaled(VALUES);
	int i;

	(void)argc, (void)argv;
	a = fiber_chan_new(sizeof(long), 0);
	b = fiber_chan_new(sizeof(long), 4);
	quit = fiber_chan_new(0, 0);
	for (i = 0; i < SELECTORS; i++)
		CHECK(fiber_go(selector, NULL) == 0);
	CHECK(fiber_go(feeder, a) == 0);
	CHECK(fiber_go(feeder, b) == 0);
	while (got_n < 2 * n)
		fiber_yield();
	CHECK(fiber_chan_close(quit) == 0);
	wait_others();
	CHECK(got_n == 2 * n);
	CHECK(got_sum == n * (n + 1));
	fiber_chan_free(a);
	fiber_chan_free(b);
	fiber_chan_free(quit);
	return 0;
}

TEST(selects_racing_over_shared_channels)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_race, 4, NULL, 0), 0));
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_race, 1, NULL, 0), 0));
}

/*
 * Selects whose only live case is a timeout, in a loop, with the stack
 * scribbled in between: the park commit must not touch the selecting
 * fiber's stack once the timer can fire.
 */
__attribute__((noinline)) static void scribble(void)
{
	volatile char b[2048];

	memset((char *)b, 0xa5, sizeof(b));
}

static _Atomic int timeouts_done;

static void times_out(void *arg)
{
	struct fiber_case cs[2];
	int i;

	(void)arg;
	for (i = 0; i < scaled(5000); i++) {
		cs[0] = (struct fiber_case){ .op = FIBER_CASE_TIMEOUT,
					     .timeout_ns = 1 + (i % 3) * 1000 };
		cs[1] = (struct fiber_case){ .op = FIBER_CASE_RECV };
		CHECK(fiber_select(cs, 2, 0) == 0);
		scribble();
		if (i % 7 == 0)
			fiber_yield();
	}
	timeouts_done++;
}

static int main_timeouts(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < 8; i++)
		CHECK(fiber_go(times_out, NULL) == 0);
	while (timeouts_done < 8)
		fiber_sleep(1000000);
	return 0;
}

TEST(timeout_only_selects_in_a_loop)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_timeouts), 0));
}

TEST_HARNESS_MAIN
