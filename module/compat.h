/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The differences between the kernels the module supports, and the
 * toolchains that build them, in one place: Debian 11's 5.10, Debian 12's
 * 6.1, Debian 13's 6.12 (and its PREEMPT_RT flavour) and sid's 7.x.  Each
 * names the kernel change it follows.
 */
#ifndef _FIBER_COMPAT_H
#define _FIBER_COMPAT_H

#include <linux/hrtimer.h>
#include <linux/mm.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/time_namespace.h>
#include <linux/workqueue.h>
#include <linux/version.h>
#include <net/genetlink.h>

/* A task's state word: task_struct's ->state became ->__state in 5.14. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 14, 0)
#define fiber_task_state(p) READ_ONCE((p)->__state)
#else
#define fiber_task_state(p) READ_ONCE((p)->state)
#endif

/*
 * Did @p, being switched out, go to sleep (rather than being preempted)?
 * Called from a sched_out preempt notifier, with @p's runqueue locked.
 *
 * __schedule() dequeues a task that sleeps before the switch, so on 6.1 a
 * sleeper has !on_rq.  Since 6.12 EEVDF may leave a sleeper queued with
 * se.sched_delayed set until its lag is spent ("delayed dequeue"), so that
 * counts as asleep too.
 *
 * On PREEMPT_RT (mainline since 6.12, its rtlock wait state since 5.15)
 * spinlock_t and rwlock_t are rtmutexes: a task that waits for one
 * sleeps in TASK_RTLOCK_WAIT, where other kernels would spin.  That wait
 * is as short as the spin it stands for, so it is no block.  Counting it
 * as one would also turn the module's own locks, which carriers take on
 * their way through the slot protocol, into blocks in the middle of it.
 * One such wait still counts: try_to_wake_up() writes TASK_WAKING over
 * the state of a task it finds already dequeued, so a wait woken between
 * __schedule()'s dequeue and this notifier looks like any other sleep.
 * That is rare and safe, a claimed block like any other: the carrier is
 * held on its way out (and fiber_park_self() does not park it).
 */
static inline bool fiber_task_sleeping(struct task_struct *p)
{
#if defined(CONFIG_PREEMPT_RT) && defined(TASK_RTLOCK_WAIT)
	if (fiber_task_state(p) == TASK_RTLOCK_WAIT)
		return false;
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
	return !READ_ONCE(p->on_rq) || p->se.sched_delayed;
#else
	return !READ_ONCE(p->on_rq);
#endif
}

/*
 * try_cmpxchg64() came to every architecture in 5.19; before it, the same
 * from cmpxchg64(): on failure *@oldp gets the value found.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 19, 0)
#define try_cmpxchg64(ptr, oldp, new) ({				\
	typeof(oldp) __fiber_oldp = (oldp);				\
	typeof(*__fiber_oldp) __fiber_old = *__fiber_oldp;		\
	typeof(*__fiber_oldp) __fiber_cur = cmpxchg64(ptr, __fiber_old, new); \
	if (unlikely(__fiber_cur != __fiber_old))			\
		*__fiber_oldp = __fiber_cur;				\
	likely(__fiber_cur == __fiber_old); })
#endif

/*
 * clear_notify_signal() came in 5.18 (with TIF_NOTIFY_SIGNAL's users
 * outside io_uring); 5.10 has the flag, backported, and clears it so.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 18, 0)
static inline void clear_notify_signal(void)
{
	clear_thread_flag(TIF_NOTIFY_SIGNAL);
	/* As 5.18's: the clear before any check of pending task work. */
	smp_mb__after_atomic();
}
#endif

/*
 * Initialize an hrtimer with its callback: hrtimer_setup() came in 6.13 and
 * hrtimer_init(), which left ->function to the caller, went in 6.15.
 */
