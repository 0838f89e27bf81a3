// SPDX-License-Identifier: MIT
/*
 * The scheduler: how an M finds the next fiber and switches to it.
 *
 * Switching.  A fiber leaves the CPU in one of two ways:
 *
 *  - Directly to the next fiber (fiber_yield and fiber_exit, when the
 *    next fiber can be had without blocking and neither fiber is locked
 *    to a thread).  This is the hot path: one context switch.
 *  - Through the M's g0 (everything else): the g0 loop may block the
 *    thread, which must never happen on a fiber's stack, because that
 *    fiber may be made runnable and resumed by another M meanwhile.
 *
 * Either way the fiber left behind must not be made visible to other Ms
 * (put on a run queue, freed) until its registers are saved, so that is
 * done after the switch, on the new stack: the leaving side records an
 * action in m->after, and every place where a context resumes calls
 * finish_switch() first.  The resuming side may be on a different M than
 * the one it left from, so it always re-reads this_m().
 *
 * Spinning.  An M with a P and nothing to run "spins": it looks at the
 * other Ps' queues to steal.  sched.nmspinning counts such Ms.  Whoever
 * makes a fiber runnable calls wakep(), which starts a new spinning M
 * only if none is spinning and some P is idle: a spinning M is bound to
 * see the new work.  The converse obligation is on the spinning M: when
 * it gives up, it first stops counting itself as spinning and then looks
 * at every queue once more, since a wakep() that saw it spinning did not
 * start anyone.  At most half of the busy Ps have a spinning M, so idle
 * Ms do not burn the CPUs the busy ones need; an M that found nothing
 * parks on its futex (stopm) and costs nothing until startm() wakes it.
 *
 * Fairness.  Every 61st fiber a P runs comes from the global queue even
 * when the local queue is not empty, so a pair of fibers feeding each
 * other through runnext cannot starve the global queue.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "sanitizer.h"

struct fiber_sched sched;

void fiber_lock_slow(struct fiber_lock *l)
{
	uint32_t c;
	int spin;

	/*
	 * Spin reading, and try the CAS only when the lock looks free: a
	 * failed CAS takes the cache line away from the holder, who needs it
	 * to unlock (test-and-test-and-set).
	 */
	for (spin = 0; spin < 100; spin++) {
		c = 0;
		if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak(&l->state, &c, 1))
			return;
		cpu_relax();
	}
	/* Mark it contended, then sleep until we take it as contended. */
	while (atomic_exchange(&l->state, 2) != 0)
		syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL,
			NULL, 0);
}

static __thread struct fiber_m *tls_m;

/*
 * A fiber may resume on a different thread from the one it left, so the
 * address of a thread-local variable computed before a switch is wrong
 * after it.  Compilers assume the thread never changes within a function
 * and cache such addresses (with -fPIC, the result of __tls_get_addr),
 * so the runtime reads its M only through this out-of-line function,
 * which they cannot fold across a call.
 */
__attribute__((noinline)) struct fiber_m *this_m(void)
{
	struct fiber_m *m = tls_m;

	__asm__ volatile("" : "+r"(m));
	return m;
}

void set_this_m(struct fiber_m *m)
{
	tls_m = m;
}

void fiber_lock_count(int delta)
{
	m_locks_add(tls_m, delta);
}

/*
 * Switch from the running context to @to.  @dying: the context left is a
 * dead fiber's, never to be resumed.  Returns when someone switches back.
 */
static void switch_context(struct fiber_context *save,
			   const struct fiber_context *to, void *to_lo,
			   size_t to_size, bool dying)
{
	void *fake = NULL;

	san_start_switch(dying ? NULL : &fake, to_lo, to_size);
	fiber_context_switch(save, to);
	san_finish_switch(fake);
}

/* Leave the running fiber @g for the M's g0, with @what to do after. */
void switch_to_g0(struct fiber_m *m, struct fiber *g, enum fiber_after what)
{
	m->after = what;
	m->after_g = g;
	m->curg = NULL;
	switch_context(&g->ctx, &m->g0, m->g0_lo, m->g0_size,
		       what == AFTER_EXIT);
}

