// SPDX-License-Identifier: GPL-2.0
/*
 * Watching carriers: the tracepoints, and the "events" multicast group of
 * the netlink family, which tell observers (fiberstat watch, perf, ftrace)
 * what carriers do.  Inside the module these are "watch" records; "event"
 * means only what FIBER_IOC_PARK delivers (pending.c).
 *
 * Carriers block and wake in the scheduler path, where nothing may allocate
 * with GFP_KERNEL, take a socket lock or wake a task (netlink_broadcast()
 * wakes the listeners).  So a record is only written there, into a small
 * ring under a raw spinlock that nothing else is taken under, and an
 * irq_work (safe to queue from the scheduler) hands the ring to a work item
 * that builds the messages and multicasts them in process context.
 *
 * The work runs FIBER_WATCH_DELAY after the first record of a batch, or at
 * once when the ring is half full: a wake-up of the worker (and of the
 * listener) per record would compete with the very carriers being watched
 * (on one CPU, it made a block's spare ten times slower to run).
 *
 * Cost and limits:
 *  - nothing is recorded while the group has no listener: the hooks test
 *    the listener bitmap first (fiber_watch_listened());
 *  - at most fiber_watch_rate records are kept per second, and at
 *    most FIBER_WATCH_RING wait for the worker: the others are dropped and
 *    counted, and the next record sent says how many were dropped before it.
 */
#include <linux/irq_work.h>
#include <linux/jiffies.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <linux/fiber.h>

#include "compat.h"
#include "netlink.h"

#define CREATE_TRACE_POINTS
#include "watch.h"

#define FIBER_WATCH_RING	256
#define FIBER_WATCH_DELAY	msecs_to_jiffies(10)

unsigned int fiber_watch_rate = 1000;

struct fiber_watch_entry {
	u64 seq;
	u64 time_ns;
	u32 pid;
	u32 tid;
	u32 slot;
	u32 dropped;
	u8 type;
};

/* The ring and the rate limit: all under lock, a leaf lock. */
static struct {
	raw_spinlock_t lock;
	struct fiber_watch_entry ring[FIBER_WATCH_RING];
	unsigned int head;		/* oldest record */
	unsigned int len;
	u64 window_start_ns;		/* the rate limit's current second */
	u32 budget;			/* records left in that second */
	u32 dropped;			/* since the last record kept */
} fiber_watch = {
	.lock = __RAW_SPIN_LOCK_UNLOCKED(fiber_watch.lock),
};

static atomic64_t fiber_watch_sent = ATOMIC64_INIT(0);
static atomic64_t fiber_watch_dropped = ATOMIC64_INIT(0);

static void fiber_watch_work_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(fiber_watch_work, fiber_watch_work_fn);

/*
 * Hard interrupt context: the worker may sleep, this may not.  Queued for
 * the first record of a batch and when the ring gets half full.
 */
static void fiber_watch_kick(struct irq_work *work)
{
	if (READ_ONCE(fiber_watch.len) >= FIBER_WATCH_RING / 2)
		mod_delayed_work(system_wq, &fiber_watch_work, 0);
	else
		schedule_delayed_work(&fiber_watch_work, FIBER_WATCH_DELAY);
}

static DEFINE_IRQ_WORK(fiber_watch_irq_work, fiber_watch_kick);

/*
 * Events go to listeners in the initial network namespace only.  But the
 * kernel keeps one listener bitmap for every namespace, and a user who
 * owns a network namespace (unshare -Urn) has CAP_NET_ADMIN there, which
 * is all that joining the group asks: such a listener would switch
 * recording on for every carrier on the host, to hear nothing.  Nor does
 * 6.1's generic netlink tell a family who joins.  So a batch that reached
 * nobody (-ESRCH) stops recording for FIBER_WATCH_QUIET: a listener
 * elsewhere then costs the host one batch a second, and a real one that
 * joins meanwhile misses at most that second.
 */
#define FIBER_WATCH_QUIET	HZ

static unsigned long fiber_watch_quiet_until;

/* Does anyone (who may hear) listen to the events group? */
bool fiber_watch_listened(void)
{
	if (!FIBER_HAVE_EVENTS)
		return false;
	return genl_has_listeners(&fiber_genl_family, &init_net,
				  FIBER_MCGRP_EVENTS) > 0 &&
	       time_after_eq(jiffies, READ_ONCE(fiber_watch_quiet_until));
}

