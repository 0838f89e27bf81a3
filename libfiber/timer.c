// SPDX-License-Identifier: MIT
/*
 * Timers: a min-heap per P, as in Go.
 *
 * A timer lives in the heap of the P that added it, under that P's
 * timerlock.  Every access to a heap takes that lock, the owner's
 * included, so any thread may run any P's timers: the owner at each
 * scheduling point (check_timers, also on every yield), thieves for a
 * victim whose M is busy, the M that wakes from the netpoller for every
 * P, and sysmon (below).  Only p->timer0, the earliest due time, is read
 * without the lock, as a hint; whoever acts on it rechecks under the
 * lock.  When every P is idle one M sleeps in the netpoller until the
 * earliest timer of all (netpoll.c), so a timer fires on time with no
 * thread polling.  Adding a timer that is earlier than what that
 * sleeper waits for wakes it.
 *
 * Timers stuck behind a busy P.  A P whose fiber computes without a
 * scheduling point never looks at its heap, and while another P is busy
 * too (or yields in a loop: a yield checks only its own P's heap) nobody
 * steals.  So sysmon, at every tick, runs the timers of any P that are
 * more than TIMER_OVERDUE_NS past due (timers_run_overdue).  A timer is
 * then at most about SYSMON_MAX_NS + TIMER_OVERDUE_NS late (11 ms on an
 * unloaded machine: Go's order of magnitude), whatever its P does.  The
 * grace leaves the owner, which normally runs a timer within microseconds
 * of its time, to run it on its own P with the woken fiber in its
 * runnext.  Run by sysmon, which has no P, a callback readies its fiber
 * onto the global queue and wakes an idle P if there is one; with every
 * P busy, the first to reach a scheduling point takes it.  A P that never
 * reaches one still starves its own run queue: there is no preemption.
 *
 * A timer's callback runs on the scheduler's stack (or sysmon's) with no
 * lock held; it must not block (it readies fibers).  A timer can be
 * deleted until its callback starts: timer_del() tells which happened,
 * and returns only once a running callback is done.  A timer usually
 * lives on the stack of the fiber it wakes, so that fiber must not
 * return before t->firing is 0 (timer_del, or the wait in fiber_sleep).
 * The timer objects of the API (timerobj.c) are built on these.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "runtime.h"

#define HEAP_PARENT(i)	(((i) - 1) / 2)

static void heap_swap(struct fiber_p *p, int a, int b)
{
	struct fiber_timer *t = p->timers[a];

	p->timers[a] = p->timers[b];
	p->timers[b] = t;
	p->timers[a]->idx = a;
	p->timers[b]->idx = b;
}

static void heap_up(struct fiber_p *p, int i)
{
	while (i > 0 && p->timers[i]->when < p->timers[HEAP_PARENT(i)]->when) {
		heap_swap(p, i, HEAP_PARENT(i));
		i = HEAP_PARENT(i);
	}
}

static void heap_down(struct fiber_p *p, int i)
{
	int l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < p->ntimers && p->timers[l]->when < p->timers[m]->when)
			m = l;
		if (r < p->ntimers && p->timers[r]->when < p->timers[m]->when)
			m = r;
		if (m == i)
			return;
		heap_swap(p, i, m);
		i = m;
	}
}

/* Remove the timer at @i from @p's heap.  timerlock held. */
static void heap_remove(struct fiber_p *p, int i)
{
	int last = --p->ntimers;

	atomic_store(&p->timers[i]->p, NULL);
	p->timers[i]->idx = -1;
	if (i != last) {
		p->timers[i] = p->timers[last];
		p->timers[i]->idx = i;
		heap_down(p, i);
		heap_up(p, i);
	}
	atomic_store(&p->timer0, p->ntimers ? p->timers[0]->when : 0);
}

