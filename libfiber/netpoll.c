// SPDX-License-Identifier: MIT
/*
 * The netpoller: one edge-triggered epoll instance for the process, as
 * Go's netpoll_epoll.go, and the state of each fd that lets any number
 * of fibers use it at once, as Go's internal/poll.
 *
 * Each fd a fiber uses has a descriptor (struct fiber_pd) with two
 * directions, read and write.  A direction has at most one owner: the
 * fiber whose call (a read, an accept, a whole write, fiber_wait_fd)
 * works in that direction now.  Other fibers queue for it, parked, in
 * FIFO order, and each call hands the direction to the first in line
 * as it ends (Go's fdMutex, but strictly in turn).  From this:
 *
 *  - Only the owner waits for an edge, in the direction's edge slot, so
 *    an edge wakes one fiber, never a herd.
 *  - Every owner makes its system call before it waits for an edge.
 *    With edge-triggered epoll one edge may stand for many connections
 *    or bytes, and no second edge comes for those: the owner takes what
 *    it needs and passes the direction on, and the next owner finds the
 *    rest with its own call.  So a consumed edge strands nobody while
 *    data remains, and EOF or an error reaches every reader in turn.  A
 *    woken owner that finds EAGAIN (a plain read() elsewhere was
 *    quicker) waits again, still first in line.
 *  - A whole fiber_write is one owner's: writes of several fibers to a
 *    stream never interleave, as in Go.
 *  - fiber_wait_fd makes no call of its own, so one whose turn came
 *    after a wait looks with poll() first (fiber_wait_fd).
 *  - A fiber in a queue waits for an owner that runs, is runnable, or
 *    is parked for an edge and counted in np.nwaiters: the poller and
 *    the deadlock check need not know about queues.
 *  - An edge that comes while no owner waits sets the direction's
 *    "ready" flag, which the next wait consumes and retries on: an edge
 *    is never lost (at worst, one retry finds EAGAIN).
 *
 * Drained.  The one exception to "call before you wait" saves a system
 * call per message in request-response traffic, where a read right after
 * a write almost always finds EAGAIN.  A TCP socket with TCP_INQ on says
 * with each read how many bytes it left queued (io.c).  When a read
 * leaves none, every byte that comes later makes the kernel report an
 * edge after that read (ET epoll reports each arrival, not only the
 * first), and only a reader consumes read edges.  So the next read can
 * wait for an edge first, or take the one remembered in "ready", and
 * lose nothing.  The direction remembers it as the incarnation + 1 in
 * "drained", written only by its owner at the end of its call: a read
 * that left bytes, any other call in the read direction (accept,
 * fiber_wait_fd), and a new registration clear it.  A call still
 * running on a closed fd writes its old incarnation, which no later
 * owner takes for its own.
 *
 * Deadlines (fiber_set_deadline, Go's SetReadDeadline) belong to a
 * direction: an absolute time from which calls fail with -ETIMEDOUT at
 * once, before any I/O, and waits end.  A timer per direction (timer.c)
 * wakes the owner and the queue when it passes; a deadline set in the
 * past does so at once; moving it later leaves them waiting.  A call's
 * own timeout (fiber_read_timeout, fiber_wait_fd) is a timer on its
 * waiter, armed only while it is parked.
 *
 * fiber_close() ends the fd's incarnation: it wakes the owner and the
 * queue with -EBADF and bumps pd->seq, so that a call still running on
 * the old file can no longer touch the state of a new file that got the
 * same number.
 *
 * Waiters.  A waiter lives on its fiber's stack.  It is put on a list
 * (a queue, or the edge slots) under pd->lock, which the park's commit
 * releases once the fiber is off its stack.  Whoever takes it off (an
 * edge, a hand-over, a timer, a close: pd_unwait) sets its result under
 * pd->lock and readies it; after that only the fiber touches it.
 *
 * Locks: pd->dlock (fiber_set_deadline, fiber_close: they delete and
 * re-arm the deadline timers) before pd->lock (the rest of the pd, but
 * an uncontended call takes and gives back its turn without it: see
 * TURN_OWNED) before a P's timerlock.  Timer callbacks take pd->lock
 * alone, so timer_del(), which waits for a running callback, is never
 * called with pd->lock held.
 *
 * Who polls.  Ms looking for work poll without blocking.  When an M has
 * found nothing at all and fibers wait on fds or timers are armed, one M
 * (never more) blocks in epoll_wait until the earliest timer; the others
 * park.  Anything that needs that sleeper earlier (a new, earlier timer)
 * writes to an eventfd in the same epoll set.  sysmon polls too if nobody
 * has for 10 ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#define PD_CHUNK	4096
#define PD_CHUNKS	1024		/* fds up to 4M */