/* Switch from fiber @from to fiber @to on M @m; see the comment above. */
static void switch_fibers(struct fiber_m *m, struct fiber *from,
			  struct fiber *to, enum fiber_after what, bool inherit)
{
	m->after = what;
	m->after_g = from;
	m->curg = to;
	atomic_store_explicit(&to->status, FIBER_RUNNING, memory_order_relaxed);
	if (!inherit)
		atomic_fetch_add_explicit(&m->p->schedtick, 1,
					  memory_order_relaxed);
	switch_context(&from->ctx, &to->ctx, to->stack.base, to->stack.size,
		       what == AFTER_EXIT);
}

/* ---- live and free fibers ---------------------------------------------- */

/* Fibers started and not ended: exact only while none start or end. */
int64_t fibers_live(void)
{
	struct fiber_p *p;
	int64_t n = 0;
	int i;

	/* Ps are made in order of id and never freed. */
	for (i = 0; i < FIBER_MAXPROCS_LIMIT && (p = sched.allp[i]); i++)
		n += atomic_load_explicit(&p->nlive, memory_order_relaxed);
	return n;
}

/*
 * Dead fibers wait for reuse on their P's free lists, and beyond
 * FIBER_PFREE_MAX on the global ones, in batches.  Two kinds (runtime.h):
 * WARM, whose stack holds pages it used, and COLD, whose stack is fresh,
 * scavenged, or none.  The split serves fiber_first_frame() (fiber.c): a
 * new fiber is made from a COLD fiber when there is one, so that the
 * fibers queued, not yet started, hold stacks that cost nothing, and the
 * WARM stacks are left for the fibers that start.  A tree like skynet
 * keeps several times more fibers queued than started: handing them the
 * warm stacks made every start touch a fresh page.
 */

static enum fiber_gfree_kind gfree_kind(const struct fiber *g)
{
	return g->stack.base && g->stack.dirty ? GFREE_WARM : GFREE_COLD;
}

/*
 * Put the batches @first .. @last (linked through gfree_next), @n dead
 * fibers of @kind in all, on top of the global free list.
 */
void gfree_splice(enum fiber_gfree_kind kind, struct fiber *first,
		  struct fiber *last, long n)
{
	fiber_lock(&sched.gfree.lock);
	last->gfree_next = sched.gfree.batches[kind];
	sched.gfree.batches[kind] = first;
	atomic_fetch_add_explicit(&sched.gfree.n[kind], n,
				  memory_order_relaxed);
	fiber_unlock(&sched.gfree.lock);
}

/*
 * Put @n dead fibers of @kind, linked through schedlink, on the global
 * free list as one batch; @now is when, for the scavenger.
 */
void gfree_push(enum fiber_gfree_kind kind, struct fiber *list, int n,
		int64_t now)
{
	list->gfree_n = n;
	list->stack.freed_at = now;
	gfree_splice(kind, list, list, n);
}

/*
 * Put dead fiber @g on @p's free list of @kind.  At FIBER_PFREE_MAX, the
 * older half goes to the global list as one batch: the newer half, last
 * to run and most likely still in this CPU's cache, stays.
 */
static void gfree_put_kind(struct fiber_p *p, struct fiber *g,
			   enum fiber_gfree_kind kind)
{
	struct fiber_gfree_list *l = &p->gfree[kind];
	struct fiber *keep_last;
	int i;

	g->schedlink = l->head;
	l->head = g;
	if (++l->n < FIBER_PFREE_MAX)
		return;
	keep_last = l->head;
	for (i = 1; i < FIBER_PFREE_MAX / 2; i++)
		keep_last = keep_last->schedlink;
	g = keep_last->schedlink;
	keep_last->schedlink = NULL;
	l->n = FIBER_PFREE_MAX / 2;
	gfree_push(kind, g, FIBER_PFREE_MAX - FIBER_PFREE_MAX / 2,
		   fiber_nanotime());
}

void gfree_put(struct fiber_p *p, struct fiber *g)
{
	gfree_put_kind(p, g, gfree_kind(g));
}

/*
 * @d, the first WARM dead fiber of @p, just gave its stack away for a
 * cold one (fiber_first_frame): it is COLD now.
 */
void gfree_to_cold(struct fiber_p *p, struct fiber *d)
{
	p->gfree[GFREE_WARM].head = d->schedlink;
	p->gfree[GFREE_WARM].n--;
	gfree_put_kind(p, d, GFREE_COLD);
}

