// SPDX-License-Identifier: MIT
/*
 * The netpoller: one edge-triggered epoll instance for the process, as
 * Go's netpoll_epoll.go.
 *
 * Each fd a fiber waits on has a descriptor (struct fiber_pd) with, per
 * direction, either a waiting fiber or a "ready" flag left by an edge
 * nobody waited for.  A waiter first consumes the flag; if there is none
 * it parks, and the descriptor's lock is released only after it is off
 * its stack (the park commit), so the poller cannot ready it too early.
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
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#define PD_CHUNK	4096
#define PD_CHUNKS	1024		/* fds up to 4M */

struct pd_waiter {
	struct fiber *g;
	int ready;		/* POLLIN/POLLOUT that woke it, 0 on timeout */
	bool closed;		/* fiber_close() woke it */
};

struct fiber_pd {
	struct fiber_lock lock;
	struct pd_waiter *rw, *ww;	/* waiting to read, to write */
	bool rready, wready;		/* an edge nobody waited for */
	_Atomic bool nonblock;		/* io.c made it O_NONBLOCK */
	_Atomic bool registered;	/* in the epoll set */
};

static struct {
	int epfd;
	int breakfd;
	_Atomic bool break_pending;
	_Atomic(struct fiber_pd *) chunks[PD_CHUNKS];
	_Atomic int nwaiters;		/* fibers parked on an fd */
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

	/* Until fiber_close(): see netpoll_set_nonblock. */
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
		pd->rready = pd->wready = false;
		if (!epoll_ctl(np.epfd, EPOLL_CTL_ADD, fd, &ev) ||
		    errno == EEXIST)
			atomic_store(&pd->registered, true);
		else
			ret = errno == EPERM ? 1 : -errno; /* EPERM: a regular file, always ready */
	}
	fiber_unlock(&pd->lock);
	return ret;
}

struct pd_timeout {
	struct fiber_pd *pd;
	struct pd_waiter *w;
};

/* The deadline passed: take the waiter off the descriptor and ready it. */
static void pd_timed_out(void *arg)
{
	struct pd_timeout *to = arg;
	struct fiber_pd *pd = to->pd;
	struct fiber *g = NULL;

	fiber_lock(&pd->lock);
	if (pd->rw == to->w || pd->ww == to->w) {
		if (pd->rw == to->w)
			pd->rw = NULL;
		if (pd->ww == to->w)
			pd->ww = NULL;
		g = to->w->g;
	}
	fiber_unlock(&pd->lock);
	if (g) {
		atomic_fetch_sub(&np.nwaiters, 1);
		fiber_ready(g);
	}
}

int fiber_wait_fd(int fd, int events, int64_t timeout_ns)
{
	struct fiber_m *m = this_m();
	struct pd_waiter w = { NULL, 0, false };
	struct pd_timeout to;
	struct fiber_timer timer = { 0 };
	struct fiber_pd *pd;
	int ret, got = 0;

	if (!m || !m->curg)
		return -ESRCH;
	if (!(events & (POLLIN | POLLOUT)) || (events & ~(POLLIN | POLLOUT)))
		return -EINVAL;
	pd = pd_get(fd);
	if (!pd)
		return fd < 0 ? -EBADF : -ENOMEM;
	ret = pd_register(fd, pd);
	if (ret)
		return ret < 0 ? ret : events;

	fiber_lock(&pd->lock);
	if ((events & POLLIN) && pd->rready) {
		pd->rready = false;
		got |= POLLIN;
	}
	if ((events & POLLOUT) && pd->wready) {
		pd->wready = false;
		got |= POLLOUT;
	}
	if (got || timeout_ns == 0 ||
	    ((events & POLLIN) && pd->rw) || ((events & POLLOUT) && pd->ww)) {
		fiber_unlock(&pd->lock);
		if (got)
			return got;
		return timeout_ns == 0 ? -ETIMEDOUT : -EBUSY;
	}
	w.g = m->curg;
	if (events & POLLIN)
		pd->rw = &w;
	if (events & POLLOUT)
		pd->ww = &w;
	atomic_fetch_add(&np.nwaiters, 1);
	if (timeout_ns > 0) {
		to.pd = pd;
		to.w = &w;
		timer.when = fiber_nanotime() + timeout_ns;
		timer.fn = pd_timed_out;
		timer.arg = &to;
		if (timer_add(&timer))
			timeout_ns = -1;	/* no memory: wait without */
	}
	fiber_park_unlock(&pd->lock, "IO wait");
	if (timeout_ns > 0)
		timer_del(&timer);
	if (w.closed)
		return -EBADF;
	return w.ready ? w.ready : -ETIMEDOUT;
}