/* fiber_set_deadline() takes the bits fiber_wait_fd() does. */
_Static_assert(FIBER_READ == POLLIN && FIBER_WRITE == POLLOUT,
	       "FIBER_READ and FIBER_WRITE are POLLIN and POLLOUT");

enum { PD_READ, PD_WRITE, PD_NDIR };

static inline int dir_event(int d)
{
	return d == PD_READ ? POLLIN : POLLOUT;
}

enum pd_waiter_state {
	W_DONE,		/* on no list: running, or readied with its result */
	W_QUEUED,	/* in dir[d]'s queue, waiting to own it */
	W_EDGE,		/* the owner, in the edge slots of @events */
};

struct pd_waiter {
	struct fiber *g;
	struct fiber_pd *pd;
	enum pd_waiter_state state;
	int d;				/* W_QUEUED: the direction */
	int events;			/* W_EDGE: POLLIN, POLLOUT, both */
	int result;			/* set by pd_unwait */
	struct pd_waiter *next, *prev;	/* W_QUEUED: the queue */
	struct fiber_timer timer;	/* its deadline, if any */
};

/*
 * A direction's turn word: the incarnation it belongs to, whether a call
 * owns the direction, whether fibers queue for it.  An uncontended call
 * takes its turn and gives it back with one compare-and-swap each, no
 * lock: from "free in incarnation seq" to "owned", and back.  With
 * TURN_QUEUED set both swaps fail, and both sides go the slow way under
 * pd->lock, which alone sets and clears TURN_QUEUED (set while the queue
 * is not empty) and changes the incarnation.
 */
#define TURN_OWNED	1u
#define TURN_QUEUED	2u
#define TURN_SEQ(seq)	((uint32_t)(seq) << 2)

struct pd_dir {
	_Atomic uint32_t turn;		/* see TURN_OWNED */
	bool ready;			/* an edge came while nobody waited */
	_Atomic uint32_t drained;	/* read: seq + 1 if left empty */
	struct pd_waiter *edge;		/* the owner, parked for an edge */
	struct pd_waiter *head, *tail;	/* queued to own it, FIFO */
	_Atomic int64_t deadline;	/* ns; 0: none; <= now: passed */
	struct fiber_timer timer;	/* armed for a deadline to come */
};

struct fiber_pd {
	struct fiber_lock lock;		/* dir[] (but see turn, timer) */
	struct fiber_lock dlock;	/* the deadline timers */
	_Atomic uint32_t seq;		/* incarnation, fiber_close() bumps */
	_Atomic bool nonblock;		/* io.c made it O_NONBLOCK */
	_Atomic bool registered;	/* in the epoll set */
	_Atomic uint8_t kind;		/* enum netpoll_kind (io.c) */
	_Atomic uint8_t inq;		/* enum netpoll_inq (io.c) */
	struct pd_dir dir[PD_NDIR];
};

static struct {
	int epfd;
	int breakfd;
	_Atomic bool break_pending;
	_Atomic(struct fiber_pd *) chunks[PD_CHUNKS];
	_Atomic int nwaiters;		/* fibers parked for an edge */
	_Atomic bool blocked;		/* an M sleeps in epoll_wait */
	_Atomic int64_t until;		/* ...until then (0: no timeout) */
	_Atomic int64_t lastpoll;
	struct fiber_lock chunk_lock;
} np = { .epfd = -1, .breakfd = -1 };

int netpoll_init(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 };

	np.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (np.epfd < 0)
		return -errno;
	np.breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (np.breakfd < 0 ||
	    epoll_ctl(np.epfd, EPOLL_CTL_ADD, np.breakfd, &ev)) {
		int ret = -errno;

		close(np.epfd);
		np.epfd = -1;
		return ret;
	}
	return 0;
}

/* Is there anything an M could wait for in the poller? */
bool netpoll_active(void)
{
	return atomic_load(&np.nwaiters) > 0 || timers_earliest() != 0;
}

bool netpoll_has_waiters(void)
{
	return atomic_load(&np.nwaiters) > 0;
}

/* Wake the M sleeping in epoll_wait, if any. */
void netpoll_break(void)
{
	uint64_t one = 1;
	bool no = false;

	if (atomic_compare_exchange_strong(&np.break_pending, &no, true) &&
	    write(np.breakfd, &one, sizeof(one)) < 0)
		atomic_store(&np.break_pending, false);
}

