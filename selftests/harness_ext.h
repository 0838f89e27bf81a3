/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the kselftest harness (6.1's) lacks, for every test program here:
 * the selftests and libfiber's own tests include this instead of
 * kselftest_harness.h.  The macros expand at their use.
 */
#ifndef FIBER_HARNESS_EXT_H
#define FIBER_HARNESS_EXT_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kselftest_harness.h"

/*
 * The harness runs a fixture's test body even after SKIP() in its setup:
 * a body that depends on the setup starts with this.
 */
#define SKIPPED_IN_SETUP() do {						\
	if (_metadata->skip)						\
		return;							\
} while (0)

/*
 * A limit of its own for a TEST(), which 6.1's harness has only for
 * TEST_F (TEST_F_TIMEOUT): TEST_LIMIT(name, seconds) after the test.
 */
#define TEST_LIMIT(test_name, seconds)					\
	static void __attribute__((constructor))			\
	_limit_##test_name(void)					\
	{								\
		_##test_name##_object.timeout = (seconds);		\
	}

/* How often @needle occurs in @hay, for checks on what a program printed. */
static inline int count_substr(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * What a whole program needs before any of its cases can run, such as the
 * device: a function that returns NULL when it is there, or why not.  A
 * program declares it once, with FIBER_HARNESS_REQUIRES(fn) at file
 * scope; fiber_harness_run() asks it before any fixture runs and, given a
 * reason, prints the plan as "1..0 # SKIP reason" and exits KSFT_SKIP.
 * Its cases then never run half set up: a fixture's SKIP() does not stop
 * the test body (SKIPPED_IN_SETUP()), which could fail or wait for
 * something that never comes.
 */
static const char *(*fiber_harness_requirement)(void);

#define FIBER_HARNESS_REQUIRES(fn)					\
	static void __attribute__((constructor))			\
	_fiber_harness_requires(void)					\
	{								\
		fiber_harness_requirement = (fn);			\
	}

static inline double fiber_harness_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The harness's test_harness_run(), with each case timed: after its
 * result, a case prints
 *
 *	# time: 1.234 s of 30 s: fixture.variant.test
 *
 * its run time (fork to reap: setup, body and teardown) and its limit
 * (TEST_TIMEOUT_DEFAULT or TEST_F_TIMEOUT's).  testing/check.sh lists the
 * cases closest to their limits from these lines; every case must finish
 * within a quarter of its limit on an idle machine (docs/testing.md).
 *
 * Its exit status is kselftest's: KSFT_PASS if every case passed or
 * skipped and at least one passed, KSFT_SKIP if every case skipped (the
 * program tested nothing here: a runner must not count that as a pass),
 * KSFT_FAIL if any failed.
 */
static inline int fiber_harness_run(void)
{
	struct __fixture_variant_metadata no_variant = { .name = "", };
	struct __fixture_variant_metadata *v;
	struct __fixture_metadata *f;
	struct __test_results *results;
	struct __test_metadata *t;
	unsigned int cases = 0, fixtures = 0, passed = 0, skipped = 0;
	const char *why;
	double start;

	for (f = __fixture_list; f; f = f->next) {
		for (v = f->variant ?: &no_variant; v; v = v->next) {
			fixtures++;
			for (t = f->tests; t; t = t->next)
				cases++;
		}
	}
	if (fiber_harness_requirement) {
		why = fiber_harness_requirement();
		if (why) {
			ksft_print_header();
			ksft_exit_skip("%s\n", why);
		}
	}
	results = mmap(NULL, sizeof(*results), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (results == MAP_FAILED)
		ksft_exit_fail_msg("mmap of the results page: %s\n",
				   strerror(errno));

	ksft_print_header();
	ksft_set_plan(cases);
	ksft_print_msg("Starting %u tests from %u test cases.\n",
		       cases, fixtures);
	for (f = __fixture_list; f; f = f->next) {
		for (v = f->variant ?: &no_variant; v; v = v->next) {
			for (t = f->tests; t; t = t->next) {
				t->results = results;
				start = fiber_harness_now();
				__run_test(f, v, t);
				ksft_print_msg("time: %.3f s of %d s: %s%s%s.%s\n",
					       fiber_harness_now() - start,
					       t->timeout, f->name,
					       v->name[0] ? "." : "", v->name,
					       t->name);
				t->results = NULL;
				passed += !!t->passed;
				skipped += t->passed && t->skip;
			}
		}
	}
	munmap(results, sizeof(*results));

	if (cases && skipped == cases) {
		ksft_print_msg("SKIPPED: all %u tests skipped.\n", cases);
		ksft_print_cnts();
		exit(KSFT_SKIP);
	}
	ksft_print_msg("%s: %u / %u tests passed.\n",
		       passed == cases ? "PASSED" : "FAILED", passed, cases);
	ksft_exit(passed == cases);
	return KSFT_FAIL;	/* not reached */
}

#undef TEST_HARNESS_MAIN
#define TEST_HARNESS_MAIN						\
	static void __attribute__((constructor))			\
	__constructor_order_last(void)					\
	{								\
		if (!__constructor_order)				\
			__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD; \
	}								\
	int main(void)							\
	{								\
		return fiber_harness_run();				\
	}

#endif /* FIBER_HARNESS_EXT_H */