/* Take a global batch of @kind for @p's empty list.  Return: if any. */
static bool gfree_refill(struct fiber_p *p, enum fiber_gfree_kind kind)
{
	struct fiber *b;

	if (atomic_load_explicit(&sched.gfree.n[kind], memory_order_relaxed) <= 0)
		return false;
	fiber_lock(&sched.gfree.lock);
	b = sched.gfree.batches[kind];
	if (b) {
		sched.gfree.batches[kind] = b->gfree_next;
		atomic_fetch_sub_explicit(&sched.gfree.n[kind], b->gfree_n,
					  memory_order_relaxed);
		p->gfree[kind].head = b;
		p->gfree[kind].n = b->gfree_n;
	}
	fiber_unlock(&sched.gfree.lock);
	return b;
}

/*
 * A dead fiber for a new one, COLD first (see above), each kind from
 * @p's list and then the global one; NULL if there is none.
 */
struct fiber *gfree_get(struct fiber_p *p)
{
	struct fiber_gfree_list *l = NULL;
	struct fiber *g;

	if (p->gfree[GFREE_COLD].head || gfree_refill(p, GFREE_COLD))
		l = &p->gfree[GFREE_COLD];
	else if (p->gfree[GFREE_WARM].head || gfree_refill(p, GFREE_WARM))
		l = &p->gfree[GFREE_WARM];
	if (!l)
		return NULL;
	g = l->head;
	l->head = g->schedlink;
	l->n--;
	return g;
}

/* ---- making fibers runnable --------------------------------------------- */

/* Start a spinning M if there is an idle P and nobody spins already. */
void wakep(void)
{
	int zero = 0;

	if (atomic_load(&sched.npidle) == 0)
		return;
	if (atomic_load(&sched.nmspinning) != 0 ||
	    !atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1))
		return;
	startm(NULL, true);
}

/*
 * Make waiting fiber @g runnable.  On a fiber it goes to the current P's
 * runnext, so it runs soon and on a warm cache; elsewhere to the global
 * queue.
 */
void fiber_ready(struct fiber *g)
{
	struct fiber_m *m = this_m();
	uint32_t was;

	m_locks_add(m, 1);	/* our P is ours until it has @g */
	/* Only a parked fiber is readied, once (Go: "bad g->status in ready"). */
	was = atomic_exchange(&g->status, FIBER_RUNNABLE);
	if (was != FIBER_WAITING)
		fiber_fatal("ready of fiber %llu, which is %s",
			    (unsigned long long)g->id, fiber_status_name(was));
	fiber_event(ready, TRACE_READY, g->id, m && m->curg ? m->curg->id : 0);
	if (m && m->p) {
		runq_put(m->p, g, true);
	} else {
		fiber_lock(&sched.lock);
		globrunq_put(g);
		fiber_unlock(&sched.lock);
	}
	m_locks_add(m, -1);
	wakep();
}

static void resetspinning(struct fiber_m *m)
{
	m->spinning = false;
	if (atomic_fetch_sub(&sched.nmspinning, 1) < 1)
		fiber_fatal("negative nmspinning");
	/* We took work; there may be more for another spinning M. */
	wakep();
}

/* ---- finding work ------------------------------------------------------- */

/* Run @p's due timers, if it has any; they may ready fibers onto it. */
static inline void check_timers(struct fiber_p *p)
{
	int64_t when = atomic_load_explicit(&p->timer0, memory_order_relaxed);

	int64_t now;

	if (when && when <= (now = fiber_nanotime()))
		timers_run(p, now);
}

static void run_all_timers(void)
{
	int n = atomic_load(&sched.nprocs), i;

	for (i = 0; i < n; i++)
		check_timers(sched.allp[i]);
}

/* A fiber to run without blocking, or NULL.  Runs on fibers and on g0. */
static struct fiber *find_ready(struct fiber_p *p, bool *inherit)
{
	struct fiber *g;

	*inherit = false;
	check_timers(p);
	if (atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61 == 0 &&
	    atomic_load(&sched.runqsize) > 0) {
		fiber_lock(&sched.lock);
		g = globrunq_get(p, 1);
		fiber_unlock(&sched.lock);
		if (g)
			return g;
	}
	g = runq_get(p, inherit);
	if (g)
		return g;
	if (atomic_load(&sched.runqsize) > 0) {
		/* The local ring is empty, so this cannot overflow it. */
		fiber_lock(&sched.lock);
		g = globrunq_get(p, 0);
		fiber_unlock(&sched.lock);
	}
	return g;
}

