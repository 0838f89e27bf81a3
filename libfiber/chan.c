// SPDX-License-Identifier: MIT
/*
 * Channels and select, with Go's semantics (runtime/chan.go, select.go).
 *
 * An unbuffered channel is a lock and two queues of parked fibers:
 * receivers waiting for a sender and senders waiting for a receiver.  The
 * one that finds the other parked copies the value into or out of the
 * parked one's element, under the lock, and readies it.
 *
 * A buffered channel keeps its values in a ring that senders and
 * receivers use without the lock (see "The ring" below): a send that
 * finds room and a receive that finds a value touch only the ring, and
 * the lock and the queues are for those that must wait.  Go takes its
 * channel's lock for every value; a producer and a consumer on two CPUs
 * then pass the lock's cache line back and forth at each one, and that
 * was the whole cost of a buffered channel here too.
 *
 * Waiting on a buffered channel.  A receiver parks only when the ring is
 * empty, a sender only when it is full, and whoever next changes the
 * ring must come and feed the waiters.  The waiter tells it through the
 * ring itself: first in its queue, under the lock, it sets a mark bit in
 * the stamp of the slot it waits for (ring_arm()): the empty slot the
 * next value fills, or the full one the next receive frees.
 * The fiber that ends that slot's turn does so with a CAS on the stamp,
 * finds the mark, and takes the lock to feed() the queues:
 *
 *	receiver (lock held)		sender (no lock)
 *	queue itself in recvq		claim the slot: tail = t + 1
 *	CAS stamp: t -> t|mark		copy the value in
 *	  failed, value there: take it	CAS stamp: t -> t+1
 *	  else park			  failed, marked: lock, feed()
 *
 * Both CASes are on one word, so one of them sees the other.  feed()
 * serves both queues and marks again for those still waiting.
 *
 * A fast path's last touch of the channel is its stamp, unless it found
 * a mark: a fiber that takes its value may free the channel at once (a
 * parent collecting its children's results does), and Go's garbage
 * collector has no C counterpart.  After a mark it holds c->users from
 * before the stamp until it has fed, and fiber_chan_free() waits for it.
 *
 * A feeder takes a waiter off its queue first (for a select that claims
 * the select), then the value.  A receiver that looked at the queue
 * before the waiter was queued may take that value in between: the
 * waiter is then readied with retry set and starts its operation again,
 * as if woken spuriously.  Only that race sets it.
 *
 * Order.  The ring is FIFO; parked senders' values enter it in queue
 * order, after what it holds; parked receivers are fed before a new
 * receiver may take a value, and a new sender queues behind parked ones.
 * So values leave in the order their sends completed, and a receiver or
 * sender that arrives later does not overtake one that waits.
 *
 * Close sets a bit in the ring's tail, so no send can claim a slot after
 * it; receivers drain what the ring holds and then get zero values.
 *
 * A parked fiber's waiter lives on its own stack (or in its park block,
 * copystack.c).  It is enqueued under the channel lock and the lock is
 * released by the park's commit, after the fiber is off its stack, so a
 * waker never readies a fiber that is still running.
 *
 * select enqueues one waiter per case, all sharing a struct sel; the
 * first waker to flip sel.done from 0 to 1 wins, the others skip that
 * waiter.  Channels are locked in address order, so two selects over the
 * same channels cannot deadlock.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define CACHE_LINE	64

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
	bool retry;		/* woken to try again: see the top */
};

/*
 * head is atomic for the lock-free paths, which only look whether it is
 * NULL (wq_busy()); everything else uses it under the channel lock.
 */
struct waiter_queue {
	struct chan_waiter *_Atomic head;
	struct chan_waiter *tail;
};