/* A timer at @when was added: make sure someone wakes up for it. */
void netpoll_wake_for(int64_t when)
{
	int64_t until;

	if (atomic_load(&np.blocked)) {
		until = atomic_load(&np.until);
		if (!until || when < until)
			netpoll_break();
	} else {
		wakep();
	}
}

static struct fiber_pd *pd_get(int fd)
{
	struct fiber_pd *chunk;
	int c = fd / PD_CHUNK;

	if (fd < 0 || c >= PD_CHUNKS)
		return NULL;
	chunk = atomic_load(&np.chunks[c]);
	if (!chunk) {
		fiber_lock(&np.chunk_lock);
		chunk = atomic_load(&np.chunks[c]);
		if (!chunk) {
			chunk = calloc(PD_CHUNK, sizeof(*chunk));
			atomic_store(&np.chunks[c], chunk);
		}
		fiber_unlock(&np.chunk_lock);
		if (!chunk)
			return NULL;
	}
	return &chunk[fd % PD_CHUNK];
}

/* Make the poller watch @fd.  Return: 0, 1 (always ready), or -errno. */
static int pd_register(int fd, struct fiber_pd *pd)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.fd = fd,
	};

	int ret = 0;

	/* Until fiber_close(): see pd_set_nonblock. */
	if (atomic_load_explicit(&pd->registered, memory_order_acquire))
		return 0;
	/*
	 * A new registration (the number may have served another file):
	 * forget old edges before adding it, because the kernel reports
	 * the current state as an edge at once, maybe to another M already
	 * polling - clearing the flags after the add could lose that edge.
	 * All under the lock, so that two fibers registering at once do
	 * not clear each other's edge; the edge itself waits for the lock.
	 */
	fiber_lock(&pd->lock);
	if (!atomic_load(&pd->registered)) {
		pd->dir[PD_READ].ready = pd->dir[PD_WRITE].ready = false;
		atomic_store(&pd->dir[PD_READ].drained, 0);
		if (!epoll_ctl(np.epfd, EPOLL_CTL_ADD, fd, &ev) ||
		    errno == EEXIST)
			atomic_store(&pd->registered, true);
		else
			ret = errno == EPERM ? 1 : -errno; /* EPERM: a regular file, always ready */
	}
	fiber_unlock(&pd->lock);
	return ret;
}

/*
 * Put @fd in non-blocking mode, once per fiber_close(): every I/O call
 * asks.  Return: 0 or -errno.
 */
static int pd_set_nonblock(int fd, struct fiber_pd *pd)
{
	int flags;

	if (atomic_load_explicit(&pd->nonblock, memory_order_relaxed))
		return 0;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK))
		return -errno;
	atomic_store(&pd->nonblock, true);
	return 0;
}

/* Whether @fd is a socket, as io.c last found out: enum netpoll_kind. */
int netpoll_kind(int fd)
{
	struct fiber_pd *pd = pd_get(fd);

	return pd ? atomic_load_explicit(&pd->kind, memory_order_relaxed) :
		    FD_UNKNOWN;
}

void netpoll_set_kind(int fd, int kind)
{
	struct fiber_pd *pd = pd_get(fd);

	if (pd)
		atomic_store_explicit(&pd->kind, (uint8_t)kind,
				      memory_order_relaxed);
}

/* What io.c learnt of TCP_INQ on @op's fd. */
void netpoll_set_inq(struct netpoll_op *op, int inq)
{
	op->inq = inq;
	if (op->pd)
		atomic_store_explicit(&op->pd->inq, (uint8_t)inq,
				      memory_order_relaxed);
}

/* ---- waiters ------------------------------------------------------------ */

/*
 * The calling fiber's waiter for @pd: @local, or its park block if it is
 * a copied fiber (pd_park() ends it).
 */
static struct pd_waiter *waiter_init(struct pd_waiter *local,
				     struct fiber_pd *pd)
{
	struct fiber *g = this_fiber();
	struct pd_waiter *w = g->copied ? park_alloc(g, sizeof(*w)) : local;

	memset(w, 0, sizeof(*w));
	w->g = g;
	w->pd = pd;
	return w;
}

/* Append @w to direction @d's queue.  pd->lock held. */
static void queue_append(struct fiber_pd *pd, int d, struct pd_waiter *w)
{
	struct pd_dir *dir = &pd->dir[d];

	w->state = W_QUEUED;
	w->d = d;
	w->next = NULL;
	w->prev = dir->tail;
	*(dir->tail ? &dir->tail->next : &dir->head) = w;
	dir->tail = w;
}

