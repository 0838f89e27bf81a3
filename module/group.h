/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_GROUP_H
#define _FIBER_GROUP_H

#include <linux/irq_work.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/workqueue.h>
#include <linux/fiber.h>

#include "shared.h"

struct fiber_carrier;
struct file;
struct pid_namespace;
struct mm_struct;
struct page;
struct pid;

/*
 * What a group has counted, and in fiber_group_read() also what a group
 * holds now.  The counters of exited carriers and of freed groups are kept
 * in @retired totals, so that nothing is lost when they go.
 */
struct fiber_counters {
	u64 blocks;
	u64 notifications;
	u64 claims;
	u64 holds;
	u64 grants;
	u64 wakeups;
	u64 park_timeouts;
};

struct fiber_group_snapshot {
	struct fiber_counters counters;
	u32 nr_carriers;
	u32 nr_state[FIBER_SLOT_PARKED + 1];	/* carriers by slot state */
	u32 nr_pending;
};

/*
 * struct fiber_group - one open of /dev/fiber: the carriers of one process
 *
 * Lifetime: a kref held by the file (dropped in ->release) and by every
 * carrier (dropped when the carrier is freed), so a group outlives its file
 * while a thread is still registered, and the shared pages stay valid for
 * the notifier callbacks of every registered thread.  The group is freed in
 * process context: every final put happens there (see carrier.c).
 *
 * Locking:
 *  - @config_lock (mutex) serialises configuration, the allocation of the
 *    shared memory, and registration.
 *  - @lock (spinlock, always taken with interrupts off since the notify
 *    irq_work takes it) protects @carriers, @parked and each carrier's
 *    wake-up fields.  Wake-ups are issued under it.  It is never taken in
 *    the scheduler path (the preempt notifiers run with a runqueue lock
 *    held, and wake_up_process() under @lock takes runqueue locks), which
 *    therefore uses only atomics: the slot state word, the pending bitmaps
 *    and irq_work_queue().
 *  - On PREEMPT_RT @lock sleeps, and that is right: it is taken only in
 *    process context and in @notify_work, which is not IRQ_WORK_HARD_IRQ
 *    and so runs in the irq_work thread there (lockdep checks it as such
 *    on every kernel).  The hrtimer callbacks, which run in hard interrupt
 *    context even on RT, take no lock; the watch ring's is raw (watch.c).
 *    The rt-debug kernel (lockdep, PROVE_RAW_LOCK_NESTING) reports none.
 */
struct fiber_group {
	struct kref ref;
	struct list_head node;		/* in fiber_groups (fiber_groups_lock) */
	u64 id;				/* unique while the module is loaded */
	struct mm_struct *mm;		/* mmgrab()ed: identity only */
	struct pid *tgid;		/* the opener's thread group */
	kuid_t uid;			/* charged for the per-user limit */
	struct user_namespace *user_ns;	/* ... in this namespace and up */
	s64 timens_ns;			/* the owner's CLOCK_MONOTONIC offset */

	struct mutex config_lock;	/* see above */
	/* Configuration: written under config_lock, read anywhere. */
	u64 handoff_delay_ns;
	bool hold_on_wake;
	u32 max_carriers;
	bool frozen;			/* shared memory allocated */

	/* Shared memory (shared.c), allocated when frozen. */
	struct page **pages;		/* header page, then slot pages */
	u32 nr_pages;
	struct fiber_shared *shared;	/* kernel address of pages[0] */

	spinlock_t lock;		/* see above */
	/*
	 * The carriers by slot index, in chunks of one slot page's worth,
	 * each allocated with its page (shared.c) and kept, like it, until
	 * the group dies: the memory follows the slots used, not max_carriers.
	 * An entry changes under @lock and config_lock, and is read under
	 * either (fiber_group_carrier()).
	 */
	struct fiber_carrier ***carriers;
	/*
	 * How many slots there are: 0 until the group is frozen, then
	 * max_carriers for good.  Set under @lock, after the arrays: code
	 * that holds @lock but not config_lock bounds its index with this,
	 * never with max_carriers, which CONFIGURE changes until the freeze.
	 */
	u32 nr_slots;
	struct list_head parked;	/* most recently parked first */

