// SPDX-License-Identifier: MIT
/*
 * Channels and select, with Go's semantics (runtime/chan.go, select.go).
 *
 * A channel is a lock, a ring buffer of @cap elements, and two queues of
 * parked fibers: receivers waiting for a value and senders waiting for
 * room (or, unbuffered, for a receiver).  Values pass directly between a
 * sender and a parked receiver (or the reverse) without the buffer: the
 * one that finds the other parked copies into or out of the parked one's
 * element, under the channel lock, and readies it.
 *
 * A parked fiber's waiter lives on its own stack.  It is enqueued under
 * the channel lock and the lock is released by the park's commit, after
 * the fiber is off its stack, so a waker never readies a fiber that is
 * still running.
 *
 * select enqueues one waiter per case, all sharing a struct sel; the
 * first waker to flip sel.done from 0 to 1 wins, the others skip that
 * waiter.  Channels are locked in address order, so two selects over the
 * same channels cannot deadlock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

struct sel {
	_Atomic int done;
	int winner;		/* case index, or -1 */
};

struct chan_waiter {
	struct fiber *g;
	void *elem;		/* where to copy from (send) or to (recv) */
	struct chan_waiter *next, *prev;
	struct sel *sel;	/* NULL outside select */
	int index;		/* its case, in select */
	bool queued;
	bool success;		/* a value moved (false: channel closed) */
};

struct waiter_queue {
	struct chan_waiter *head, *tail;
};

struct fiber_chan {
	struct fiber_lock lock;
	bool closed;
	size_t elem_size, cap, count, sendx, recvx;
	struct waiter_queue recvq, sendq;
	char buf[];
};

static void wq_push(struct waiter_queue *q, struct chan_waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	w->queued = true;
}

static void wq_remove(struct waiter_queue *q, struct chan_waiter *w)
{
	if (!w->queued)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->queued = false;
}

/* The first waiter that can still be woken; claims a select's case. */
static struct chan_waiter *wq_pop(struct waiter_queue *q)
{
	struct chan_waiter *w;
	int zero;

	while ((w = q->head)) {
		wq_remove(q, w);
		if (!w->sel)
			return w;
		zero = 0;
		if (atomic_compare_exchange_strong(&w->sel->done, &zero, 1)) {
			w->sel->winner = w->index;
			return w;
		}
		/* Another case of that select won already. */
	}
	return NULL;
}

fiber_chan_t *fiber_chan_new(size_t elem_size, size_t capacity)
{
	struct fiber_chan *c;

	if (capacity && elem_size > (SIZE_MAX - sizeof(*c)) / capacity) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c) + elem_size * capacity);
	if (!c)
		return NULL;
	c->elem_size = elem_size;
	c->cap = capacity;
	return c;
}

/*
 * A channel that fibers still wait on (a select that lost on it counts,
 * until it has left its queues) is not freed: they would wake into freed
 * memory.  Only its waiters are checked; a fiber about to use it is the
 * program's race, as in any C program.
 */
int fiber_chan_free(fiber_chan_t *c)
{
	bool busy;

	if (!c)
		return 0;
	fiber_lock(&c->lock);
	busy = c->recvq.head || c->sendq.head;
	fiber_unlock(&c->lock);
	if (busy)
		return MISUSE(-EBUSY, "free of channel with waiting fibers",
			      "fiber_chan_free", "channel", c);
	free(c);
	return 0;
}

static void *slot(struct fiber_chan *c, size_t i)
{
	return c->buf + i * c->elem_size;
}

static void copy_elem(struct fiber_chan *c, void *to, const void *from)
{
	if (to && c->elem_size)
		memcpy(to, from, c->elem_size);
}

/* The ring's next index after @i, without a division. */
static size_t ring_next(struct fiber_chan *c, size_t i)
{
	return ++i == c->cap ? 0 : i;
}

static void zero_elem(struct fiber_chan *c, void *to)
{
	if (to && c->elem_size)
		memset(to, 0, c->elem_size);
}

/* Nil channel: block forever, like Go (the deadlock check sees it). */
static bool forever_commit(struct fiber *g, void *arg)
{
	(void)g, (void)arg;
	return true;
}

