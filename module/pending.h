/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_PENDING_H
#define _FIBER_PENDING_H

#include <linux/atomic.h>
#include <linux/types.h>
#include <linux/fiber.h>

#include "group.h"

struct fiber_carrier;

/*
 * The pending-event queue of a group: the events FIBER_IOC_PARK delivers
 * (struct fiber_event).  Inside the module "event" means only these;
 * what observers are told is a watch record (watch.h).
 *
 * There are two kinds, one bit per slot each: FIBER_EVENT_BLOCKED (the
 * carrier in that slot blocked, and its P may be claimed) and
 * FIBER_EVENT_READY (it is held, waiting for a P).  A bit is set at most
 * once however often its event happens before a park takes it, and the
 * event carries no state of its own: the taker reads the slot, and drops
 * an event whose slot no longer says what the event announced.
 *
 * Queueing and withdrawing run in the scheduler path (runqueue lock held,
 * interrupts off), so they use only atomic bit operations and
 * irq_work_queue(): the irq_work (park.c) wakes a parked carrier to take
 * the event.  Taking runs in PARK, in process context.
 */
int fiber_events_alloc(struct fiber_group *group, u32 nr_slots);
void fiber_events_free(struct fiber_group *group);

void fiber_event_queue(struct fiber_carrier *c, u32 kind);
void fiber_event_withdraw(struct fiber_carrier *c, u32 kind);
void fiber_events_forget(struct fiber_carrier *c);
long fiber_events_deliver(struct fiber_group *group,
			  struct fiber_event __user *uevents, u32 cap);

/* Events queued in the group and not yet taken (never below 0). */
static inline int fiber_events_count(struct fiber_group *group)
{
	return max(atomic_read(&group->nr_pending), 0);
}

#endif /* _FIBER_PENDING_H */
