/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the selftests that run libfiber on the module (runtime_*).
 *
 * The invariant sampler: a plain thread (not an M) that reads the slots
 * the module shares with the process, through fiber_kernel_shared(), and
 * checks the mission's invariant: at most fiber_maxprocs() carriers run
 * holding a P, and no P is held by two of them.  A slot counts when the
 * module says RUNNING (it is not asleep in the kernel) and its user_word
 * names a P.
 *
 * The slots are read one after the other, not as one snapshot, so a P
 * passing from one M to another can look held twice for one sample (the
 * old holder read before it let go, the new one after it took it).  A
 * real violation lasts: one M runs fiber code until its next scheduling
 * point.  So only a violation seen in VIOLATION_STREAK samples in a row
 * is counted.
 */
#ifndef FIBER_RUNTIME_CHECK_H
#define FIBER_RUNTIME_CHECK_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/fiber.h>

#include "fiber.h"
#include "runtime_helpers.h"	/* libfiber/tests: CHECK, run_fiber_main_procs */
#include "harness_ext.h"

/*
 * The two modes each runtime selftest runs in, as fixture variants: with
 * the module (FIBER_KERNEL=on) and without it (off, sysmon's fallback).
 */
#define RUNTIME_MODES(fixture)						\
	FIXTURE_VARIANT(fixture) { const char *mode; };			\
	FIXTURE_VARIANT_ADD(fixture, module) { .mode = "on" };		\
	FIXTURE_VARIANT_ADD(fixture, fallback) { .mode = "off" }

/* A test of the module's mode only: SKIP without it. */
#define RUNTIME_REQUIRE_MODULE() do {					\
	if (access(FIBER_DEVICE_PATH, R_OK | W_OK))			\
		SKIP(return, "%s: %s (module not loaded)",		\
		     FIBER_DEVICE_PATH, strerror(errno));		\
	setenv("FIBER_KERNEL", "on", 1);				\
} while (0)

/* In FIXTURE_SETUP: SKIP the module's mode without it, and set the mode. */
#define RUNTIME_MODE_SETUP() do {					\
	if (!strcmp(variant->mode, "on") &&				\
	    access(FIBER_DEVICE_PATH, R_OK | W_OK))			\
		SKIP(return, "%s: %s (module not loaded)",		\
		     FIBER_DEVICE_PATH, strerror(errno));		\
	setenv("FIBER_KERNEL", variant->mode, 1);			\
} while (0)

#define VIOLATION_STREAK	3
#define FIBER_MAXPROCS_LIMIT_TEST 1024	/* libfiber's limit */

struct invariant {
	pthread_t thread;
	int maxprocs;
	_Atomic bool stop;
	long samples, violations, max_running;
	char first[160];		/* the first violation, in words */
};

/* One pass over the slots.  Return: 0, or 1 with @why filled in. */
static inline int invariant_sample(const struct fiber_shared *sh,
				   unsigned int nr_slots, int maxprocs,
				   long *running_out, char *why, size_t len)
{
	static unsigned char held[FIBER_MAXPROCS_LIMIT_TEST + 1];
	const struct fiber_slot *s;
	long running = 0;
	uint64_t w, uw;
	uint32_t i;
	int bad = 0;

	memset(held, 0, sizeof(held));
	for (i = 0; i < nr_slots; i++) {
		s = fiber_slot_at(sh, i);
		w = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		if (FIBER_SLOT_STATE(w) != FIBER_SLOT_RUNNING)
			continue;
		uw = __atomic_load_n(&s->user_word, __ATOMIC_RELAXED);
		if (!uw)
			continue;
		running++;
		if (uw > FIBER_MAXPROCS_LIMIT_TEST || held[uw]++) {
			snprintf(why, len, "P%llu held by two running carriers (slot %u, tid %u)",
				 (unsigned long long)uw - 1, i, s->tid);
			bad = 1;
		}
	}
	if (running > maxprocs) {
		snprintf(why, len, "%ld carriers run with a P, maxprocs is %d",
			 running, maxprocs);
		bad = 1;
	}
	*running_out = running;
	return bad;
}

static inline void *invariant_thread(void *arg)
{
	struct invariant *inv = arg;
	char why[sizeof(inv->first)];
	const struct fiber_shared *sh;
	unsigned int nr_slots;
	int streak = 0;
	long running;

	while (!atomic_load(&inv->stop)) {
		sh = fiber_kernel_shared(&nr_slots);
		if (invariant_sample(sh, nr_slots, inv->maxprocs, &running, why,
				     sizeof(why))) {
			if (++streak == VIOLATION_STREAK && !inv->violations++)
				memcpy(inv->first, why, sizeof(why));
		} else {
			streak = 0;
		}
		if (running > inv->max_running)
			inv->max_running = running;
		inv->samples++;
		usleep(100);
	}
	return NULL;
}

/* Start sampling if the module assists this process.  Return: whether. */
static inline bool invariant_start(struct invariant *inv, int maxprocs)
{
	memset(inv, 0, sizeof(*inv));
	inv->maxprocs = maxprocs;
	if (!fiber_kernel_shared(NULL))
		return false;
	return pthread_create(&inv->thread, NULL, invariant_thread, inv) == 0;
}

/* Stop it; print what it saw.  Return: the number of violations. */
static inline long invariant_stop(struct invariant *inv)
{
	atomic_store(&inv->stop, true);
	pthread_join(inv->thread, NULL);
	fprintf(stderr, "# invariant: %ld samples, at most %ld carriers running with a P, %ld violations%s%s\n",
		inv->samples, inv->max_running, inv->violations,
		inv->violations ? ": " : "", inv->first);
	return inv->violations;
}

#endif /* FIBER_RUNTIME_CHECK_H */
