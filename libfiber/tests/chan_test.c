// SPDX-License-Identifier: MIT
/*
 * Channels: Go's classic programs (the prime sieve, ping-pong), close
 * semantics, nil channels, errors, and many senders and receivers across
 * Ps with random yields, checking that no value is lost or duplicated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

/* ---- the prime sieve (Go's "Go Concurrency Patterns") ---- */

static void generate(void *arg)
{
	fiber_chan_t *ch = arg;
	int i;

	for (i = 2;; i++)
		if (fiber_chan_send(ch, &i))
			return;
}

struct filter {
	fiber_chan_t *in, *out;
	int prime;
};

static void filter(void *arg)
{
	struct filter *f = arg;
	int i;

	while (fiber_chan_recv(f->in, &i) == 1)
		if (i % f->prime && fiber_chan_send(f->out, &i))
			return;
}

static int main_sieve(int argc, char **argv)
{
	static const int want[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37,
				    41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83,
				    89, 97 };
	fiber_chan_t *ch = fiber_chan_new(sizeof(int), 0);
	struct filter *f;
	size_t i;
	int prime;

	(void)argc, (void)argv;
	CHECK(ch);
	CHECK(fiber_go(generate, ch) == 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK(fiber_chan_recv(ch, &prime) == 1);
		CHECK(prime == want[i]);
		f = malloc(sizeof(*f));
		f->in = ch;
		f->out = fiber_chan_new(sizeof(int), 0);
		f->prime = prime;
		CHECK(fiber_go(filter, f) == 0);
		ch = f->out;
	}
	return 0;	/* the chain is left running; main's return ends it */
}

TEST(prime_sieve_with_chained_channels)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_sieve), 0));
}

/* ---- ping-pong ---- */

#define PINGS	20000

struct pp {
	fiber_chan_t *ping, *pong;
};

static void ponger(void *arg)
{
	struct pp *pp = arg;
	long v;

	while (fiber_chan_recv(pp->ping, &v) == 1) {
		v++;
		CHECK(fiber_chan_send(pp->pong, &v) == 0);
	}
	CHECK(fiber_chan_close(pp->pong) == 0);
}

static int pingpong(size_t cap)
{
	struct pp pp = { fiber_chan_new(sizeof(long), cap),
			 fiber_chan_new(sizeof(long), cap) };
	long v = 0, i;

	CHECK(fiber_go(ponger, &pp) == 0);
	for (i = 0; i < scaled(PINGS); i++) {
		CHECK(fiber_chan_send(pp.ping, &v) == 0);
		CHECK(fiber_chan_recv(pp.pong, &v) == 1);
		CHECK(v == i + 1);
	}
	CHECK(fiber_chan_close(pp.ping) == 0);
	CHECK(fiber_chan_recv(pp.pong, &v) == 0);	/* closed by ponger */
	CHECK(v == 0);
	wait_others();
	fiber_chan_free(pp.ping);
	fiber_chan_free(pp.pong);
	return 0;
}

static int main_pingpong(int argc, char **argv)
{
	(void)argc, (void)argv;
	pingpong(0);
	pingpong(1);
	pingpong(16);
	return 0;
}

TEST(ping_pong_unbuffered_and_buffered)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_pingpong), 0));
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_pingpong, 1, NULL, 0),
				0));
}

/* ---- close ---- */

static fiber_chan_t *closing;
static _Atomic int woke_recv, woke_send;

static void blocked_receiver(void *arg)
{
	int v = 7;

	(void)arg;
	CHECK(fiber_chan_recv(closing, &v) == 0);
	CHECK(v == 0);
	woke_recv++;
}

static void blocked_sender(void *arg)
{
	int v = 1;

	(void)arg;
	CHECK(fiber_chan_send(closing, &v) == -EPIPE);
	woke_send++;
}

static int main_close(int argc, char **argv)
{
	fiber_chan_t *buf = fiber_chan_new(sizeof(int), 3);
	int i, v;

	(void)argc, (void)argv;
	/* Every waiter wakes. */
	closing = fiber_chan_new(sizeof(int), 0);
	for (i = 0; i < 10; i++)
		CHECK(fiber_go(blocked_receiver, NULL) == 0);
	while (fiber_num() > 1 && stats_now().waiting < 10)
		fiber_yield();
	CHECK(fiber_chan_close(closing) == 0);
	wait_others();
	CHECK(woke_recv == 10);
	CHECK(fiber_chan_free(closing) == 0);

	/* A closed buffered channel drains first, then gives 0. */
	for (i = 1; i <= 3; i++)
		CHECK(fiber_chan_send(buf, &i) == 0);
	CHECK(fiber_chan_len(buf) == 3);
	CHECK(fiber_chan_close(buf) == 0);
	for (i = 1; i <= 3; i++) {
		CHECK(fiber_chan_recv(buf, &v) == 1);
		CHECK(v == i);
	}
	CHECK(fiber_chan_recv(buf, &v) == 0);
	CHECK(fiber_chan_recv(buf, NULL) == 0);
	CHECK(fiber_chan_free(buf) == 0);
	return 0;
}