/* Take @w off the list it is on.  Return: false if it was on none. */
static bool pd_unlink(struct fiber_pd *pd, struct pd_waiter *w)
{
	struct pd_dir *dir;
	int d;

	switch (w->state) {
	case W_QUEUED:
		dir = &pd->dir[w->d];
		*(w->prev ? &w->prev->next : &dir->head) = w->next;
		*(w->next ? &w->next->prev : &dir->tail) = w->prev;
		if (!dir->head)
			atomic_fetch_and(&dir->turn, ~TURN_QUEUED);
		break;
	case W_EDGE:
		for (d = 0; d < PD_NDIR; d++)
			if (pd->dir[d].edge == w)
				pd->dir[d].edge = NULL;
		atomic_fetch_sub(&np.nwaiters, 1);
		break;
	case W_DONE:
		return false;
	}
	w->state = W_DONE;
	return true;
}

/*
 * Take parked waiter @w off its list with @result (events, 0 for "you
 * own the direction now", or -errno), and put its fiber on *@list for
 * the caller to ready once pd->lock is released.  A waiter already
 * taken off by someone else is left alone.  pd->lock held.
 */
static void pd_unwait(struct fiber_pd *pd, struct pd_waiter *w, int result,
		      struct fiber **list)
{
	if (!pd_unlink(pd, w))
		return;
	w->result = result;
	w->g->schedlink = *list;
	*list = w->g;
}

/* Take the owner and everyone queued in direction @d off with @result. */
static void dir_wake_all(struct fiber_pd *pd, int d, int result,
			 struct fiber **list)
{
	struct pd_dir *dir = &pd->dir[d];

	if (dir->edge)
		pd_unwait(pd, dir->edge, result, list);
	while (dir->head)
		pd_unwait(pd, dir->head, result, list);
}

/* A waiter's own timeout passed. */
static void pd_waiter_timeout(void *arg)
{
	struct pd_waiter *w = arg;
	struct fiber_pd *pd = w->pd;
	struct fiber *list = NULL;

	fiber_lock(&pd->lock);
	pd_unwait(pd, w, -ETIMEDOUT, &list);
	fiber_unlock(&pd->lock);
	fiber_ready_list(list);
}

/*
 * Park the calling fiber as @w (from waiter_init), which the caller has
 * just put on a list of @pd, until someone takes it off or @deadline (0:
 * none) passes.  pd->lock held; released.  Return: @w's result.
 */
static int pd_park(struct fiber_pd *pd, struct pd_waiter *w, int64_t deadline,
		   const char *reason)
{
	struct fiber_timer *t = &w->timer;
	int err = 0;

	if (deadline) {
		if (deadline <= fiber_nanotime()) {
			err = -ETIMEDOUT;
		} else {
			/* It cannot fire before we are parked: pd->lock. */
			t->when = deadline;
			t->fn = pd_waiter_timeout;
			t->arg = w;
			err = timer_add(t);
		}
		if (err) {
			pd_unlink(pd, w);
			fiber_unlock(&pd->lock);
			park_block_done(w->g);
			return err;
		}
	}
	fiber_park_unlock(&pd->lock, reason);
	if (deadline)
		timer_del(t);	/* waits for a callback still using @w */
	err = w->result;
	park_block_done(w->g);
	return err;
}

/* Has the deadline of a direction in @events passed? */
static bool deadline_passed(struct fiber_pd *pd, int events)
{
	int64_t now = 0, deadline;
	int d;

	for (d = 0; d < PD_NDIR; d++) {
		deadline = atomic_load_explicit(&pd->dir[d].deadline,
						memory_order_relaxed);
		if (!(events & dir_event(d)) || !deadline)
			continue;
		if (!now)
			now = fiber_nanotime();
		if (deadline <= now)
			return true;
	}
	return false;
}

/*
 * May a call that began in incarnation @seq go on in @events?  A wait
 * asks under pd->lock, so that no close or deadline comes between the
 * answer and its park.  Return: 0, -EBADF (closed since), -ETIMEDOUT.
 */
static int pd_check(struct fiber_pd *pd, uint32_t seq, int events)
{
	if (atomic_load_explicit(&pd->seq, memory_order_relaxed) != seq)
		return -EBADF;
	return deadline_passed(pd, events) ? -ETIMEDOUT : 0;
}

/* ---- a call's hold on an fd --------------------------------------------- */

/* The deadline @timeout_ns from now: 0 (none) if < 0 or too far. */
int64_t netpoll_deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return 0;
	now = fiber_nanotime();
	if (timeout_ns > INT64_MAX - now)
		return 0;
	return now + timeout_ns ? now + timeout_ns : 1;
}