uint64_t fiber_rand(struct fiber_m *m)
{
	/* xorshift64 */
	m->rand ^= m->rand << 13;
	m->rand ^= m->rand >> 7;
	m->rand ^= m->rand << 17;
	return m->rand;
}

/* Steal from the other Ps, in random order; runnext on the last round. */
static struct fiber *steal_work(struct fiber_m *m, struct fiber_p *p)
{
	int n = atomic_load(&sched.nprocs), attempt, i, start;
	struct fiber_p *victim;
	struct fiber *g;
	bool inherit;

	for (attempt = 0; attempt < 4; attempt++) {
		start = (int)(fiber_rand(m) % (uint64_t)n);
		for (i = 0; i < n; i++) {
			if (atomic_load(&sched.gcwaiting))
				return NULL;
			victim = sched.allp[(start + i) % n];
			if (!victim || victim == p)
				continue;
			/*
			 * Its timers are due and its M is busy: run them
			 * (they ready their fibers onto our P).
			 */
			if (attempt == 3 && atomic_load(&victim->timer0)) {
				check_timers(victim);
				g = runq_get(p, &inherit);
				if (g)
					return g;
			}
			g = runq_steal(p, victim, attempt == 3);
			if (g) {
				fiber_event(steal, TRACE_STEAL, victim->id, g->id);
				return g;
			}
		}
	}
	return NULL;
}

/* Any P's queue not empty? */
static bool any_runq_ready(void)
{
	int n = atomic_load(&sched.nprocs), i;

	for (i = 0; i < n; i++)
		if (sched.allp[i] && !runq_empty(sched.allp[i]))
			return true;
	return false;
}

/*
 * Find a fiber to run, blocking the M until there is one.  On g0 only.
 * On return the M holds a P.
 */
static struct fiber *find_runnable(struct fiber_m *m, bool *inherit)
{
	struct fiber_p *p;
	struct fiber *g;
	int busy;

top:
	if (atomic_load(&sched.gcwaiting)) {
		gcstopm();
		goto top;
	}
	p = m->p;
	g = find_ready(p, inherit);
	if (g)
		return g;

	/* Fibers waiting on fds: poll without blocking, if nobody blocks. */
	if (netpoll_has_waiters()) {
		struct fiber *list = netpoll(0);

		if (list) {
			g = list;
			atomic_store(&g->status, FIBER_RUNNABLE);
			inject_list(p, g->schedlink);
			*inherit = false;
			return g;
		}
	}

	busy = atomic_load(&sched.nprocs) - atomic_load(&sched.npidle);
	if (m->spinning || 2 * atomic_load(&sched.nmspinning) < busy) {
		if (!m->spinning) {
			m->spinning = true;
			atomic_fetch_add(&sched.nmspinning, 1);
		}
		g = steal_work(m, p);
		if (g) {
			*inherit = false;
			return g;
		}
	}

	/* An M held in the module waits for a P: give it ours. */
	if (kernel_waiting() && kernel_handoff(m))
		goto top;

	/* Nothing anywhere: give up the P. */
	fiber_lock(&sched.lock);
	if (atomic_load(&sched.gcwaiting)) {
		fiber_unlock(&sched.lock);
		goto top;
	}
	if (atomic_load(&sched.runqsize) > 0) {
		g = globrunq_get(p, 0);
		fiber_unlock(&sched.lock);
		*inherit = false;
		return g;
	}
	releasep(m);
	pidleput(p);
	fiber_unlock(&sched.lock);

