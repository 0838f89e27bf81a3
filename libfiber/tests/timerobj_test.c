// SPDX-License-Identifier: MIT
/*
 * Timer and ticker objects (fiber_timer_new, fiber_ticker_new): they fire
 * once or on a grid, never early, on a channel that works in
 * fiber_select; stop and reset follow Go 1.23 (no stale value after they
 * return, and their results); tickers drop ticks for a slow receiver;
 * stops, resets and frees racing the firings on 4 Ps lose no guarantee
 * and no memory (ASan, valgrind); the calls work from a thread that is
 * not a fiber; every error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define MS	1000000LL
#define US	1000LL
/* Never a tight upper bound: a timer must fire within this, not sooner. */
#define LATE_LIMIT	(2000 * MS)

/* Receive from @t's channel without waiting.  Return: 1 with a value in *v. */
static int poll_timer(fiber_timer_t *t, int64_t *v)
{
	struct fiber_case c = { .op = FIBER_CASE_RECV,
				.chan = fiber_timer_chan(t), .elem = v };
	int r = fiber_select(&c, 1, FIBER_SELECT_NONBLOCK);

	CHECK(r == 0 || r == -EAGAIN);
	if (r == 0)
		CHECK(c.result == 1);
	return r == 0;
}

/* Receive from @t's channel; the value, checked against now. */
static int64_t recv_timer(fiber_timer_t *t)
{
	int64_t v = 0;

	CHECK(fiber_chan_recv(fiber_timer_chan(t), &v) == 1);
	CHECK(v > 0 && v <= fiber_now());
	return v;
}

static int main_once(int argc, char **argv)
{
	fiber_timer_t *t;
	int64_t t0, v, got;

	(void)argc, (void)argv;
	t0 = fiber_now();
	t = fiber_timer_new(5 * MS);
	CHECK(t && fiber_timer_chan(t));
	v = recv_timer(t);
	got = fiber_now();
	printf("# fired after %.2f ms, received after %.2f ms\n",
	       (v - t0) / 1e6, (got - t0) / 1e6);
	/* The value is the time it was due: never early, nor the receive. */
	CHECK(v >= t0 + 5 * MS && got >= v);
	CHECK(got - t0 <= LATE_LIMIT);
	/* Once only. */
	fiber_sleep(10 * MS);
	CHECK(!poll_timer(t, &v));
	/* Fired and received: neither stop nor reset finds it active. */
	CHECK(fiber_timer_stop(t) == 0);
	t0 = fiber_now();
	CHECK(fiber_timer_reset(t, MS) == 0);
	v = recv_timer(t);
	CHECK(v >= t0 + MS && fiber_now() - t0 <= LATE_LIMIT);
	fiber_timer_free(t);

	/* 0 and negative: at once. */
	t = fiber_timer_new(0);
	CHECK(t);
	recv_timer(t);
	fiber_timer_free(t);
	t = fiber_timer_new(-5);
	CHECK(t);
	recv_timer(t);
	fiber_timer_free(t);
	return 0;
}

TEST(a_timer_fires_once_never_early)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_once, 2, NULL, 0), 0));
}

static int main_stop(int argc, char **argv)
{
	fiber_timer_t *t;
	int64_t v;

	(void)argc, (void)argv;
	/* Stopped before it fires: true, and nothing ever arrives. */
	t = fiber_timer_new(20 * MS);
	CHECK(t);
	CHECK(fiber_timer_stop(t) == 1);
	CHECK(fiber_timer_stop(t) == 0);
	fiber_sleep(40 * MS);
	CHECK(!poll_timer(t, &v));
	fiber_timer_free(t);

	/*
	 * Fired but not received: Go 1.23's Stop still returns true, and
	 * the value sent before the stop is never received.
	 */
	t = fiber_timer_new(MS);
	CHECK(t);
	while (fiber_chan_len(fiber_timer_chan(t)) == 0)
		fiber_sleep(MS);
	CHECK(fiber_timer_stop(t) == 1);
	CHECK(!poll_timer(t, &v));
	CHECK(fiber_timer_stop(t) == 0);
	fiber_timer_free(t);
	return 0;
}

TEST(stop_leaves_no_value_to_receive)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_stop, 2, NULL, 0), 0));
}

