/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The differences between the kernels the module supports (Debian 12's 6.1
 * and Debian 13's 6.12), and the toolchains that build them, in one place.
 */
#ifndef _FIBER_COMPAT_H
#define _FIBER_COMPAT_H

#include <linux/mm.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/time_namespace.h>
#include <linux/version.h>
#include <net/genetlink.h>

/*
 * Did @p, being switched out, go to sleep (rather than being preempted)?
 * Called from a sched_out preempt notifier, with @p's runqueue locked.
 *
 * __schedule() dequeues a task that sleeps before the switch, so on 6.1 a
 * sleeper has !on_rq.  Since 6.12 EEVDF may leave a sleeper queued with
 * se.sched_delayed set until its lag is spent ("delayed dequeue"), so that
 * counts as asleep too.
 */
static inline bool fiber_task_sleeping(struct task_struct *p)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
	return !READ_ONCE(p->on_rq) || p->se.sched_delayed;
#else
	return !READ_ONCE(p->on_rq);
#endif
}

/* Set then clear vma flags; vma->vm_flags became read-only in 6.3. */
static inline void fiber_vm_flags_mod(struct vm_area_struct *vma,
				      unsigned long set, unsigned long clear)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

/* The attributes of a generic netlink dump request, parsed by policy. */
static inline struct nlattr **fiber_genl_dump_attrs(struct netlink_callback *cb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	return genl_dumpit_info(cb)->info.attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

/*
 * How far the calling task's CLOCK_MONOTONIC is ahead of the host's, in
 * nanoseconds: its time namespace's offset (containers, CRIU restores), 0
 * without CONFIG_TIME_NS.  Process context.  The kernel's own
 * timens_ktime_to_host() is not exported; the offsets are plain data.
 */
static inline s64 fiber_timens_monotonic_ns(void)
{
#ifdef CONFIG_TIME_NS
	return timespec64_to_ns(&current->nsproxy->time_ns->offsets.monotonic);
#else
	return 0;
#endif
}

/*
 * READ_ONCE() of a bool flag that writers change under a lock.
 *
 * GCC 12 instruments a volatile load of a _Bool as a plain access when
 * UBSAN's bool check is on (CONFIG_UBSAN_BOOL, as on the debug kernels),
 * so KCSAN takes READ_ONCE() of a bool for a data race with the marked
 * write it pairs with.  Loading the flag's byte as a u8 is the same load,
 * and instrumented as the marked access it is.
 */
#define fiber_read_flag(x) ((bool)READ_ONCE(*(u8 *)&(x)))

#endif /* _FIBER_COMPAT_H */
