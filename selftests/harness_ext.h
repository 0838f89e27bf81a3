/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the kselftest harness (6.1's) lacks, for every selftest here.
 * Include after kselftest_harness.h's users need it; the macros expand
 * at their use.
 */
#ifndef FIBER_HARNESS_EXT_H
#define FIBER_HARNESS_EXT_H

#include <string.h>

/*
 * The harness runs a fixture's test body even after SKIP() in its setup:
 * a body that depends on the setup starts with this.
 */
#define SKIPPED_IN_SETUP() do {						\
	if (_metadata->skip)						\
		return;							\
} while (0)

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

#endif /* FIBER_HARNESS_EXT_H */
