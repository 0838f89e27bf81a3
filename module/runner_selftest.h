/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Deliberate breakage for the VM runner's self-test (testing/vm/selftest.sh),
 * which proves that the runner fails a run on a kernel warning and on a
 * kmemleak report.  Compiled in only when the runner builds the module with
 * FIBER_RUNNER_SELFTEST_WARN=y or FIBER_RUNNER_SELFTEST_LEAK=y; a normal
 * build turns this into nothing.
 */
#ifndef _FIBER_RUNNER_SELFTEST_H
#define _FIBER_RUNNER_SELFTEST_H

#include <linux/bug.h>
#include <linux/slab.h>

static inline void fiber_runner_selftest_breakage(void)
{
#ifdef FIBER_RUNNER_SELFTEST_WARN
	WARN_ON(1);
#endif
#ifdef FIBER_RUNNER_SELFTEST_LEAK
	/* The pointer is dropped: kmemleak must find the object. */
	void *leak = kmalloc(128, GFP_KERNEL);

	(void)leak;
#endif
}

#endif /* _FIBER_RUNNER_SELFTEST_H */