/* Record what @task did, for the worker.  Any context. */
void fiber_watch_record(u8 type, struct task_struct *task, u32 slot, u64 seq)
{
	u32 rate = READ_ONCE(fiber_watch_rate);
	struct fiber_watch_entry *r;
	unsigned long flags;
	bool kick;
	u64 now;

	raw_spin_lock_irqsave(&fiber_watch.lock, flags);
	/* Under the lock, so that the window never moves back. */
	now = ktime_get_ns();
	/* A lowered rate applies at once, not from the next second. */
	fiber_watch.budget = min(fiber_watch.budget, rate);
	if (now - fiber_watch.window_start_ns >= NSEC_PER_SEC) {
		fiber_watch.window_start_ns = now;
		fiber_watch.budget = rate;
	}
	if (!fiber_watch.budget || fiber_watch.len == FIBER_WATCH_RING) {
		fiber_watch.dropped++;
		raw_spin_unlock_irqrestore(&fiber_watch.lock, flags);
		atomic64_inc(&fiber_watch_dropped);
		return;
	}
	fiber_watch.budget--;
	r = &fiber_watch.ring[(fiber_watch.head + fiber_watch.len) %
			       FIBER_WATCH_RING];
	fiber_watch.len++;
	kick = fiber_watch.len == 1 || fiber_watch.len == FIBER_WATCH_RING / 2;
	r->type = type;
	r->pid = task_tgid_nr(task);
	r->tid = task_pid_nr(task);
	r->slot = slot;
	r->seq = seq;
	r->time_ns = now;
	r->dropped = fiber_watch.dropped;
	fiber_watch.dropped = 0;
	raw_spin_unlock_irqrestore(&fiber_watch.lock, flags);
	if (kick)
		irq_work_queue(&fiber_watch_irq_work);
}

static bool fiber_watch_pop(struct fiber_watch_entry *r)
{
	unsigned long flags;
	bool got = false;

	raw_spin_lock_irqsave(&fiber_watch.lock, flags);
	if (fiber_watch.len) {
		*r = fiber_watch.ring[fiber_watch.head];
		fiber_watch.head = (fiber_watch.head + 1) % FIBER_WATCH_RING;
		fiber_watch.len--;
		got = true;
	}
	raw_spin_unlock_irqrestore(&fiber_watch.lock, flags);
	return got;
}

static int fiber_watch_send_one(const struct fiber_watch_entry *r)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	hdr = genlmsg_put(skb, 0, 0, &fiber_genl_family, 0, FIBER_CMD_EVENT);
	if (!hdr)
		goto nospace;
	if (nla_put_u8(skb, FIBER_EVENT_A_TYPE, r->type) ||
	    nla_put_u32(skb, FIBER_EVENT_A_PID, r->pid) ||
	    nla_put_u32(skb, FIBER_EVENT_A_TID, r->tid) ||
	    nla_put_u32(skb, FIBER_EVENT_A_SLOT, r->slot) ||
	    nla_put_u64_64bit(skb, FIBER_EVENT_A_SEQ, r->seq,
			      FIBER_EVENT_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_EVENT_A_TIME_NS, r->time_ns,
			      FIBER_EVENT_A_PAD) ||
	    (r->dropped && nla_put_u32(skb, FIBER_EVENT_A_DROPPED, r->dropped)))
		goto nospace;
	genlmsg_end(skb, hdr);
	/* ESRCH: the last listener left meanwhile. */
	return genlmsg_multicast(&fiber_genl_family, skb, 0, FIBER_MCGRP_EVENTS,
				 GFP_KERNEL);

nospace:
	nlmsg_free(skb);
	return -EMSGSIZE;
}

static void fiber_watch_work_fn(struct work_struct *work)
{
	struct fiber_watch_entry r;
	int ret;

	while (fiber_watch_pop(&r)) {
		ret = fiber_watch_send_one(&r);
		if (!ret)
			atomic64_inc(&fiber_watch_sent);
		else if (ret == -ESRCH)
			WRITE_ONCE(fiber_watch_quiet_until,
				   jiffies + FIBER_WATCH_QUIET);
		cond_resched();
	}
}

void fiber_watch_totals(u64 *sent, u64 *dropped)
{
	*sent = atomic64_read(&fiber_watch_sent);
	*dropped = atomic64_read(&fiber_watch_dropped);
}

/*
 * Module exit: no carrier and no file is left, so nothing records any more;
 * wait for what was recorded to be sent or dropped, before the family goes.
 */
void fiber_watch_exit(void)
{
	irq_work_sync(&fiber_watch_irq_work);
	flush_delayed_work(&fiber_watch_work);
}