/*
 * Own direction @d of @op's fd, after the fibers queued for it.
 * Return: 0 (at once), 1 (handed over after a wait), or -errno.
 */
static int dir_acquire(struct netpoll_op *op, int d)
{
	struct fiber_pd *pd = op->pd;
	struct pd_dir *dir = &pd->dir[d];
	uint32_t turn = TURN_SEQ(op->seq);
	struct pd_waiter local, *w;
	int ret;

	/* Free, in our incarnation, nobody queued: ours. */
	if (atomic_compare_exchange_strong_explicit(&dir->turn, &turn,
						    turn | TURN_OWNED,
						    memory_order_acquire,
						    memory_order_relaxed))
		return 0;
	park_reserve(this_fiber(), sizeof(local));
	fiber_lock(&pd->lock);
	for (;;) {
		ret = pd_check(pd, op->seq, dir_event(d));
		if (ret) {
			fiber_unlock(&pd->lock);
			return ret;
		}
		/* Our incarnation (pd->seq and turn change together). */
		turn = atomic_load(&dir->turn);
		if (!(turn & TURN_OWNED)) {
			/* Freed meanwhile; a fast taker may beat us. */
			if (atomic_compare_exchange_strong(&dir->turn, &turn,
							   turn | TURN_OWNED)) {
				fiber_unlock(&pd->lock);
				return 0;
			}
		} else if ((turn & TURN_QUEUED) ||
			   atomic_compare_exchange_strong(&dir->turn, &turn,
							  turn | TURN_QUEUED)) {
			/* Now the owner's swap fails: it will hand over. */
			break;
		}
	}
	w = waiter_init(&local, pd);
	queue_append(pd, d, w);
	ret = pd_park(pd, w, op->deadline, "IO queue");
	return ret ? ret : 1;
}

/*
 * Give back direction @d, owned by @op: to the first in line, else free.
 * A fiber_close() since made it no longer ours to give.
 */
static void dir_release(struct netpoll_op *op, int d, struct fiber **list)
{
	struct fiber_pd *pd = op->pd;
	struct pd_dir *dir = &pd->dir[d];
	uint32_t turn = TURN_SEQ(op->seq) | TURN_OWNED;

	if (atomic_compare_exchange_strong_explicit(&dir->turn, &turn,
						    TURN_SEQ(op->seq),
						    memory_order_release,
						    memory_order_relaxed))
		return;
	fiber_lock(&pd->lock);
	turn = atomic_load(&dir->turn);
	if ((turn & ~(TURN_OWNED | TURN_QUEUED)) == TURN_SEQ(op->seq)) {
		if (dir->head)	/* still owned, by the next; see pd_unlink */
			pd_unwait(pd, dir->head, 0, list);
		else		/* the queue left (timeouts): no fast taker */
			atomic_store(&dir->turn, TURN_SEQ(op->seq));
	}
	fiber_unlock(&pd->lock);
}

/*
 * Begin a call on @fd in @events (POLLIN, POLLOUT or both) that waits
 * until @deadline at most (0: no limit; the fd's deadlines apply too):
 * register @fd with the poller and own those directions, in turn; for
 * an I/O call (@io), make @fd non-blocking first.  Return: 0, or -errno
 * (-ETIMEDOUT, -EBADF, -ENOMEM, what fcntl or epoll says).  On success
 * netpoll_end() must follow; on failure it does nothing.
 */
static int op_begin(struct netpoll_op *op, int fd, int events,
		    int64_t deadline, bool io)
{
	struct fiber_pd *pd = pd_get(fd);
	int d, ret;

	op->pd = NULL;
	op->events = events;
	op->held = 0;
	op->waited = false;
	op->deadline = deadline;
	op->kind = FD_UNKNOWN;
	op->inq = INQ_OFF;
	op->drained = false;
	if (!pd)
		return fd < 0 ? -EBADF : -ENOMEM;
	if (io) {
		ret = pd_set_nonblock(fd, pd);
		if (ret)
			return ret;
		op->kind = atomic_load_explicit(&pd->kind,
						memory_order_relaxed);
		op->inq = atomic_load_explicit(&pd->inq, memory_order_relaxed);
	}
	/*
	 * The incarnation before registering: a fiber_close() after this
	 * is noticed (-EBADF) rather than leaving us in an fd it has
	 * unregistered.
	 */
	op->seq = atomic_load(&pd->seq);
	ret = pd_register(fd, pd);
	if (ret)
		return ret < 0 ? ret : 0;	/* 1: always ready, no pd */
	op->pd = pd;
	for (d = 0; d < PD_NDIR; d++) {
		if (!(events & dir_event(d)))
			continue;
		ret = dir_acquire(op, d);
		if (ret < 0) {
			netpoll_end(op);
			return ret;
		}
		op->held |= dir_event(d);
		op->waited |= ret;
	}
	/*
	 * Closed or past the deadline, maybe while we waited for our turn
	 * (Go checks the deadline after taking fdMutex, too).
	 */
	ret = pd_check(pd, op->seq, events);
	if (ret) {
		netpoll_end(op);
		return ret;
	}
	/* Ours to read: the owners before us wrote it (see "Drained"). */
	if (io && (events & POLLIN))
		op->drained = atomic_load_explicit(&pd->dir[PD_READ].drained,
						   memory_order_relaxed) ==
			      op->seq + 1;
	return 0;
}

