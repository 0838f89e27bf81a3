// SPDX-License-Identifier: GPL-2.0
/*
 * Parking, waking and switching carriers, and delivering events.
 *
 * Why no wake-up is lost: an event is published by setting its bit in a
 * pending bitmap (locklessly, from the scheduler path) and then queueing the
 * group's notify irq_work.  A carrier about to park checks under
 * group->lock whether a wake-up is owed to it or any event is pending, and
 * only if not adds itself to group->parked, in the same critical section.
 * The irq_work takes group->lock after the bit was set: either the parker
 * saw the bit and did not sleep, or the irq_work finds it on the list and
 * wakes it.  Explicit wake-ups set carrier->woken under the same lock, and
 * the parker re-checks it after setting its task state, before each sleep.
 */
#include <linux/bitmap.h>
#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <linux/fiber.h>

#include "args.h"
#include "carrier.h"
#include "compat.h"
#include "group.h"
#include "park.h"
#include "pending.h"
#include "shared.h"
#include "watch.h"

void fiber_wakeups_add(struct fiber_wakeups *w, struct fiber_carrier *c)
{
	lockdep_assert_held(&c->group->lock);
	atomic_inc(&c->wake_pins);
	w->carriers[w->n++] = c;
}

/* Issue the wake-ups, without group->lock. */
void fiber_wakeups_issue(struct fiber_wakeups *w)
{
	struct fiber_carrier *c;
	unsigned int i;

	for (i = 0; i < w->n; i++) {
		c = w->carriers[i];
		fiber_watch_wake(c);
		wake_up_process(c->task);
		/*
		 * @c may be freed as soon as the pin is gone: wake_up_var()
		 * only hashes the address, to find fiber_carrier_retire().
		 */
		if (atomic_dec_and_test(&c->wake_pins))
			wake_up_var(&c->wake_pins);
	}
	w->n = 0;
}

static void fiber_wake_parked(struct fiber_group *group,
			      struct fiber_carrier *c, struct fiber_wakeups *w)
{
	lockdep_assert_held(&group->lock);
	list_del_init(&c->park_node);
	c->parked = false;
	/* Its park's wait loop reads this without the lock. */
	WRITE_ONCE(c->woken, true);
	fiber_wakeups_add(w, c);
}

/*
 * Wake up to @n parked carriers, the most recently parked first (its caches
 * are the warmest), one batch at most.  Return how many are still to wake,
 * 0 if no parked carrier is left.
 */
static int fiber_park_notify_batch(struct fiber_group *group, int n)
{
	struct fiber_wakeups w = { .n = 0 };
	unsigned long flags;

	spin_lock_irqsave(&group->lock, flags);
	while (n > 0 && !fiber_wakeups_full(&w) && !list_empty(&group->parked)) {
		fiber_wake_parked(group, list_first_entry(&group->parked,
							  struct fiber_carrier,
							  park_node), &w);
		n--;
	}
	if (list_empty(&group->parked))
		n = 0;
	spin_unlock_irqrestore(&group->lock, flags);
	fiber_wakeups_issue(&w);
	return n;
}

static int fiber_park_notify_count(struct fiber_group *group)
{
	return max(1, fiber_events_count(group));
}

/*
 * The notify irq_work: wake as many parked carriers as there are pending
 * events.  It runs in hard interrupt context, outside any runqueue lock,
 * so it wakes one batch (FIBER_WAKE_BATCH) there, and leaves any more to
 * @notify_rest in process context: a burst of events in a large group must
 * not keep interrupts off for thousands of wake-ups.
 */
void fiber_park_notify(struct irq_work *work)
{
	struct fiber_group *group = container_of(work, struct fiber_group,
						 notify_work);

	if (fiber_park_notify_batch(group, fiber_park_notify_count(group)))
		queue_work(fiber_wq, &group->notify_rest);
}

/* On fiber_wq: the wake-ups the irq_work left, a batch at a time. */
void fiber_park_notify_rest(struct work_struct *work)
{
	struct fiber_group *group = container_of(work, struct fiber_group,
						 notify_rest);
	int n = fiber_park_notify_count(group);

	while ((n = fiber_park_notify_batch(group, n)))
		cond_resched();
}

/*
 * The host's time for a deadline @timeout_ns on the caller's CLOCK_MONOTONIC,
 * which a time namespace may set ahead of the host's.  One already passed,
 * even before the host's clock began, is 1 ns: past, but not "no deadline".
 */
