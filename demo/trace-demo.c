// SPDX-License-Identifier: GPL-2.0
/*
 * make demo's trace: a short, busy program on two Ps, traced with
 * fiber_trace_start().  Workers compute and hand results through a
 * channel, a ticker fiber sleeps, and one fiber makes a plain blocking
 * read() of a pipe that a thread writes 20 ms later.  With fiber.ko the
 * trace shows the read's block, a spare taking over its P, and the grant
 * when it comes back; demo/demo.sh draws it (fiber-trace-png).
 *
 * usage: trace-demo TRACE.json
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fiber.h"

#define WORKERS		6
#define ROUNDS		12

static fiber_chan_t *results;
static fiber_wg_t wg;
static int pipefd[2];

static void spin_us(long us)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static void worker(void *arg)
{
	long id = (long)arg, i;

	for (i = 0; i < ROUNDS; i++) {
		spin_us(300 + 100 * id);
		if (fiber_chan_send(results, &id))
			break;
	}
	fiber_wg_done(&wg);
}

static void collector(void *arg)
{
	long v, n;

	(void)arg;
	for (n = 0; n < WORKERS * ROUNDS && fiber_chan_recv(results, &v) == 1; n++)
		spin_us(50);
	fiber_wg_done(&wg);
}

static void ticker(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 10; i++)
		fiber_sleep(2000000);
	fiber_wg_done(&wg);
}

/* A plain read(): no wrapper, only fiber.ko sees that it blocks. */
static void reader(void *arg)
{
	char c;

	(void)arg;
	if (read(pipefd[0], &c, 1) != 1)
		abort();
	spin_us(500);
	fiber_wg_done(&wg);
}

static void *writer(void *arg)
{
	(void)arg;
	usleep(20000);
	if (write(pipefd[1], "x", 1) != 1)
		abort();
	return NULL;
}

static int trace_main(int argc, char **argv)
{
	pthread_t t;
	long i;
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: trace-demo TRACE.json\n");
		return 2;
	}
	ret = fiber_trace_start(argv[1]);
	if (ret) {
		fprintf(stderr, "trace-demo: %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	results = fiber_chan_new(sizeof(long), 4);
	if (!results || pipe(pipefd) || pthread_create(&t, NULL, writer, NULL))
		return 1;
	fiber_wg_add(&wg, WORKERS + 3);
	if (fiber_go(reader, NULL) || fiber_go(collector, NULL) ||
	    fiber_go(ticker, NULL))
		return 1;
	for (i = 0; i < WORKERS; i++)
		if (fiber_go(worker, (void *)i))
			return 1;
	fiber_wg_wait(&wg);
	pthread_join(t, NULL);
	ret = fiber_trace_stop();
	if (ret) {
		fprintf(stderr, "trace-demo: writing %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	fiber_maxprocs(2);
	return fiber_main(trace_main, argc, argv);
}