int netpoll_begin(struct netpoll_op *op, int fd, int events, int64_t deadline)
{
	return op_begin(op, fd, events, deadline, false);
}

int netpoll_io_begin(struct netpoll_op *op, int fd, int events,
		     int64_t deadline)
{
	return op_begin(op, fd, events, deadline, true);
}

/*
 * The call's system call said EAGAIN: park until an edge in its
 * directions.  Return: the events that came (retry the call), or
 * -ETIMEDOUT, -EBADF.  A regular file is always ready.
 */
int netpoll_wait(struct netpoll_op *op)
{
	struct fiber_pd *pd = op->pd;
	struct pd_waiter local, *w;
	int d, ret, got = 0;

	if (!pd)
		return op->events;
	park_reserve(this_fiber(), sizeof(local));
	fiber_lock(&pd->lock);
	ret = pd_check(pd, op->seq, op->events);
	if (ret) {
		fiber_unlock(&pd->lock);
		return ret;
	}
	for (d = 0; d < PD_NDIR; d++) {
		if ((op->events & dir_event(d)) && pd->dir[d].ready) {
			pd->dir[d].ready = false;
			got |= dir_event(d);
		}
	}
	if (got) {
		fiber_unlock(&pd->lock);
		return got;
	}
	w = waiter_init(&local, pd);
	w->state = W_EDGE;
	w->events = op->events;
	/* We own these directions, so the slots are free. */
	for (d = 0; d < PD_NDIR; d++)
		if (op->events & dir_event(d))
			pd->dir[d].edge = w;
	atomic_fetch_add(&np.nwaiters, 1);
	return pd_park(pd, w, op->deadline, "IO wait");
}

/* End the call: hand each direction it owns to the first in line. */
void netpoll_end(struct netpoll_op *op)
{
	struct fiber *list = NULL;
	int d;

	if (!op->pd)
		return;
	if (op->held & POLLIN)
		atomic_store_explicit(&op->pd->dir[PD_READ].drained,
				      op->drained ? op->seq + 1 : 0,
				      memory_order_relaxed);
	for (d = 0; d < PD_NDIR; d++)
		if (op->held & dir_event(d))
			dir_release(op, d, &list);
	op->held = 0;
	fiber_ready_list(list);
}

/*
 * What poll(2) says @fd is ready for now, of @events, mapped as netpoll()
 * maps epoll's bits.  Return: those events, 0, or -EBADF.
 */
static int ready_now(int fd, int events)
{
	struct pollfd pfd = { .fd = fd, .events = (short)events };
	int ready = 0;

	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	if (pfd.revents & POLLNVAL)
		return -EBADF;
	if (pfd.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))
		ready |= POLLIN;
	if (pfd.revents & (POLLOUT | POLLHUP | POLLERR))
		ready |= POLLOUT;
	return ready & events;
}

int fiber_wait_fd(int fd, int events, int64_t timeout_ns)
{
	struct netpoll_op op;
	int ret;

	if (!this_fiber())
		return -ESRCH;
	if (!(events & (POLLIN | POLLOUT)) || (events & ~(POLLIN | POLLOUT)))
		return -EINVAL;
	ret = netpoll_begin(&op, fd, events, netpoll_deadline(timeout_ns));
	if (ret)
		return ret;
	/*
	 * Handed the fd by a fiber that an edge woke, which may have left
	 * data for us and no edge will tell: the "system call every owner
	 * makes before it waits" is, for a bare wait, a look with poll().
	 * A caller new to the fd made its call and got EAGAIN, so it waits
	 * for the next edge (or one remembered) at once.
	 */
	ret = op.waited ? ready_now(fd, events) : 0;
	if (!ret)
		ret = netpoll_wait(&op);
	netpoll_end(&op);
	return ret;
}

/* ---- deadlines ---------------------------------------------------------- */