static ktime_t fiber_park_deadline(u64 timeout_ns)
{
	s64 host;

	if (!timeout_ns)
		return 0;
	host = (s64)timeout_ns - fiber_timens_monotonic_ns();
	return ns_to_ktime(host > 0 ? host : 1);
}

/*
 * Park the calling carrier @c until it is woken, its deadline passes, a
 * signal arrives or the group dies; then deliver events.  @nr_events is
 * the capacity of @uevents in, the number delivered out.
 */
static long fiber_park_self(struct fiber_group *group, struct fiber_carrier *c,
			    u64 timeout_ns, struct fiber_event __user *uevents,
			    u32 *nr_events)
{
	ktime_t expires = fiber_park_deadline(timeout_ns);
	bool parked = false, timed_out = false;
	unsigned long flags;
	long ret = 0, n;

	spin_lock_irqsave(&group->lock, flags);
	if (group->dead) {
		spin_unlock_irqrestore(&group->lock, flags);
		*nr_events = 0;
		return -EBADF;
	}
	/*
	 * A claim that landed while this call slept on its way here (a
	 * fault on its arguments, say) took the caller's P, and queued its
	 * hold for the return to user space (fiber_carrier_claimed()).
	 * Parking would overwrite the CLAIMED that the hold looks for, and
	 * the thread would return to run fiber code beside the spare that
	 * took its P.  So it returns at once, with no event (events are
	 * for carriers that can act on them), and is held on the way out.
	 * An owed wake-up stays owed.
	 */
	if (test_bit(FIBER_HOLD_QUEUED, &c->hold_flags)) {
		spin_unlock_irqrestore(&group->lock, flags);
		*nr_events = 0;
		return 0;
	}
	if (!c->woken && !fiber_events_count(group)) {
		c->parked = true;
		list_add(&c->park_node, &group->parked);
		fiber_slot_set_state(c->slot, FIBER_SLOT_PARKED);
		fiber_shared_add(&group->shared->nr_parked, 1);
		parked = true;
		fiber_watch_park(c, timeout_ns);
	}
	c->woken = false;
	spin_unlock_irqrestore(&group->lock, flags);

	if (parked) {
		for (;;) {
			set_current_state(TASK_INTERRUPTIBLE);
			if (fiber_read_flag(c->woken) || fiber_read_flag(group->dead))
				break;
			if (signal_pending(current)) {
				ret = -EINTR;
				break;
			}
			if (timed_out) {
				ret = -ETIMEDOUT;
				break;
			}
			if (!timeout_ns)
				schedule();
			else if (!schedule_hrtimeout_range(&expires, 0,
							   HRTIMER_MODE_ABS))
				timed_out = true;
		}
		__set_current_state(TASK_RUNNING);

		spin_lock_irqsave(&group->lock, flags);
		if (c->parked) {
			list_del_init(&c->park_node);
			c->parked = false;
		}
		/* A wake-up beats a signal or the deadline that came with it. */
		if (c->woken)
			ret = 0;
		else if (group->dead)
			ret = -EBADF;
		c->woken = false;
		fiber_slot_set_state(c->slot, FIBER_SLOT_RUNNING);
		fiber_shared_add(&group->shared->nr_parked, -1);
		if (ret == -ETIMEDOUT)
			fiber_group_count(&group->park_timeouts,
					  &group->shared->park_timeouts);
		spin_unlock_irqrestore(&group->lock, flags);
		if (ret == -EBADF) {
			*nr_events = 0;
			return ret;
		}
	}

	n = fiber_events_deliver(group, uevents, *nr_events);
	*nr_events = max_t(long, n, 0);
	if (n < 0)
		return n;
	return n ? 0 : ret;	/* events beat a signal or the deadline */
}

/*
 * Validate the events buffer of a park before sleeping, so that an event
 * taken from the queue is not lost to a bad pointer; clamp its capacity to
 * the most events that can be pending at once.
 */
static int fiber_check_events(struct fiber_group *group, u64 events,
			      u32 *nr_events)
{
	*nr_events = min_t(u32, *nr_events, 2 * group->max_carriers);
	if (!*nr_events)
		return 0;
	if (!events || !access_ok(u64_to_user_ptr(events),
				  (size_t)*nr_events * sizeof(struct fiber_event)))
		return -EFAULT;
	return 0;
}

/*
 * Wake carrier @index (or, with @any, the most recently parked one): a
 * parked carrier's park returns, a held one is granted a P, and any other
 * is owed a wake-up that its next park consumes at once.
 */
