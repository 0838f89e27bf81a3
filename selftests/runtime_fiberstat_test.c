// SPDX-License-Identifier: GPL-2.0
/*
 * fiberstat as an operator would run it on a libfiber program: after fibers
 * blocked in the kernel (claims and grants happened), `fiberstat show PID
 * --json` is parsed back and must agree with the program's own
 * fiber_stats(): carriers, claims and grants.  Parked spares are not
 * compared: with a P idle, each yield may wake a spare to look for work
 * (as Go's wakep does), which parks again at once, so the number the tool
 * sees may differ from both of the program's samples around it.
 *
 * The tool runs from a plain thread of the program (not a carrier), while
 * the one running fiber only yields: waiting for the tool any other way
 * would block a carrier, which is itself what is being counted.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fiber.h"
#include "fiber_test.h"
#include "runtime_check.h"
#include "json.h"
#include "harness_ext.h"

#define BLOCKERS	20

static void napper(void *arg)
{
	struct timespec ts = { 0, 2000000 };
	int i;

	(void)arg;
	for (i = 0; i < 5; i++)
		nanosleep(&ts, NULL);	/* a plain blocking call */
}

struct observer {
	char cmd[PATH_MAX + 64];
	char out[1 << 20];
	int status;
	atomic_int go;			/* a look is asked for (a futex word) */
	atomic_int done;		/* ... and was done */
};

/*
 * A plain thread, started before anything is measured: for each look it
 * runs the tool and keeps its output.  Asking it costs the fiber a futex
 * wake, and waiting for it costs yields: neither is a block.
 */
static void *observe(void *arg)
{
	struct observer *o = arg;
	size_t len, n;
	FILE *f;

	for (;;) {
		while (!atomic_load(&o->go))
			syscall(SYS_futex, &o->go, FUTEX_WAIT, 0, NULL, NULL, 0);
		atomic_store(&o->go, 0);
		len = 0;
		f = popen(o->cmd, "r");
		if (f) {
			while ((n = fread(o->out + len, 1,
					  sizeof(o->out) - 1 - len, f)) > 0)
				len += n;
			o->status = pclose(f);
		} else {
			o->status = -1;
		}
		o->out[len] = 0;
		atomic_store(&o->done, 1);
	}
	return NULL;
}

static int same_kernel_view(const struct fiber_stats *a,
			    const struct fiber_stats *b)
{
	return a->carriers == b->carriers &&
	       a->kernel_claims == b->kernel_claims &&
	       a->kernel_grants == b->kernel_grants;
}

/*
 * One look: fiber_stats, the tool, fiber_stats again.  Returns 1 when
 * nothing moved meanwhile and the tool agreed, 0 when something moved (try
 * again), and exits through CHECK when the tool disagreed.
 */
static int look_once(struct observer *o)
{
	struct fiber_stats before, after;
	struct json *root, *g, *counters, *states, *carriers;

	before = stats_now();
	atomic_store(&o->done, 0);
	atomic_store(&o->go, 1);
	syscall(SYS_futex, &o->go, FUTEX_WAKE, 1, NULL, NULL, 0);
	while (!atomic_load(&o->done))
		fiber_yield();
	after = stats_now();
	if (!same_kernel_view(&before, &after)) {
		fprintf(stderr, "moved: carriers %u->%u spares %u->%u claims %llu->%llu grants %llu->%llu\n",
			before.carriers, after.carriers, before.kernel_spares,
			after.kernel_spares,
			(unsigned long long)before.kernel_claims,
			(unsigned long long)after.kernel_claims,
			(unsigned long long)before.kernel_grants,
			(unsigned long long)after.kernel_grants);
		return 0;
	}

	CHECK(WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0);
	root = json_parse(o->out);
	if (!root)
		fprintf(stderr, "not JSON:\n%s\n", o->out);
	CHECK(root);
	CHECK(json_len(json_get(root, "groups")) == 1);
	g = json_at(json_get(root, "groups"), 0);
	CHECK(json_u64(json_get(g, "pid")) == (uint64_t)getpid());
	counters = json_get(g, "counters");
	states = json_get(g, "states");
	carriers = json_get(g, "carriers");
	if (json_u64(json_get(g, "nr_carriers")) != before.carriers ||
	    json_u64(json_get(states, "parked")) > before.carriers ||
	    json_u64(json_get(counters, "claims")) != before.kernel_claims ||
	    json_u64(json_get(counters, "grants")) != before.kernel_grants) {
		fprintf(stderr, "fiber_stats: carriers %u spares %u claims %llu grants %llu\nfiberstat: %s\n",
			before.carriers, before.kernel_spares,
			(unsigned long long)before.kernel_claims,
			(unsigned long long)before.kernel_grants, o->out);
		CHECK(0);
	}
	CHECK(json_len(carriers) == (int)before.carriers);
	json_free(root);
	return 1;
}

static int observe_main(int argc, char **argv)
{
	static struct observer o;
	char self[PATH_MAX];
	pthread_t th;
	struct fiber_stats s;
	ssize_t n;
	int i, tries;

	(void)argc;
	(void)argv;
	s = stats_now();
	CHECK(s.kernel == 1);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0);
	self[n] = 0;
	*strrchr(self, '/') = 0;
	snprintf(o.cmd, sizeof(o.cmd), "%s/fiberstat show %d --json", self,
		 getpid());
	CHECK(pthread_create(&th, NULL, observe, &o) == 0);

	/* Make claims and grants happen, then let everything settle. */
	for (i = 0; i < BLOCKERS; i++)
		CHECK(fiber_go(napper, NULL) == 0);
	while (fiber_num() > 1)
		fiber_sleep(5000000);
	s = stats_now();
	CHECK(s.kernel_claims > 0);

	for (tries = 0; tries < 50; tries++) {
		if (look_once(&o))
			return 0;
		fiber_sleep(100000000);
	}
	fprintf(stderr, "the runtime never sat still for one look\n");
	return 1;
}

/* A fixture only for its timeout: a debug kernel is slow. */
FIXTURE(observe) {};
FIXTURE_SETUP(observe) {}
FIXTURE_TEARDOWN(observe) {}

TEST_F_TIMEOUT(observe, show_json_agrees_with_fiber_stats, 120)
{
	RUNTIME_REQUIRE_MODULE();
	EXPECT_EQ(0, run_fiber_main_procs(observe_main, 2, NULL, 0));
}

/* fiberstat shows what the module knows: nothing to compare without it. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
