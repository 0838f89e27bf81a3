// SPDX-License-Identifier: GPL-2.0
/*
 * Carriers: registered threads, and the preempt notifier callbacks that see
 * them block and wake.
 *
 * The scheduler path
 * ------------------
 * fiber_sched_out() runs on every switch-out of a carrier with its runqueue
 * locked and interrupts off; fiber_sched_in() on every switch-in with
 * preemption off.  Neither may sleep, fault, take a sleeping lock or wake a
 * task, and neither takes group->lock (wake-ups are issued under it, and a
 * wake-up takes runqueue locks).  They use only compare-and-swap on the
 * slot's state word (in module-allocated memory, so never a fault), atomic
 * bit operations, irq_work_queue(), hrtimers and task_work_add().
 *
 * A switch-out is a block only if the task sleeps (compat.h) and its slot
 * is RUNNING: parked, held and claimed carriers hold no P.  The wake side
 * is in fiber_sched_in(): BLOCKED -> RUNNING, or, if a spare won the race
 * and claimed the slot, a task_work that, as the thread returns to user
 * space, makes it CLAIMED -> WAITING and holds it (fiber_carrier_hold()).
 *
 * Freeing
 * -------
 * See struct fiber_carrier for who may retire a carrier, and why a queued
 * hold keeps it.  Every final module_put() happens either in an ioctl (the
 * file pins the module too) or in fiber_carrier_free_work() on fiber_wq,
 * which module exit drains with destroy_workqueue(); the irq_work that
 * queues that work runs in hard interrupt context, and a hold that drops
 * the last reference queues it with interrupts off, both of which
 * free_module()'s synchronize_rcu() waits for.
 */
#include <linux/freezer.h>
#include <linux/hrtimer.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/wait_bit.h>
#include <linux/fiber.h>

#include "args.h"
#include "carrier.h"
#include "compat.h"
#include "group.h"
#include "pending.h"
#include "shared.h"
#include "watch.h"

struct workqueue_struct *fiber_wq;

static struct preempt_ops fiber_preempt_ops;

/* The calling thread's carrier, of whatever group, or NULL.  Own context. */
static struct fiber_carrier *fiber_carrier_of_current(void)
{
	struct preempt_notifier *n;

	hlist_for_each_entry(n, &current->preempt_notifiers, link)
		if (n->ops == &fiber_preempt_ops)
			return container_of(n, struct fiber_carrier, notifier);
	return NULL;
}

/* The calling thread's carrier in @group, or NULL. */
struct fiber_carrier *fiber_carrier_current(struct fiber_group *group)
{
	struct fiber_carrier *c = fiber_carrier_of_current();

	return c && c->group == group ? c : NULL;
}

static void fiber_carrier_notify_block(struct fiber_carrier *c)
{
	fiber_group_count(&c->group->notifications,
			  &c->group->shared->notifications);
	fiber_event_queue(c, FIBER_EVENT_BLOCKED);
}

/* Is @c's group still served by its callbacks? */
static bool fiber_carrier_live(struct fiber_carrier *c)
{
	/*
	 * After execve() the thread runs another program (another mm), and
	 * an exiting thread no longer runs fibers: both are inert until
	 * the registration ends.
	 */
	return !fiber_read_flag(c->group->dead) && current->mm == c->group->mm &&
	       !(current->flags & PF_EXITING);
}

/*
 * Note the time now in the carrier's own copy (host time) and in its slot,
 * in the time namespace of the group's owner, as its clock_gettime() says.
 */
static void fiber_carrier_stamp(struct fiber_carrier *c, u64 *own,
				__u64 *shared)
{
	u64 now = ktime_get_ns();

	WRITE_ONCE(*own, now);
	WRITE_ONCE(*shared, now + c->group->timens_ns);
}