	if (m->spinning) {
		m->spinning = false;
		if (atomic_fetch_sub(&sched.nmspinning, 1) < 1)
			fiber_fatal("negative nmspinning");
		/*
		 * See "Spinning" above: look once more, now not counted.
		 * The global queue too: a yield that queued there just now
		 * saw us spinning and woke nobody (yield_wakep).
		 */
		if (any_runq_ready() || atomic_load(&sched.runqsize) > 0) {
			fiber_lock(&sched.lock);
			p = pidleget();
			fiber_unlock(&sched.lock);
			if (p) {
				acquirep(m, p);
				m->spinning = true;
				atomic_fetch_add(&sched.nmspinning, 1);
				goto top;
			}
		}
	}
	/*
	 * Nothing to run anywhere.  If fibers wait on fds or timers, one M
	 * sleeps in the poller until the earliest of them.
	 */
	if (netpoll_active()) {
		struct fiber *list;

		if (netpoll_block(&list)) {
			fiber_lock(&sched.lock);
			p = pidleget();
			fiber_unlock(&sched.lock);
			if (!p) {
				inject_list(NULL, list);
			} else {
				acquirep(m, p);
				/* Every P's due timers, idle ones' included. */
				run_all_timers();
				if (list) {
					g = list;
					atomic_store(&g->status,
						     FIBER_RUNNABLE);
					inject_list(p, g->schedlink);
					*inherit = false;
					return g;
				}
				goto top;	/* timers, or a break */
			}
		}
	}
	stopm();
	goto top;
}

/* ---- the g0 loop -------------------------------------------------------- */

/*
 * A yielded fiber went to the global queue.  If a P is idle, make sure an
 * M looks there: a spinning M may have checked the queue just before and
 * be on its way to sleep, and the P we run on may not come back to the
 * queue for a long time if its next fiber computes.
 */
static void yield_wakep(void)
{
	if (atomic_load_explicit(&sched.npidle, memory_order_relaxed) > 0)
		wakep();
}

/*
 * Fiber @g must run, but its M has no P (it lost it during a system
 * call): take an idle P, or queue @g for another M and go idle.  Return:
 * @g if we got a P, else NULL.
 */
static struct fiber *run_without_p(struct fiber_m *m, struct fiber *g)
{
	struct fiber_p *p;

	atomic_store(&g->status, FIBER_RUNNABLE);
	fiber_lock(&sched.lock);
	p = pidleget();
	if (!p)
		globrunq_put(g);
	fiber_unlock(&sched.lock);
	if (p) {
		acquirep(m, p);
		return g;
	}
	/* Queued while on its stack: another M may take it from here. */
	if (g->copied)
		copystack_release(m, g, false);
	/* A locked fiber is handed back to us by startlockedm. */
	if (m->lockedg != g)
		stopm();
	return NULL;
}

/*
 * Carry out the action the context we came from left for us (see the
 * comment at the top).  On a fiber's stack only AFTER_YIELD and
 * AFTER_EXIT occur.  Return: a fiber that must run at once (a park whose
 * commit failed, a fiber back from a system call that got a P), on g0
 * only; else NULL.
 */
static struct fiber *finish_switch_g0(struct fiber_m *m)
{
	enum fiber_after what = m->after;
	struct fiber *g = m->after_g;

	m->after = AFTER_NONE;
	m->after_g = NULL;
	switch (what) {
	case AFTER_NONE:
		return NULL;
	case AFTER_YIELD:
		stack_check(g);
		if (g->copied)
			copystack_release(m, g, false);
		fiber_lock(&sched.lock);
		globrunq_put(g);
		fiber_unlock(&sched.lock);
		yield_wakep();
		return NULL;
	case AFTER_YIELD_LOCKED:
		stack_check(g);
		globrunq_put(g);
		fiber_unlock(&sched.lock);
		yield_wakep();
		return NULL;
	case AFTER_EXIT:
		if (g->copied)
			copystack_release(m, g, true);
		if (g->lockedm) {
			/* Go's rule: a locked fiber takes its thread along. */
			g->lockedm = NULL;
			g->lock_depth = 0;
			m->lockedg = NULL;
			gfree_put(m->p, g);
			mexit(m);
		}
		gfree_put(m->p, g);
		return NULL;
	case AFTER_PARK:
		stack_check(g);
		atomic_store(&g->status, FIBER_WAITING);
		if (m->park_commit && !m->park_commit(g, m->park_arg)) {
			atomic_store(&g->status, FIBER_RUNNING);
			return m->p ? g : run_without_p(m, g);
		}
		if (g->copied)
			copystack_release(m, g, false);
		/* Parked on the way back from a system call: idle now. */
		if (!m->p && !m->lockedg)
			stopm();
		return NULL;
	case AFTER_SYSCALL_EXIT:
		return run_without_p(m, g);
	}
	return NULL;
}

