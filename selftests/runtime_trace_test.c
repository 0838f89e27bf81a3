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

/*
 * The time of the first fiber.ko event @name ("ph" @ph) in @t, -1 if
 * none; its track (tid) in *@tid.
 */
static double ko_event(const char *t, const char *ph, const char *name,
		       int *tid)
{
	char want[64];
	const char *line, *e;
	double ts;

	snprintf(want, sizeof(want), "\"cat\":\"fiber.ko\",\"name\":\"%s\"", name);
	for (line = t; line && *line; line = e ? e + 1 : NULL) {
		e = strchr(line, '\n');
		if (!strstr(line, want) || (e && strstr(line, want) > e))
			continue;
		if (strncmp(line + 6, ph, strlen(ph)) ||
		    sscanf(strstr(line, "\"tid\":"), "\"tid\":%d", tid) != 1 ||
		    sscanf(strstr(line, "\"ts\":"), "\"ts\":%lf", &ts) != 1)
			continue;
		return ts;
	}
	return -1;
}

TEST(a_trace_shows_block_claim_hold_and_grant)
{
	double block, claim, hold, grant, blocked;
	int block_tid = -1, claim_tid = -1, hold_tid = -1, grant_tid = -1;
	int blocked_tid = -1;
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
	block = ko_event(t, "\"i\"", "block", &block_tid);
	claim = ko_event(t, "\"i\"", "claim", &claim_tid);
	hold = ko_event(t, "\"i\"", "hold", &hold_tid);
	grant = ko_event(t, "\"i\"", "grant", &grant_tid);
	blocked = ko_event(t, "\"X\"", "blocked", &blocked_tid);
	EXPECT_LE(0, block) TH_LOG("no block:\n%.3000s", t);
	EXPECT_LE(0, claim) TH_LOG("no claim");
	EXPECT_LE(0, hold) TH_LOG("no hold");
	EXPECT_LE(0, grant) TH_LOG("no grant");
	EXPECT_LE(0, blocked) TH_LOG("no blocked span");
	/* One blocked thread's story, a spare's claim on another track. */
	EXPECT_EQ(block_tid, hold_tid);
	EXPECT_EQ(block_tid, grant_tid);
	EXPECT_EQ(block_tid, blocked_tid);
	EXPECT_NE(block_tid, claim_tid);
	EXPECT_LE(block, claim);
	EXPECT_LE(claim, hold);
	EXPECT_LE(hold, grant);
	/* The release came 200 ms after the read began. */
	EXPECT_LE(150000.0, hold - block) TH_LOG("block %.3f hold %.3f", block, hold);
	/* The other fiber ran on the P meanwhile. */
	EXPECT_TRUE(strstr(t, "\"name\":\"fiber 2\"") != NULL);
	unlink(path);
}

TEST_HARNESS_MAIN