	unsigned long *slot_used;	/* under config_lock */
	struct fiber_counters retired;	/* exited carriers' (config_lock) */
	/* The module's copies of the shared header's counters. */
	atomic64_t notifications;
	atomic64_t grants;
	atomic64_t park_timeouts;
	u32 carriers_gen;		/* carriers came or went (config_lock) */

	/* The pending-event queue: pending.c's alone. */
	unsigned long *pending_blocked;
	unsigned long *pending_ready;
	atomic_t nr_pending;		/* bits set in both */
	u32 next_event;			/* where the next scan starts */
	struct irq_work notify_work;	/* wakes parked carriers */
	struct work_struct notify_rest;	/* ... past its first batch */

	bool dead;			/* the owner closed its last fd */
};

/*
 * The carrier in slot @index (below nr_slots) of a frozen group, or NULL.
 * Under group->lock or config_lock.  A chunk is published with
 * smp_store_release() (fiber_shared_prepare_slot()).
 */
static inline struct fiber_carrier *
fiber_group_carrier(struct fiber_group *group, u32 index)
{
	struct fiber_carrier **chunk;

	/* Pairs with the release in fiber_shared_prepare_slot(). */
	chunk = smp_load_acquire(&group->carriers[index / FIBER_SLOTS_PER_PAGE]);
	return chunk ? chunk[index % FIBER_SLOTS_PER_PAGE] : NULL;
}

/* Set the carrier of slot @index, whose chunk exists.  Under both locks. */
static inline void fiber_group_set_carrier(struct fiber_group *group,
					   u32 index, struct fiber_carrier *c)
{
	lockdep_assert_held(&group->config_lock);
	lockdep_assert_held(&group->lock);
	group->carriers[index / FIBER_SLOTS_PER_PAGE][index % FIBER_SLOTS_PER_PAGE] = c;
}

extern unsigned int fiber_max_carriers;
extern unsigned int fiber_max_groups_per_user;

/* The largest max_carriers and max_groups_per_user accepted. */
#define FIBER_MAX_CARRIERS_LIMIT	BIT(20)

/*
 * Every group, in creation order, for the netlink dumps.  The generation
 * numbers change whenever a group (fiber_groups_gen) or one of a group's
 * carriers (fiber_group.carriers_gen) comes or goes, so a dump that spans
 * several messages can tell that it saw a changing list.
 */
extern struct list_head fiber_groups;
extern struct mutex fiber_groups_lock;
extern unsigned int fiber_groups_gen;
extern atomic_t fiber_nr_carriers;

void fiber_group_read(struct fiber_group *group,
		      struct fiber_group_snapshot *snap);
void fiber_groups_read_totals(struct fiber_counters *totals);

int fiber_group_init(void);
void fiber_group_exit(void);
struct fiber_group *fiber_group_create(void);
void fiber_group_get(struct fiber_group *group);
void fiber_group_put(struct fiber_group *group);
int fiber_group_check_owner(struct fiber_group *group);
void fiber_group_flush(struct fiber_group *group, struct file *file);
void fiber_group_file_released(struct fiber_group *group);
int fiber_group_freeze(struct fiber_group *group);
long fiber_ioctl_configure(struct fiber_group *group, void __user *uarg);

/* Bump a counter of the shared header, which user space only reads. */
static inline void fiber_shared_add(__u32 *counter, int delta)
{
	atomic_add(delta, (atomic_t *)counter);
}

/* Count one more in a group's own counter and in the shared header's copy. */
static inline void fiber_group_count(atomic64_t *own, __u64 *shared)
{
	atomic64_inc(own);
	atomic64_inc((atomic64_t *)shared);
}

#endif /* _FIBER_GROUP_H */