/*
 * Try to send without blocking.  Return: 1 sent, 0 would block, -EPIPE
 * closed.  c->lock held; *@wake is set to a fiber to ready after unlock.
 */
static int try_send(struct fiber_chan *c, const void *elem,
		    struct fiber **wake)
{
	struct chan_waiter *w;

	if (c->closed)
		return -EPIPE;
	w = wq_pop(&c->recvq);
	if (w) {
		copy_elem(c, w->elem, elem);
		w->success = true;
		*wake = w->g;
		return 1;
	}
	if (c->count < c->cap) {
		copy_elem(c, slot(c, c->sendx), elem);
		c->sendx = ring_next(c, c->sendx);
		c->count++;
		return 1;
	}
	return 0;
}

/* Try to receive: 1 got a value, 0 closed and drained, -EAGAIN would block. */
static int try_recv(struct fiber_chan *c, void *elem, struct fiber **wake)
{
	struct chan_waiter *w = wq_pop(&c->sendq);

	if (w) {
		if (c->cap == 0) {
			copy_elem(c, elem, w->elem);
		} else {
			/* Full buffer: take its head, put the sender's at the tail. */
			copy_elem(c, elem, slot(c, c->recvx));
			copy_elem(c, slot(c, c->recvx), w->elem);
			c->recvx = ring_next(c, c->recvx);
			c->sendx = c->recvx;
		}
		w->success = true;
		*wake = w->g;
		return 1;
	}
	if (c->count > 0) {
		/* The slot keeps its stale copy: no collector scans it. */
		copy_elem(c, elem, slot(c, c->recvx));
		c->recvx = ring_next(c, c->recvx);
		c->count--;
		return 1;
	}
	if (c->closed) {
		zero_elem(c, elem);
		return 0;
	}
	return -EAGAIN;
}

/*
 * The waiter of the calling fiber @g: @local, on its stack, or for a
 * copied fiber (copystack.c), its park block, with room for a value of
 * @c behind it.  park_block_done() ends it.
 */
static struct chan_waiter *park_waiter(struct fiber *g,
				       struct chan_waiter *local,
				       struct fiber_chan *c)
{
	if (!g->copied)
		return local;
	return park_alloc(g, sizeof(*local) + c->elem_size);
}

int fiber_chan_send(fiber_chan_t *c, const void *elem)
{
	struct chan_waiter local = { 0 }, *w;
	struct fiber *wake = NULL, *g = this_fiber();
	bool success;
	int ret;

	if (!g)
		return MISUSE(-ESRCH, "channel send outside a fiber",
			      "fiber_chan_send", "channel", c);
	if (!c) {
		fiber_park(forever_commit, NULL, "chan send (nil chan)");
		return -EPIPE;	/* not reached */
	}
	park_reserve(g, sizeof(local) + c->elem_size);
	fiber_lock(&c->lock);
	ret = try_send(c, elem, &wake);
	if (ret) {
		fiber_unlock(&c->lock);
		if (wake)
			fiber_ready(wake);
		if (ret < 0)
			return MISUSE(ret, "send on closed channel",
				      "fiber_chan_send", "channel", c);
		return 0;
	}
	w = park_waiter(g, &local, c);
	w->g = g;
	w->elem = (void *)elem;
	if (w != &local) {
		/* Our stack may hold another fiber's bytes while we wait. */
		w->elem = w + 1;
		copy_elem(c, w->elem, elem);
	}
	wq_push(&c->sendq, w);
	fiber_park_unlock(&c->lock, "chan send");
	success = w->success;
	park_block_done(g);
	/* Closed while we waited: Go panics in the sender, so do we. */
	if (!success)
		return MISUSE(-EPIPE, "send on closed channel",
			      "fiber_chan_send", "channel", c);
	return 0;
}

