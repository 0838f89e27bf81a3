// SPDX-License-Identifier: MIT
/*
 * Channels: Go's classic programs (the prime sieve, ping-pong), close
 * semantics, nil channels, errors, and many senders and receivers across
 * Ps with random yields, checking that no value is lost or duplicated.
 * Buffered channels pass values through a lock-free ring (chan.c): the
 * last tests race it, with select, parking and close, for order and loss.
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

static fiber_chan_t *must_new(size_t elem_size, size_t cap)
{
	fiber_chan_t *c = fiber_chan_new(elem_size, cap);

	CHECK(c);
	return c;
}

static int main_errors(int argc, char **argv)
{
	(void)argc, (void)argv;
	errno = 0;
	CHECK(fiber_chan_new(1, SIZE_MAX) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(fiber_chan_new(1, (1ULL << 40) + 1) == NULL && errno == EINVAL);
	errno = 0;
	CHECK(fiber_chan_new(SIZE_MAX, 2) == NULL && errno == EINVAL);
	/* Elements of any size, and of none (Go's chan struct{}). */
	CHECK(fiber_chan_free(must_new(0, 3)) == 0);
	CHECK(fiber_chan_free(must_new(13, 3)) == 0);
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
	EXPECT_NE(NULL, strstr(err, "fiber 1 [waiting, chan receive (nil chan), "))
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

/* ---- the ring of a buffered channel, raced ---- */

#define RING_SENDERS	4
#define RING_PER_SENDER	4000

static fiber_chan_t *ring_ch, *ring_never;
static _Atomic long ring_count, ring_sum;

/* Every other sender and receiver goes through select, with a dead case. */
static int ring_send(long v, bool via_select)
{
	struct fiber_case cs[2] = {
		{ .op = FIBER_CASE_RECV, .chan = ring_never, .elem = NULL },
		{ .op = FIBER_CASE_SEND, .chan = ring_ch, .elem = &v },
	};

	if (!via_select)
		return fiber_chan_send(ring_ch, &v);
	CHECK(fiber_select(cs, 2, 0) == 1);
	return cs[1].result;
}

static int ring_recv(long *v, bool via_select)
{
	struct fiber_case cs[2] = {
		{ .op = FIBER_CASE_RECV, .chan = ring_never, .elem = NULL },
		{ .op = FIBER_CASE_RECV, .chan = ring_ch, .elem = v },
	};

	if (!via_select)
		return fiber_chan_recv(ring_ch, v);
	CHECK(fiber_select(cs, 2, 0) == 1);
	return cs[1].result;
}

static void ring_sender(void *arg)
{
	long id = (long)arg, i;

	for (i = 0; i < scaled(RING_PER_SENDER); i++) {
		CHECK(ring_send(id << 32 | i, id & 1) == 0);
		if (rand() % 11 == 0)
			fiber_yield();
	}
}

/* Each sender's values reach each receiver in the order they were sent. */
static void ring_receiver(void *arg)
{
	long last[RING_SENDERS] = { -1, -1, -1, -1 }, v, id, seq;
	bool via_select = (long)arg & 1;

	while (ring_recv(&v, via_select) == 1) {
		id = v >> 32;
		seq = v & 0xffffffff;
		CHECK(id >= 0 && id < RING_SENDERS);
		CHECK(seq > last[id]);
		last[id] = seq;
		ring_count++;
		ring_sum += v;
		if (rand() % 13 == 0)
			fiber_yield();
	}
}

static int main_ring_order(int argc, char **argv)
{
	static const size_t caps[] = { 1, 2, 3, 5, 64 };
	long i, want, n = scaled(RING_PER_SENDER);
	size_t k;

	(void)argc, (void)argv;
	ring_never = fiber_chan_new(0, 0);
	for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		ring_ch = fiber_chan_new(sizeof(long), caps[k]);
		CHECK(ring_ch);
		ring_count = ring_sum = 0;
		for (i = 0; i < 4; i++)
			CHECK(fiber_go(ring_receiver, (void *)i) == 0);
		for (i = 0; i < RING_SENDERS; i++)
			CHECK(fiber_go(ring_sender, (void *)i) == 0);
		while (fiber_num() > 1 + 4)
			fiber_yield();
		CHECK(fiber_chan_close(ring_ch) == 0);
		wait_others();
		for (want = 0, i = 0; i < RING_SENDERS; i++)
			want += n * (i << 32) + n * (n - 1) / 2;
		CHECK(ring_count == RING_SENDERS * n);
		CHECK(ring_sum == want);
		CHECK(fiber_chan_len(ring_ch) == 0);
		CHECK(fiber_chan_free(ring_ch) == 0);
	}
	return 0;
}

TEST(buffered_values_keep_each_senders_order)
{
	EXPECT_CLEAN_RUN_PROCS(main_ring_order, 4);
	EXPECT_CLEAN_RUN_PROCS(main_ring_order, 2);
}

/*
 * Close in the middle of sends and receives.  A send either fails or its
 * value is received, exactly once; once a receive has said "closed", no
 * value turns up later (a send that claimed its slot before the close
 * is received before that).
 */
static _Atomic long close_sent, close_sent_sum;

static void close_sender(void *arg)
{
	long v = (long)arg * 1000000;

	for (;; v++) {
		if (ring_send(v, v & 1) != 0)
			return;	/* -EPIPE: closed */
		close_sent++;
		close_sent_sum += v;
	}
}

static void close_receiver(void *arg)
{
	long v;
	int i;

	while (ring_recv(&v, (long)arg & 1) == 1) {
		ring_count++;
		ring_sum += v;
	}
	for (i = 0; i < 3; i++)
		CHECK(fiber_chan_recv(ring_ch, &v) == 0 && v == 0);
}

