/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_PARK_H
#define _FIBER_PARK_H

struct irq_work;
struct work_struct;
struct fiber_carrier;
struct fiber_group;

/*
 * Wake-ups are decided under group->lock but issued after it is dropped:
 * the first thing a woken carrier does is take that lock, and a waker that
 * still held it, with interrupts off, would only make it spin (the kernel's
 * wake_q does the same).  A carrier in a batch is pinned (wake_pins) until
 * its wake-up is issued, and fiber_carrier_free() waits for that.
 */
#define FIBER_WAKE_BATCH	16

struct fiber_wakeups {
	struct fiber_carrier *carriers[FIBER_WAKE_BATCH];
	unsigned int n;
};

static inline bool fiber_wakeups_full(const struct fiber_wakeups *w)
{
	return w->n == FIBER_WAKE_BATCH;
}

void fiber_wakeups_add(struct fiber_wakeups *w, struct fiber_carrier *c);
void fiber_wakeups_issue(struct fiber_wakeups *w);

void fiber_park_notify(struct irq_work *work);
void fiber_park_notify_rest(struct work_struct *work);
long fiber_ioctl_park(struct fiber_group *group, void __user *uarg);
long fiber_ioctl_wake(struct fiber_group *group, void __user *uarg);
long fiber_ioctl_switch(struct fiber_group *group, void __user *uarg);

#endif /* _FIBER_PARK_H */