int fiber_chan_recv(fiber_chan_t *c, void *elem)
{
	struct chan_waiter local = { 0 }, *w;
	struct fiber *wake = NULL, *g = this_fiber();
	bool success;
	int ret;

	if (!g)
		return MISUSE(-ESRCH, "channel receive outside a fiber",
			      "fiber_chan_recv", "channel", c);
	if (!c) {
		fiber_park(forever_commit, NULL, "chan receive (nil chan)");
		return 0;	/* not reached */
	}
	park_reserve(g, sizeof(local) + c->elem_size);
	fiber_lock(&c->lock);
	ret = try_recv(c, elem, &wake);
	if (ret != -EAGAIN) {
		fiber_unlock(&c->lock);
		if (wake)
			fiber_ready(wake);
		return ret;
	}
	w = park_waiter(g, &local, c);
	w->g = g;
	w->elem = w != &local ? (void *)(w + 1) : elem;
	wq_push(&c->recvq, w);
	fiber_park_unlock(&c->lock, "chan receive");
	if (w != &local)
		copy_elem(c, elem, w->elem);	/* copied stack */
	success = w->success;
	park_block_done(g);
	return success ? 1 : 0;
}

/* Close: every waiter wakes; receivers get zero values and 0. */
int fiber_chan_close(fiber_chan_t *c)
{
	struct chan_waiter *w, *list = NULL;

	if (!c)
		return MISUSE(-EINVAL, "close of nil channel",
			      "fiber_chan_close", "channel", c);
	fiber_lock(&c->lock);
	if (c->closed) {
		fiber_unlock(&c->lock);
		return MISUSE(-EPIPE, "close of closed channel",
			      "fiber_chan_close", "channel", c);
	}
	c->closed = true;
	while ((w = wq_pop(&c->recvq))) {
		zero_elem(c, w->elem);
		w->success = false;
		w->next = list;
		list = w;
	}
	while ((w = wq_pop(&c->sendq))) {
		w->success = false;
		w->next = list;
		list = w;
	}
	fiber_unlock(&c->lock);
	/* Each w is on its fiber's stack: read next before readying it. */
	while ((w = list)) {
		list = w->next;
		fiber_ready(w->g);
	}
	return 0;
}

int fiber_chan_len(fiber_chan_t *c)
{
	return c ? (int)__atomic_load_n(&c->count, __ATOMIC_RELAXED) : 0;
}

/* ---- select ------------------------------------------------------------- */

#define SELECT_MAX	4096

struct select_locks {
	struct fiber_chan **order;	/* distinct channels, by address */
	int n;
};

static int cmp_chan(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(struct fiber_chan *const *)a;
	uintptr_t y = (uintptr_t)*(struct fiber_chan *const *)b;

	return x < y ? -1 : x > y;
}

static void lock_all(struct select_locks *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		fiber_lock(&l->order[i]->lock);
}

static void unlock_all(struct select_locks *l)
{
	int i;

	for (i = l->n - 1; i >= 0; i--)
		fiber_unlock(&l->order[i]->lock);
}

struct select_park {
	struct select_locks *locks;
	struct fiber_timer *timer;	/* armed here, before unlocking */
};

static bool select_commit(struct fiber *g, void *arg)
{
	struct select_park *sp = arg;
	struct select_locks *locks = sp->locks;
	int nlocks = locks->n;

	(void)g;
	/*
	 * Armed before the channels unlock: no channel waker can beat it.
	 * But once armed it may fire and the fiber return at once, so
	 * nothing on its stack (sp) is read after timer_add unless a
	 * channel lock still holds the fiber back: with no channel, no
	 * unlock at all.
	 */
	if (sp->timer && timer_add(sp->timer))
		sp->timer->when = -1;	/* out of memory: no timeout */
	if (nlocks)
		unlock_all(locks);
	return true;
}

struct select_timeout {
	struct sel *sel;
	struct fiber *g;
	int index;
};

static void select_timed_out(void *arg)
{
	struct select_timeout *st = arg;
	int zero = 0;

	if (atomic_compare_exchange_strong(&st->sel->done, &zero, 1)) {
		st->sel->winner = st->index;
		fiber_ready(st->g);
	}
}

/*
 * What a copied fiber's select keeps in its park block (copystack.c),
 * followed by its n waiters and a buffer for each case's value.
 */
struct select_block {
	struct sel sel;
	struct select_timeout st;
	struct fiber_timer timer;
	struct chan_waiter ws[];
};

/*
 * Move @g's select state into its park block: @cases' waiters, and
 * values, go where no other fiber's stack bytes can be.  Return: it.
 */
static size_t select_block_size(struct fiber_case *cases, int n)
{
	size_t size = sizeof(struct select_block) +
		      (size_t)n * sizeof(struct chan_waiter);
	int i;

	for (i = 0; i < n; i++)
		if (cases[i].op != FIBER_CASE_TIMEOUT && cases[i].chan)
			size += cases[i].chan->elem_size;
	return size;
}