static void fiber_sched_out(struct preempt_notifier *n, struct task_struct *next)
{
	struct fiber_carrier *c = container_of(n, struct fiber_carrier, notifier);
	struct fiber_slot *slot = c->slot;
	u64 old, new, delay;

	/* The final switch of an exiting thread: free the carrier after it. */
	if (fiber_task_state(current) == TASK_DEAD) {
		irq_work_queue(&c->dead_work);
		return;
	}
	if (!fiber_carrier_live(c) || !fiber_task_sleeping(current))
		return;
	old = READ_ONCE(slot->state);
	if (FIBER_SLOT_STATE(old) != FIBER_SLOT_RUNNING)
		return;
	new = FIBER_SLOT_WORD(FIBER_SLOT_BLOCKED, FIBER_SLOT_SEQ(old) + 1);
	if (!try_cmpxchg64(&slot->state, &old, new))
		return;
	fiber_carrier_count(&c->blocks, &slot->blocks);
	fiber_carrier_stamp(c, &c->last_block_ns, &slot->last_block_ns);
	fiber_watch_block(c, FIBER_SLOT_SEQ(new));

	delay = READ_ONCE(c->group->handoff_delay_ns);
	if (delay) {
		/* Only a block that lasts @delay is worth a spare. */
		c->delay_seq = FIBER_SLOT_SEQ(new);
		hrtimer_start(&c->delay_timer, ns_to_ktime(delay),
			      HRTIMER_MODE_REL_PINNED_HARD);
		return;
	}
	fiber_carrier_notify_block(c);
}

static enum hrtimer_restart fiber_carrier_delay_expired(struct hrtimer *timer)
{
	struct fiber_carrier *c = container_of(timer, struct fiber_carrier,
					       delay_timer);
	u64 word = READ_ONCE(c->slot->state);

	if (!fiber_read_flag(c->group->dead) &&
	    word == FIBER_SLOT_WORD(FIBER_SLOT_BLOCKED, READ_ONCE(c->delay_seq)))
		fiber_carrier_notify_block(c);
	return HRTIMER_NORESTART;
}

/*
 * Have @c held on its way back to user space (fiber_carrier_hold()).  One
 * pending hold at a time: it re-checks the state when it runs.  It owns a
 * reference: the ioctl this switch-in happened in may retire the carrier
 * before the hold runs.  The registration's own reference is held here
 * (a retirement cancels @hold_timer first), so this one is never the last.
 */
static void fiber_carrier_queue_hold(struct fiber_carrier *c)
{
	if (test_and_set_bit(FIBER_HOLD_QUEUED, &c->hold_flags))
		return;
	refcount_inc(&c->ref);
	if (task_work_add(c->task, &c->hold_work, TWA_RESUME)) {
		clear_bit(FIBER_HOLD_QUEUED, &c->hold_flags);	/* exiting */
		refcount_dec(&c->ref);
	}
}

/* Hard interrupt: the back-stop of a hold that gave way (see below). */
static enum hrtimer_restart fiber_carrier_hold_rearm(struct hrtimer *timer)
{
	struct fiber_carrier *c = container_of(timer, struct fiber_carrier,
					       hold_timer);

	if (test_bit(FIBER_HOLD_INTERRUPTED, &c->hold_flags))
		fiber_carrier_queue_hold(c);
	return HRTIMER_NORESTART;
}

/*
 * @c woke and found its slot CLAIMED (@word): a spare took its P.  Count
 * the claim once, and with hold-on-wake hold the thread before it returns
 * to user space, where it would run fiber code without a P.
 *
 * The slot becomes WAITING only there, in fiber_carrier_hold(), not now:
 * the system call may sleep again before it returns, and a P granted to
 * a thread asleep in the kernel would sit idle until it woke, since a
 * CLAIMED or WAITING slot reports no block.
 */