static int main_close_race(int argc, char **argv)
{
	long round, i, rounds = scaled(300);

	(void)argc, (void)argv;
	ring_never = fiber_chan_new(0, 0);
	for (round = 0; round < rounds; round++) {
		ring_ch = fiber_chan_new(sizeof(long), 1 + round % 4);
		ring_count = ring_sum = close_sent = close_sent_sum = 0;
		for (i = 0; i < 3; i++) {
			CHECK(fiber_go(close_receiver, (void *)i) == 0);
			CHECK(fiber_go(close_sender, (void *)(i + 1)) == 0);
		}
		for (i = 0; i < round % 7; i++)
			fiber_yield();
		CHECK(fiber_chan_close(ring_ch) == 0);
		wait_others();
		CHECK(ring_count == close_sent);
		CHECK(ring_sum == close_sent_sum);
		CHECK(fiber_chan_free(ring_ch) == 0);
	}
	return 0;
}

TEST(close_races_buffered_sends_and_receives)
{
	/* Lax: the sends that lose to the close return -EPIPE. */
	EXPECT_TRUE(exited_with(run_fiber_main_as(main_close_race, 4, "0",
						  NULL, 0), 0));
}
/* 1 s here; 10 s on fiber.ko in the VM, where each wake-up is a module call. */
TEST_LIMIT(close_races_buffered_sends_and_receives, 120)

/*
 * A sender and a receiver on two Ps at once, each locked to its thread
 * so that they really run in parallel, a channel of one value between
 * them and a random pause after each operation: the receiver often
 * parks just as a value arrives, the sender just as room appears.  A
 * lost wake-up shows as a deadlock report.
 */
#define EDGE_VALUES	100000

static fiber_wg_t edge_wg = FIBER_WG_INITIALIZER;

static void edge_pause(unsigned int *seed)
{
	volatile int spin;
	int n = (int)(rand_r(seed) % 64);

	for (spin = 0; spin < n; spin++)
		;
}

static void edge_sender(void *arg)
{
	unsigned int seed = 1;
	long i;

	(void)arg;
	fiber_lock_thread();
	for (i = 0; i < scaled(EDGE_VALUES); i++) {
		CHECK(fiber_chan_send(ring_ch, &i) == 0);
		edge_pause(&seed);
	}
	fiber_unlock_thread();
	fiber_wg_done(&edge_wg);
}

static void edge_receiver(void *arg)
{
	unsigned int seed = 2;
	long i, v;

	(void)arg;
	fiber_lock_thread();
	for (i = 0; i < scaled(EDGE_VALUES); i++) {
		CHECK(fiber_chan_recv(ring_ch, &v) == 1);
		CHECK(v == i);
		edge_pause(&seed);
	}
	fiber_unlock_thread();
	fiber_wg_done(&edge_wg);
}

static int main_edge(int argc, char **argv)
{
	(void)argc, (void)argv;
	ring_ch = fiber_chan_new(sizeof(long), 1);
	fiber_wg_add(&edge_wg, 2);
	CHECK(fiber_go(edge_receiver, NULL) == 0);
	CHECK(fiber_go(edge_sender, NULL) == 0);
	CHECK(fiber_wg_wait(&edge_wg) == 0);
	CHECK(fiber_chan_free(ring_ch) == 0);
	return 0;
}

TEST(a_fiber_parking_as_the_ring_changes_is_woken)
{
	EXPECT_CLEAN_RUN_PROCS(main_edge, 2);
}
/*
 * 2 s here; 16 s on fiber.ko in the 6.1 VM, past 30 s on 6.12: the two
 * locked threads hand the P to each other through the module at every
 * value.
 */
TEST_LIMIT(a_fiber_parking_as_the_ring_changes_is_woken, 300)

/*
 * Go's fan-in, as skynet does it: children send one value each and the
 * parent frees the channel as soon as it has them all, while the last
 * sender may still be on its way out of fiber_chan_send().  Its send is
 * complete for the program, so the channel must not be touched after
 * that (the ASan and valgrind runs of this test catch a late touch).
 */
#define FANIN_CHILDREN	10

static void fanin_child(void *arg)
{
	long v = 1;

	CHECK(fiber_chan_send(arg, &v) == 0);
}

static int main_fanin(int argc, char **argv)
{
	long round, i, v, sum, rounds = scaled(3000);
	fiber_chan_t *ch;

	(void)argc, (void)argv;
	for (round = 0; round < rounds; round++) {
		/* Room for all, for some, for one: senders wait, or not. */
		ch = fiber_chan_new(sizeof(long), round % 3 == 0 ? 1 :
					   round % 3 == 1 ? 4 : FANIN_CHILDREN);
		CHECK(ch);
		for (i = 0; i < FANIN_CHILDREN; i++)
			CHECK(fiber_go(fanin_child, ch) == 0);
		/* Sometimes the parent waits first: its slot gets marked. */
		if (round & 4)
			fiber_yield();
		for (sum = 0, i = 0; i < FANIN_CHILDREN; i++) {
			CHECK(fiber_chan_recv(ch, &v) == 1);
			sum += v;
		}
		CHECK(sum == FANIN_CHILDREN);
		CHECK(fiber_chan_free(ch) == 0);
	}
	wait_others();
	return 0;
}

TEST(a_channel_freed_after_its_last_value_arrives)
{
	EXPECT_CLEAN_RUN_PROCS(main_fanin, 4);
	EXPECT_CLEAN_RUN_PROCS(main_fanin, 2);
}
/* 19 s under ASan beside make check's valgrind run; far less elsewhere. */
TEST_LIMIT(a_channel_freed_after_its_last_value_arrives, 120)

TEST_HARNESS_MAIN