/* Take waiter @w off @pd with @ready; append its fiber to *@list. */
static void pd_take(struct fiber_pd *pd, struct pd_waiter *w, int ready,
		    struct fiber **list)
{
	w->ready |= ready;
	if (pd->rw == w)
		pd->rw = NULL;
	if (pd->ww == w)
		pd->ww = NULL;
	atomic_fetch_sub(&np.nwaiters, 1);
	atomic_store(&w->g->status, FIBER_RUNNABLE);
	w->g->schedlink = *list;
	*list = w->g;
}

/*
 * Forget @fd's state before it is closed (its number will be reused),
 * and wake the fibers parked on it: they get -EBADF.
 */
void netpoll_close(int fd)
{
	struct fiber_pd *pd = pd_get(fd);
	struct fiber *list = NULL;

	if (!pd)
		return;
	fiber_lock(&pd->lock);
	pd->rready = pd->wready = false;
	if (pd->rw) {
		pd->rw->closed = true;
		pd_take(pd, pd->rw, 0, &list);
	}
	if (pd->ww) {
		pd->ww->closed = true;
		pd_take(pd, pd->ww, 0, &list);
	}
	atomic_store(&pd->nonblock, false);
	atomic_store(&pd->registered, false);
	fiber_unlock(&pd->lock);
	fiber_ready_list(list);
}

/*
 * Put @fd in non-blocking mode, once per fiber_close(): io.c calls this
 * before every operation.  Return: 0 or -errno.
 */
int netpoll_set_nonblock(int fd)
{
	struct fiber_pd *pd = pd_get(fd);
	int flags;

	if (pd && atomic_load_explicit(&pd->nonblock, memory_order_relaxed))
		return 0;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK))
		return -errno;
	if (pd)
		atomic_store(&pd->nonblock, true);
	return 0;
}

/*
 * An edge for @ready on @pd: wake the reader and the writer (two fibers
 * on a full-duplex socket, or one waiting for both), or remember it.
 */
static void pd_fire(struct fiber_pd *pd, int ready, struct fiber **list)
{
	struct pd_waiter *r, *w;

	fiber_lock(&pd->lock);
	r = (ready & POLLIN) ? pd->rw : NULL;
	w = (ready & POLLOUT) ? pd->ww : NULL;
	if ((ready & POLLIN) && !r)
		pd->rready = true;
	if ((ready & POLLOUT) && !w)
		pd->wready = true;
	if (r)
		pd_take(pd, r, r == w ? ready & (POLLIN | POLLOUT) : POLLIN,
			list);
	if (w && w != r)
		pd_take(pd, w, POLLOUT, list);
	fiber_unlock(&pd->lock);
}

/*
 * Poll: @delay_ns < 0 blocks until an event, 0 does not block, > 0 waits
 * at most that long.  Return: the fibers made runnable, linked through
 * schedlink.
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
 * Put the fibers of @list on the global queue and start Ms for them, up
 * to the number of idle Ps.
 */
void inject_list(struct fiber *list)
{
	struct fiber *g;
	int n = 0, i, idle;

	if (!list)
		return;
	fiber_lock(&sched.lock);
	while ((g = list)) {
		list = g->schedlink;
		globrunq_put(g);
		n++;
	}
	fiber_unlock(&sched.lock);
	idle = atomic_load(&sched.npidle);
	for (i = 0; i < n && i < idle; i++)
		startm(NULL, false);
}