/*
 * On a fiber's stack, after a direct switch.  The after-action uses our
 * P, so it must not be claimed meanwhile (on g0 nothing is claimed).
 */
void finish_switch(struct fiber_m *m)
{
	if (m->after != AFTER_NONE) {
		m_locks_add(m, 1);
		(void)finish_switch_g0(m);
		m_locks_add(m, -1);
	}
}

/*
 * Run @g on @m from g0, until it switches back to g0.  @inherit: it
 * continues the current time slice (runnext), so the tick stays.  A
 * copied fiber's bytes are on its stack already.
 */
static void run_fiber(struct fiber_m *m, struct fiber *g, bool inherit)
{
	if (!inherit)
		atomic_fetch_add_explicit(&m->p->schedtick, 1,
					  memory_order_relaxed);
	m->curg = g;
	atomic_store_explicit(&g->status, FIBER_RUNNING, memory_order_relaxed);
	switch_context(&m->g0, &g->ctx, g->stack.base, g->stack.size, false);
}

/*
 * Run @g, which we took off a queue, as run_fiber.  A copied fiber first
 * takes its shared stack; if another fiber is on it, @g waits for it
 * (copystack.c) and we return at once to find other work.
 */
void execute(struct fiber_m *m, struct fiber *g, bool inherit)
{
	if (g->copied && !copystack_acquire(m, g))
		return;
	fiber_ready_to_run(m->p, g);
	run_fiber(m, g, inherit);
}

/*
 * The g0 loop, Go's schedule(): each turn finishes the switch that
 * brought us back here, finds a fiber and runs it.
 */
_Noreturn void schedule(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g;
	bool inherit;

	for (;;) {
		g = finish_switch_g0(m);
		if (g) {
			/* It never left the CPU, nor its shared stack. */
			run_fiber(m, g, true);
			continue;
		}
		if (m->lockedg) {
			/* Only our locked fiber may run here: wait for it. */
			stoplockedm();
			execute(m, m->lockedg, false);
			continue;
		}
		/*
		 * Kernel mode: an M blocked in the kernel lost its P to a
		 * spare and is held there until one is free.  This is a
		 * scheduling point, so ours is: hand it over and park.
		 */
		if (kernel_waiting() && kernel_handoff(m))
			continue;
		g = find_runnable(m, &inherit);
		if (m->spinning)
			resetspinning(m);
		if (g->lockedm && g->lockedm != m) {
			/* Wired to another M: give it our P, and sleep. */
			startlockedm(g);
			continue;
		}
		execute(m, g, inherit);
	}
}

/* ---- the public calls that switch --------------------------------------- */

/*
 * The next fiber for a direct switch from @cur, or NULL to go through
 * g0.  Fibers wired to a thread, and copied fibers (whose shared stacks
 * are taken and given back on g0), always go through g0.
 */
static struct fiber *next_direct(struct fiber_m *m, struct fiber *cur,
				 bool *inherit)
{
	struct fiber *g;

	if (cur->lockedm || cur->copied || atomic_load(&sched.gcwaiting) ||
	    kernel_waiting())
		return NULL;
	g = find_ready(m->p, inherit);
	if (g && (g->lockedm || g->copied)) {
		/* Let g0 hand it to its M; it keeps its place in line. */
		runq_put(m->p, g, true);
		return NULL;
	}
	if (g)
		fiber_ready_to_run(m->p, g);
	return g;
}

/*
 * The successor for a direct switch from yielding fiber @cur, taken with
 * Go's order (fairness tick, local queue, global queue), or NULL for the
 * slow path through g0.  If it comes from the global queue, sched.lock is
 * left held (*@locked) for finish_switch() to queue @cur and unlock.
 */