static inline void fiber_hrtimer_setup(struct hrtimer *timer,
				       enum hrtimer_restart (*fn)(struct hrtimer *),
				       clockid_t clock, enum hrtimer_mode mode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(timer, fn, clock, mode);
#else
	hrtimer_init(timer, clock, mode);
	timer->function = fn;
#endif
}

/*
 * Is @task's process dumpable by its owner, as ptrace's credential check
 * asks?  Under task_lock(@task).  The mode moved from mm->flags
 * (get_dumpable(), SUID_DUMP_USER) to the task's own exec_state in 7.x,
 * whose accessor task_exec_state_get_dumpable() is not exported: its
 * fields are read here, under RCU, as it does.  A process without an mm
 * has exited.
 */
#include <linux/sched/coredump.h>
#ifndef SUID_DUMP_USER
#include <linux/sched/exec_state.h>

static inline bool fiber_task_dumpable(struct task_struct *task)
{
	struct task_exec_state *es;
	bool dumpable;

	if (!task->mm)
		return false;
	rcu_read_lock();
	es = rcu_dereference(task->exec_state);
	dumpable = es && READ_ONCE(es->dumpable) == TASK_DUMPABLE_OWNER;
	rcu_read_unlock();
	return dumpable;
}
#else
static inline bool fiber_task_dumpable(struct task_struct *task)
{
	return task->mm && get_dumpable(task->mm) == SUID_DUMP_USER;
}
#endif

/*
 * alloc_workqueue() flags for a per-CPU workqueue: 0 until 6.17 added
 * WQ_PERCPU, which 7.x warns about leaving out (unbound is to become the
 * default).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define FIBER_WQ_PERCPU	WQ_PERCPU
#else
#define FIBER_WQ_PERCPU	0
#endif

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

/*
 * The vm_operations_struct member that refuses to split a mapping (an
 * munmap or mprotect of part of it): ->split, renamed ->may_split in 5.11.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 11, 0)
#define fiber_vm_may_split may_split
#else
#define fiber_vm_may_split split
#endif

/*
 * May joining a generic netlink multicast group be kept to CAP_NET_ADMIN?
 * GENL_MCAST_CAP_NET_ADMIN came in 6.6 (and 6.1.55); before it any user
 * may join any group, and would hear other users' threads block.  There
 * the family has no events group, and FIBER_FEATURE_EVENTS is clear.
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define FIBER_HAVE_EVENTS		1
#define FIBER_GENL_MCAST_NET_ADMIN	GENL_MCAST_CAP_NET_ADMIN
#else
#define FIBER_HAVE_EVENTS		0
#define FIBER_GENL_MCAST_NET_ADMIN	0
#endif

/*
 * genl_family.resv_start_op (6.1) makes the core refuse reserved header
 * fields, and any attribute sent to a command without a policy, from that
 * command on.  Before it such attributes reach the command, and
 * fiber_genl_no_attrs() refuses them there.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0)
#define FIBER_GENL_RESV_START_OP(op)	.resv_start_op = (op),

static inline int fiber_genl_no_attrs(const struct nlmsghdr *nlh,
				      struct netlink_ext_ack *extack)
{
	return 0;
}
#else
#define FIBER_GENL_RESV_START_OP(op)

static inline int fiber_genl_no_attrs(const struct nlmsghdr *nlh,
				      struct netlink_ext_ack *extack)
{
	if (nlmsg_attrlen(nlh, GENL_HDRLEN)) {
		NL_SET_ERR_MSG(extack, "this command takes no attributes");
		return -EINVAL;
	}
	return 0;
}
#endif

/*
 * NL_SET_ERR_ATTR_MISS() (6.0) names a missing attribute in the extended
 * ACK; before it the message alone says which.
 */
#ifdef NL_SET_ERR_ATTR_MISS
#define fiber_nl_set_err_attr_miss(extack, nest, type) \
	NL_SET_ERR_ATTR_MISS(extack, nest, type)
#else
#define fiber_nl_set_err_attr_miss(extack, nest, type) do { } while (0)
#endif

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