static int main_reset(int argc, char **argv)
{
	fiber_timer_t *t;
	int64_t t0, v;

	(void)argc, (void)argv;
	/* Reset before it fires: active, and it fires at the new time. */
	t = fiber_timer_new(10 * MS);
	CHECK(t);
	t0 = fiber_now();
	CHECK(fiber_timer_reset(t, 30 * MS) == 1);
	v = recv_timer(t);
	CHECK(v >= t0 + 30 * MS && fiber_now() - t0 <= LATE_LIMIT);
	fiber_sleep(10 * MS);
	CHECK(!poll_timer(t, &v));	/* the first arming never fires */

	/* Reset after it fired, value unreceived: dropped, not received. */
	CHECK(fiber_timer_reset(t, MS) == 0);
	while (fiber_chan_len(fiber_timer_chan(t)) == 0)
		fiber_sleep(MS);
	t0 = fiber_now();
	CHECK(fiber_timer_reset(t, 20 * MS) == 1);
	v = recv_timer(t);
	CHECK(v >= t0 + 20 * MS);

	/* Reset a stopped timer: it runs again. */
	CHECK(fiber_timer_stop(t) == 0);
	t0 = fiber_now();
	CHECK(fiber_timer_reset(t, 2 * MS) == 0);
	v = recv_timer(t);
	CHECK(v >= t0 + 2 * MS);
	fiber_timer_free(t);
	return 0;
}

TEST(reset_rearms_and_drops_the_stale_value)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_reset, 2, NULL, 0), 0));
}

static int main_ticker(int argc, char **argv)
{
	int64_t t0, v, prev, first = 0, period = 5 * MS;
	fiber_timer_t *t;
	int i;

	(void)argc, (void)argv;
	t0 = fiber_now();
	t = fiber_ticker_new(period);
	CHECK(t);
	prev = t0;
	for (i = 0; i < 10; i++) {
		v = recv_timer(t);
		/* On the grid of its period, never early. */
		if (i == 0)
			first = v;
		CHECK(v - prev >= period);
		CHECK((v - first) % period == 0);
		CHECK(fiber_now() - v <= LATE_LIMIT);
		prev = v;
	}
	printf("# 10 ticks of 5 ms in %.1f ms\n", (fiber_now() - t0) / 1e6);

	/* A slow receiver: ticks are dropped, not queued, grid kept. */
	fiber_sleep(10 * period);
	CHECK(fiber_chan_len(fiber_timer_chan(t)) == 1);
	v = recv_timer(t);
	CHECK(v >= prev + period);
	prev = v;
	v = recv_timer(t);
	CHECK(v > prev && (v - prev) % period == 0);

	/* A new period. */
	t0 = fiber_now();
	CHECK(fiber_timer_reset(t, 2 * period) == 1);
	v = recv_timer(t);
	CHECK(v >= t0 + 2 * period);
	prev = v;
	v = recv_timer(t);
	CHECK(v > prev && (v - prev) % (2 * period) == 0);

	/* Stopped: no tick left, none comes. */
	CHECK(fiber_timer_stop(t) == 1);
	CHECK(fiber_timer_stop(t) == 0);
	fiber_sleep(3 * 2 * period);
	CHECK(!poll_timer(t, &v));
	fiber_timer_free(t);
	return 0;
}

TEST(a_ticker_ticks_on_its_grid_and_drops_for_slow_receivers)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_ticker, 2, NULL, 0), 0));
}

/*
 * In a select with a channel nobody sends on, and as a deadline over a
 * loop of selects (what FIBER_CASE_TIMEOUT, armed afresh by each select,
 * cannot do).
 */
static int main_select(int argc, char **argv)
{
	fiber_chan_t *work = fiber_chan_new(sizeof(int), 0);
	fiber_timer_t *deadline;
	int64_t t0, v = 0;
	int w, rounds = 0;
	struct fiber_case cs[3];

	(void)argc, (void)argv;
	CHECK(work);
	t0 = fiber_now();
	/* Long enough for a 1 ms select to end first on a loaded emulator. */
	deadline = fiber_timer_new(300 * MS);
	CHECK(deadline);
	for (;;) {
		cs[0] = (struct fiber_case){ .op = FIBER_CASE_RECV, .chan = work,
					     .elem = &w };
		cs[1] = (struct fiber_case){ .op = FIBER_CASE_RECV,
					     .chan = fiber_timer_chan(deadline),
					     .elem = &v };
		cs[2] = (struct fiber_case){ .op = FIBER_CASE_TIMEOUT,
					     .timeout_ns = MS };
		w = fiber_select(cs, 3, 0);
		CHECK(w == 1 || w == 2);
		if (w == 1)
			break;
		rounds++;
	}
	CHECK(cs[1].result == 1);
	CHECK(v >= t0 + 300 * MS && fiber_now() - t0 <= LATE_LIMIT);
	printf("# the deadline ended a loop of %d selects\n", rounds);
	CHECK(rounds >= 1);
	fiber_timer_free(deadline);
	fiber_chan_free(work);
	return 0;
}

