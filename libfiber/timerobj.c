// SPDX-License-Identifier: MIT
/*
 * Timer and ticker objects (fiber_timer_t): Go's time.Timer and
 * time.Ticker, with Go 1.23's guarantee that no stale value is received
 * after Stop or Reset, and memory freed by the program (fiber_timer_free)
 * since there is no garbage collector.
 *
 * An object is a runtime timer (timer.c) whose callback sends the due
 * time on a channel of capacity 1 without waiting (a full channel drops
 * the value: a ticker's receiver that lags loses ticks), and for a ticker
 * arms the timer again one period later on the period's grid.
 *
 * The lock.  o->lock orders the calls (stop, reset, free) and the
 * callback.  It is held across the send, so a stop or reset either comes
 * before the send (and the value is never sent) or after it (and the
 * value is still in the buffer, where the stop drops it, or a receiver
 * already took it, before the stop returned).  Lock order: o->lock, then
 * a P's timerlock or the channel's lock.  Nothing that holds those waits
 * for o->lock: a callback takes it with no runtime lock held.
 *
 * Stale callbacks.  A stop or reset cannot always take the timer out of
 * its heap: a runner (any M, or sysmon) may have just taken it off to
 * fire, and waiting for that callback under o->lock would deadlock, since
 * the callback takes o->lock.  So the callback checks, under the lock,
 * that its firing is still wanted: @pending (cleared by stop) and a due
 * time that has come (a reset moves it later).  A callback that runs late
 * enough to find the new due time passed delivers for it and takes the
 * newly armed copy out of its heap, so a firing is delivered once.  A
 * timer re-armed by a reset or by its own callback while a callback is
 * still running may fire again at once on another M; t.firing counts the
 * callbacks running, and fiber_timer_free() waits for it to reach 0
 * before freeing the memory they use.
 *
 * That window, between a runner taking the timer off its heap and its
 * callback taking o->lock, lasts some nanoseconds, too few for a test to
 * meet it often.  FIBER_TEST_TIMER_DELAY=ns (read once, at the first
 * timer made) widens it: each callback waits that long before taking
 * the lock.  For tests only; its cost otherwise is one load per firing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime.h"

struct fiber_timer_obj {
	struct fiber_lock lock;		/* see "The lock" above */
	struct fiber_timer t;		/* when: the next due time */
	int64_t period;			/* 0: fires once */
	bool pending;			/* not stopped, and not fired if once */
	struct fiber_chan *c;		/* capacity 1, int64_t due times */
};

/*
 * Arm o->t for @when.  It is in no heap now (cancelled, or off to fire),
 * so its fields are ours.  Return: 0 or -ENOMEM.  o->lock held.
 */
static int obj_arm(struct fiber_timer_obj *o, int64_t when)
{
	o->t.when = when;
	return timer_add(&o->t);
}