static void fiber_carrier_claimed(struct fiber_carrier *c, u64 word)
{
	struct fiber_group *group = c->group;
	struct fiber_slot *slot = c->slot;
	u64 seq = FIBER_SLOT_SEQ(word);

	if (c->claim_seq == seq)
		return;
	c->claim_seq = seq;
	/* The wake-up from the block this claim was for. */
	fiber_carrier_count(&c->wakeups, &slot->wakeups);
	fiber_carrier_stamp(c, &c->last_wake_ns, &slot->last_wake_ns);
	fiber_event_withdraw(c, FIBER_EVENT_BLOCKED);
	fiber_carrier_count(&c->claims, &slot->claims);
	fiber_watch_claim(c, seq);
	if (fiber_read_flag(group->hold_on_wake))
		fiber_carrier_queue_hold(c);
}

static void fiber_sched_in(struct preempt_notifier *n, int cpu)
{
	struct fiber_carrier *c = container_of(n, struct fiber_carrier, notifier);
	struct fiber_slot *slot = c->slot;
	u64 old;

	if (!fiber_carrier_live(c))
		return;
	/* Back from the stop that took it out of its hold: resume it. */
	if (unlikely(test_bit(FIBER_HOLD_INTERRUPTED, &c->hold_flags))) {
		fiber_carrier_queue_hold(c);
		return;
	}
	old = READ_ONCE(slot->state);
	switch (FIBER_SLOT_STATE(old)) {
	case FIBER_SLOT_BLOCKED:
		/* A pending handoff-delay timer checks the sequence anyway. */
		hrtimer_try_to_cancel(&c->delay_timer);
		if (try_cmpxchg64(&slot->state, &old,
				  FIBER_SLOT_WORD(FIBER_SLOT_RUNNING,
						  FIBER_SLOT_SEQ(old)))) {
			fiber_carrier_count(&c->wakeups, &slot->wakeups);
			fiber_carrier_stamp(c, &c->last_wake_ns,
					    &slot->last_wake_ns);
			fiber_event_withdraw(c, FIBER_EVENT_BLOCKED);
			return;
		}
		/* A spare claimed the slot first: @old is its new value. */
		if (FIBER_SLOT_STATE(old) == FIBER_SLOT_CLAIMED)
			fiber_carrier_claimed(c, old);
		return;
	case FIBER_SLOT_CLAIMED:
		fiber_carrier_claimed(c, old);
		return;
	}
}

/*
 * Signals and the hold
 * --------------------
 * A held thread must not run user code, so a signal handler cannot run
 * either: ordinary signals are blocked while it waits, and delivered once
 * it is granted.  But whatever stops a task must still stop it: SIGSTOP
 * and job control, ptrace, both cgroup freezers and system suspend.  Those
 * are acted on only by the kernel's signal code on the way back to user
 * space, which a module cannot call, and which runs task work (this hold)
 * before it looks at signals.  So:
 *
 *  - the wait blocks every signal but SIGKILL and SIGSTOP (the unblockable
 *    ones) and sleeps interruptibly: it is not counted in the load average,
 *    and stops, traps and freezing, which set TIF_SIGPENDING whatever the
 *    mask, wake it;
 *  - the system freezer and the cgroup v1 freezer are served in place, by
 *    try_to_freeze();
 *  - task work queued behind the hold (io_uring's, with TIF_NOTIFY_SIGNAL)
 *    waits for the grant like a signal does;
 *  - anything else still pending after recalc_sigpending() is SIGKILL, a
 *    SIGSTOP, a group stop, a ptrace trap or a cgroup v2 freeze.  The wait
 *    then gives way: the mask is restored, the carrier stays held (its slot
 *    WAITING, ->held set) and is marked FIBER_HOLD_INTERRUPTED, and the
 *    signal code stops the thread.  The switch-in after the stop
 *    (fiber_sched_in()) queues the hold again, and it goes on waiting
 *    before any user instruction runs.
 *
 * The hold cannot queue itself again as it gives way: task_work_run()
 * would run it at once, before the signal code, for ever.  And a stop
 * need not switch the thread out: one ended before the thread reached
 * schedule() (SIGCONT, a ptrace detach, a cgroup thaw; a cgroup counts
 * as frozen before its tasks have switched out) leaves no switch-in to
 * queue the hold.  So a pinned timer, FIBER_HOLD_REARM after the wait
 * gave way, queues it too.  If the thread is then still on its way out,
 * or stopped, the hold runs before it returns; if it has returned, the
 * timer's interrupt holds it, after at most that long in user space.  If
 * it comes before the signal code ran, the hold gives way again.  The
 * delay is long enough that the timer does not fire inside the very
 * task_work_run() loop that ran the hold (which would run it again
 * before the signal code, and again), and short enough that a thread
 * that did get out runs a few microseconds at most.
 */

