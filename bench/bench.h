/* SPDX-License-Identifier: MIT */
/*
 * What fiber_bench.c and scaling_bench.c share: stopping on a failed
 * call, the clock, and skynet.  Each program defines BENCH_NAME, for its
 * messages, before including this.
 */
#ifndef FIBER_BENCH_H
#define FIBER_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fiber.h"

/*
 * A libfiber call that failed (no fiber started, a value not sent, a
 * short write) would leave numbers that mean nothing: stop instead.  One
 * well-predicted branch per call; Go's side cannot fail there at all.
 */
#define MUST(call) do {							\
	if ((call) < 0) {						\
		fprintf(stderr, BENCH_NAME ": %s failed\n", #call);	\
		exit(1);						\
	}								\
} while (0)

static inline fiber_chan_t *must_chan(size_t elem_size, size_t capacity)
{
	fiber_chan_t *ch = fiber_chan_new(elem_size, capacity);

	if (!ch) {
		fprintf(stderr, BENCH_NAME ": fiber_chan_new: out of memory\n");
		exit(1);
	}
	return ch;
}

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/*
 * skynet, the classic: each node starts 10 children and sums what they
 * send back on its channel; leaves send their number.  1M leaves.  With
 * @attr (fiber_go_attr) copied stacks, a child may not read its parent's
 * stack while the parent waits: the children's nodes are then allocated.
 */
struct skynet_node {
	long num, size;
	fiber_chan_t *out;
	const struct fiber_attr *attr;
};

static inline void skynet(void *arg)
{
	struct skynet_node *n = arg, local[10], *child = local;
	fiber_chan_t *ch;
	long i, sum = 0, v;

	if (n->size == 1) {
		MUST(fiber_chan_send(n->out, &n->num));
		return;
	}
	if (n->attr && (n->attr->flags & FIBER_ATTR_COPY_STACK)) {
		child = malloc(sizeof(local));
		if (!child)
			MUST(-ENOMEM);
	}
	ch = must_chan(sizeof(long), 10);
	for (i = 0; i < 10; i++) {
		child[i].num = n->num + i * (n->size / 10);
		child[i].size = n->size / 10;
		child[i].out = ch;
		child[i].attr = n->attr;
		MUST(fiber_go_attr(n->attr, skynet, &child[i]));
	}
	for (i = 0; i < 10; i++) {
		MUST(fiber_chan_recv(ch, &v));
		sum += v;
	}
	MUST(fiber_chan_free(ch));
	if (child != local)
		free(child);
	MUST(fiber_chan_send(n->out, &sum));
}

/* Run the 1M-leaf tree with @attr.  Return: how long it took, in ms. */
static inline double skynet_run(const struct fiber_attr *attr)
{
	fiber_chan_t *out = must_chan(sizeof(long), 1);
	struct skynet_node root = { 0, 1000000, out, attr };
	double t0 = now_ns(), t;
	long sum = 0;

	MUST(fiber_go_attr(attr, skynet, &root));
	MUST(fiber_chan_recv(out, &sum));
	t = now_ns() - t0;
	if (sum != 499999500000L) {
		fprintf(stderr, BENCH_NAME ": skynet: wrong sum %ld\n", sum);
		exit(1);
	}
	MUST(fiber_chan_free(out));
	return t / 1e6;
}

#endif /* FIBER_BENCH_H */
