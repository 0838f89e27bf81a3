// SPDX-License-Identifier: GPL-2.0
/*
 * The pending-event queue: see pending.h.  The bitmaps and the count live
 * in struct fiber_group; nothing else touches them.
 */
#include <linux/bitmap.h>
#include <linux/irq_work.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/fiber.h>

#include "carrier.h"
#include "group.h"
#include "pending.h"
#include "shared.h"

/* Events are copied out in batches this big, from the stack. */
#define FIBER_EVENT_BATCH	16

int fiber_events_alloc(struct fiber_group *group, u32 nr_slots)
{
	group->pending_blocked = bitmap_zalloc(nr_slots, GFP_KERNEL_ACCOUNT);
	group->pending_ready = bitmap_zalloc(nr_slots, GFP_KERNEL_ACCOUNT);
	if (group->pending_blocked && group->pending_ready)
		return 0;
	fiber_events_free(group);
	return -ENOMEM;
}

void fiber_events_free(struct fiber_group *group)
{
	bitmap_free(group->pending_blocked);
	group->pending_blocked = NULL;
	bitmap_free(group->pending_ready);
	group->pending_ready = NULL;
}

static unsigned long *fiber_events_of(struct fiber_group *group, u32 kind)
{
	return kind == FIBER_EVENT_BLOCKED ? group->pending_blocked
					   : group->pending_ready;
}

/*
 * Count an event queued (+1) or taken away (-1), right after its bit
 * changed.  The module's own count decides; the copy in the shared header
 * is for user space, which cannot write it.
 */
static void fiber_events_add(struct fiber_group *group, int delta)
{
	atomic_add(delta, &group->nr_pending);
	fiber_shared_add(&group->shared->nr_pending, delta);
}

/* Queue an event of @kind for @c's slot, and have a parked carrier woken. */
void fiber_event_queue(struct fiber_carrier *c, u32 kind)
{
	struct fiber_group *group = c->group;

	if (!test_and_set_bit(c->index, fiber_events_of(group, kind)))
		fiber_events_add(group, 1);
	irq_work_queue(&group->notify_work);
}

/* Withdraw @c's queued event of @kind: it is no longer true. */
void fiber_event_withdraw(struct fiber_carrier *c, u32 kind)
{
	if (test_and_clear_bit(c->index, fiber_events_of(c->group, kind)))
		fiber_events_add(c->group, -1);
}

/* A carrier leaves its slot: its events, of both kinds, go. */
void fiber_events_forget(struct fiber_carrier *c)
{
	fiber_event_withdraw(c, FIBER_EVENT_BLOCKED);
	fiber_event_withdraw(c, FIBER_EVENT_READY);
}

/*
 * The next slot from @from on (below @to) whose bit is set in @pending, or
 * @to.  The bitmap is read with no lock while other CPUs set and clear its
 * bits atomically: a bit seen is a hint, and the caller's
 * test_and_clear_bit() decides who takes the event; a bit missed was set
 * after the count the caller came for, and the next park finds it.
 */
static u32 fiber_events_next(unsigned long *pending, u32 to, u32 from)
{
	/* A racy read on purpose (above): tell KCSAN. */
	return data_race(find_next_bit(pending, to, from));
}

/*
 * Take up to @max events of one @kind into @buf from slot @start on,
 * wrapping around; @n are there already.  An event whose slot is no longer
 * in the state it announced is dropped: nobody could act on it.
 */
static u32 fiber_events_take(struct fiber_group *group, u32 kind, u32 start,
			     struct fiber_event *buf, u32 n, u32 max)
{
	unsigned long *pending = fiber_events_of(group, kind);
	u32 want = kind == FIBER_EVENT_BLOCKED ? FIBER_SLOT_BLOCKED
					       : FIBER_SLOT_WAITING;
	u32 total = group->max_carriers;
	u32 pass, from, to, i;
	u64 word;

	for (pass = 0; pass < 2 && n < max; pass++) {
		from = pass ? 0 : start;
		to = pass ? start : total;
		for (i = fiber_events_next(pending, to, from); i < to && n < max;
		     i = fiber_events_next(pending, to, i + 1)) {
			if (!test_and_clear_bit(i, pending))
				continue;
			fiber_events_add(group, -1);
			word = READ_ONCE(fiber_shared_slot(group, i)->state);
			if (FIBER_SLOT_STATE(word) != want)
				continue;
			buf[n].slot = i;
			buf[n].kind = kind;
			buf[n].seq = FIBER_SLOT_SEQ(word);
			n++;
			WRITE_ONCE(group->next_event, (i + 1) % total);
		}
	}
	return n;
}

/* Put events that could not be delivered back in the queue. */
static void fiber_events_requeue(struct fiber_group *group,
				 const struct fiber_event *buf, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (!test_and_set_bit(buf[i].slot,
				      fiber_events_of(group, buf[i].kind)))
			fiber_events_add(group, 1);
}

/*
 * Copy up to @cap queued events to @uevents, READY before BLOCKED (a held
 * carrier waits already; a blocked one's P can wait for a claim), each
 * kind in slot order from where the last scan stopped.  Return: the number
 * copied, or -EFAULT if none could be (they stay queued).
 */
long fiber_events_deliver(struct fiber_group *group,
			  struct fiber_event __user *uevents, u32 cap)
{
	struct fiber_event buf[FIBER_EVENT_BATCH];
	u32 done = 0, n, start, max;

	/* Most parks find nothing: skip scanning the bitmaps then. */
	while (done < cap && fiber_events_count(group)) {
		start = READ_ONCE(group->next_event);
		max = min_t(u32, cap - done, FIBER_EVENT_BATCH);
		n = fiber_events_take(group, FIBER_EVENT_READY, start, buf, 0, max);
		n = fiber_events_take(group, FIBER_EVENT_BLOCKED, start, buf, n, max);
		if (!n)
			break;
		if (copy_to_user(uevents + done, buf, n * sizeof(*buf))) {
			fiber_events_requeue(group, buf, n);
			return done ? done : -EFAULT;
		}
		done += n;
	}
	return done;
}
