// SPDX-License-Identifier: MIT
/*
 * libfiber's side of `make bench`.  Each case prints one line,
 * "CASE UNIT VALUE", for bench/run-bench.sh to put beside the Go
 * program (go/bench.go) doing the same work the same way.
 *
 *   yield_pingpong   ns per fiber_yield, fibers passing the P back and forth
 *   spawn_exit       ns per fiber started and finished
 *   spawn_parked     ns per fiber started, in a burst of 1M that stay parked
 *   skynet           ms for the 1M-fiber, 10-way fan-out tree
 *   parked_memory    bytes of RSS per live, parked fiber
 *   chan_pingpong    ns per round trip over two unbuffered channels (1 P)
 *   chan_buffered    ns per value through a 1024-value channel
 *   select4          ns per select over 4 channels fed by 4 fibers
 *   mutex_2procs     ns per lock, 4 fibers on 2 Ps and one mutex
 *   tcp_echo         messages/s, 100 loopback connections, 64 B each way
 *
 * Cases ending in _copied run the case of that name with its fibers
 * started with FIBER_ATTR_COPY_STACK (Go's side has no such mode: they
 * compare with its case of the plain name).
 *
 * usage: fiber-bench [CASE...]  (all by default)
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define BENCH_NAME "fiber-bench"
#include "bench.h"

static fiber_wg_t echo_wg = FIBER_WG_INITIALIZER;

static const struct fiber_attr copied = {
	.size = sizeof(copied), .flags = FIBER_ATTR_COPY_STACK,
};

/* The running case's mode: the plain one, or "_copied" and &copied. */
static const char *suffix = "";
static const struct fiber_attr *attr;

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
	MUST(fiber_go_attr(attr, yielder, (void *)PINGPONG_N));
	MUST(fiber_go_attr(attr, yielder, (void *)PINGPONG_N));
	while (fiber_num() > 1) {
		fiber_yield();
		waits++;
	}
	t = now_ns() - t0;
	printf("yield_pingpong%s ns/yield %.1f\n", suffix,
	       t / (total_yields + waits));
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
		MUST(fiber_go_attr(attr, empty, NULL));
	wait_others();
	t = now_ns() - t0;
	printf("spawn_exit%s ns/fiber %.1f\n", suffix, t / SPAWN_N);
}

/* ---- a burst of parked fibers ------------------------------------------ */

/*
 * The README's million: start 1M fibers that each block on one channel,
 * until all of them have started.  Unlike spawn_exit nothing is reused:
 * every fiber takes a fresh stack, so this is the first-touch cost.
 */
#define BURST_N		1000000L
static _Atomic long burst_started;

static void burst_parked(void *arg)
{
	long v;

	burst_started++;
	MUST(fiber_chan_recv(arg, &v));	/* 0 once closed */
}

static void bench_spawn_parked(void)
{
	fiber_chan_t *release = must_chan(sizeof(long), 0);
	double t0 = now_ns(), t;
	long i;

	burst_started = 0;
	for (i = 0; i < BURST_N; i++)
		MUST(fiber_go_attr(attr, burst_parked, release));
	while (burst_started < BURST_N)
		fiber_yield();
	t = now_ns() - t0;
	MUST(fiber_chan_close(release));
	wait_others();
	MUST(fiber_chan_free(release));
	printf("spawn_parked%s ns/fiber %.1f\n", suffix, t / BURST_N);
}

/* ---- skynet ------------------------------------------------------------- */

static void bench_skynet(void)
{
	printf("skynet%s ms %.1f\n", suffix, skynet_run(attr));
}

/* ---- channels, select, mutex -------------------------------------------- */

#define CHAN_N	1000000L

static void chan_echo(void *arg)
{
	fiber_chan_t **ch = arg;
	long v;

	while (fiber_chan_recv(ch[0], &v) == 1)
		MUST(fiber_chan_send(ch[1], &v));
}

