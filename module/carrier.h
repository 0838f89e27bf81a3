/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_CARRIER_H
#define _FIBER_CARRIER_H

#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/preempt.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/fiber.h>

struct fiber_group;
struct fiber_slot;
struct task_struct;

/*
 * struct fiber_carrier - a registered thread (an M)
 *
 * Lifetime: the memory belongs to the thread's registration, not to the
 * group.  @notifier is linked into the thread's own preempt notifier list,
 * which only the thread itself may change (preempt_notifier_unregister() is
 * a bare hlist_del on that list).  So a carrier is retired (taken out of
 * its group, fiber_carrier_retire()) only
 *  - by the thread itself, in FIBER_IOC_UNREGISTER, when REGISTER fails
 *    after linking it, or when it registers again after its group died or
 *    after execve(), or
 *  - after the thread's final switch-out (TASK_DEAD), when its notifier list
 *    will never be walked again: that callback queues @dead_work, whose
 *    irq_work runs once the switch is complete and hands over to
 *    @free_work on fiber_wq (process context).
 * @ref counts the registration and a queued hold (@hold_work): a switch-in
 * during the very ioctl that retires the carrier can queue a hold, which runs
 * only on the way out of that ioctl, and task_work cannot be cancelled
 * from a module.  So the memory, and the references the carrier holds on
 * its group, its task and the module, go with the last of the two.
 *
 * Fields marked (own) are touched only in the thread's own context: its
 * notifier callbacks, its task_work and its ioctls.  Fields marked (lock)
 * are under group->lock.
 */
struct fiber_carrier {
	refcount_t ref;			/* see above */
	struct preempt_notifier notifier;
	struct fiber_group *group;
	struct task_struct *task;
	struct fiber_slot *slot;	/* kernel address of the shared slot */
	u32 index;

	/* Parking and granting (lock). */
	struct list_head park_node;
	bool parked;
	bool woken;			/* a wake-up is owed: park returns */
	bool held;			/* waiting for a grant, counted in
					 * shared->nr_waiting
					 */
	bool granted;			/* a held carrier may go */
	bool retired;			/* out of its group: a hold does nothing */
	atomic_t wake_pins;		/* wake-ups being issued (park.h) */

	/*
	 * What it counted (own): the module's copies of the slot's counters,
	 * which user space can write.  Totals are made of these.
	 */
	u64 blocks;
	u64 wakeups;
	u64 claims;
	u64 holds;
	u64 last_block_ns;		/* host CLOCK_MONOTONIC */
	u64 last_wake_ns;

	/* Hold-on-wake (own, but @hold_flags also from @hold_timer). */
	struct callback_head hold_work;
	unsigned long hold_flags;	/* FIBER_HOLD_* bits */
	struct hrtimer hold_timer;	/* queues a hold that gave way */
	u64 claim_seq;			/* last claim counted */

	/* Handoff delay. */
	struct hrtimer delay_timer;
	u64 delay_seq;			/* the block the timer is for */

	/* Release after thread exit. */
	struct irq_work dead_work;
	struct work_struct free_work;
};

/* Bits of fiber_carrier.hold_flags. */
enum {
	FIBER_HOLD_QUEUED,		/* @hold_work is queued */
	FIBER_HOLD_INTERRUPTED,		/* held, and gave way to a stop */
};

extern struct workqueue_struct *fiber_wq;

/* Count one more in the carrier's own counter and in its slot's copy. */
static inline void fiber_carrier_count(u64 *own, __u64 *shared)
{
	WRITE_ONCE(*own, *own + 1);
	WRITE_ONCE(*shared, *own);
}

/*
 * Change the state of a slot, keeping its sequence number: one store, not
 * a compare-and-swap loop.  Callers hold group->lock with interrupts off,
 * and are the carrier's own thread: the module writes the word nowhere
 * else meanwhile, and user space may rewrite it whenever it likes, before
 * or after.  A loop would let a sibling thread that rewrites the word
 * without pause keep this CPU retrying with interrupts off (on LL/SC
 * machines, for ever).
 */
static inline void fiber_slot_set_state(struct fiber_slot *slot, u32 state)
{
	u64 seq = FIBER_SLOT_SEQ(READ_ONCE(slot->state));

	WRITE_ONCE(slot->state, FIBER_SLOT_WORD(state, seq));
}

struct fiber_carrier *fiber_carrier_current(struct fiber_group *group);
long fiber_ioctl_register(struct fiber_group *group, void __user *uarg);
long fiber_ioctl_unregister(struct fiber_group *group, void __user *uarg);

#endif /* _FIBER_CARRIER_H */