TEST(a_timer_in_select_as_a_deadline)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_select, 2, NULL, 0), 0));
}

/*
 * Races: fibers on 4 Ps stop, reset and free timers due within
 * microseconds, so that the calls meet the firings on other Ms.  After a
 * stop returns, no value may arrive; after a reset, exactly one, and not
 * early; a ticker freed while it fires every microsecond leaves nothing
 * behind (ASan and valgrind would see a use after free).
 */
#define RACERS	8

static _Atomic int racers_done;

static void racer(void *arg)
{
	unsigned long seed = (unsigned long)arg;
	long n = scaled(400), i;
	fiber_timer_t *t;
	int64_t v, t0;
	int was;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		t = fiber_timer_new((seed >> 8) % 50 * US);
		CHECK(t);
		if (seed & 0x10000)
			fiber_yield();
		was = fiber_timer_stop(t);
		CHECK(was == 0 || was == 1);
		/* After a stop nothing arrives, even from a firing in flight. */
		CHECK(!poll_timer(t, &v));
		if (i % 16 == 0) {
			fiber_sleep(100 * US);
			CHECK(!poll_timer(t, &v));
		}
		/* A reset racing nothing now: one value, not early. */
		t0 = fiber_now();
		CHECK(fiber_timer_reset(t, (seed >> 12) % 30 * US) == 0);
		v = recv_timer(t);
		CHECK(v >= t0);
		CHECK(!poll_timer(t, &v));
		fiber_timer_free(t);

		/* A ticker freed while it fires as fast as it can. */
		t = fiber_ticker_new(1);
		CHECK(t);
		if (seed & 0x20000)
			fiber_yield();
		fiber_timer_free(t);
	}
	atomic_fetch_add(&racers_done, 1);
}

static int main_races(int argc, char **argv)
{
	long i;

	(void)argc, (void)argv;
	for (i = 0; i < RACERS; i++)
		CHECK(fiber_go(racer, (void *)(i + 1)) == 0);
	wait_others();
	CHECK(atomic_load(&racers_done) == RACERS);
	return 0;
}

TEST(stop_reset_and_free_racing_the_firings)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_races, 4, NULL, 0), 0));
}

/*
 * A reset that meets a firing already taken off its heap, its callback
 * on the way to the timer's lock (see "Stale callbacks" in timerobj.c).
 * That window lasts nanoseconds, so the test widens it:
 * FIBER_TEST_TIMER_DELAY makes each callback wait 1 ms before it takes
 * the lock.  Fiber A arms a timer on its P and yields in a loop, so that
 * its P takes the timer off its heap when it is due; fiber B, on the
 * other P, resets it 100 us later, in the middle of that wait:
 *  - for 3 ms: the old callback must see the new time ahead and deliver
 *    nothing (else the value comes early);
 *  - for at once, while B computes for 1.5 ms so that its P does not run
 *    the new arming: the old callback delivers for it (once);
 *  - a ticker, for a period of 50 us, B computing as before: the old
 *    callback delivers for the new arming and must take it out of B's
 *    heap before it arms the next tick (else the timer is in two heaps,
 *    and one of them runs it after the free: ASan sees it, or a crash).
 * A round where A's thread did not run in time meets nothing and proves
 * nothing, but passes: on an idle machine most rounds meet the window.
 */
#define CHASE_DELAY	"1000000"

static struct {
	fiber_timer_t *t;
	int64_t due;
	_Atomic long round;		/* armed: t and due are B's to use */
	_Atomic long done;		/* the last round B finished */
	_Atomic bool stop;
} chase;

static void chase_armer(void *arg)
{
	long round;

	(void)arg;
	for (round = 1; !atomic_load(&chase.stop); round++) {
		chase.due = fiber_now() + 20 * US;
		if (round % 3 == 0)
			chase.t = fiber_ticker_new(20 * US);
		else
			chase.t = fiber_timer_new(20 * US);
		CHECK(chase.t);
		atomic_store(&chase.round, round);
		while (atomic_load(&chase.done) != round &&
		       !atomic_load(&chase.stop))
			fiber_yield();
		fiber_timer_free(chase.t);
	}
}

static void spin_until(int64_t when)
{
	while (fiber_now() < when)
		;
}

