// SPDX-License-Identifier: MIT
/*
 * Run queues: each P's local ring, and the global FIFO.
 *
 * The local ring is Go's: a single producer (the P's owner, which alone
 * moves the tail) and many consumers (the owner and thieves, which move
 * the head with a CAS).  The head and tail are free-running 32-bit
 * counters; tail - head is the length.  A consumer reads the entries
 * first and only then claims them by moving the head: if its CAS fails,
 * the entries it read may have been overwritten by the producer and are
 * thrown away.  The producer writes an entry before publishing it with a
 * release store of the tail, and never writes a slot that lies between
 * head and tail.
 *
 * runnext holds a fiber that should run next on this P (one just readied
 * by the running fiber): it shares the running fiber's time slice, so
 * that a pair of fibers passing a value back and forth behaves like one.
 *
 * The global queue is a list under sched.lock; its length is also kept
 * in an atomic so that emptiness can be checked without the lock.
 */
#include "runtime.h"

bool runq_empty(struct fiber_p *p)
{
	uint32_t head, tail;
	struct fiber *next;

	/*
	 * Read head, tail and runnext consistently: a fiber may move from
	 * runnext into the ring between our reads, so retry until tail is
	 * the same before and after.
	 */
	for (;;) {
		head = atomic_load(&p->runqhead);
		tail = atomic_load(&p->runqtail);
		next = atomic_load(&p->runnext);
		if (tail == atomic_load(&p->runqtail))
			return head == tail && !next;
	}
}