/* Add @t to @p's heap.  Return: 0 or -ENOMEM.  timerlock held. */
static int heap_add(struct fiber_p *p, struct fiber_timer *t)
{
	struct fiber_timer **grown;
	int cap;

	if (p->ntimers == p->timerscap) {
		cap = p->timerscap ? p->timerscap * 2 : 64;
		grown = realloc(p->timers, (size_t)cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		p->timers = grown;
		p->timerscap = cap;
	}
	atomic_store(&t->p, p);
	t->idx = p->ntimers;
	p->timers[p->ntimers++] = t;
	heap_up(p, t->idx);
	atomic_store(&p->timer0, p->timers[0]->when);
	return 0;
}

/*
 * Arm @t to call t->fn(t->arg) at CLOCK_MONOTONIC time t->when, on the
 * calling M's P (or P 0 from a thread without one).
 * Return: 0 or -ENOMEM.
 */
int timer_add(struct fiber_timer *t)
{
	struct fiber_m *m = this_m();
	struct fiber_p *p = m && m->p ? m->p : sched.allp[0];
	int64_t when = t->when;	/* once armed, t may fire and be gone */
	int ret;

	fiber_lock(&p->timerlock);
	ret = heap_add(p, t);
	fiber_unlock(&p->timerlock);
	if (!ret)
		netpoll_wake_for(when);
	return ret;
}

/*
 * Disarm @t, without waiting for a callback already running.  Return:
 * true if it was armed (this arming's callback will not run), false if
 * it was not armed, or already taken off its heap to fire: then
 * t->firing is non-zero until that callback is done.
 */
bool timer_cancel(struct fiber_timer *t)
{
	struct fiber_p *p;

	while ((p = atomic_load(&t->p))) {
		fiber_lock(&p->timerlock);
		/* It may have moved (procresize) or fired meanwhile. */
		if (atomic_load(&t->p) == p) {
			heap_remove(p, t->idx);
			fiber_unlock(&p->timerlock);
			return true;
		}
		fiber_unlock(&p->timerlock);
	}
	return false;
}

/*
 * Disarm @t.  Return: true if it was armed (its callback will not run),
 * false if it already fired or is firing.
 */
bool timer_del(struct fiber_timer *t)
{
	if (timer_cancel(t))
		return true;
	/*
	 * Taken off to fire: wait until the callback is done with its
	 * argument, which usually lives on the caller's stack.
	 */
	while (atomic_load(&t->firing))
		cpu_relax();
	return false;
}

/*
 * Run @p's timers that are due at @now.  Any M may do this for any P.
 * Return: when the next one is due, 0 if none.
 */
int64_t timers_run(struct fiber_p *p, int64_t now)
{
	struct fiber_timer *t;
	int64_t next = atomic_load(&p->timer0);
	uint64_t fired = 0;

	while (next && next <= now) {
		fiber_lock(&p->timerlock);
		if (!p->ntimers || p->timers[0]->when > now) {
			fiber_unlock(&p->timerlock);
			break;
		}
		t = p->timers[0];
		/* Counted before t->p is cleared: see timer_cancel(). */
		atomic_fetch_add(&t->firing, 1);
		heap_remove(p, 0);
		fiber_unlock(&p->timerlock);
		t->fn(t->arg);
		/* The last touch of t: its owner may free it at 0. */
		atomic_fetch_sub(&t->firing, 1);
		next = atomic_load(&p->timer0);
		fired++;
	}
	if (fired)
		fiber_trace(TRACE_TIMERS, fired, 0);
	return atomic_load(&p->timer0);
}

/* The earliest timer of all Ps, 0 if none. */
int64_t timers_earliest(void)
{
	int n = atomic_load(&sched.nprocs), i;
	int64_t when, min = 0;

	for (i = 0; i < n; i++) {
		when = atomic_load(&sched.allp[i]->timer0);
		if (when && (!min || when < min))
			min = when;
	}
	return min;
}

/*
 * Move the timers of @from (being removed) to @to.  The world is stopped,
 * but sysmon may be running @from's overdue timers: lock both heaps.  No
 * other code holds two timerlocks, so the order does not matter.
 */
void timers_move(struct fiber_p *from, struct fiber_p *to)
{
	struct fiber_timer *t;

	fiber_lock(&from->timerlock);
	fiber_lock(&to->timerlock);
	while (from->ntimers) {
		t = from->timers[from->ntimers - 1];
		from->ntimers--;
		if (heap_add(to, t))
			fiber_fatal("out of memory moving timers");
	}
	atomic_store(&from->timer0, 0);
	fiber_unlock(&to->timerlock);
	fiber_unlock(&from->timerlock);
}

/*
 * For sysmon: run the timers of every P whose earliest one is more than
 * @grace past due at @now (see "Timers stuck behind a busy P" above).
 * Return: whether any P had such timers.
 */
bool timers_run_overdue(int64_t now, int64_t grace)
{
	int n = atomic_load(&sched.nprocs), i;
	struct fiber_p *p;
	bool ran = false;
	int64_t when;

	for (i = 0; i < n; i++) {
		p = sched.allp[i];
		when = atomic_load(&p->timer0);
		if (!when || now - when <= grace)
			continue;
		/*
		 * Between taking a timer off the heap and its callback
		 * queueing the fiber, neither timers_earliest() nor any run
		 * queue shows that fiber: an M going idle then could find
		 * every M idle and report a deadlock (checkdead).  So while
		 * it runs timers, sysmon counts as a running M.
		 */
		if (!ran)
			sysmon_count_running(true);
		ran = true;
		timers_run(p, now);
	}
	if (ran)
		sysmon_count_running(false);
	return ran;
}

/* ---- fiber_sleep -------------------------------------------------------- */

int64_t fiber_now(void)
{
	return fiber_nanotime();
}

static void sleep_done(void *arg)
{
	fiber_ready(arg);
}

/* Arm the timer only once the fiber is off its stack: it readies it. */
static bool sleep_commit(struct fiber *g, void *arg)
{
	(void)g;
	return timer_add(arg) == 0;
}

void fiber_sleep(int64_t ns)
{
	struct fiber_m *m = this_m();
	struct fiber_timer local = { 0 }, *t;
	struct timespec ts;

	if (ns <= 0)
		return;
	if (!m || !m->curg) {
		ts.tv_sec = ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		return;
	}
	t = park_block(m->curg, &local, sizeof(local));
	t->when = fiber_nanotime() + ns;
	t->fn = sleep_done;
	t->arg = m->curg;
	fiber_park(sleep_commit, t, "sleep");
	/*
	 * The timer readied us and may not have returned yet; it still
	 * writes to t, which is on this stack (or in our park block).
	 */
	while (atomic_load(&t->firing))
		cpu_relax();
	park_block_done(this_fiber());
}