/*
 * The ring (buffered channels only).  A slot is a stamp followed by the
 * element.  Positions (head, tail) and stamps count in laps: a position
 * is lap + index, with lap a multiple of one_lap, the power of two above
 * cap, so the next position never needs a division.  A slot's stamp is
 * the position that may use it next: equal to the tail's position when
 * it is free for that lap's sender, one more when its value waits for
 * the receiver at that position.  A sender claims its position with a
 * CAS on tail, copies, then publishes the stamp; a receiver the same on
 * head.  Between the CAS and the stamp the slot is in flight, and the
 * other side waits a moment for it: nothing in between can block.  A
 * waiter's mark (RING_MARK) rides on the stamp (see the top).
 */
#define RING_CLOSED	(1ULL << 63)	/* in tail: no more sends */
#define RING_MARK	(1ULL << 62)	/* in a stamp: a fiber waits on it */

struct ring_slot {
	_Atomic uint64_t stamp;
	char elem[];
};

struct fiber_chan {
	/* Read by both sides; written when a fiber waits.  One cache line. */
	struct fiber_lock lock;
	bool closed;
	size_t elem_size, cap;
	uint64_t one_lap;
	struct waiter_queue recvq, sendq;
	/* Written by senders. */
	_Alignas(CACHE_LINE) _Atomic uint64_t tail;
	/* Fast paths still at work after a waiter's mark (ring_kick()). */
	_Atomic unsigned long users;
	/* Written by receivers. */
	_Alignas(CACHE_LINE) _Atomic uint64_t head;
	_Alignas(CACHE_LINE) char slots[];
};

_Static_assert(offsetof(struct fiber_chan, tail) == CACHE_LINE,
	       "what both sides read fits one cache line");

static void wake_add(struct chan_wake *wk, struct chan_waiter *w)
{
	w->next = wk->list;
	wk->list = w;
}

/* struct chan_wake links the fibers through their waiters. */
void chan_wake_all(struct chan_wake *wk)
{
	struct chan_waiter *w;

	/* Each w is on its fiber's stack: read next before readying it. */
	while ((w = wk->list)) {
		wk->list = w->next;
		fiber_ready(w->g);
	}
}

static struct chan_waiter *wq_first(struct waiter_queue *q)
{
	return atomic_load_explicit(&q->head, memory_order_relaxed);
}

static void wq_set_first(struct waiter_queue *q, struct chan_waiter *w)
{
	atomic_store_explicit(&q->head, w, memory_order_relaxed);
}

