/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the kselftest harness (6.1's) lacks, for every selftest here.
 * Include after kselftest_harness.h's users need it; the macros expand
 * at their use.
 */
#ifndef FIBER_HARNESS_EXT_H
#define FIBER_HARNESS_EXT_H

/*
 * The harness runs a fixture's test body even after SKIP() in its setup:
 * a body that depends on the setup starts with this.
 */
#define SKIPPED_IN_SETUP() do {						\
	if (_metadata->skip)						\
		return;							\
} while (0)

#endif /* FIBER_HARNESS_EXT_H */