/* Direction @d's deadline timer fired: everyone waiting there is late. */
static void pd_deadline_fired(struct fiber_pd *pd, int d)
{
	struct fiber *list = NULL;

	fiber_lock(&pd->lock);
	/*
	 * A deadline is changed only after its timer was deleted, so this
	 * is the one it was armed for, and it has passed; check anyway.
	 */
	if (deadline_passed(pd, dir_event(d)))
		dir_wake_all(pd, d, -ETIMEDOUT, &list);
	fiber_unlock(&pd->lock);
	fiber_ready_list(list);
}

static void pd_read_deadline(void *arg)
{
	pd_deadline_fired(arg, PD_READ);
}

static void pd_write_deadline(void *arg)
{
	pd_deadline_fired(arg, PD_WRITE);
}

int fiber_set_deadline(int fd, int which, int64_t when_ns)
{
	static void (*const fire[PD_NDIR])(void *arg) = {
		pd_read_deadline, pd_write_deadline,
	};
	struct fiber *list = NULL;
	struct fiber_pd *pd;
	struct pd_dir *dir;
	int d, ret = 0;
	int64_t now;

	if (!fiber_runtime_started())
		return -ESRCH;
	if (!(which & (FIBER_READ | FIBER_WRITE)) ||
	    (which & ~(FIBER_READ | FIBER_WRITE)))
		return -EINVAL;
	if (fcntl(fd, F_GETFD) < 0)
		return -errno;
	pd = pd_get(fd);
	if (!pd)
		return -ENOMEM;
	fiber_lock(&pd->dlock);
	for (d = 0; d < PD_NDIR; d++) {
		if (!(which & dir_event(d)))
			continue;
		dir = &pd->dir[d];
		/* Before the deadline changes: see pd_deadline_fired. */
		timer_del(&dir->timer);
		fiber_lock(&pd->lock);
		atomic_store(&dir->deadline, when_ns);
		now = fiber_nanotime();
		if (when_ns && when_ns <= now)
			dir_wake_all(pd, d, -ETIMEDOUT, &list);
		fiber_unlock(&pd->lock);
		if (when_ns <= now)
			continue;
		dir->timer.when = when_ns;
		dir->timer.fn = fire[d];
		dir->timer.arg = pd;
		if (timer_add(&dir->timer)) {
			/* Never a deadline that nothing would enforce. */
			fiber_lock(&pd->lock);
			atomic_store(&dir->deadline, 0);
			fiber_unlock(&pd->lock);
			ret = -ENOMEM;
		}
	}
	fiber_unlock(&pd->dlock);
	fiber_ready_list(list);
	return ret;
}

/* ---- close -------------------------------------------------------------- */

/*
 * Forget @fd's state before it is closed (its number will be reused):
 * a new incarnation, no deadlines, and the fibers waiting on it (the
 * owners and the queues) get -EBADF.
 */
void netpoll_close(int fd)
{
	struct fiber_pd *pd = pd_get(fd);
	struct fiber *list = NULL;
	struct pd_dir *dir;
	uint32_t seq;
	int d;

	if (!pd)
		return;
	fiber_lock(&pd->dlock);
	for (d = 0; d < PD_NDIR; d++)
		timer_del(&pd->dir[d].timer);
	fiber_lock(&pd->lock);
	seq = atomic_fetch_add(&pd->seq, 1) + 1;
	for (d = 0; d < PD_NDIR; d++) {
		dir = &pd->dir[d];
		dir_wake_all(pd, d, -EBADF, &list);
		/* Free in the new incarnation; the old owner's swap fails. */
		atomic_store(&dir->turn, TURN_SEQ(seq));
		dir->ready = false;
		atomic_store(&dir->drained, 0);
		atomic_store(&dir->deadline, 0);
	}
	atomic_store(&pd->nonblock, false);
	atomic_store(&pd->registered, false);
	atomic_store(&pd->kind, FD_UNKNOWN);
	atomic_store(&pd->inq, INQ_UNTRIED);
	fiber_unlock(&pd->lock);
	fiber_unlock(&pd->dlock);
	fiber_ready_list(list);
}

/*
 * An edge for @ready on @pd: wake the owner parked in each direction
 * (a reader and a writer on a full-duplex socket, or one fiber waiting
 * for both), or remember the edge for the next one.
 */
static void pd_fire(struct fiber_pd *pd, int ready, struct fiber **list)
{
	struct pd_waiter *w[PD_NDIR];
	int d;

	fiber_lock(&pd->lock);
	for (d = 0; d < PD_NDIR; d++)
		w[d] = (ready & dir_event(d)) ? pd->dir[d].edge : NULL;
	for (d = 0; d < PD_NDIR; d++) {
		if (!(ready & dir_event(d)))
			continue;
		if (!w[d])
			pd->dir[d].ready = true;
		else	/* one waiting for both is taken once, with both */
			pd_unwait(pd, w[d], ready & w[d]->events, list);
	}
	fiber_unlock(&pd->lock);
}