/* How long a hold that gave way waits for a switch-in to queue it. */
#define FIBER_HOLD_REARM	(20 * NSEC_PER_USEC)

/*
 * May the held thread go on waiting with a signal pending?  Called with
 * every signal but SIGKILL and SIGSTOP blocked.
 */
static bool fiber_hold_signal_waits(void)
{
	struct task_struct *t = current;
	/* Only the task's own execve() replaces its sighand. */
	struct sighand_struct *sighand = rcu_dereference_protected(t->sighand,
								   true);
	bool stop;

	if (fatal_signal_pending(t))
		return false;
	if (try_to_freeze())
		return true;
	if (test_thread_flag(TIF_NOTIFY_SIGNAL))
		clear_notify_signal();	/* its task work runs after the hold */
	spin_lock_irq(&sighand->siglock);
	recalc_sigpending();
	stop = (t->jobctl & (JOBCTL_PENDING_MASK | JOBCTL_TRAP_FREEZE)) ||
	       sigismember(&t->pending.signal, SIGSTOP) ||
	       sigismember(&t->signal->shared_pending.signal, SIGSTOP);
	/*
	 * Nothing else is left but the cgroup v2 freezer's mark: the hold
	 * runs inside do_freezer_trap(), thawed, whose caller clears the
	 * mark when the hold is over.  Wait, as that function does, without
	 * the flag that would end every sleep at once.
	 */
	if (!stop)
		clear_thread_flag(TIF_SIGPENDING);
	spin_unlock_irq(&sighand->siglock);
	return !stop;
}

/*
 * task_work, before the thread returns to user space: mark the claimed slot
 * WAITING, queue its READY event, and wait until a P is granted
 * (FIBER_IOC_WAKE or FIBER_IOC_SWITCH) or the group dies.  The slot stays
 * WAITING all along, so the sleep here is no block.  Signals: see above.
 *
 * ->held, not the slot's state, says whether a wake grants this carrier:
 * user space can write the slot.  ->held and the slot's WAITING change
 * together under group->lock, and so does the end of a grant (->granted
 * cleared, the slot RUNNING): a wake that came between the two would count
 * a second grant and leave ->granted set, and the carrier's next hold would
 * then return at once, without a P.
 */
