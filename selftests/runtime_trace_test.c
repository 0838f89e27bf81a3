// SPDX-License-Identifier: GPL-2.0
/*
 * fiber.ko's side of a libfiber trace.  On one P, the main fiber blocks
 * in a plain read() of a pipe while another fiber computes; a pthread
 * ends the block 200 ms later.  The trace (fiber_trace_start/stop) must
 * then show, on the blocked thread's track and the spare's, what the
 * module did: the block (at the time the module stamped in the slot),
 * the spare's claim of the P, the hold when the reader woke without a
 * P, and the grant that ended the hold, in that order and on the same
 * clock as the scheduler's own events; and the computing fiber running
 * while the reader was blocked.  Needs the module (SKIP without it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fiber_test.h"
#include "runtime_check.h"

static char path[64];
static int pipefd[2];
static _Atomic bool stop;

/* Works a little every millisecond: a few hundred events in all. */
static void computer(void *arg)
{
	volatile unsigned long x = 0;
	int i;

	(void)arg;
	while (!atomic_load(&stop)) {
		for (i = 0; i < 10000; i++)
			x += (unsigned long)i;
		fiber_sleep(1000000);
	}
	(void)x;
}

static void *releaser(void *arg)
{
	(void)arg;
	usleep(200000);
	if (write(pipefd[1], "x", 1) != 1)
		abort();
	return NULL;
}

static int main_block(int argc, char **argv)
{
	pthread_t t;
	char c;

	(void)argc, (void)argv;
	CHECK(fiber_trace_start(path) == 0);
	CHECK(pipe(pipefd) == 0);
	CHECK(fiber_go(computer, NULL) == 0);
	fiber_yield();
	CHECK(pthread_create(&t, NULL, releaser, NULL) == 0);
	/* A plain read(): only fiber.ko sees that it blocks. */
	CHECK(read(pipefd[0], &c, 1) == 1);
	atomic_store(&stop, true);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(fiber_trace_stop() == 0);
	return 0;
}

/* The trace's text, one event per line. */
static char *slurp(const char *file)
{
	static char buf[1 << 23];
	FILE *f = fopen(file, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* One fiber.ko event of the trace: its line's fields. */
struct ko_event {
	double ts, dur;
	int tid, from;
};

/*
 * The fiber.ko events @name with "ph" @ph ("i" or "X") in @t, at most
 * @max into @ev.  Return: how many.
 */
static int ko_events(const char *t, const char *ph, const char *name,
		     struct ko_event *ev, int max)
{
	char want[64], phase[16];
	const char *line, *e, *f;
	int n = 0;

	snprintf(want, sizeof(want), "\"cat\":\"fiber.ko\",\"name\":\"%s\"", name);
	snprintf(phase, sizeof(phase), "{\"ph\":\"%s\"", ph);
	for (line = t; line && *line && n < max; line = e ? e + 1 : NULL) {
		struct ko_event k = { .dur = 0, .from = -1 };

		e = strchr(line, '\n');
		f = strstr(line, want);
		if (!f || (e && f > e) || strncmp(line, phase, strlen(phase)) ||
		    sscanf(strstr(line, "\"tid\":"), "\"tid\":%d", &k.tid) != 1 ||
		    sscanf(strstr(line, "\"ts\":"), "\"ts\":%lf", &k.ts) != 1)
			continue;
		if (!strcmp(ph, "X") &&
		    sscanf(strstr(line, "\"dur\":"), "\"dur\":%lf", &k.dur) != 1)
			continue;
		f = strstr(line, "\"from\":");
		if (f && (!e || f < e))
			sscanf(f, "\"from\":%d", &k.from);
		ev[n++] = k;
	}
	return n;
}

#define MAX_EVENTS	256

/* The event of @ev[0..@n) on track @tid nearest after @ts, or NULL. */
static const struct ko_event *next_on(const struct ko_event *ev, int n,
				      int tid, double ts)
{
	const struct ko_event *best = NULL;
	int i;

	for (i = 0; i < n; i++)
		if (ev[i].tid == tid && ev[i].ts >= ts - 0.01 &&
		    (!best || ev[i].ts < best->ts))
			best = &ev[i];
	return best;
}

/*
 * Carriers block now and then for other reasons (a page fault, the
 * thread start): the read is the block that lasted the 200 ms.
 */
TEST(a_trace_shows_block_claim_hold_and_grant)
{
	static struct ko_event blocked[MAX_EVENTS], block[MAX_EVENTS],
		claim[MAX_EVENTS], hold[MAX_EVENTS], grant[MAX_EVENTS];
	const struct ko_event *rd, *b, *h, *g, *c = NULL;
	int nblocked, nblock, nclaim, nhold, ngrant, i;
	char err[4096];
	char *t;
	int status;

	RUNTIME_REQUIRE_MODULE();
	setenv("FIBER_HOLD_ON_WAKE", "1", 1);
	strcpy(path, "/tmp/fiber-trace-XXXXXX");
	ASSERT_LE(0, close(mkstemp(path)));
	status = run_fiber_main_procs(main_block, 1, err, sizeof(err));
	ASSERT_TRUE(exited_with(status, 0)) TH_LOG("status %#x: %s", status, err);
	t = slurp(path);
	ASSERT_NE(NULL, t);
	nblocked = ko_events(t, "X", "blocked", blocked, MAX_EVENTS);
	nblock = ko_events(t, "i", "block", block, MAX_EVENTS);
	nclaim = ko_events(t, "i", "claim", claim, MAX_EVENTS);
	nhold = ko_events(t, "i", "hold", hold, MAX_EVENTS);
	ngrant = ko_events(t, "i", "grant", grant, MAX_EVENTS);
	/* The read: the longest span blocked in the kernel. */
	rd = NULL;
	for (i = 0; i < nblocked; i++)
		if (!rd || blocked[i].dur > rd->dur)
			rd = &blocked[i];
	ASSERT_NE(NULL, rd) TH_LOG("no blocked span:\n%.3000s", t);
	EXPECT_LE(150000.0, rd->dur) TH_LOG("the longest block: %.3f us", rd->dur);
	/* Its story on its thread's track: block, hold as it woke, grant. */
	b = next_on(block, nblock, rd->tid, rd->ts);
	h = next_on(hold, nhold, rd->tid, rd->ts + rd->dur);
	g = next_on(grant, ngrant, rd->tid, rd->ts + rd->dur);
	ASSERT_NE(NULL, b) TH_LOG("no block on track %d", rd->tid);
	ASSERT_NE(NULL, h) TH_LOG("no hold on track %d", rd->tid);
	ASSERT_NE(NULL, g) TH_LOG("no grant on track %d", rd->tid);
	EXPECT_LT(b->ts - rd->ts, 0.01);
	EXPECT_LT(h->ts - (rd->ts + rd->dur), 0.01);
	EXPECT_LE(h->ts, g->ts);
	/* A spare, on another track, claimed its P meanwhile. */
	for (i = 0; i < nclaim; i++)
		if (claim[i].from == rd->tid && claim[i].ts >= b->ts - 0.01 &&
		    claim[i].ts <= h->ts)
			c = &claim[i];
	ASSERT_NE(NULL, c) TH_LOG("no claim of M%d's P", rd->tid);
	EXPECT_NE(rd->tid, c->tid);
	/* The other fiber ran on the P meanwhile. */
	EXPECT_NE(NULL, strstr(t, "\"name\":\"fiber 2\""));
	unlink(path);
}

/* The trace it reads is of the module's side: nothing to run without it. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