/* Round trips over two unbuffered channels, on one P. */
static void bench_chan_pingpong(void)
{
	int prev = fiber_maxprocs(1);
	fiber_chan_t *ch[2] = { must_chan(sizeof(long), 0),
				must_chan(sizeof(long), 0) };
	double t0;
	long i, v = 0;

	MUST(fiber_go_attr(attr, chan_echo, ch));
	t0 = now_ns();
	for (i = 0; i < CHAN_N; i++) {
		MUST(fiber_chan_send(ch[0], &i));
		fiber_chan_recv(ch[1], &v);
	}
	printf("chan_pingpong%s ns/roundtrip %.1f\n", suffix,
	       (now_ns() - t0) / CHAN_N);
	fiber_chan_close(ch[0]);
	wait_others();
	fiber_maxprocs(prev);
}

static void chan_producer(void *arg)
{
	long i;

	for (i = 0; i < 10 * CHAN_N; i++)
		MUST(fiber_chan_send(arg, &i));
	fiber_chan_close(arg);
}

/* One producer, one consumer, a 1024-value buffer, all Ps. */
static void bench_chan_buffered(void)
{
	fiber_chan_t *ch = must_chan(sizeof(long), 1024);
	double t0 = now_ns();
	long v, n = 0;

	MUST(fiber_go(chan_producer, ch));
	while (fiber_chan_recv(ch, &v) == 1)
		n++;
	printf("chan_buffered ns/value %.1f\n", (now_ns() - t0) / n);
	wait_others();
}

static void select_feeder(void *arg)
{
	long i;

	for (i = 0; i < CHAN_N / 4; i++)
		MUST(fiber_chan_send(arg, &i));
}

/* One fiber selecting over 4 channels, each fed by its own fiber. */
static void bench_select4(void)
{
	struct fiber_case cs[4];
	fiber_chan_t *ch[4];
	double t0 = now_ns();
	long v, i;

	for (i = 0; i < 4; i++) {
		ch[i] = must_chan(sizeof(long), 0);
		cs[i] = (struct fiber_case){ .op = FIBER_CASE_RECV,
					     .chan = ch[i], .elem = &v };
		MUST(fiber_go(select_feeder, ch[i]));
	}
	for (i = 0; i < CHAN_N / 4 * 4; i++)
		MUST(fiber_select(cs, 4, 0));
	printf("select4 ns/select %.1f\n", (now_ns() - t0) / (CHAN_N / 4 * 4));
	wait_others();
}

static fiber_mutex_t bench_mu = FIBER_MUTEX_INITIALIZER;
static long bench_counter;

static void mutex_worker(void *arg)
{
	long i;

	for (i = 0; i < CHAN_N; i++) {
		fiber_mutex_lock(&bench_mu);
		bench_counter++;
		fiber_mutex_unlock(&bench_mu);
	}
	fiber_wg_done(arg);
}

/* 4 fibers on 2 Ps taking one mutex. */
static void bench_mutex(void)
{
	int prev = fiber_maxprocs(2);
	fiber_wg_t wg = FIBER_WG_INITIALIZER;
	double t0 = now_ns();
	int i;

	fiber_wg_add(&wg, 4);
	for (i = 0; i < 4; i++)
		MUST(fiber_go(mutex_worker, &wg));
	fiber_wg_wait(&wg);
	printf("mutex_2procs ns/lock %.1f\n", (now_ns() - t0) / (4 * CHAN_N));
	fiber_maxprocs(prev);
}

/* ---- TCP echo ------------------------------------------------------------- */

#define ECHO_CONNS	100
#define ECHO_MSGS	2000

static void echo_server_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[64];
	ssize_t n;

	while ((n = fiber_read(fd, buf, sizeof(buf))) > 0)
		MUST(fiber_write(fd, buf, (size_t)n));
	fiber_close(fd);
}

static int echo_listen_fd;

