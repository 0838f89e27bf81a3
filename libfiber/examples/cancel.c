// SPDX-License-Identifier: MIT
/*
 * Cancellation the way Go's context package does it: a channel that is
 * closed to cancel.  A receive from a closed channel returns at once, in
 * every fiber and every select that watches it, for ever after: one
 * fiber_chan_close() reaches them all, however many there are.
 *
 *  1. Workers send results until main has enough and cancels them.
 *  2. A child with a deadline: a watcher fiber cancels it when its timer
 *     fires or when its parent is cancelled, whichever comes first.
 *
 * No new API is needed: a channel of empty elements, closed once, and a
 * timer for the deadline.  The once matters: closing a closed channel is
 * an error (a panic in Go), and a cancel may come from several places.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fiber.h"

#define MS	1000000LL

/* Calls that cannot fail here; say so loudly if one does. */
static int must(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "cancel: %s: %s\n", what, strerror(-ret));
		exit(1);
	}
	return ret;
}

/* Go's context: Done() is the channel, the cancel function closes it. */
struct cancel {
	fiber_chan_t *done;		/* never sent on; closed to cancel */
	atomic_int cancelled;
};

static int cancel_init(struct cancel *c)
{
	c->done = fiber_chan_new(0, 0);
	atomic_init(&c->cancelled, 0);
	return c->done ? 0 : -1;
}

/* Cancel @c: idempotent, from any fiber. */
static void cancel(struct cancel *c)
{
	if (!atomic_exchange(&c->cancelled, 1))
		must(fiber_chan_close(c->done), "close");
}

/* Has @c been cancelled?  (Go's ctx.Err() != nil.) */
static int cancelled(struct cancel *c)
{
	return atomic_load(&c->cancelled);
}

/* ---- 1. workers stopped by their consumer ------------------------------ */

struct work {
	struct cancel *ctx;
	fiber_chan_t *results;
	fiber_wg_t *wg;
	int id;
};

static void worker(void *arg)
{
	struct work *w = arg;
	int n, value;

	for (n = 0;; n++) {
		struct fiber_case cs[2] = {
			{ .op = FIBER_CASE_SEND, .chan = w->results, .elem = &value },
			{ .op = FIBER_CASE_RECV, .chan = w->ctx->done },
		};

		value = w->id * 1000 + n;	/* the work: cheap here */
		/* Go's select { case results <- v: case <-ctx.Done(): return } */
		if (must(fiber_select(cs, 2, 0), "select") == 1)
			break;
	}
	must(fiber_wg_done(w->wg), "wg_done");
}

static int first_enough(void)
{
	fiber_wg_t wg = FIBER_WG_INITIALIZER;
	struct work w[4];
	struct cancel ctx;
	fiber_chan_t *results = fiber_chan_new(sizeof(int), 0);
	int i, value;

	if (!results || cancel_init(&ctx))
		return 1;
	for (i = 0; i < 4; i++) {
		w[i] = (struct work){ &ctx, results, &wg, i + 1 };
		must(fiber_wg_add(&wg, 1), "wg_add");
		must(fiber_go(worker, &w[i]), "go");
	}
	for (i = 0; i < 10; i++)
		if (must(fiber_chan_recv(results, &value), "recv") != 1)
			return 1;
	printf("  1. got 10 results (the last %d); cancelling 4 workers\n", value);
	cancel(&ctx);
	must(fiber_wg_wait(&wg), "wg_wait");	/* every worker saw it */
	printf("     all workers returned\n");
	fiber_chan_free(results);
	fiber_chan_free(ctx.done);
	return 0;
}

/* ---- 2. a child with a deadline ----------------------------------------- */

struct child {
	struct cancel ctx, *parent;
	fiber_timer_t *deadline;
	fiber_wg_t *wg;
};

/*
 * Go's context.WithTimeout: the child is cancelled when its deadline
 * passes or its parent is cancelled; also when the child itself is
 * cancelled early, which lets this watcher end.
 */
static void watch(void *arg)
{
	struct child *c = arg;
	struct fiber_case cs[3] = {
		{ .op = FIBER_CASE_RECV, .chan = fiber_timer_chan(c->deadline) },
		{ .op = FIBER_CASE_RECV, .chan = c->parent->done },
		{ .op = FIBER_CASE_RECV, .chan = c->ctx.done },
	};

	must(fiber_select(cs, 3, 0), "select");
	cancel(&c->ctx);
	must(fiber_wg_done(c->wg), "wg_done");
}

static int with_deadline(struct child *c, struct cancel *parent,
			 int64_t ns, fiber_wg_t *wg)
{
	c->parent = parent;
	c->wg = wg;
	c->deadline = fiber_timer_new(ns);
	if (!c->deadline || cancel_init(&c->ctx))
		return -1;
	must(fiber_wg_add(wg, 1), "wg_add");
	return fiber_go(watch, c);
}

/* A slow job: a result every 10 ms, until its context is cancelled. */
static int slow_job(struct cancel *ctx)
{
	int done = 0;

	for (;;) {
		struct fiber_case cs[2] = {
			{ .op = FIBER_CASE_TIMEOUT, .timeout_ns = 10 * MS },
			{ .op = FIBER_CASE_RECV, .chan = ctx->done },
		};
		if (must(fiber_select(cs, 2, 0), "select") == 1)
			return done;
		done++;
	}
}

static int deadline(void)
{
	fiber_wg_t wg = FIBER_WG_INITIALIZER;
	struct child a, b;
	struct cancel root;
	int64_t t0 = fiber_now();
	int n;

	if (cancel_init(&root) || with_deadline(&a, &root, 50 * MS, &wg) ||
	    with_deadline(&b, &root, 10000 * MS, &wg))
		return 1;
	n = slow_job(&a.ctx);
	printf("  2. child a: %d results before its 50 ms deadline (%.0f ms)\n",
	       n, (fiber_now() - t0) / 1e6);
	/* Cancelling the parent cancels b long before its 10 s deadline. */
	cancel(&root);
	n = slow_job(&b.ctx);
	printf("     child b: %d results, cancelled with its parent after %.0f ms\n",
	       n, (fiber_now() - t0) / 1e6);
	must(fiber_wg_wait(&wg), "wg_wait");	/* the watchers are gone */
	fiber_timer_free(a.deadline);
	fiber_timer_free(b.deadline);
	fiber_chan_free(a.ctx.done);
	fiber_chan_free(b.ctx.done);
	fiber_chan_free(root.done);
	return cancelled(&a.ctx) && cancelled(&b.ctx) ? 0 : 1;
}

static int cancel_main(int argc, char **argv)
{
	(void)argc, (void)argv;
	return first_enough() || deadline();
}

int main(int argc, char **argv)
{
	return fiber_main(cancel_main, argc, argv);
}