static void wq_push(struct waiter_queue *q, struct chan_waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		wq_set_first(q, w);
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
		wq_set_first(q, w->next);
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

	while ((w = wq_first(q))) {
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

/* Whether fibers wait in @q; without the lock (see the top). */
static bool wq_busy(struct waiter_queue *q)
{
	return atomic_load(&q->head) != NULL;
}

static void copy_elem(struct fiber_chan *c, void *to, const void *from)
{
	if (to && c->elem_size)
		memcpy(to, from, c->elem_size);
}

static void zero_elem(struct fiber_chan *c, void *to)
{
	if (to && c->elem_size)
		memset(to, 0, c->elem_size);
}

/* ---- the ring ------------------------------------------------------------ */

/* Bytes per slot: the stamp, and the element rounded up to 8 bytes. */
static size_t ring_stride(size_t elem_size)
{
	return sizeof(struct ring_slot) + ((elem_size + 7) & ~(size_t)7);
}

static struct ring_slot *ring_slot(struct fiber_chan *c, uint64_t pos)
{
	return (struct ring_slot *)(c->slots + (pos & (c->one_lap - 1)) *
					       ring_stride(c->elem_size));
}

/* The position after @pos. */
static uint64_t ring_next(struct fiber_chan *c, uint64_t pos)
{
	uint64_t lap = pos & ~(c->one_lap - 1);

	if ((pos & (c->one_lap - 1)) + 1 < c->cap)
		return pos + 1;
	return lap + c->one_lap;
}

/* The other side is between its CAS and its stamp: a few instructions. */
static void ring_wait(unsigned int *spins)
{
	if (++*spins < 64)
		cpu_relax();
	else
		sched_yield();	/* its thread was preempted there */
}

/*
 * End a slot's turn: store @to in its stamp, unless a waiter marked it
 * (ring_arm()).  Then the fibers that wait must be fed
 * (ring_kick()); with @count, c->users is taken first, before the store
 * makes the slot's change visible, so that the channel outlives our
 * visit: a fiber that takes the value may free the channel at once.
 * Return: 1, or 2 if it was marked.
 */
static int ring_store_stamp(struct fiber_chan *c, struct ring_slot *s,
			    uint64_t from, uint64_t to, bool count)
{
	if (atomic_compare_exchange_strong_explicit(&s->stamp, &from, to,
						    memory_order_release,
						    memory_order_relaxed))
		return 1;
	if (count)
		atomic_fetch_add_explicit(&c->users, 1, memory_order_relaxed);
	atomic_store_explicit(&s->stamp, to, memory_order_release);
	return 2;
}

/*
 * Append @elem.  @count: as for ring_store_stamp() (callers without the
 * lock).  Return: 1 done, 2 done into a marked slot, 0 full, -EPIPE
 * closed.
 */
static int ring_push(struct fiber_chan *c, const void *elem, bool count)
{
	uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
	unsigned int spins = 0;
	struct ring_slot *s;
	uint64_t stamp;

	for (;;) {
		if (t & RING_CLOSED)
			return -EPIPE;
		s = ring_slot(c, t);
		stamp = atomic_load_explicit(&s->stamp, memory_order_acquire) &
			~RING_MARK;
		if (stamp == t) {
			if (!atomic_compare_exchange_weak(&c->tail, &t,
							  ring_next(c, t)))
				continue;	/* t is the new tail */
			copy_elem(c, s->elem, elem);
			return ring_store_stamp(c, s, t, t + 1, count);
		}
		/* Last lap's value, unless its receiver is taking it now. */
		if (stamp + c->one_lap == t + 1 &&
		    atomic_load(&c->head) + c->one_lap == t)
			return 0;
		ring_wait(&spins);
		t = atomic_load_explicit(&c->tail, memory_order_relaxed);
	}
}

/*
 * Take the oldest value.  Return: 1 done, 2 done from a marked slot (as
 * ring_push()), 0 empty, -EPIPE empty and closed.
 */
static int ring_pop(struct fiber_chan *c, void *elem, bool count)
{
	uint64_t h = atomic_load_explicit(&c->head, memory_order_relaxed);
	unsigned int spins = 0;
	struct ring_slot *s;
	uint64_t stamp, t;

	for (;;) {
		s = ring_slot(c, h);
		stamp = atomic_load_explicit(&s->stamp, memory_order_acquire) &
			~RING_MARK;
		if (stamp == h + 1) {
			if (!atomic_compare_exchange_weak(&c->head, &h,
							  ring_next(c, h)))
				continue;
			copy_elem(c, elem, s->elem);
			return ring_store_stamp(c, s, h + 1, h + c->one_lap,
						count);
		}
		/* No value yet: empty, unless its sender is writing it now. */
		if (stamp == h) {
			t = atomic_load(&c->tail);
			if ((t & ~RING_CLOSED) == h)
				return t & RING_CLOSED ? -EPIPE : 0;
		}
		ring_wait(&spins);
		h = atomic_load_explicit(&c->head, memory_order_relaxed);
	}
}

/* Would ring_pop() find a value now? */
static bool ring_can_pop(struct fiber_chan *c)
{
	uint64_t h = atomic_load_explicit(&c->head, memory_order_relaxed);

	return (atomic_load_explicit(&ring_slot(c, h)->stamp,
				     memory_order_acquire) & ~RING_MARK) == h + 1;
}

/* Would ring_push() find room now (and no close)? */
static bool ring_can_push(struct fiber_chan *c)
{
	uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);

	return !(t & RING_CLOSED) &&
	       (atomic_load_explicit(&ring_slot(c, t)->stamp,
				     memory_order_acquire) & ~RING_MARK) == t;
}

/*
 * Mark the slot whose next change a waiter needs: for a receiver
 * (@recv), the empty slot at the head, which the next value fills; for a
 * sender, the full slot at the tail (last lap's value), which the next
 * receive frees.  Whoever changes it then sees the mark
 * (ring_store_stamp()).  c->lock held.  Return: true if marked, false if
 * the change came first (take or give a value now).
 */
static bool ring_arm(struct fiber_chan *c, bool recv)
{
	uint64_t pos, stamp, waits, done;
	unsigned int spins = 0;
	struct ring_slot *s;

	for (;;) {
		pos = recv ? atomic_load(&c->head) :
			     atomic_load(&c->tail) & ~RING_CLOSED;
		waits = recv ? pos : pos + 1 - c->one_lap;
		done = recv ? pos + 1 : pos;
		s = ring_slot(c, pos);
		stamp = atomic_load_explicit(&s->stamp, memory_order_acquire);
		if (stamp == (waits | RING_MARK))
			return true;
		if (stamp == waits &&
		    atomic_compare_exchange_strong(&s->stamp, &stamp,
						   waits | RING_MARK))
			return true;
		if ((stamp & ~RING_MARK) == done)
			return false;
		ring_wait(&spins);	/* that end moved on meanwhile */
	}
}

static size_t ring_len(struct fiber_chan *c)
{
	uint64_t h = atomic_load(&c->head);
	uint64_t t = atomic_load(&c->tail) & ~RING_CLOSED;
	uint64_t mask = c->one_lap - 1;

	if (t == h)
		return 0;
	if ((t & ~mask) == (h & ~mask))
		return (t & mask) - (h & mask);
	return c->cap - (h & mask) + (t & mask);
}

/*
 * Serve the fibers queued on one side of @c: hand receivers (@recv) the
 * ring's values, or move senders' values into it while it has room.
 * c->lock held; the fibers served go on @wk.  Return: whether a value
 * moved.
 */
static bool feed_queue(struct fiber_chan *c, bool recv, struct chan_wake *wk)
{
	struct waiter_queue *q = recv ? &c->recvq : &c->sendq;
	struct chan_waiter *w;
	bool moved = false;

	while (wq_first(q) && (recv ? ring_can_pop(c) : ring_can_push(c)) &&
	       (w = wq_pop(q))) {
		/* One that did not see the queue may beat us to the slot. */
		w->success = (recv ? ring_pop(c, w->elem, false) :
				     ring_push(c, w->elem, false)) > 0;
		w->retry = !w->success;
		wake_add(wk, w);
		if (w->retry)
			break;
		moved = true;
	}
	return moved;
}

/*
 * Serve both queues from the ring until neither can move (what senders
 * put in may be for waiting receivers, and what receivers take out makes
 * room for waiting senders), then mark the slots whose change the fibers
 * still waiting need.  c->lock held.
 */
static void feed(struct fiber_chan *c, struct chan_wake *wk)
{
	bool moved;

	do {
		moved = feed_queue(c, true, wk);
		moved |= feed_queue(c, false, wk);
		if (!moved && wq_first(&c->recvq) && !ring_arm(c, true))
			moved = true;
		if (!moved && wq_first(&c->sendq) && !c->closed &&
		    !ring_arm(c, false))
			moved = true;
	} while (moved);
}

/*
 * After ring_push() or ring_pop() without the lock found a marked slot:
 * feed the waiters, then let go of the channel (c->users).
 */
static void ring_kick(struct fiber_chan *c)
{
	struct chan_wake wk = { NULL };

	fiber_lock(&c->lock);
	feed(c, &wk);
	fiber_unlock(&c->lock);
	/* Our last touch: fiber_chan_free() may go ahead from here. */
	atomic_fetch_sub_explicit(&c->users, 1, memory_order_release);
	chan_wake_all(&wk);
}

/* ---- channels -------------------------------------------------------------- */

fiber_chan_t *fiber_chan_new(size_t elem_size, size_t capacity)
{
	size_t stride = ring_stride(elem_size), size, i;
	struct fiber_chan *c;
	uint64_t lap = 1;

	if (capacity && (elem_size > SIZE_MAX / 2 || capacity > 1ULL << 40 ||
			 stride > (SIZE_MAX - sizeof(*c) - CACHE_LINE) /
				  capacity)) {
		errno = EINVAL;
		return NULL;
	}
	size = sizeof(*c) + stride * capacity;
	size = (size + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
	c = aligned_alloc(CACHE_LINE, size);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->elem_size = elem_size;
	c->cap = capacity;
	while (lap <= capacity)
		lap <<= 1;
	c->one_lap = lap;
	for (i = 0; i < capacity; i++)
		atomic_init(&ring_slot(c, i)->stamp, i);
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
	busy = wq_first(&c->recvq) || wq_first(&c->sendq);
	fiber_unlock(&c->lock);
	if (busy)
		return MISUSE(-EBUSY, "free of channel with waiting fibers",
			      "fiber_chan_free", "channel", c);
	/* A send or receive that already let its value go may still feed. */
	while (atomic_load_explicit(&c->users, memory_order_acquire)) {
		if (this_fiber())
			fiber_yield();
		else
			sched_yield();
	}
	free(c);
	return 0;
}

/* Nil channel: block forever, like Go (the deadlock check sees it). */
static bool forever_commit(struct fiber *g, void *arg)
{
	(void)g, (void)arg;
	return true;
}

/*
 * Try to send without blocking.  Return: 1 sent, 0 would block, -EPIPE
 * closed.  c->lock held; fibers to ready after unlock go on @wk.
 */
static int try_send(struct fiber_chan *c, const void *elem,
		    struct chan_wake *wk)
{
	struct chan_waiter *w;
	int ret;

	if (c->closed)
		return -EPIPE;
	if (c->cap) {
		/* Senders that wait go first, then us behind them. */
		feed(c, wk);
		if (wq_first(&c->sendq))
			return 0;
		ret = ring_push(c, elem, false);
		if (ret > 0) {
			feed(c, wk);
			return 1;
		}
		return ret;
	}
	w = wq_pop(&c->recvq);
	if (!w)
		return 0;
	copy_elem(c, w->elem, elem);
	w->success = true;
	wake_add(wk, w);
	return 1;
}

/* Try to receive: 1 got a value, 0 closed and drained, -EAGAIN would block. */
static int try_recv(struct fiber_chan *c, void *elem, struct chan_wake *wk)
{
	struct chan_waiter *w;
	int ret;

	if (c->cap) {
		/* Receivers that wait go first; senders that wait fill in. */
		feed(c, wk);
		if (wq_first(&c->recvq))
			return -EAGAIN;
		ret = ring_pop(c, elem, false);
		if (ret > 0) {
			feed(c, wk);
			return 1;
		}
	} else {
		w = wq_pop(&c->sendq);
		if (w) {
			copy_elem(c, elem, w->elem);
			w->success = true;
			wake_add(wk, w);
			return 1;
		}
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

/*
 * Waiter @w was just queued on buffered channel @c, to receive (@recv)
 * or send.  First in its queue, it marks the slot it waits for (see the
 * top), unless the ring changed first: then it does its operation now
 * instead, and leaves the queue.  Behind others, the slot is marked
 * already.  c->lock held.  Return: whether it sent or received.
 */
static bool done_or_armed(struct fiber_chan *c, bool recv,
			  struct chan_waiter *w)
{
	struct waiter_queue *q = recv ? &c->recvq : &c->sendq;

	if (!c->cap || wq_first(q) != w)
		return false;
	while (!ring_arm(c, recv)) {
		if ((recv ? ring_pop(c, w->elem, false) :
			    ring_push(c, w->elem, false)) > 0) {
			wq_remove(q, w);
			return true;
		}
	}
	return false;
}

/*
 * Lock-free attempts, for a buffered channel nobody waits on in the
 * direction we go (those who wait go first).  Once the value has gone
 * in or out, the channel is touched again only after a waiter's mark,
 * counted in c->users.  Return: as try_send() and try_recv().
 */
static int fast_send(struct fiber_chan *c, const void *elem)
{
	int ret;

	if (wq_busy(&c->sendq))
		return 0;
	ret = ring_push(c, elem, true);
	if (ret == 2) {
		ring_kick(c);
		return 1;
	}
	return ret;
}

static int fast_recv(struct fiber_chan *c, void *elem)
{
	int ret;

	if (wq_busy(&c->recvq))
		return -EAGAIN;
	ret = ring_pop(c, elem, true);
	if (ret == 2)
		ring_kick(c);
	if (ret == -EPIPE) {
		zero_elem(c, elem);
		return 0;
	}
	return ret > 0 ? 1 : -EAGAIN;
}

/* @pc: where fiber_chan_send() was called from, for the report. */
static int send_closed(struct fiber_chan *c, void *pc)
{
	return fiber_misuse(-EPIPE, "send on closed channel",
			    "fiber_chan_send", "channel", c, pc);
}

int fiber_chan_send(fiber_chan_t *c, const void *elem)
{
	void *pc = __builtin_return_address(0);
	struct chan_waiter local, *w;
	struct fiber *g = this_fiber();
	struct chan_wake wk = { NULL };
	bool success, retry;
	int ret;

	if (!g)
		return MISUSE(-ESRCH, "channel send outside a fiber",
			      "fiber_chan_send", "channel", c);
	if (!c) {
		fiber_park(forever_commit, NULL, "chan send (nil chan)");
		return -EPIPE;	/* not reached */
	}
	if (c->cap) {
		ret = fast_send(c, elem);
		if (ret)
			return ret < 0 ? send_closed(c, pc) : 0;
	}
again:
	park_reserve(g, sizeof(local) + c->elem_size);
	fiber_lock(&c->lock);
	ret = try_send(c, elem, &wk);
	if (ret) {
		fiber_unlock(&c->lock);
		chan_wake_all(&wk);
		return ret < 0 ? send_closed(c, pc) : 0;
	}
	w = park_waiter(g, &local, c);
	memset(w, 0, sizeof(*w));
	w->g = g;
	w->elem = (void *)elem;
	if (w != &local) {
		/* Our stack may hold another fiber's bytes while we wait. */
		w->elem = w + 1;
		copy_elem(c, w->elem, elem);
	}
	wq_push(&c->sendq, w);
	if (done_or_armed(c, false, w)) {
		feed(c, &wk);
		fiber_unlock(&c->lock);
		park_block_done(g);
		chan_wake_all(&wk);
		return 0;
	}
	/* Those try_send() fed: readied before we give up the lock. */
	chan_wake_all(&wk);
	fiber_park_unlock(&c->lock, "chan send");
	success = w->success;
	retry = w->retry;
	park_block_done(g);
	if (retry)
		goto again;
	/* Closed while we waited: Go panics in the sender, so do we. */
	return success ? 0 : send_closed(c, pc);
}

int fiber_chan_recv(fiber_chan_t *c, void *elem)
{
	struct chan_waiter local, *w;
	struct fiber *g = this_fiber();
	struct chan_wake wk = { NULL };
	bool success, retry;
	int ret;

	if (!g)
		return MISUSE(-ESRCH, "channel receive outside a fiber",
			      "fiber_chan_recv", "channel", c);
	if (!c) {
		fiber_park(forever_commit, NULL, "chan receive (nil chan)");
		return 0;	/* not reached */
	}
	if (c->cap) {
		ret = fast_recv(c, elem);
		if (ret != -EAGAIN)
			return ret;
	}
again:
	park_reserve(g, sizeof(local) + c->elem_size);
	fiber_lock(&c->lock);
	ret = try_recv(c, elem, &wk);
	if (ret != -EAGAIN) {
		fiber_unlock(&c->lock);
		chan_wake_all(&wk);
		return ret;
	}
	w = park_waiter(g, &local, c);
	memset(w, 0, sizeof(*w));
	w->g = g;
	w->elem = w != &local ? (void *)(w + 1) : elem;
	wq_push(&c->recvq, w);
	if (done_or_armed(c, true, w)) {
		feed(c, &wk);
		fiber_unlock(&c->lock);
		if (w != &local)
			copy_elem(c, elem, w->elem);
		park_block_done(g);
		chan_wake_all(&wk);
		return 1;
	}
	/* Those try_recv() fed: readied before we give up the lock. */
	chan_wake_all(&wk);
	fiber_park_unlock(&c->lock, "chan receive");
	success = w->success;
	retry = w->retry;
	if (w != &local && !retry)
		copy_elem(c, elem, w->elem);	/* copied stack */
	park_block_done(g);
	if (retry)
		goto again;
	return success ? 1 : 0;
}

/*
 * Close: every waiter wakes.  Receivers take what the ring still holds
 * (a send that claimed its slot before the close may still be writing
 * it), then get zero values and 0; senders fail.
 */
int fiber_chan_close(fiber_chan_t *c)
{
	struct chan_wake wk = { NULL };
	struct chan_waiter *w;

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
	if (c->cap)
		atomic_fetch_or(&c->tail, RING_CLOSED);
	while ((w = wq_pop(&c->recvq))) {
		w->success = c->cap && ring_pop(c, w->elem, false) > 0;
		if (!w->success)
			zero_elem(c, w->elem);
		wake_add(&wk, w);
	}
	while ((w = wq_pop(&c->sendq))) {
		w->success = false;
		wake_add(&wk, w);
	}
	fiber_unlock(&c->lock);
	chan_wake_all(&wk);
	return 0;
}

int fiber_chan_len(fiber_chan_t *c)
{
	return c && c->cap ? (int)ring_len(c) : 0;
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

static struct waiter_queue *case_queue(struct fiber_case *c)
{
	return c->op == FIBER_CASE_SEND ? &c->chan->sendq : &c->chan->recvq;
}

/* Take select's waiters @ws off the queues of @cases.  Locks held. */
static void leave_queues(struct fiber_case *cases, int n,
			 struct chan_waiter *ws)
{
	int i;

	for (i = 0; i < n; i++)
		if (cases[i].op != FIBER_CASE_TIMEOUT && cases[i].chan)
			wq_remove(case_queue(&cases[i]), &ws[i]);
}

/*
 * After select queued its waiters @ws: on each buffered case, mark the
 * slot it waits for, or complete the case if the ring changed first (see
 * done_or_armed()).  Locks held.  Return: the case that completed, its
 * value moved, or -1; the caller takes the other waiters off the queues,
 * then feeds that channel.
 */
static int select_arm(struct fiber_case *cases, int n, struct chan_waiter *ws)
{
	struct fiber_case *c;
	int i;

	for (i = 0; i < n; i++) {
		c = &cases[i];
		if (c->op != FIBER_CASE_TIMEOUT && c->chan &&
		    done_or_armed(c->chan, c->op == FIBER_CASE_RECV, &ws[i]))
			return i;
	}
	return -1;
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
	struct fiber *g = this_fiber();
	struct chan_wake wk = { NULL };
	struct fiber_m *m = this_m();
	struct sel sel_local = { 0, -1 }, *sel = &sel_local;
	struct select_block *blk = NULL;
	int i, j, k, ret = -EINVAL, timeout_idx = -1, r;
	int64_t timeout = 0, deadline = 0;
	bool retried = false;
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

	if (timeout_idx >= 0)
		deadline = fiber_nanotime() + timeout;
again:
	if (g->copied && !(flags & FIBER_SELECT_NONBLOCK))
		park_reserve(g, select_block_size(cases, n));
	lock_all(&locks);
	/* Pass 1: a case that is ready now. */
	for (k = 0; k < n; k++) {
		i = order[k];
		c = &cases[i];
		if (c->op == FIBER_CASE_TIMEOUT) {
			if (c->timeout_ns <= 0 ||
			    (retried && i == timeout_idx &&
			     fiber_nanotime() >= deadline)) {
				c->result = 0;
				ret = i;
				break;
			}
			continue;
		}
		if (!c->chan)
			continue;	/* nil channel: never ready */
		if (c->op == FIBER_CASE_SEND) {
			r = try_send(c->chan, c->elem, &wk);
			if (r) {
				c->result = r < 0 ? r : 0;
				ret = i;
				break;
			}
		} else {
			r = try_recv(c->chan, c->elem, &wk);
			if (r != -EAGAIN) {
				c->result = r;
				ret = i;
				break;
			}
		}
	}
	if (k < n) {
		unlock_all(&locks);
		chan_wake_all(&wk);
		if (c->op == FIBER_CASE_SEND && c->result < 0)
			fiber_misuse(c->result, "send on closed channel",
				     "fiber_select", "channel", c->chan,
				     __builtin_return_address(0));
		goto out;
	}
	if ((flags & FIBER_SELECT_NONBLOCK) || (!locks.n && timeout_idx < 0)) {
		unlock_all(&locks);
		chan_wake_all(&wk);
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
	} else {
		memset(ws, 0, (size_t)n * sizeof(*ws));
		*sel = (struct sel){ 0, -1 };
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
		wq_push(case_queue(c), &ws[i]);
	}
	/* The rings may have changed before our waiters were queued. */
	i = select_arm(cases, n, ws);
	if (i >= 0) {
		sel->winner = i;
		ws[i].success = true;
		leave_queues(cases, n, ws);
		feed(cases[i].chan, &wk);
		unlock_all(&locks);
		chan_wake_all(&wk);
		goto done;
	}
	chan_wake_all(&wk);
	sp.timer = NULL;
	if (timeout_idx >= 0) {
		st->sel = sel;
		st->g = g;
		st->index = timeout_idx;
		timer->when = deadline;
		timer->fn = select_timed_out;
		timer->arg = st;
		sp.timer = timer;
	}
	fiber_park(select_commit, &sp, "select");

	/* Pass 3: leave the queues of the cases that did not win. */
	if (sp.timer && timer->when >= 0)
		timer_del(timer);
	lock_all(&locks);
	leave_queues(cases, n, ws);
	unlock_all(&locks);
done:
	ret = sel->winner;
	c = &cases[ret];
	if (c->op != FIBER_CASE_TIMEOUT && ws[ret].retry) {
		/* A feeder lost the value it woke us for (see the top). */
		if (blk)
			park_block_done(g);
		blk = NULL;
		ws = ws_heap ? ws_heap : wbuf;
		sel = &sel_local;
		st = &st_local;
		timer = &timer_local;
		retried = true;
		goto again;
	}
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
 * -EPIPE closed.  @wk: fibers to ready once the caller holds no lock.
 */
int chan_send_nowait(struct fiber_chan *c, const void *elem,
		     struct chan_wake *wk)
{
	int ret;

	fiber_lock(&c->lock);
	ret = try_send(c, elem, wk);
	fiber_unlock(&c->lock);
	return ret;
}

/*
 * Drop the values buffered in @c.  Return: how many there were.  @wk:
 * senders that took the room, to ready as above.
 */
int chan_drain(struct fiber_chan *c, struct chan_wake *wk)
{
	int n = 0;

	if (!c->cap)
		return 0;
	fiber_lock(&c->lock);
	while (ring_pop(c, NULL, false) > 0)
		n++;
	feed(c, wk);
	fiber_unlock(&c->lock);
	return n;
}
