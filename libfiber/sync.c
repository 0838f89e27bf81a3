// SPDX-License-Identifier: MIT
/*
 * Mutex, condition variable, WaitGroup, once and semaphore for fibers.
 * Each parks the fiber (never the thread) on a wait queue: a lock and a
 * FIFO of waiters that live on their fibers' stacks (or, for copied
 * fibers, in their park blocks: park_block()).  As everywhere in
 * the runtime, the queue's lock is released by the park's commit, after
 * the fiber is off its stack, so a waker cannot ready it too early.
 *
 * The mutex follows Go's sync.Mutex: an unlock normally just releases
 * and wakes the first waiter, which competes with running fibers for the
 * lock (throughput: no convoy).  A waiter that has waited over 1 ms marks
 * itself starving, and then the next unlock hands the lock straight to
 * it, so nobody waits for ever.
 */
#include <errno.h>
#include <stdatomic.h>

#include "runtime.h"

struct sync_waiter {
	struct fiber *g;
	struct sync_waiter *next;
	int64_t since;		/* first started waiting */
	bool granted;		/* handed the mutex / a semaphore unit */
	bool starving;
};

/* Layout of struct fiber_waitq_private in fiber.h. */
struct waitq {
	struct fiber_lock lock;
	uint32_t flags;
	struct sync_waiter *head, *tail;
};

_Static_assert(sizeof(struct waitq) == sizeof(struct fiber_waitq_private),
	       "struct waitq must match fiber_waitq_private");

#define Q(priv)	((struct waitq *)(void *)(priv))