/* The ring is full: move half of it, and @g, to the global queue. */
static bool runq_put_slow(struct fiber_p *p, struct fiber *g, uint32_t head,
			  uint32_t tail)
{
	struct fiber *batch[FIBER_RUNQ_SIZE / 2 + 1];
	uint32_t n = (tail - head) / 2, i;

	for (i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(
			&p->runq[(head + i) % FIBER_RUNQ_SIZE],
			memory_order_relaxed);
	if (!atomic_compare_exchange_strong(&p->runqhead, &head, head + n))
		return false;
	batch[n] = g;
	fiber_lock(&sched.lock);
	for (i = 0; i <= n; i++)
		globrunq_put(batch[i]);
	fiber_unlock(&sched.lock);
	return true;
}

/*
 * Queue @g on @p, which the caller owns.  With @next, @g goes to runnext
 * and whatever was there moves to the ring's tail.
 */
void runq_put(struct fiber_p *p, struct fiber *g, bool next)
{
	uint32_t head, tail;
	struct fiber *old;

	if (next) {
		old = atomic_exchange(&p->runnext, g);
		if (!old)
			return;
		g = old;
	}
	for (;;) {
		head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (tail - head < FIBER_RUNQ_SIZE) {
			atomic_store_explicit(&p->runq[tail % FIBER_RUNQ_SIZE],
					      g, memory_order_relaxed);
			atomic_store_explicit(&p->runqtail, tail + 1,
					      memory_order_release);
			return;
		}
		if (runq_put_slow(p, g, head, tail))
			return;
		/* A thief took some; there is room now. */
	}
}

/*
 * Take a fiber from @p, which the caller owns.  *@inherit tells whether
 * it came from runnext and so continues the current time slice.
 */
struct fiber *runq_get(struct fiber_p *p, bool *inherit)
{
	struct fiber *g = atomic_load(&p->runnext);
	uint32_t head, tail;

	/* Thieves may take runnext too, so claim it with a CAS. */
	if (g && atomic_compare_exchange_strong(&p->runnext, &g, NULL)) {
		*inherit = true;
		return g;
	}
	*inherit = false;
	for (;;) {
		head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (head == tail)
			return NULL;
		g = atomic_load_explicit(&p->runq[head % FIBER_RUNQ_SIZE],
					 memory_order_relaxed);
		if (atomic_compare_exchange_strong_explicit(
			    &p->runqhead, &head, head + 1,
			    memory_order_release, memory_order_relaxed))
			return g;
	}
}

/*
 * Copy half of @victim's queue into @batch starting at @batch_head (a
 * ring index into @batch's P's ring).  Return: how many were taken.
 */
static uint32_t runq_grab(struct fiber_p *victim,
			  _Atomic(struct fiber *) *batch, uint32_t batch_head,
			  bool steal_runnext)
{
	uint32_t head, tail, n, i;
	struct fiber *next;

	for (;;) {
		head = atomic_load_explicit(&victim->runqhead,
					    memory_order_acquire);
		tail = atomic_load_explicit(&victim->runqtail,
					    memory_order_acquire);
		n = tail - head;
		n -= n / 2;
		if (n == 0) {
			if (!steal_runnext)
				return 0;
			next = atomic_load(&victim->runnext);
			if (!next)
				return 0;
			/*
			 * The victim's running fiber has likely just readied
			 * runnext and is about to block: give it a moment to
			 * run it itself rather than bouncing it between
			 * threads (Go waits 3 us here too).
			 */
			if (atomic_load(&victim->status) == P_RUNNING) {
				struct timespec ts = { 0, 3000 };

				nanosleep(&ts, NULL);
			}
			if (!atomic_compare_exchange_strong(&victim->runnext,
							    &next, NULL))
				continue;
			atomic_store_explicit(
				&batch[batch_head % FIBER_RUNQ_SIZE], next,
				memory_order_relaxed);
			return 1;
		}
		if (n > FIBER_RUNQ_SIZE / 2)
			continue;	/* head and tail read inconsistently */
		for (i = 0; i < n; i++) {
			struct fiber *g = atomic_load_explicit(
				&victim->runq[(head + i) % FIBER_RUNQ_SIZE],
				memory_order_relaxed);

			atomic_store_explicit(
				&batch[(batch_head + i) % FIBER_RUNQ_SIZE], g,
				memory_order_relaxed);
		}
		if (atomic_compare_exchange_strong_explicit(
			    &victim->runqhead, &head, head + n,
			    memory_order_release, memory_order_relaxed))
			return n;
	}
}

/*
 * Steal half of @victim's fibers into @p's ring (@p is ours and empty)
 * and return one of them to run, or NULL.
 */
struct fiber *runq_steal(struct fiber_p *p, struct fiber_p *victim,
			 bool steal_runnext)
{
	uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
	uint32_t n = runq_grab(victim, p->runq, tail, steal_runnext);
	struct fiber *g;

	if (n == 0)
		return NULL;
	n--;
	g = atomic_load_explicit(&p->runq[(tail + n) % FIBER_RUNQ_SIZE],
				 memory_order_relaxed);
	if (n)
		atomic_store_explicit(&p->runqtail, tail + n,
				      memory_order_release);
	p->nsteals++;
	return g;
}

/*
 * Empty @p's queue into @out (runnext first, then the ring in order).
 * Only while the world is stopped.  Return: the count.
 */
int runq_drain(struct fiber_p *p, struct fiber **out)
{
	bool inherit;
	struct fiber *g;
	int n = 0;

	while ((g = runq_get(p, &inherit)))
		out[n++] = g;
	return n;
}

/*
 * The length changes only under sched.lock, so no locked instruction is
 * needed; readers outside the lock only use it as a hint.
 */
static void runqsize_add(int d)
{
	atomic_store_explicit(&sched.runqsize,
			      atomic_load_explicit(&sched.runqsize,
						   memory_order_relaxed) + d,
			      memory_order_relaxed);
}

void globrunq_put(struct fiber *g)
{
	g->schedlink = NULL;
	if (sched.runq_tail)
		sched.runq_tail->schedlink = g;
	else
		sched.runq_head = g;
	sched.runq_tail = g;
	runqsize_add(1);
}

void globrunq_put_head(struct fiber *g)
{
	g->schedlink = sched.runq_head;
	sched.runq_head = g;
	if (!sched.runq_tail)
		sched.runq_tail = g;
	runqsize_add(1);
}

static struct fiber *globrunq_pop(void)
{
	struct fiber *g = sched.runq_head;

	if (!g)
		return NULL;
	sched.runq_head = g->schedlink;
	if (!sched.runq_head)
		sched.runq_tail = NULL;
	runqsize_add(-1);
	return g;
}

/*
 * Take a fair share of the global queue for @p: one to run, and up to
 * half of a local ring more moved to @p's ring.  @max > 0 caps the count.
 */
struct fiber *globrunq_get(struct fiber_p *p, int max)
{
	int nprocs = atomic_load(&sched.nprocs);
	int size = atomic_load(&sched.runqsize);
	int n, i;
	struct fiber *g;

	if (size == 0)
		return NULL;
	n = size / nprocs + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > FIBER_RUNQ_SIZE / 2)
		n = FIBER_RUNQ_SIZE / 2;
	g = globrunq_pop();
	for (i = 1; i < n; i++)
		runq_put(p, globrunq_pop(), false);
	return g;
}
