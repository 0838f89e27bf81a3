// SPDX-License-Identifier: MIT
/*
 * libfiber's side of `make bench`.  Each case prints one line,
 * "CASE UNIT VALUE", for tools/bench/run-bench.sh to put beside the Go
 * program (go/bench.go) doing the same work the same way.
 *
 *   yield_pingpong   ns per fiber_yield, fibers passing the P back and forth
 *   spawn_exit       ns per fiber started and finished
 *   skynet           ms for the 1M-fiber, 10-way fan-out tree
 *   parked_memory    bytes of RSS per live, parked fiber
 *
 * usage: fiber-bench [CASE...]  (all by default)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fiber.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Yield until every other fiber is gone. */
static void wait_others(void)
{
	while (fiber_num() > 1)
		fiber_yield();
}

/* ---- yield ping-pong ---------------------------------------------------- */

#define PINGPONG_N	2000000L
static _Atomic long total_yields;

static void yielder(void *arg)
{
	long i, n = (long)arg;

	for (i = 0; i < n; i++)
		fiber_yield();
	total_yields += n;
}

static void bench_yield(void)
{
	int prev = fiber_maxprocs(1);
	double t0, t;
	long waits = 0;

	total_yields = 0;
	t0 = now_ns();
	fiber_go(yielder, (void *)PINGPONG_N);
	fiber_go(yielder, (void *)PINGPONG_N);
	while (fiber_num() > 1) {
		fiber_yield();
		waits++;
	}
	t = now_ns() - t0;
	printf("yield_pingpong ns/yield %.1f\n", t / (total_yields + waits));
	fiber_maxprocs(prev);
}

/* ---- spawn + exit ------------------------------------------------------- */

#define SPAWN_N		1000000L
static void empty(void *arg)
{
	(void)arg;
}

static void bench_spawn(void)
{
	double t0 = now_ns(), t;
	long i;

	for (i = 0; i < SPAWN_N; i++)
		fiber_go(empty, NULL);
	wait_others();
	t = now_ns() - t0;
	printf("spawn_exit ns/fiber %.1f\n", t / SPAWN_N);
}

/* ---- skynet ------------------------------------------------------------- */

/*
 * Each node starts 10 children and waits for them; leaves add their
 * number to the parent's sum.  Until channels exist (issue 5) children
 * report through the parent's atomics, and the parent waits by yielding;
 * the Go program does exactly the same.
 */
struct skynet_node {
	long num, size;
	_Atomic long *sum;
	_Atomic int *pending;
};

static void skynet(void *arg)
{
	struct skynet_node *n = arg, child[10];
	_Atomic long sum = 0;
	_Atomic int pending = 10;
	long i;

	if (n->size == 1) {
		*n->sum += n->num;
	} else {
		for (i = 0; i < 10; i++) {
			child[i].num = n->num + i * (n->size / 10);
			child[i].size = n->size / 10;
			child[i].sum = &sum;
			child[i].pending = &pending;
			fiber_go(skynet, &child[i]);
		}
		while (pending)
			fiber_yield();
		*n->sum += sum;
	}
	(*n->pending)--;
}

static void bench_skynet(void)
{
	_Atomic long sum = 0;
	_Atomic int pending = 1;
	struct skynet_node root = { 0, 1000000, &sum, &pending };
	double t0 = now_ns(), t;

	fiber_go(skynet, &root);
	while (pending)
		fiber_yield();
	t = now_ns() - t0;
	if (sum != 499999500000L) {
		fprintf(stderr, "skynet: wrong sum %ld\n", (long)sum);
		exit(1);
	}
	printf("skynet ms %.1f\n", t / 1e6);
}

/* ---- memory per parked fiber -------------------------------------------- */

#define PARKED_N	100000L
static _Atomic long parked_started;
static _Atomic int parked_release;

static void parked(void *arg)
{
	(void)arg;
	parked_started++;
	while (!parked_release)
		fiber_yield();
}

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

static void bench_memory(void)
{
	long before = rss_bytes(), after, i;

	for (i = 0; i < PARKED_N; i++)
		fiber_go(parked, NULL);
	while (parked_started < PARKED_N)
		fiber_yield();
	after = rss_bytes();
	parked_release = 1;
	wait_others();
	printf("parked_memory bytes/fiber %.0f\n",
	       (double)(after - before) / PARKED_N);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "yield_pingpong", bench_yield },
	{ "spawn_exit", bench_spawn },
	{ "skynet", bench_skynet },
	{ "parked_memory", bench_memory },
};

static int bench_main(int argc, char **argv)
{
	size_t i;
	int j, ran = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 1; j < argc && strcmp(argv[j], cases[i].name); j++)
			;
		if (argc > 1 && j == argc)
			continue;
		cases[i].fn();
		fflush(stdout);
		ran++;
	}
	if (!ran) {
		fprintf(stderr, "fiber-bench: no such case\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ret = fiber_main(bench_main, argc, argv);

	fprintf(stderr, "fiber-bench: cannot start the runtime: %s\n",
		strerror(-ret));
	return 1;
}