static void fiber_carrier_hold_wait(struct fiber_carrier *c)
{
	struct fiber_group *group = c->group;
	bool wait, granted, resumed;
	sigset_t mask, saved;
	unsigned long flags;
	u64 word;

	resumed = test_and_clear_bit(FIBER_HOLD_INTERRUPTED, &c->hold_flags);

	/*
	 * On the way to user space at last: now it waits for a P.  Unless
	 * the thread is exiting or being killed, or returns from execve()
	 * into a program that knows nothing of the group: none of them runs
	 * fibers, and nobody would grant it.  Already held is held once and
	 * counted once: a hold back from a stop goes on waiting, and one that
	 * ended without a grant (the group died) stays as it was, whatever
	 * the slot word says.
	 *
	 * The hold is counted and its READY event queued in the same critical
	 * section that makes it WAITING, so that no wake can grant it first.
	 */
	spin_lock_irqsave(&group->lock, flags);
	wait = !c->retired && fiber_carrier_live(c) &&
	       !fatal_signal_pending(current);
	if (c->held) {
		wait = wait && resumed;
	} else {
		word = READ_ONCE(c->slot->state);
		wait = wait && FIBER_SLOT_STATE(word) == FIBER_SLOT_CLAIMED &&
		       try_cmpxchg64(&c->slot->state, &word,
				     FIBER_SLOT_WORD(FIBER_SLOT_WAITING,
						     FIBER_SLOT_SEQ(word)));
		if (wait) {
			c->held = true;
			fiber_carrier_count(&c->holds, &c->slot->holds);
			fiber_watch_hold(c, FIBER_SLOT_SEQ(word));
			fiber_shared_add(&group->shared->nr_waiting, 1);
			fiber_event_queue(c, FIBER_EVENT_READY);
		}
	}
	spin_unlock_irqrestore(&group->lock, flags);
	if (!wait)
		return;

	siginitsetinv(&mask, sigmask(SIGKILL) | sigmask(SIGSTOP));
	sigprocmask(SIG_SETMASK, &mask, &saved);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (fiber_read_flag(c->granted) || fiber_read_flag(group->dead))
			break;
		if (signal_pending(current)) {
			__set_current_state(TASK_RUNNING);
			if (fiber_hold_signal_waits())
				continue;
			/* Killed, or to be stopped: see above. */
			if (!fatal_signal_pending(current)) {
				set_bit(FIBER_HOLD_INTERRUPTED, &c->hold_flags);
				hrtimer_start(&c->hold_timer, FIBER_HOLD_REARM,
					      HRTIMER_MODE_REL_PINNED_HARD);
			}
			break;
		}
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	sigprocmask(SIG_SETMASK, &saved, NULL);

	/*
	 * Without a grant (the group died, the thread is being killed or
	 * stopped) the slot stays WAITING and the carrier held.
	 */
	spin_lock_irqsave(&group->lock, flags);
	granted = c->granted;
	if (granted) {
		c->granted = false;
		c->held = false;
		fiber_slot_set_state(c->slot, FIBER_SLOT_RUNNING);
	}
	spin_unlock_irqrestore(&group->lock, flags);
	if (granted)
		fiber_shared_add(&group->shared->nr_waiting, -1);
}

/*
 * The queued hold, holding a reference on @c (fiber_carrier_claimed()),
 * and through it on the module whose code this is.
 */
static void fiber_carrier_hold(struct callback_head *head)
{
	struct fiber_carrier *c = container_of(head, struct fiber_carrier,
					       hold_work);
	unsigned long flags;

	clear_bit(FIBER_HOLD_QUEUED, &c->hold_flags);
	/* A retired carrier is not held: fiber_carrier_hold_wait() checks. */
	fiber_carrier_hold_wait(c);
	/*
	 * The last reference goes to fiber_wq, whose drain at module exit
	 * waits for the release.  Interrupts stay off to the end of this
	 * function's use of the module's code, so that the worker the
	 * queueing wakes cannot preempt it here: free_module() waits for
	 * such a section with synchronize_rcu(), not for a preempted task.
	 */
	local_irq_save(flags);
	if (refcount_dec_and_test(&c->ref))
		queue_work(fiber_wq, &c->free_work);
	local_irq_restore(flags);
}

/*
 * Take a carrier whose notifier is unlinked, or whose thread is dead, out
 * of its group: nothing finds it any more, its slot is free, and a hold
 * still queued will do nothing.  Process context.
 */
