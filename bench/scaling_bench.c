// SPDX-License-Identifier: MIT
/*
 * libfiber's side of `make bench-scaling`: one case at one processor
 * count per process, for bench/run-scaling.sh to put beside the Go
 * program (go/scaling.go) doing the same work the same way at
 * the same GOMAXPROCS.  It prints one line, "CASE PROCS UNIT VALUE".
 *
 *   skynet    ms for the 1M-leaf, 10-way fan-out tree (as fiber_bench.c)
 *   pipeline  ns per item: one producer sends PIPE_N integers on a
 *             buffered channel, PROCS workers each take one, hash it
 *             HASH_ROUNDS times and send the result on a second buffered
 *             channel, and the main fiber sums the results
 *   mutex     ns per lock: 4 x PROCS fibers share MUTEX_TOTAL increments
 *             of one counter under one fiber_mutex_t
 *
 * usage: fiber-scaling CASE PROCS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_NAME "fiber-scaling"
#include "bench.h"

static int procs;

/* ---- skynet ------------------------------------------------------------- */

static void bench_skynet(void)
{
	printf("skynet %d ms %.1f\n", procs, skynet_run(NULL));
}

/* ---- pipeline ----------------------------------------------------------- */

/*
 * PIPE_N items of HASH_ROUNDS rounds each: about half a second on one P
 * of the build machine.  PIPE_SUM is what the results add up to (mod
 * 2^64), the same in scaling.go: a side that hashed differently, or lost
 * or doubled an item, stops.  Changing PIPE_N or HASH_ROUNDS changes it;
 * the error message prints the new one.
 */
#define PIPE_N		1000000L
#define PIPE_BUF	1024
#define HASH_ROUNDS	200
#define PIPE_SUM	0xc890e6b62a7b84ecULL

/* A dependent chain of multiply-xorshift rounds: no vector unit helps. */
static uint64_t hash(uint64_t x)
{
	int i;

	for (i = 0; i < HASH_ROUNDS; i++)
		x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 32);
}

static fiber_chan_t *pipe_in, *pipe_out;

static void pipe_producer(void *arg)
{
	uint64_t i;

	(void)arg;
	for (i = 0; i < PIPE_N; i++)
		MUST(fiber_chan_send(pipe_in, &i));
	fiber_chan_close(pipe_in);
}

static void pipe_worker(void *arg)
{
	uint64_t v;

	while (fiber_chan_recv(pipe_in, &v) == 1) {
		v = hash(v);
		MUST(fiber_chan_send(pipe_out, &v));
	}
	fiber_wg_done(arg);
}

static void bench_pipeline(void)
{
	fiber_wg_t wg = FIBER_WG_INITIALIZER;
	uint64_t v, sum = 0;
	double t0, t;
	long i;

	pipe_in = must_chan(sizeof(uint64_t), PIPE_BUF);
	pipe_out = must_chan(sizeof(uint64_t), PIPE_BUF);
	t0 = now_ns();
	fiber_wg_add(&wg, procs);
	for (i = 0; i < procs; i++)
		MUST(fiber_go(pipe_worker, &wg));
	MUST(fiber_go(pipe_producer, NULL));
	for (i = 0; i < PIPE_N; i++) {
		fiber_chan_recv(pipe_out, &v);
		sum += v;
	}
	t = now_ns() - t0;
	fiber_wg_wait(&wg);
	if (sum != PIPE_SUM) {
		fprintf(stderr, "pipeline: wrong sum 0x%016llx\n",
			(unsigned long long)sum);
		exit(1);
	}
	fiber_chan_free(pipe_in);
	fiber_chan_free(pipe_out);
	printf("pipeline %d ns/item %.1f\n", procs, t / PIPE_N);
}

/* ---- mutex -------------------------------------------------------------- */

/*
 * 4 fibers per P, so that every P has fibers queued behind the lock's
 * holder; the total stays fixed, so ns per lock compares across P counts.
 * 8M divides evenly among 4 x 1, 2, 4, 8 and 16 fibers.
 */
#define MUTEX_TOTAL	8000000L

static fiber_mutex_t mu = FIBER_MUTEX_INITIALIZER;
static long counter, per_fiber;

static void mutex_worker(void *arg)
{
	long i;

	for (i = 0; i < per_fiber; i++) {
		fiber_mutex_lock(&mu);
		counter++;
		fiber_mutex_unlock(&mu);
	}
	fiber_wg_done(arg);
}

static void bench_mutex(void)
{
	fiber_wg_t wg = FIBER_WG_INITIALIZER;
	long i, n = 4L * procs;
	double t0, t;

	per_fiber = MUTEX_TOTAL / n;
	t0 = now_ns();
	fiber_wg_add(&wg, n);
	for (i = 0; i < n; i++)
		MUST(fiber_go(mutex_worker, &wg));
	fiber_wg_wait(&wg);
	t = now_ns() - t0;
	if (counter != per_fiber * n) {
		fprintf(stderr, "mutex: counted %ld, not %ld\n", counter,
			per_fiber * n);
		exit(1);
	}
	printf("mutex %d ns/lock %.1f\n", procs, t / counter);
}

/* ---- main --------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "skynet", bench_skynet },
	{ "pipeline", bench_pipeline },
	{ "mutex", bench_mutex },
};

static int scaling_main(int argc, char **argv)
{
	size_t i;

	(void)argc;
	if (fiber_maxprocs(0) != procs) {
		fprintf(stderr, "fiber-scaling: running on %d Ps, not %d\n",
			fiber_maxprocs(0), procs);
		return 1;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!strcmp(argv[1], cases[i].name)) {
			cases[i].fn();
			return 0;
		}
	}
	fprintf(stderr, "fiber-scaling: no such case: %s\n", argv[1]);
	return 2;
}

int main(int argc, char **argv)
{
	char *end;
	long n;
	int ret;

	n = argc == 3 ? strtol(argv[2], &end, 10) : 0;
	if (argc != 3 || *end || n < 1 || n > 1024) {
		fprintf(stderr, "usage: fiber-scaling skynet|pipeline|mutex PROCS (1-1024)\n");
		return 2;
	}
	procs = (int)n;
	/* Before fiber_main() this sets the P count it starts with. */
	fiber_maxprocs(procs);
	ret = fiber_main(scaling_main, argc, argv);
	fprintf(stderr, "fiber-scaling: cannot start the runtime: %s\n",
		strerror(-ret));
	return 1;
}