/*
 * Poll: @delay_ns < 0 blocks until an event, 0 does not block, > 0 waits
 * at most that long.  Return: the fibers whose wait ended, linked through
 * schedlink and still marked waiting; the caller marks each runnable as
 * it runs or queues it (inject_list()).
 */
struct fiber *netpoll(int64_t delay_ns)
{
	struct epoll_event evs[128];
	struct fiber *list = NULL;
	struct timespec ts;
	uint64_t drain;
	int n, i, ready;

	if (np.epfd < 0)
		return NULL;
	if (delay_ns >= 0) {
		ts.tv_sec = delay_ns / 1000000000;
		ts.tv_nsec = delay_ns % 1000000000;
	}
	/* epoll_pwait2 (5.11+) takes nanoseconds; else round up to ms. */
	n = (int)syscall(SYS_epoll_pwait2, np.epfd, evs, 128,
			 delay_ns < 0 ? NULL : &ts, NULL, 0);
	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(np.epfd, evs, 128,
			       delay_ns < 0 ? -1 :
			       (int)((delay_ns + 999999) / 1000000));
	atomic_store(&np.lastpoll, fiber_nanotime());
	for (i = 0; i < n; i++) {
		if (evs[i].data.fd == -1) {
			/*
			 * The break is for the M sleeping in epoll_wait; a
			 * quick poll must leave it there (it is level-
			 * triggered) or the sleeper sleeps on.
			 */
			if (delay_ns == 0)
				continue;
			if (read(np.breakfd, &drain, sizeof(drain)) < 0)
				drain = 0;
			atomic_store(&np.break_pending, false);
			continue;
		}
		ready = 0;
		if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			ready |= POLLIN;
		if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			ready |= POLLOUT;
		pd_fire(pd_get(evs[i].data.fd), ready, &list);
	}
	return list;
}

/*
 * Block in the poller as the one M allowed to, until an event, the
 * earliest timer, or a break.  Return: false if another M already does.
 */
bool netpoll_block(struct fiber **list)
{
	int64_t until, now;
	bool no = false;

	if (!atomic_compare_exchange_strong(&np.blocked, &no, true))
		return false;
	until = timers_earliest();
	atomic_store(&np.until, until);
	now = fiber_nanotime();
	if (until && until <= now)
		*list = netpoll(0);
	else if (until || atomic_load(&np.nwaiters) > 0)
		*list = netpoll(until ? until - now : -1);
	else
		*list = NULL;
	atomic_store(&np.until, 0);
	atomic_store(&np.blocked, false);
	return true;
}

/* For sysmon: nobody polled for @ns? */
bool netpoll_stale(int64_t now, int64_t ns)
{
	return atomic_load(&np.nwaiters) > 0 && !atomic_load(&np.blocked) &&
	       now - atomic_load(&np.lastpoll) > ns;
}

/*
 * Make the parked fibers of @list (netpoll()'s) runnable, as Go's
 * injectglist: one for each idle P goes to the global queue, with an M
 * started to take it; the rest go to @p's own queue (the caller holds
 * @p; NULL if it holds none, and then all go to the global queue).  A
 * poll that finds fifty fds ready while the other Ps are busy thus
 * wakes nobody and takes no lock, and the busy Ps steal if they run dry.
 */
void inject_list(struct fiber_p *p, struct fiber *list)
{
	struct fiber *g;
	int n = 0, i, idle;

	if (!list)
		return;
	if (trace_on()) {
		uint64_t ready = 0;

		for (g = list; g; g = g->schedlink)
			ready++;
		trace_record(TRACE_NETPOLL, ready, 0);
	}
	idle = p ? atomic_load(&sched.npidle) : INT_MAX;
	if (idle > 0) {
		fiber_lock(&sched.lock);
		while ((g = list) && n < idle) {
			list = g->schedlink;
			atomic_store(&g->status, FIBER_RUNNABLE);
			globrunq_put(g);
			n++;
		}
		fiber_unlock(&sched.lock);
	}
	while ((g = list)) {
		list = g->schedlink;
		atomic_store(&g->status, FIBER_RUNNABLE);
		runq_put(p, g, false);
	}
	idle = atomic_load(&sched.npidle);
	for (i = 0; i < n && i < idle; i++)
		startm(NULL, false);
}