/*
 * Senders blocked when the channel closes all wake with -EPIPE.  That is
 * a misuse (Go panics in each sender), so it runs with FIBER_STRICT off;
 * strict_test has the misuses one by one.
 */
static int main_close_senders(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	closing = fiber_chan_new(sizeof(int), 0);
	for (i = 0; i < 10; i++)
		CHECK(fiber_go(blocked_sender, NULL) == 0);
	while (stats_now().waiting < 10)
		fiber_yield();
	CHECK(fiber_chan_close(closing) == 0);
	wait_others();
	CHECK(woke_send == 10);
	CHECK(fiber_chan_free(closing) == 0);
	return 0;
}

TEST(close_wakes_every_waiter_and_drains_first)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_close), 0));
	EXPECT_TRUE(exited_with(run_fiber_main_lax(main_close_senders), 0));
}

static int main_errors(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_chan_new(1, SIZE_MAX) == NULL);
	CHECK(fiber_chan_len(NULL) == 0);
	return 0;
}

TEST(errors)
{
	fiber_chan_t *c = fiber_chan_new(4, 1);
	int v = 0;

	/* Outside a fiber. */
	EXPECT_EQ(-ESRCH, fiber_chan_send(c, &v));
	EXPECT_EQ(-ESRCH, fiber_chan_recv(c, &v));
	EXPECT_EQ(0, fiber_chan_free(c));
	EXPECT_TRUE(exited_with(run_fiber_main(main_errors), 0));
}

static int main_nil_blocks(int argc, char **argv)
{
	int v;

	(void)argc, (void)argv;
	fiber_chan_recv(NULL, &v);
	return 0;
}

TEST(nil_channel_blocks_forever)
{
	char err[1024];

	EXPECT_TRUE(exited_with(run_fiber_main_err(main_nil_blocks, err,
						   sizeof(err)), 2));
	EXPECT_NE(NULL, strstr(err, "all fibers are asleep - deadlock!"))
		TH_LOG("%s", err);
	EXPECT_NE(NULL, strstr(err, "fiber 1 [waiting, chan receive (nil chan)]"))
		TH_LOG("%s", err);
}

/* ---- many to many across Ps ---- */

#define PRODUCERS	8
#define CONSUMERS	8
#define PER_PRODUCER	5000

static fiber_chan_t *mm;
static _Atomic long sum_recv, count_recv;

static void producer(void *arg)
{
	long base = (long)arg * PER_PRODUCER, i, v;

	for (i = 0; i < scaled(PER_PRODUCER); i++) {
		v = base + i;
		CHECK(fiber_chan_send(mm, &v) == 0);
		if (rand() % 7 == 0)
			fiber_yield();
	}
}

static void consumer(void *arg)
{
	long v;

	(void)arg;
	while (fiber_chan_recv(mm, &v) == 1) {
		sum_recv += v;
		count_recv++;
		if (rand() % 5 == 0)
			fiber_yield();
	}
}

static int many_to_many(size_t cap)
{
	fiber_wg_t wg = FIBER_WG_INITIALIZER;
	long i, want = 0, n = scaled(PER_PRODUCER);

	(void)wg;
	mm = fiber_chan_new(sizeof(long), cap);
	sum_recv = count_recv = 0;
	for (i = 0; i < CONSUMERS; i++)
		CHECK(fiber_go(consumer, NULL) == 0);
	for (i = 0; i < PRODUCERS; i++)
		CHECK(fiber_go(producer, (void *)i) == 0);
	while (fiber_num() > 1 + CONSUMERS)
		fiber_yield();
	CHECK(fiber_chan_close(mm) == 0);
	wait_others();
	for (i = 0; i < PRODUCERS; i++)
		want += n * (i * PER_PRODUCER) + n * (n - 1) / 2;
	CHECK(count_recv == PRODUCERS * n);
	CHECK(sum_recv == want);
	fiber_chan_free(mm);
	return 0;
}

static int main_many(int argc, char **argv)
{
	(void)argc, (void)argv;
	many_to_many(0);
	many_to_many(1);
	many_to_many(64);
	return 0;
}

TEST(many_senders_and_receivers_lose_nothing)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_many, 4, NULL, 0), 0));
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_many, 1, NULL, 0), 0));
}

TEST_HARNESS_MAIN
