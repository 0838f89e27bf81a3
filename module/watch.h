/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_WATCH_H
#define _FIBER_WATCH_H

#include <linux/compiler.h>
#include <linux/types.h>
#include <linux/fiber.h>

#include "carrier.h"
#include "trace.h"

struct task_struct;

/*
 * What carriers do, told to observers: tracepoints (trace.h) and the
 * "events" multicast group of the netlink family (watch.c).  Not to be
 * confused with the events PARK delivers (pending.h).  Each hook may be called
 * from any context the carrier code runs in, the scheduler path included:
 * with a runqueue lock held, interrupts off, or in hard interrupt context.
 *
 * While nobody listens, a hook costs a disabled tracepoint (a patched-out
 * jump) and one test of the netlink listener bitmap.
 */
extern unsigned int fiber_watch_rate;

bool fiber_watch_listened(void);
void fiber_watch_record(u8 type, struct task_struct *task, u32 slot, u64 seq);
void fiber_watch_exit(void);
void fiber_watch_totals(u64 *sent, u64 *dropped);

static inline void fiber_watch_send(u8 type, struct fiber_carrier *c, u64 seq)
{
	if (unlikely(fiber_watch_listened()))
		fiber_watch_record(type, c->task, c->index, seq);
}

static inline void fiber_watch_block(struct fiber_carrier *c, u64 seq)
{
	trace_fiber_block(c->task, c->index, seq);
	fiber_watch_send(FIBER_EVENT_TYPE_BLOCK, c, seq);
}

static inline void fiber_watch_claim(struct fiber_carrier *c, u64 seq)
{
	trace_fiber_claim(c->task, c->index, seq);
	fiber_watch_send(FIBER_EVENT_TYPE_CLAIM, c, seq);
}

static inline void fiber_watch_hold(struct fiber_carrier *c, u64 seq)
{
	trace_fiber_hold(c->task, c->index, seq);
	fiber_watch_send(FIBER_EVENT_TYPE_HOLD, c, seq);
}

static inline void fiber_watch_grant(struct fiber_carrier *c, u64 seq)
{
	trace_fiber_grant(c->task, c->index, seq);
	fiber_watch_send(FIBER_EVENT_TYPE_GRANT, c, seq);
}

static inline void fiber_watch_park(struct fiber_carrier *c, u64 timeout_ns)
{
	trace_fiber_park(c->task, c->index, timeout_ns);
}

static inline void fiber_watch_wake(struct fiber_carrier *c)
{
	trace_fiber_wake(c->task, c->index);
}

#endif /* _FIBER_WATCH_H */