static struct fiber *next_for_yield(struct fiber_m *m, struct fiber *cur,
				    bool *locked)
{
	struct fiber_p *p = m->p;
	struct fiber *g = NULL;
	bool inherit, fair;

	*locked = false;
	if (cur->lockedm || cur->copied || atomic_load(&sched.gcwaiting) ||
	    kernel_waiting())
		return NULL;
	/* Due timers first, as schedule() would: else yields starve them. */
	check_timers(p);
	fair = atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61 == 0;
	if (!fair)
		g = runq_get(p, &inherit);
	if (!g && atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0) {
		fiber_lock(&sched.lock);
		/* max 1 unless the ring is empty: it must not overflow now. */
		g = globrunq_get(p, fair ? 1 : 0);
		if (!g) {
			fiber_unlock(&sched.lock);
		} else if (g->lockedm || g->copied || !g->ctx.sp) {
			/* Not for a direct switch under the lock: via g0. */
			globrunq_put_head(g);
			fiber_unlock(&sched.lock);
			return NULL;
		} else {
			*locked = true;
			return g;
		}
	}
	if (!g && fair)
		g = runq_get(p, &inherit);
	if (g && (g->lockedm || g->copied)) {
		/* Let g0 hand it to its M; it keeps its place in line. */
		runq_put(p, g, true);
		return NULL;
	}
	if (g)
		fiber_ready_to_run(p, g);
	return g;
}

void fiber_yield(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g, *next;
	bool locked;

	if (!m || !m->curg)
		return;
	leave_syscall(m);
	m = this_m();
	g = m->curg;
	fiber_event(yield, TRACE_YIELD, g->id, 0);
	/* Go's Gosched: to the back of the global queue. */
	atomic_store_explicit(&g->status, FIBER_RUNNABLE, memory_order_relaxed);
	m_locks_add(m, 1);	/* next_for_yield() works on our P */
	next = next_for_yield(m, g, &locked);
	m_locks_add(m, -1);
	if (next)
		switch_fibers(m, g, next,
			      locked ? AFTER_YIELD_LOCKED : AFTER_YIELD, false);
	else
		switch_to_g0(m, g, AFTER_YIELD);
	finish_switch(this_m());
}

/*
 * Park the calling fiber.  Once it is off its stack, g0 calls
 * commit(g, arg) (if given): returning false resumes the fiber at once,
 * true leaves it WAITING until fiber_ready().  The commit is where a
 * lock protecting the wait queue the fiber joined is released, so that a
 * waker cannot ready it before it has stopped running.
 */
void fiber_park(bool (*commit)(struct fiber *g, void *arg), void *arg,
		const char *reason)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m->curg;

	fiber_event(park, TRACE_PARK, g->id, reason);
	/*
	 * Back from a system call whose P was taken (by sysmon, or by a
	 * spare with hold-on-wake off), and none is free: park anyway, and
	 * let the M go idle after the commit.  Waiting for a P here could
	 * wait forever: the caller may hold the lock the commit releases,
	 * and the fiber running on our old P may be waiting for it.
	 */
	if (atomic_load(&g->status) == FIBER_SYSCALL && !syscall_exit_fast(m, g))
		atomic_store(&g->status, FIBER_RUNNING);
	g->wait_reason = reason;
	g->waitsince = fiber_coarsetime();
	fiber_runs_bump(g);
	m->park_commit = commit;
	m->park_arg = arg;
	switch_to_g0(m, g, AFTER_PARK);
	finish_switch(this_m());
	this_m()->curg->wait_reason = NULL;
}

static bool unlock_commit(struct fiber *g, void *arg)
{
	(void)g;
	fiber_unlock(arg);
	return true;
}

/*
 * The common park: the caller holds @l, which guards the wait queue it
 * has joined; @l is released once the fiber is off its stack.
 */
void fiber_park_unlock(struct fiber_lock *l, const char *reason)
{
	fiber_park(unlock_commit, l, reason);
}

/* Ready every fiber of @list (linked through schedlink). */
void fiber_ready_list(struct fiber *list)
{
	struct fiber *g;

	while ((g = list)) {
		list = g->schedlink;
		fiber_ready(g);
	}
}

/* Leave the dead fiber @g for good.  Called on its own stack. */
_Noreturn void fiber_switch_dead(struct fiber_m *m, struct fiber *g)
{
	struct fiber *next;
	bool inherit;

	fiber_event(exit, TRACE_EXIT, g->id, 0);
	m_locks_add(m, 1);	/* next_direct() works on our P */
	next = next_direct(m, g, &inherit);
	m_locks_add(m, -1);
	if (next)
		switch_fibers(m, g, next, AFTER_EXIT, false);
	else
		switch_to_g0(m, g, AFTER_EXIT);
	fiber_fatal("a dead fiber was resumed");
}