static struct select_block *select_block(struct fiber *g,
					 struct fiber_case *cases, int n)
{
	struct select_block *b = park_alloc(g, select_block_size(cases, n));
	char *val;
	int i;

	b->sel.winner = -1;
	val = (char *)&b->ws[n];
	for (i = 0; i < n; i++) {
		if (cases[i].op == FIBER_CASE_TIMEOUT || !cases[i].chan)
			continue;
		b->ws[i].elem = val;
		if (cases[i].op == FIBER_CASE_SEND)
			copy_elem(cases[i].chan, val, cases[i].elem);
		val += cases[i].chan->elem_size;
	}
	return b;
}

int fiber_select(struct fiber_case *cases, int n, int flags)
{
	struct fiber_chan *lockbuf[16], **lockv = lockbuf;
	struct chan_waiter wbuf[16], *ws = wbuf, *ws_heap = NULL;
	int orderbuf[16], *order = orderbuf;
	struct select_locks locks = { 0 };
	struct select_timeout st_local, *st = &st_local;
	struct select_park sp = { &locks, NULL };
	struct fiber_timer timer_local = { 0 }, *timer = &timer_local;
	struct fiber *wake = NULL, *g = this_fiber();
	struct fiber_m *m = this_m();
	struct sel sel_local = { 0, -1 }, *sel = &sel_local;
	struct select_block *blk = NULL;
	int i, j, k, ret = -EINVAL, timeout_idx = -1, r;
	int64_t timeout = 0;
	struct fiber_case *c;

	if (!g)
		return MISUSE(-ESRCH, "select outside a fiber", "fiber_select",
			      "cases", cases);
	if (n < 0 || n > SELECT_MAX || (n && !cases) ||
	    (flags & ~FIBER_SELECT_NONBLOCK))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		c = &cases[i];
		if (c->op != FIBER_CASE_SEND && c->op != FIBER_CASE_RECV &&
		    c->op != FIBER_CASE_TIMEOUT)
			return -EINVAL;
		if (c->op == FIBER_CASE_TIMEOUT &&
		    (timeout_idx < 0 || c->timeout_ns < timeout)) {
			timeout_idx = i;
			timeout = c->timeout_ns;
		}
	}
	if (n > 16) {
		lockv = malloc((size_t)n * sizeof(*lockv));
		ws = ws_heap = calloc((size_t)n, sizeof(*ws));
		order = malloc((size_t)n * sizeof(*order));
		ret = -ENOMEM;
		if (!lockv || !ws || !order)
			goto out;
	} else {
		memset(ws, 0, sizeof(wbuf));
	}

	/* Random poll order (no bias to the first case); lock order by address. */
	for (i = 0; i < n; i++) {
		j = (int)(fiber_rand(m) % (uint64_t)(i + 1));
		order[i] = order[j];
		order[j] = i;
	}
	for (i = 0; i < n; i++)
		if (cases[i].op != FIBER_CASE_TIMEOUT && cases[i].chan)
			lockv[locks.n++] = cases[i].chan;
	qsort(lockv, (size_t)locks.n, sizeof(*lockv), cmp_chan);
	for (i = k = 0; i < locks.n; i++)
		if (!k || lockv[k - 1] != lockv[i])
			lockv[k++] = lockv[i];
	locks.n = k;
	locks.order = lockv;

	if (g->copied && !(flags & FIBER_SELECT_NONBLOCK))
		park_reserve(g, select_block_size(cases, n));
	lock_all(&locks);
	/* Pass 1: a case that is ready now. */
	for (k = 0; k < n; k++) {
		i = order[k];
		c = &cases[i];
		if (c->op == FIBER_CASE_TIMEOUT) {
			if (c->timeout_ns <= 0) {
				c->result = 0;
				ret = i;
				break;
			}
			continue;
		}
		if (!c->chan)
			continue;	/* nil channel: never ready */
		if (c->op == FIBER_CASE_SEND) {
			r = try_send(c->chan, c->elem, &wake);
			if (r) {
				c->result = r < 0 ? r : 0;
				ret = i;
				break;
			}
		} else {
			r = try_recv(c->chan, c->elem, &wake);
			if (r != -EAGAIN) {
				c->result = r;
				ret = i;
				break;
			}
		}
	}
	if (k < n) {
		unlock_all(&locks);
		if (wake)
			fiber_ready(wake);
		if (c->op == FIBER_CASE_SEND && c->result < 0)
			fiber_misuse(c->result, "send on closed channel",
				     "fiber_select", "channel", c->chan,
				     __builtin_return_address(0));
		goto out;
	}
	if ((flags & FIBER_SELECT_NONBLOCK) || (!locks.n && timeout_idx < 0)) {
		unlock_all(&locks);
		if (flags & FIBER_SELECT_NONBLOCK) {
			ret = -EAGAIN;
			goto out;
		}
		/* No case can ever be ready: block forever, like Go. */
		fiber_park(forever_commit, NULL, "select (no cases)");
	}

	/* Pass 2: wait on every case. */
	if (g->copied) {
		blk = select_block(g, cases, n);
		ws = blk->ws;
		sel = &blk->sel;
		st = &blk->st;
		timer = &blk->timer;
	}
	for (i = 0; i < n; i++) {
		c = &cases[i];
		if (c->op == FIBER_CASE_TIMEOUT || !c->chan)
			continue;
		ws[i].g = g;
		if (!blk)
			ws[i].elem = c->elem;
		ws[i].sel = sel;
		ws[i].index = i;
		wq_push(c->op == FIBER_CASE_SEND ? &c->chan->sendq :
						   &c->chan->recvq, &ws[i]);
	}
	if (timeout_idx >= 0) {
		st->sel = sel;
		st->g = g;
		st->index = timeout_idx;
		timer->when = fiber_nanotime() + timeout;
		timer->fn = select_timed_out;
		timer->arg = st;
		sp.timer = timer;
	}
	fiber_park(select_commit, &sp, "select");

	/* Pass 3: leave the queues of the cases that did not win. */
	if (sp.timer && timer->when >= 0)
		timer_del(timer);
	lock_all(&locks);
	for (i = 0; i < n; i++) {
		c = &cases[i];
		if (c->op == FIBER_CASE_TIMEOUT || !c->chan)
			continue;
		wq_remove(c->op == FIBER_CASE_SEND ? &c->chan->sendq :
						     &c->chan->recvq, &ws[i]);
	}
	unlock_all(&locks);
	ret = sel->winner;
	c = &cases[ret];
	if (blk && c->op == FIBER_CASE_RECV)
		copy_elem(c->chan, c->elem, ws[ret].elem);
	if (c->op == FIBER_CASE_TIMEOUT)
		c->result = 0;
	else if (c->op == FIBER_CASE_SEND && ws[ret].success)
		c->result = 0;
	else if (c->op == FIBER_CASE_SEND)
		c->result = fiber_misuse(-EPIPE, "send on closed channel",
					 "fiber_select", "channel", c->chan,
					 __builtin_return_address(0));
	else
		c->result = ws[ret].success ? 1 : 0;
out:
	if (blk)
		park_block_done(g);
	if (lockv != lockbuf)
		free(lockv);
	free(ws_heap);
	if (order != orderbuf)
		free(order);
	return ret;
}

/* ---- for the runtime's timers (timerobj.c) ------------------------------ */

/*
 * Send @elem on @c if that needs no wait; from any thread, fiber or not
 * (a timer's callback).  Return: 1 sent, 0 full (the value is dropped),
 * -EPIPE closed.  *@wake: a receiver that took the value, for the caller
 * to ready once it holds no lock.
 */
int chan_send_nowait(struct fiber_chan *c, const void *elem,
		     struct fiber **wake)
{
	int ret;

	*wake = NULL;
	fiber_lock(&c->lock);
	ret = try_send(c, elem, wake);
	fiber_unlock(&c->lock);
	return ret;
}

/* Drop the values buffered in @c.  Return: how many there were. */
int chan_drain(struct fiber_chan *c)
{
	int n;

	fiber_lock(&c->lock);
	n = (int)c->count;
	while (c->count > 0) {
		c->recvx = ring_next(c, c->recvx);
		c->count--;
	}
	fiber_unlock(&c->lock);
	return n;
}