static void fiber_carrier_retire(struct fiber_carrier *c)
{
	struct fiber_group *group = c->group;
	struct fiber_slot *slot = c->slot;
	unsigned long flags;
	u64 seq;

	hrtimer_cancel(&c->delay_timer);
	hrtimer_cancel(&c->hold_timer);
	irq_work_sync(&c->dead_work);

	mutex_lock(&group->config_lock);
	spin_lock_irqsave(&group->lock, flags);
	fiber_group_set_carrier(group, c->index, NULL);
	WRITE_ONCE(c->retired, true);
	if (c->parked)
		list_del(&c->park_node);
	spin_unlock_irqrestore(&group->lock, flags);
	/*
	 * Unreachable now; wait for wake-ups already decided to be issued.
	 * Sleeping, not spinning: the waker may be a preempted task of lower
	 * priority on this very CPU.
	 */
	wait_var_event(&c->wake_pins, !atomic_read_acquire(&c->wake_pins));
	fiber_events_forget(c);
	if (c->held)
		fiber_shared_add(&group->shared->nr_waiting, -1);
	/*
	 * The sequence number carries over to the next carrier of the slot,
	 * so a late claim meant for this one cannot match that one.
	 */
	seq = FIBER_SLOT_SEQ(READ_ONCE(slot->state)) + 1;
	WRITE_ONCE(slot->state, FIBER_SLOT_WORD(FIBER_SLOT_FREE, seq));
	/* The group's totals keep what this carrier counted. */
	group->retired.blocks += c->blocks;
	group->retired.wakeups += c->wakeups;
	group->retired.claims += c->claims;
	group->retired.holds += c->holds;
	group->carriers_gen++;
	slot->user_word = 0;
	slot->tid = 0;
	slot->blocks = 0;
	slot->wakeups = 0;
	slot->claims = 0;
	slot->holds = 0;
	slot->last_block_ns = 0;
	slot->last_wake_ns = 0;
	clear_bit(c->index, group->slot_used);
	fiber_shared_add(&group->shared->nr_carriers, -1);
	atomic_dec(&fiber_nr_carriers);
	mutex_unlock(&group->config_lock);
}

/* Free a retired carrier: its references go, the module's last. */
static void fiber_carrier_release(struct fiber_carrier *c)
{
	struct fiber_group *group = c->group;

	put_task_struct(c->task);
	kfree(c);
	fiber_group_put(group);
	module_put(THIS_MODULE);
}

/*
 * End a registration: retire the carrier and drop the registration's
 * reference, in the thread's own context or, once it is dead, on fiber_wq.
 * A hold queued in the ending ioctl still holds one, and frees the carrier
 * when it has run.
 */
static void fiber_carrier_free(struct fiber_carrier *c)
{
	fiber_carrier_retire(c);
	if (refcount_dec_and_test(&c->ref))
		fiber_carrier_release(c);
}

/*
 * On fiber_wq: a dead thread's carrier (retire it, then drop the
 * registration), or one whose last reference a hold dropped (release it).
 */
static void fiber_carrier_free_work(struct work_struct *work)
{
	struct fiber_carrier *c = container_of(work, struct fiber_carrier,
					       free_work);

	if (c->retired)
		fiber_carrier_release(c);
	else
		fiber_carrier_free(c);
}

/* Hard interrupt context, after the dead thread's final switch. */
static void fiber_carrier_dead(struct irq_work *work)
{
	struct fiber_carrier *c = container_of(work, struct fiber_carrier,
					       dead_work);

	queue_work(fiber_wq, &c->free_work);
}

/*
 * Unlink the calling thread's notifier: no callback of @c runs after this.
 * Must come before anything that may sleep in the ioctl, so that no block
 * in it can queue a hold on @c (task_work cannot be cancelled from a
 * module).
 */
static void fiber_carrier_unlink(struct fiber_carrier *c)
{
	preempt_disable();
	preempt_notifier_unregister(&c->notifier);
	preempt_enable();
}

static void fiber_carrier_link(struct fiber_carrier *c)
{
	preempt_disable();
	preempt_notifier_register(&c->notifier);
	preempt_enable();
}

/* Take a free slot for @c; called with config_lock held. */
static int fiber_carrier_attach(struct fiber_group *group,
				struct fiber_carrier *c, u64 user_word)
{
	struct fiber_slot *slot;
	unsigned long flags;
	u32 index;
	u64 seq;
	int ret;

	lockdep_assert_held(&group->config_lock);
	if (fiber_read_flag(group->dead))
		return -EBADF;
	ret = fiber_group_freeze(group);
	if (ret)
		return ret;
	index = find_first_zero_bit(group->slot_used, group->max_carriers);
	if (index >= group->max_carriers)
		return -ENOSPC;
	ret = fiber_shared_prepare_slot(group, index);
	if (ret)
		return ret;

