/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Deliberate breakage for the VM runner's self-test (testing/vm/selftest.sh),
 * which proves that the runner fails a run on a kernel warning, on a
 * kmemleak report and, on the rt-debug kernel, on a lock that would sleep
 * where it must not.  Compiled in only when the runner builds the module
 * with FIBER_RUNNER_SELFTEST_WARN=y, FIBER_RUNNER_SELFTEST_LEAK=y or
 * FIBER_RUNNER_SELFTEST_RAW_NESTING=y; a normal build turns this into
 * nothing.
 */
#ifndef _FIBER_RUNNER_SELFTEST_H
#define _FIBER_RUNNER_SELFTEST_H

#include <linux/bug.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#ifdef FIBER_RUNNER_SELFTEST_RAW_NESTING
static DEFINE_RAW_SPINLOCK(fiber_runner_selftest_raw);
static DEFINE_SPINLOCK(fiber_runner_selftest_lock);
#endif

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
#ifdef FIBER_RUNNER_SELFTEST_RAW_NESTING
	/*
	 * A spinlock_t inside a raw_spinlock_t: it sleeps on PREEMPT_RT, as
	 * one taken in a preempt notifier would.  Uncontended, it never does
	 * here, so only lockdep ("Invalid wait context", with
	 * PROVE_RAW_LOCK_NESTING) and might_sleep() can tell.
	 */
	raw_spin_lock(&fiber_runner_selftest_raw);
	spin_lock(&fiber_runner_selftest_lock);
	spin_unlock(&fiber_runner_selftest_lock);
	raw_spin_unlock(&fiber_runner_selftest_raw);
#endif
}

#endif /* _FIBER_RUNNER_SELFTEST_H */
