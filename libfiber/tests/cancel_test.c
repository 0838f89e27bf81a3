// SPDX-License-Identifier: MIT
/*
 * Cancellation as docs/libfiber.md documents it (Go's context done the C
 * way): one fiber_chan_close() of a channel nobody sends on stops every
 * fiber that selects on it, at once and for ever after; a deadline is a
 * timer object whose firing a watcher fiber turns into a cancel, or the
 * parent's cancel first.  libfiber/examples/cancel.c is the long form.
 */
#include <errno.h>
#include <stdatomic.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define MS	1000000LL
#define WATCHERS	200

struct cancel {
	fiber_chan_t *done;
	atomic_int cancelled;
};

static void cancel_init(struct cancel *c)
{
	c->done = fiber_chan_new(0, 0);
	CHECK(c->done);
	atomic_init(&c->cancelled, 0);
}

static void cancel(struct cancel *c)
{
	if (!atomic_exchange(&c->cancelled, 1))
		CHECK(fiber_chan_close(c->done) == 0);
}

static struct cancel root;
static fiber_chan_t *work;
static fiber_wg_t wg = FIBER_WG_INITIALIZER;
static _Atomic int stopped, items;

/* select { case v := <-work: ... case <-ctx.Done(): return } */
static void watcher(void *arg)
{
	struct fiber_case cs[2];
	int v, r;

	(void)arg;
	for (;;) {
		cs[0] = (struct fiber_case){ .op = FIBER_CASE_RECV, .chan = work,
					     .elem = &v };
		cs[1] = (struct fiber_case){ .op = FIBER_CASE_RECV,
					     .chan = root.done };
		r = fiber_select(cs, 2, 0);
		CHECK(r == 0 || r == 1);
		if (r == 1) {
			CHECK(cs[1].result == 0);	/* closed */
			break;
		}
		atomic_fetch_add(&items, 1);
	}
	atomic_fetch_add(&stopped, 1);
	CHECK(fiber_wg_done(&wg) == 0);
}

static int main_close_stops_all(int argc, char **argv)
{
	struct fiber_case c = { .op = FIBER_CASE_RECV };
	int i, v = 1;

	(void)argc, (void)argv;
	cancel_init(&root);
	work = fiber_chan_new(sizeof(int), 0);
	CHECK(work);
	for (i = 0; i < WATCHERS; i++) {
		CHECK(fiber_wg_add(&wg, 1) == 0);
		CHECK(fiber_go(watcher, NULL) == 0);
	}
	for (i = 0; i < 1000; i++)
		CHECK(fiber_chan_send(work, &v) == 0);
	cancel(&root);
	cancel(&root);	/* idempotent: no second close, which strict aborts */
	CHECK(fiber_wg_wait(&wg) == 0);
	CHECK(atomic_load(&stopped) == WATCHERS);
	CHECK(atomic_load(&items) == 1000);
	/* Done for ever: every later receive or select returns at once. */
	c.chan = root.done;
	CHECK(fiber_select(&c, 1, FIBER_SELECT_NONBLOCK) == 0 && c.result == 0);
	CHECK(fiber_chan_recv(root.done, NULL) == 0);
	fiber_chan_free(work);
	fiber_chan_free(root.done);
	return 0;
}

TEST(one_close_stops_every_watcher)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_close_stops_all, 4,
						     NULL, 0), 0));
}

/* context.WithTimeout: the child ends at its deadline or with its parent. */
struct child {
	struct cancel ctx, *parent;
	fiber_timer_t *deadline;
};

static void child_watch(void *arg)
{
	struct child *c = arg;
	struct fiber_case cs[3] = {
		{ .op = FIBER_CASE_RECV, .chan = fiber_timer_chan(c->deadline) },
		{ .op = FIBER_CASE_RECV, .chan = c->parent->done },
		{ .op = FIBER_CASE_RECV, .chan = c->ctx.done },
	};

	CHECK(fiber_select(cs, 3, 0) >= 0);
	cancel(&c->ctx);
	CHECK(fiber_wg_done(&wg) == 0);
}

static void with_deadline(struct child *c, struct cancel *parent, int64_t ns)
{
	c->parent = parent;
	cancel_init(&c->ctx);
	c->deadline = fiber_timer_new(ns);
	CHECK(c->deadline);
	CHECK(fiber_wg_add(&wg, 1) == 0);
	CHECK(fiber_go(child_watch, c) == 0);
}

static int main_deadline(int argc, char **argv)
{
	struct child a, b, c;
	int64_t t0 = fiber_now();

	(void)argc, (void)argv;
	cancel_init(&root);
	with_deadline(&a, &root, 20 * MS);
	with_deadline(&b, &root, 60 * 1000 * MS);
	with_deadline(&c, &root, 60 * 1000 * MS);
	/* a: its deadline, never before. */
	CHECK(fiber_chan_recv(a.ctx.done, NULL) == 0);
	CHECK(fiber_now() - t0 >= 20 * MS);
	CHECK(!atomic_load(&b.ctx.cancelled));
	/* c: cancelled on its own, its watcher ends too. */
	cancel(&c.ctx);
	/* b: with its parent, long before its deadline. */
	cancel(&root);
	CHECK(fiber_chan_recv(b.ctx.done, NULL) == 0);
	CHECK(fiber_now() - t0 < 60 * 1000 * MS);
	CHECK(fiber_wg_wait(&wg) == 0);
	fiber_timer_free(a.deadline);
	fiber_timer_free(b.deadline);
	fiber_timer_free(c.deadline);
	fiber_chan_free(a.ctx.done);
	fiber_chan_free(b.ctx.done);
	fiber_chan_free(c.ctx.done);
	fiber_chan_free(root.done);
	return 0;
}

TEST(a_deadline_or_the_parent_cancels_a_child)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_deadline, 2, NULL, 0), 0));
}

TEST_HARNESS_MAIN