static int fiber_wake_slot(struct fiber_group *group, u32 index, bool any)
{
	struct fiber_wakeups w = { .n = 0 };
	struct fiber_carrier *t;
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&group->lock, flags);
	if (group->dead) {
		ret = -EBADF;
	} else if (any) {
		if (list_empty(&group->parked))
			ret = -EAGAIN;
		else
			fiber_wake_parked(group, list_first_entry(&group->parked,
								  struct fiber_carrier,
								  park_node), &w);
	} else if (index >= READ_ONCE(group->max_carriers)) {
		ret = -EINVAL;
	} else if (index >= group->nr_slots ||
		   !fiber_group_carrier(group, index)) {
		/* Not frozen yet, or frozen smaller since the line above. */
		ret = -ESRCH;
	} else {
		t = fiber_group_carrier(group, index);
		if (t->parked) {
			fiber_wake_parked(group, t, &w);
		} else if (t->held && !t->granted) {
			t->granted = true;
			fiber_group_count(&group->grants, &group->shared->grants);
			fiber_watch_grant(t, FIBER_SLOT_SEQ(READ_ONCE(t->slot->state)));
			fiber_event_withdraw(t, FIBER_EVENT_READY);
			fiber_wakeups_add(&w, t);
		} else {
			/* Running, blocked, claimed, or granted and on its way. */
			t->woken = true;
		}
	}
	spin_unlock_irqrestore(&group->lock, flags);
	fiber_wakeups_issue(&w);
	return ret;
}

/*
 * What FIBER_IOC_PARK and FIBER_IOC_SWITCH share once their arguments are
 * checked: wake @wake_slot if there is one, park the caller, and write back
 * through @unr how many events it got.  Every published size of both
 * structs has nr_events, so it is always written.
 */
static long fiber_park_common(struct fiber_group *group,
			      struct fiber_carrier *c, const u32 *wake_slot,
			      u64 timeout_ns, u64 events, u32 nr_events,
			      u32 __user *unr)
{
	u32 nr = nr_events;
	long ret;

	ret = fiber_check_events(group, events, &nr);
	/* Make sure the count can be written back before taking events. */
	if (!ret && put_user(nr_events, unr))
		ret = -EFAULT;
	if (!ret && wake_slot)
		ret = fiber_wake_slot(group, *wake_slot, false);
	if (ret)
		return ret;
	ret = fiber_park_self(group, c, timeout_ns, u64_to_user_ptr(events), &nr);
	if (put_user(nr, unr))
		return -EFAULT;
	return ret;
}

long fiber_ioctl_park(struct fiber_group *group, void __user *uarg)
{
	struct fiber_park __user *up = uarg;
	struct fiber_carrier *c;
	struct fiber_park args;
	u32 usize;
	long ret;

	ret = fiber_args_from_user(&args, sizeof(args), FIBER_PARK_SIZE_VER0,
				   uarg, &usize);
	if (ret)
		return ret;
	if (args.flags || args.reserved)
		return -EINVAL;
	c = fiber_carrier_current(group);
	if (!c)
		return -ESRCH;
	return fiber_park_common(group, c, NULL, args.timeout_ns, args.events,
				 args.nr_events, &up->nr_events);
}

long fiber_ioctl_wake(struct fiber_group *group, void __user *uarg)
{
	struct fiber_wake args;
	u32 usize;
	long ret;

	ret = fiber_args_from_user(&args, sizeof(args), FIBER_WAKE_SIZE_VER0,
				   uarg, &usize);
	if (ret)
		return ret;
	if ((args.flags & ~FIBER_WAKE_ANY) || args.reserved)
		return -EINVAL;
	return fiber_wake_slot(group, args.slot, args.flags & FIBER_WAKE_ANY);
}

long fiber_ioctl_switch(struct fiber_group *group, void __user *uarg)
{
	struct fiber_switch __user *up = uarg;
	struct fiber_carrier *c;
	struct fiber_switch args;
	u32 usize;
	long ret;

	ret = fiber_args_from_user(&args, sizeof(args), FIBER_SWITCH_SIZE_VER0,
				   uarg, &usize);
	if (ret)
		return ret;
	if (args.flags || args.reserved || args.reserved2)
		return -EINVAL;
	c = fiber_carrier_current(group);
	if (!c)
		return -ESRCH;
	if (args.slot == c->index)
		return -EINVAL;
	return fiber_park_common(group, c, &args.slot, args.timeout_ns,
				 args.events, args.nr_events, &up->nr_events);
}