static int main_chase(int argc, char **argv)
{
	long round, n = scaled(150);
	int64_t t0, v, d;

	(void)argc, (void)argv;
	CHECK(fiber_go(chase_armer, NULL) == 0);
	for (round = 1; round <= n; round++) {
		/*
		 * Spin, not yield or sleep: A and B could end up taking
		 * turns on one P, and A's P would fire nothing meanwhile.
		 */
		while (atomic_load(&chase.round) != round)
			;
		spin_until(chase.due + 100 * US);
		d = round % 3 == 0 ? 50 * US : round % 3 == 1 ? 3000 * US : 0;
		t0 = fiber_now();
		CHECK(fiber_timer_reset(chase.t, d) >= 0);
		if (d < 1000 * US)
			spin_until(t0 + 1500 * US);
		v = recv_timer(chase.t);
		CHECK(v >= t0 + d && fiber_now() >= t0 + d);
		if (round % 3 == 0) {
			/* Freed at once, while B's P may still hold it. */
			CHECK(fiber_timer_stop(chase.t) == 1);
		} else {
			fiber_sleep(3000 * US);
			CHECK(!poll_timer(chase.t, &v));
		}
		atomic_store(&chase.done, round);
	}
	atomic_store(&chase.stop, true);
	wait_others();
	return 0;
}

TEST(a_reset_meeting_a_firing_in_flight)
{
	setenv("FIBER_TEST_TIMER_DELAY", CHASE_DELAY, 1);
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_chase, 2, NULL, 0), 0));
	unsetenv("FIBER_TEST_TIMER_DELAY");
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_chase, 2, NULL, 0), 0));
}

/* A thread that is not a fiber may use them too (the receive excepted). */
static void *foreign_thread(void *arg)
{
	fiber_timer_t *t = fiber_timer_new(MS);

	(void)arg;
	if (!t)
		return (void *)1;
	while (fiber_chan_len(fiber_timer_chan(t)) == 0)
		usleep(1000);
	if (fiber_timer_stop(t) != 1 || fiber_timer_reset(t, 0) != 0)
		return (void *)2;
	fiber_timer_free(t);
	return NULL;
}

static int main_foreign(int argc, char **argv)
{
	pthread_t th;
	void *ret = (void *)3;
	fiber_timer_t *t;

	(void)argc, (void)argv;
	CHECK(pthread_create(&th, NULL, foreign_thread, NULL) == 0);
	/* Joining blocks this fiber's thread: let another P run timers. */
	fiber_syscall_enter();
	CHECK(pthread_join(th, &ret) == 0);
	fiber_syscall_exit();
	CHECK(ret == NULL);
	/* Freed by a thread while a fiber waits on... nothing: just free. */
	t = fiber_ticker_new(MS);
	CHECK(t);
	fiber_timer_free(t);
	return 0;
}

TEST(usable_from_a_thread_that_is_not_a_fiber)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_foreign, 2, NULL, 0), 0));
}

static int main_errors(int argc, char **argv)
{
	fiber_timer_t *t;

	(void)argc, (void)argv;
	errno = 0;
	CHECK(!fiber_ticker_new(0) && errno == EINVAL);
	errno = 0;
	CHECK(!fiber_ticker_new(-MS) && errno == EINVAL);
	CHECK(fiber_timer_stop(NULL) == -EINVAL);
	CHECK(fiber_timer_reset(NULL, MS) == -EINVAL);
	CHECK(fiber_timer_chan(NULL) == NULL);
	fiber_timer_free(NULL);
	t = fiber_ticker_new(MS);
	CHECK(t);
	CHECK(fiber_timer_reset(t, 0) == -EINVAL);
	CHECK(fiber_timer_reset(t, -1) == -EINVAL);
	/* The bad reset changed nothing: it still ticks every 1 ms. */
	recv_timer(t);
	recv_timer(t);
	fiber_timer_free(t);

	/* Beyond the clock's range: never, without overflowing (UBSan). */
	t = fiber_timer_new(INT64_MAX);
	CHECK(t);
	CHECK(fiber_timer_reset(t, INT64_MAX) == 1);
	fiber_sleep(MS);
	CHECK(fiber_timer_stop(t) == 1);
	fiber_timer_free(t);
	t = fiber_ticker_new(INT64_MAX);
	CHECK(t);
	fiber_sleep(MS);
	CHECK(fiber_timer_stop(t) == 1);
	fiber_timer_free(t);
	return 0;
}

TEST(errors)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_errors), 0));
}

TEST(before_fiber_main_there_is_no_runtime)
{
	errno = 0;
	EXPECT_EQ(NULL, fiber_timer_new(MS));
	EXPECT_EQ(ESRCH, errno);
	errno = 0;
	EXPECT_EQ(NULL, fiber_ticker_new(MS));
	EXPECT_EQ(ESRCH, errno);
}

TEST_HARNESS_MAIN