static void echo_acceptor(void *arg)
{
	int i, fd;

	(void)arg;
	for (i = 0; i < ECHO_CONNS; i++) {
		fd = fiber_accept(echo_listen_fd, NULL, NULL);
		if (fd < 0)
			exit(1);
		MUST(fiber_go(echo_server_conn, (void *)(long)fd));
	}
}

static struct sockaddr_in echo_addr;

static void echo_client(void *arg)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), i;
	char msg[64] = "ping", buf[64];
	ssize_t n, got;

	(void)arg;
	if (fd < 0 || fiber_connect(fd, (struct sockaddr *)&echo_addr,
				    sizeof(echo_addr)))
		exit(1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	for (i = 0; i < ECHO_MSGS; i++) {
		MUST(fiber_write(fd, msg, sizeof(msg)));
		for (got = 0; got < (ssize_t)sizeof(msg); got += n) {
			n = fiber_read(fd, buf + got, sizeof(buf) - got);
			if (n <= 0)
				exit(1);
		}
	}
	fiber_close(fd);
	fiber_wg_done(&echo_wg);
}

static void bench_tcp_echo(void)
{
	socklen_t len = sizeof(echo_addr);
	double t0;
	int i;

	echo_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	echo_addr.sin_family = AF_INET;
	echo_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(echo_listen_fd, (struct sockaddr *)&echo_addr, len) ||
	    listen(echo_listen_fd, 1024) ||
	    getsockname(echo_listen_fd, (struct sockaddr *)&echo_addr, &len))
		exit(1);
	MUST(fiber_go(echo_acceptor, NULL));
	t0 = now_ns();
	fiber_wg_add(&echo_wg, ECHO_CONNS);
	for (i = 0; i < ECHO_CONNS; i++)
		MUST(fiber_go(echo_client, NULL));
	fiber_wg_wait(&echo_wg);
	printf("tcp_echo msgs/s %.0f\n",
	       ECHO_CONNS * ECHO_MSGS / ((now_ns() - t0) / 1e9));
	fiber_close(echo_listen_fd);
}

/* ---- memory per parked fiber -------------------------------------------- */

/* As Go's side: 100k fibers blocked on one channel, as spawn_parked. */
#define PARKED_N	100000L

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
	fiber_chan_t *release = must_chan(sizeof(long), 0);
	long before = rss_bytes(), after, i;

	burst_started = 0;
	for (i = 0; i < PARKED_N; i++)
		MUST(fiber_go_attr(attr, burst_parked, release));
	while (burst_started < PARKED_N)
		fiber_yield();
	after = rss_bytes();
	MUST(fiber_chan_close(release));
	wait_others();
	MUST(fiber_chan_free(release));
	printf("parked_memory%s bytes/fiber %.0f\n", suffix,
	       (double)(after - before) / PARKED_N);
}

static const struct {
	const char *name;
	void (*fn)(void);
	bool copied;		/* FIBER_ATTR_COPY_STACK: the "_copied" case */
} cases[] = {
	{ "yield_pingpong", bench_yield, false },
	{ "spawn_exit", bench_spawn, false },
	{ "spawn_parked", bench_spawn_parked, false },
	{ "skynet", bench_skynet, false },
	{ "parked_memory", bench_memory, false },
	{ "chan_pingpong", bench_chan_pingpong, false },
	{ "chan_buffered", bench_chan_buffered, false },
	{ "select4", bench_select4, false },
	{ "mutex_2procs", bench_mutex, false },
	{ "tcp_echo", bench_tcp_echo, false },
	{ "yield_pingpong_copied", bench_yield, true },
	{ "spawn_exit_copied", bench_spawn, true },
	{ "spawn_parked_copied", bench_spawn_parked, true },
	{ "skynet_copied", bench_skynet, true },
	{ "parked_memory_copied", bench_memory, true },
	{ "chan_pingpong_copied", bench_chan_pingpong, true },
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
		suffix = cases[i].copied ? "_copied" : "";
		attr = cases[i].copied ? &copied : NULL;
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