static void wq_push_tail(struct waitq *q, struct sync_waiter *w)
{
	w->next = NULL;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static void wq_push_head(struct waitq *q, struct sync_waiter *w)
{
	w->next = q->head;
	q->head = w;
	if (!q->tail)
		q->tail = w;
}

static struct sync_waiter *wq_pop(struct waitq *q)
{
	struct sync_waiter *w = q->head;

	if (w) {
		q->head = w->next;
		if (!q->head)
			q->tail = NULL;
	}
	return w;
}

/* Park on @q, whose lock the caller holds; it is released once parked. */
static void wq_park(struct waitq *q, const char *reason)
{
	fiber_park_unlock(&q->lock, reason);
}

/* Ready the fibers of the waiters of @list, detached from their queue. */
static void ready_waiters(struct sync_waiter *list)
{
	struct sync_waiter *w;

	/* Each w is on its fiber's stack: read next before readying it. */
	while ((w = list)) {
		list = w->next;
		fiber_ready(w->g);
	}
}

/* ---- mutex -------------------------------------------------------------- */

#define MUTEX_LOCKED	1u
#define MUTEX_WAITERS	2u	/* someone is (about to be) queued */
#define STARVE_NS	1000000

int fiber_mutex_trylock(fiber_mutex_t *mu)
{
	uint32_t s = atomic_load((_Atomic uint32_t *)&mu->state);

	while (!(s & MUTEX_LOCKED))
		if (atomic_compare_exchange_weak((_Atomic uint32_t *)&mu->state,
						 &s, s | MUTEX_LOCKED))
			return 0;
	return -EBUSY;
}

/* Lock @mu.  Return: 0, or -ESRCH if it is locked and we are no fiber. */
static int mutex_lock(fiber_mutex_t *mu)
{
	_Atomic uint32_t *state = (_Atomic uint32_t *)&mu->state;
	struct waitq *q = Q(&mu->q);
	struct sync_waiter local = { 0 }, *w;
	uint32_t s, zero = 0;
	struct fiber *g;
	bool woken = false;
	int spin;

	if (atomic_compare_exchange_strong(state, &zero, MUTEX_LOCKED))
		return 0;
	if (!this_fiber())
		return fiber_mutex_trylock(mu) ? -ESRCH : 0;
	/* Spin a little while other Ps run: the holder may be about to let go. */
	if (atomic_load(&sched.nprocs) - atomic_load(&sched.npidle) > 1)
		for (spin = 0; spin < 4; spin++) {
			int i;

			for (i = 0; i < 30; i++)
				cpu_relax();
			if (!fiber_mutex_trylock(mu))
				return 0;
		}
	g = this_fiber();
	w = park_block(g, &local, sizeof(local));
	w->g = g;
	w->since = fiber_nanotime();
	for (;;) {
		fiber_lock(&q->lock);
		s = atomic_load(state);
		for (;;) {
			if (!(s & MUTEX_LOCKED)) {
				if (atomic_compare_exchange_weak(state, &s,
								 s | MUTEX_LOCKED)) {
					fiber_unlock(&q->lock);
					park_block_done(g);
					return 0;
				}
				continue;
			}
			/* Locked: announce ourselves, so unlock looks at q. */
			if (atomic_compare_exchange_weak(state, &s,
							 s | MUTEX_WAITERS))
				break;
		}
		w->granted = false;
		if (fiber_nanotime() - w->since > STARVE_NS)
			w->starving = true;
		/* A waiter woken and beaten to it goes back to the front. */
		if (woken)
			wq_push_head(q, w);
		else
			wq_push_tail(q, w);
		wq_park(q, "mutex");
		if (w->granted) {
			park_block_done(g);
			return 0;	/* handed to us, still locked */
		}
		woken = true;
	}
}

int fiber_mutex_lock(fiber_mutex_t *mu)
{
	uint32_t zero = 0;

	/* Uncontended: no call, as fast as before mutex_lock() was split off. */
	if (atomic_compare_exchange_strong((_Atomic uint32_t *)&mu->state,
					   &zero, MUTEX_LOCKED))
		return 0;
	if (on_own_copied_stack(this_fiber(), mu))
		return MISUSE(-EFAULT, "wait for a mutex on a copied fiber's own stack",
			      "fiber_mutex_lock", "mutex", mu);
	if (mutex_lock(mu))
		return MISUSE(-ESRCH, "wait for a mutex outside a fiber",
			      "fiber_mutex_lock", "mutex", mu);
	return 0;
}

/* Unlock @mu.  Return: 0, or -EPERM if it was not locked. */
static int mutex_unlock(fiber_mutex_t *mu)
{
	_Atomic uint32_t *state = (_Atomic uint32_t *)&mu->state;
	struct waitq *q = Q(&mu->q);
	struct sync_waiter *w;
	uint32_t s = MUTEX_LOCKED;

	if (atomic_compare_exchange_strong(state, &s, 0))
		return 0;
	if (!(s & MUTEX_LOCKED))
		return -EPERM;
	fiber_lock(&q->lock);
	w = wq_pop(q);
	if (!w) {
		atomic_store(state, 0);
		fiber_unlock(&q->lock);
		return 0;
	}
	if (w->starving) {
		/* Hand it over: it stays locked, now by w. */
		w->granted = true;
		atomic_store(state, MUTEX_LOCKED | (q->head ? MUTEX_WAITERS : 0));
	} else {
		atomic_store(state, q->head ? MUTEX_WAITERS : 0);
	}
	fiber_unlock(&q->lock);
	fiber_ready(w->g);
	return 0;
}

int fiber_mutex_unlock(fiber_mutex_t *mu)
{
	uint32_t s = MUTEX_LOCKED;

	/* Nobody waits: no call. */
	if (atomic_compare_exchange_strong((_Atomic uint32_t *)&mu->state,
					   &s, 0))
		return 0;
	if (mutex_unlock(mu))
		return MISUSE(-EPERM, "sync: unlock of unlocked mutex",
			      "fiber_mutex_unlock", "mutex", mu);
	return 0;
}

/* ---- condition variable ------------------------------------------------- */

int fiber_cond_wait(fiber_cond_t *c, fiber_mutex_t *mu)
{
	struct waitq *q = Q(&c->q);
	struct sync_waiter local = { 0 }, *w;
	struct fiber *g = this_fiber();
	int ret;

	if (!g)
		return MISUSE(-ESRCH, "wait for a condition outside a fiber",
			      "fiber_cond_wait", "cond", c);
	if (on_own_copied_stack(g, c) || on_own_copied_stack(g, mu))
		return MISUSE(-EFAULT, "wait for a condition on a copied fiber's own stack",
			      "fiber_cond_wait", "cond", c);
	w = park_block(g, &local, sizeof(local));
	w->g = g;
	fiber_lock(&q->lock);
	wq_push_tail(q, w);
	/* Queued before the mutex goes: a signal after it finds us. */
	ret = mutex_unlock(mu);
	if (ret) {
		/* Not locked: take ourselves off again. */
		struct sync_waiter **pp = &q->head, *prev = NULL;

		while (*pp && *pp != w) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		*pp = w->next;
		if (q->tail == w)
			q->tail = prev;
		fiber_unlock(&q->lock);
		park_block_done(g);
		return MISUSE(ret, "sync: unlock of unlocked mutex",
			      "fiber_cond_wait", "mutex", mu);
	}
	wq_park(q, "cond wait");
	park_block_done(g);	/* the signaller took w off the queue */
	return mutex_lock(mu);	/* a fiber: cannot fail */
}

static int cond_wake(fiber_cond_t *c, bool all)
{
	struct waitq *q = Q(&c->q);
	struct sync_waiter *w, *list = NULL;

	fiber_lock(&q->lock);
	while ((w = wq_pop(q))) {
		w->next = list;
		list = w;
		if (!all)
			break;
	}
	fiber_unlock(&q->lock);
	ready_waiters(list);
	return 0;
}

int fiber_cond_signal(fiber_cond_t *c)
{
	return cond_wake(c, false);
}

int fiber_cond_broadcast(fiber_cond_t *c)
{
	return cond_wake(c, true);
}

/* ---- WaitGroup ---------------------------------------------------------- */

/* @call (fiber_wg_add or _done) was called from @pc. */
static int wg_add(fiber_wg_t *wg, int64_t delta, const char *call, void *pc)
{
	struct waitq *q = Q(&wg->q);
	struct sync_waiter *list = NULL;
	int64_t v;

	fiber_lock(&q->lock);
	v = wg->count + delta;
	if (v < 0) {
		fiber_unlock(&q->lock);
		return fiber_misuse(-EINVAL, "sync: negative WaitGroup counter",
				    call, "WaitGroup", wg, pc);
	}
	wg->count = v;
	if (v == 0) {
		list = q->head;
		q->head = q->tail = NULL;
	}
	fiber_unlock(&q->lock);
	ready_waiters(list);
	return 0;
}

int fiber_wg_add(fiber_wg_t *wg, int64_t delta)
{
	return wg_add(wg, delta, "fiber_wg_add", __builtin_return_address(0));
}

int fiber_wg_done(fiber_wg_t *wg)
{
	return wg_add(wg, -1, "fiber_wg_done", __builtin_return_address(0));
}

int fiber_wg_wait(fiber_wg_t *wg)
{
	struct waitq *q = Q(&wg->q);
	struct sync_waiter local = { 0 }, *w;
	struct fiber *g = this_fiber();

	if (!g)
		return MISUSE(-ESRCH, "WaitGroup wait outside a fiber",
			      "fiber_wg_wait", "WaitGroup", wg);
	if (on_own_copied_stack(g, wg))
		return MISUSE(-EFAULT, "WaitGroup wait on a copied fiber's own stack",
			      "fiber_wg_wait", "WaitGroup", wg);
	park_reserve(g, sizeof(local));
	fiber_lock(&q->lock);
	if (wg->count == 0) {
		fiber_unlock(&q->lock);
		return 0;
	}
	w = park_block(g, &local, sizeof(local));
	w->g = g;
	wq_push_tail(q, w);
	wq_park(q, "WaitGroup wait");
	park_block_done(g);
	return 0;
}

/* ---- once --------------------------------------------------------------- */

int fiber_once(fiber_once_t *once, void (*fn)(void))
{
	_Atomic uint32_t *done = (_Atomic uint32_t *)&once->done;
	int ret;

	if (!fn)
		return MISUSE(-EINVAL, "once of nil func value", "fiber_once",
			      "once", once);
	if (atomic_load(done))
		return 0;
	ret = mutex_lock(&once->mu);
	if (ret)
		return MISUSE(ret, "wait for a once outside a fiber",
			      "fiber_once", "once", once);
	if (!atomic_load(done)) {
		fn();
		atomic_store(done, 1);
	}
	return mutex_unlock(&once->mu);
}

/* ---- semaphore ---------------------------------------------------------- */

int fiber_sem_init(fiber_sem_t *sem, int64_t count)
{
	if (count < 0)
		return -EINVAL;
	*sem = (fiber_sem_t){ .count = count };
	return 0;
}

int fiber_sem_tryacquire(fiber_sem_t *sem)
{
	struct waitq *q = Q(&sem->q);
	int ret = -EAGAIN;

	fiber_lock(&q->lock);
	if (sem->count > 0) {
		sem->count--;
		ret = 0;
	}
	fiber_unlock(&q->lock);
	return ret;
}

int fiber_sem_acquire(fiber_sem_t *sem)
{
	struct waitq *q = Q(&sem->q);
	struct sync_waiter local = { 0 }, *w;
	struct fiber *g = this_fiber();

	if (!g)
		return MISUSE(-ESRCH, "semaphore wait outside a fiber",
			      "fiber_sem_acquire", "semaphore", sem);
	if (on_own_copied_stack(g, sem))
		return MISUSE(-EFAULT, "semaphore wait on a copied fiber's own stack",
			      "fiber_sem_acquire", "semaphore", sem);
	park_reserve(g, sizeof(local));
	fiber_lock(&q->lock);
	if (sem->count > 0) {
		sem->count--;
		fiber_unlock(&q->lock);
		return 0;
	}
	w = park_block(g, &local, sizeof(local));
	w->g = g;
	wq_push_tail(q, w);
	wq_park(q, "semaphore");
	park_block_done(g);
	return 0;	/* release handed us a unit */
}

int fiber_sem_release(fiber_sem_t *sem)
{
	struct waitq *q = Q(&sem->q);
	struct sync_waiter *w;

	fiber_lock(&q->lock);
	w = wq_pop(q);
	if (!w)
		sem->count++;
	fiber_unlock(&q->lock);
	if (w)
		fiber_ready(w->g);
	return 0;
}