	slot = fiber_shared_slot(group, index);
	c->slot = slot;
	c->index = index;
	seq = FIBER_SLOT_SEQ(READ_ONCE(slot->state));
	slot->user_word = user_word;
	slot->tid = task_pid_vnr(current);
	WRITE_ONCE(slot->state, FIBER_SLOT_WORD(FIBER_SLOT_RUNNING, seq));

	set_bit(index, group->slot_used);
	fiber_shared_add(&group->shared->nr_carriers, 1);
	atomic_inc(&fiber_nr_carriers);
	group->carriers_gen++;
	spin_lock_irqsave(&group->lock, flags);
	fiber_group_set_carrier(group, index, c);
	spin_unlock_irqrestore(&group->lock, flags);
	return 0;
}

long fiber_ioctl_register(struct fiber_group *group, void __user *uarg)
{
	struct fiber_carrier *c, *stale;
	struct fiber_register args;
	u32 usize;
	int ret;

	/*
	 * A carrier left over from a group that died, or from the program
	 * before execve(), is inert; the thread drops it now.  It is unlinked
	 * before anything here may sleep (see fiber_carrier_unlink()).
	 */
	stale = fiber_carrier_of_current();
	if (stale && !fiber_carrier_live(stale)) {
		fiber_carrier_unlink(stale);
		fiber_carrier_free(stale);
		stale = NULL;
	}

	ret = fiber_args_from_user(&args, sizeof(args),
				   FIBER_REGISTER_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (args.flags || args.reserved)
		return -EINVAL;
	if (stale || fiber_carrier_of_current())
		return -EBUSY;

	c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c)
		return -ENOMEM;
	refcount_set(&c->ref, 1);	/* the registration */
	preempt_notifier_init(&c->notifier, &fiber_preempt_ops);
	INIT_LIST_HEAD(&c->park_node);
	init_task_work(&c->hold_work, fiber_carrier_hold);
	fiber_hrtimer_setup(&c->delay_timer, fiber_carrier_delay_expired,
			    CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	fiber_hrtimer_setup(&c->hold_timer, fiber_carrier_hold_rearm,
			    CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	init_irq_work(&c->dead_work, fiber_carrier_dead);
	INIT_WORK(&c->free_work, fiber_carrier_free_work);

	c->group = group;
	c->task = current;

	mutex_lock(&group->config_lock);
	ret = fiber_carrier_attach(group, c, args.user_word);
	mutex_unlock(&group->config_lock);
	if (ret) {
		kfree(c);
		return ret;
	}
	fiber_group_get(group);
	get_task_struct(current);
	/* The file pins the module now; the carrier may outlive the file. */
	__module_get(THIS_MODULE);
	fiber_carrier_link(c);

	args.slot = c->index;
	ret = fiber_args_to_user(uarg, usize, &args, sizeof(args));
	if (ret) {
		fiber_carrier_unlink(c);
		fiber_carrier_free(c);
	}
	return ret;
}

long fiber_ioctl_unregister(struct fiber_group *group, void __user *uarg)
{
	struct fiber_carrier *c = fiber_carrier_current(group);
	struct fiber_unregister args;
	u32 usize;
	int ret;

	if (!c)
		return -ESRCH;
	fiber_carrier_unlink(c);
	ret = fiber_args_from_user(&args, sizeof(args),
				   FIBER_UNREGISTER_SIZE_VER0, uarg, &usize);
	if (!ret && args.flags)
		ret = -EINVAL;
	if (ret) {
		fiber_carrier_link(c);
		return ret;
	}
	fiber_carrier_free(c);
	return 0;
}

static struct preempt_ops fiber_preempt_ops = {
	.sched_in	= fiber_sched_in,
	.sched_out	= fiber_sched_out,
};