/* @now + @ns, or never (INT64_MAX) past the clock's range. */
static int64_t deadline(int64_t now, int64_t ns)
{
	if (ns <= 0)
		return now;
	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

/*
 * The next due time of ticker @o after @when, on its grid, past @now.
 * Ticks missed by a late firing are skipped, as Go's ticker does.
 */
static int64_t next_tick(struct fiber_timer_obj *o, int64_t when, int64_t now)
{
	int64_t next = deadline(when, o->period);

	/* Here period <= now - when: the product stays below 2 * now. */
	if (next <= now)
		next = when + o->period * ((now - when) / o->period + 1);
	return next;
}

/* FIBER_TEST_TIMER_DELAY: -1 until read, then ns (0: none). */
static _Atomic int64_t test_delay = -1;

static void test_delay_init(void)
{
	const char *env;
	char *end;
	long long ns = 0;

	if (atomic_load_explicit(&test_delay, memory_order_relaxed) >= 0)
		return;
	env = getenv("FIBER_TEST_TIMER_DELAY");
	if (env) {
		ns = strtoll(env, &end, 10);
		if (*end || ns < 0 || ns > 1000000000)
			ns = 0;
	}
	atomic_store(&test_delay, ns);
}

/* The runtime timer's callback: deliver, and re-arm a ticker. */
static void obj_fire(void *arg)
{
	struct fiber_timer_obj *o = arg;
	int64_t now, when, delay;
	struct chan_wake wake = { NULL };

	delay = atomic_load_explicit(&test_delay, memory_order_relaxed);
	if (__builtin_expect(delay > 0, 0))
		fiber_spin_ns(delay);
	fiber_lock(&o->lock);
	now = fiber_nanotime();
	when = o->t.when;
	if (!o->pending || now < when) {
		/* Stopped, or reset for later since it was taken off. */
		fiber_unlock(&o->lock);
		return;
	}
	/* A reset may have armed it again for a time already passed. */
	(void)timer_cancel(&o->t);
	(void)chan_send_nowait(o->c, &when, &wake);
	if (o->period) {
		/*
		 * The heap that held it had room, but it goes to ours, which
		 * may have to grow; nobody is left to tell if that fails.
		 */
		if (obj_arm(o, next_tick(o, when, now)))
			fiber_fatal("out of memory re-arming a ticker");
	} else {
		o->pending = false;
	}
	fiber_unlock(&o->lock);
	chan_wake_all(&wake);
}

static struct fiber_timer_obj *obj_new(int64_t ns, int64_t period)
{
	struct fiber_timer_obj *o;

	if (!fiber_runtime_started()) {
		errno = ESRCH;
		return NULL;
	}
	test_delay_init();
	o = calloc(1, sizeof(*o));
	if (!o)
		goto nomem;
	o->c = fiber_chan_new(sizeof(int64_t), 1);
	if (!o->c)
		goto nomem;
	o->t.fn = obj_fire;
	o->t.arg = o;
	o->period = period;
	o->pending = true;
	/* Not visible to any other thread before timer_add publishes it. */
	fiber_lock(&o->lock);
	if (obj_arm(o, deadline(fiber_nanotime(), ns))) {
		fiber_unlock(&o->lock);
		goto nomem;
	}
	fiber_unlock(&o->lock);
	return o;
nomem:
	if (o)
		fiber_chan_free(o->c);
	free(o);
	errno = ENOMEM;
	return NULL;
}

fiber_timer_t *fiber_timer_new(int64_t ns)
{
	return obj_new(ns, 0);
}

fiber_timer_t *fiber_ticker_new(int64_t period_ns)
{
	if (period_ns <= 0) {
		errno = EINVAL;
		return NULL;
	}
	return obj_new(period_ns, period_ns);
}

fiber_chan_t *fiber_timer_chan(fiber_timer_t *o)
{
	return o ? o->c : NULL;
}

/*
 * Stop @o: no callback delivers afterwards, and no value sent before is
 * left to receive.  Return: whether it was active (Go 1.23's Stop: not
 * fired, or fired and not received).  o->lock held; @wk: as for
 * chan_drain().
 */
static bool obj_stop(struct fiber_timer_obj *o, struct chan_wake *wk)
{
	bool was = o->pending;

	o->pending = false;
	/* If it is off to fire, its callback finds !pending and returns. */
	(void)timer_cancel(&o->t);
	if (chan_drain(o->c, wk))
		was = true;
	return was;
}

int fiber_timer_stop(fiber_timer_t *o)
{
	struct chan_wake wk = { NULL };
	bool was;

	if (!o)
		return -EINVAL;
	fiber_lock(&o->lock);
	was = obj_stop(o, &wk);
	fiber_unlock(&o->lock);
	chan_wake_all(&wk);
	return was;
}

int fiber_timer_reset(fiber_timer_t *o, int64_t ns)
{
	struct chan_wake wk = { NULL };
	bool was;
	int ret;

	if (!o)
		return -EINVAL;
	fiber_lock(&o->lock);
	if (o->period && ns <= 0) {
		fiber_unlock(&o->lock);
		return -EINVAL;
	}
	was = obj_stop(o, &wk);
	if (o->period)
		o->period = ns;
	/*
	 * A callback of the old arming still on its way finds the new due
	 * time ahead of it and returns, or, if it is later than that,
	 * delivers for the new one (see "Stale callbacks" above).
	 */
	ret = obj_arm(o, deadline(fiber_nanotime(), ns));
	if (!ret)
		o->pending = true;
	fiber_unlock(&o->lock);
	chan_wake_all(&wk);
	return ret ? ret : was;
}

void fiber_timer_free(fiber_timer_t *o)
{
	struct chan_wake wk = { NULL };

	if (!o)
		return;
	fiber_lock(&o->lock);
	(void)obj_stop(o, &wk);
	fiber_unlock(&o->lock);
	chan_wake_all(&wk);
	/*
	 * A callback taken off its heap before the stop may still run (it
	 * will deliver nothing and arm nothing); it touches o until
	 * t.firing drops.  It runs without blocking, so this is short.
	 */
	while (atomic_load(&o->t.firing)) {
		if (this_fiber())
			fiber_yield();
		else
			cpu_relax();
	}
	fiber_chan_free(o->c);
	free(o);
}
