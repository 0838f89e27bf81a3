// SPDX-License-Identifier: MIT
/*
 * Copied stacks (FIBER_ATTR_COPY_STACK): fibers that share a few stacks
 * and keep, while they wait, only the bytes their stack really uses.
 *
 * A fiber with a stack of its own owns at least the page it touched, so a
 * million parked fibers cost at least 4 GiB plus their structs.  A
 * goroutine starts on 2 KiB because Go can move a stack and fix every
 * pointer into it; C cannot.  So a copied fiber runs on one of
 * copy.nshared shared stacks and, once bound to one (when it first runs),
 * always resumes on that one, at the same addresses: its frames, saved
 * frame pointers and the pointers to its locals stay right.
 *
 * A shared stack holds the live bytes of one fiber, its owner.  Another
 * fiber bound to it that wants to run first copies the owner's used bytes
 * (from its saved stack pointer to the top, often a few hundred) out to
 * the heap, then copies its own back in.  The copy is lazy: a fiber that
 * parks and is resumed before anyone else needs its stack costs nothing.
 *
 * The states of a shared stack, under its lock:
 *
 *	FREE      nobody runs on it; the owner, if any, is parked or queued
 *	ONCPU     @running is on it (running, or in a system call)
 *	RESERVED  handed to @running, a fiber that waited for it; only that
 *	          fiber may take it
 *
 * An M about to run a copied fiber takes its stack (copystack_acquire):
 * FREE, or RESERVED for this fiber, becomes ONCPU; otherwise the fiber
 * joins the stack's FIFO of waiters and the M looks for other work.  The
 * M that switched a copied fiber out gives the stack back once nothing
 * will read the fiber's frames any more, that is after the park's commit
 * (copystack_release): the first waiter gets it RESERVED and is queued
 * to run.  A fiber that parks and is readied again before its M gave the
 * stack back finds it ONCPU, waits as any other, and is handed it back.
 *
 * The rule that makes this safe: while a copied fiber is not running,
 * nothing may read or write its stack, since another fiber's bytes may
 * be there.  The runtime keeps it for its own waits: a waiter, timer or
 * channel value that other fibers touch while this one is parked lives
 * in the fiber's park block (park_block()) instead of on its stack.  The
 * user must keep it too (fiber.h, docs/copied-stacks.md).
 *
 * The price: a fiber waits for its stack while another fiber bound to it
 * runs, including through a blocking system call outside the netpoller;
 * a switch to a copied fiber goes through the M's g0 (never directly
 * from fiber to fiber); and a switch that must swap owners copies their
 * used bytes.  With SHARED_PER_P = 16 per CPU, two running fibers rarely
 * share a stack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"
#include "sanitizer.h"

enum shared_stack_state {
	SHARED_FREE,
	SHARED_ONCPU,
	SHARED_RESERVED,
};

struct fiber_shared_stack {
	struct fiber_lock lock;
	uint32_t state;			/* enum shared_stack_state */
	struct fiber *owner;		/* whose bytes it holds, or NULL */
	struct fiber *running;		/* ONCPU or RESERVED: for whom */
	struct fiber *waithead, *waittail;	/* through schedlink */
	struct fiber_stack stack;
} __attribute__((aligned(64)));

static struct {
	pthread_mutex_t init_lock;
	struct fiber_shared_stack *_Atomic shared;
	unsigned int nshared;		/* a power of two */
} copy = {
	.init_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* A heap buffer of a copied fiber up to this size is kept for reuse. */
#define SAVED_KEEP	4096

/*
 * Shared stacks: SHARED_PER_P per CPU, rounded up to a power of two, at
 * most SHARED_MAX.  A fresh fiber looks at SHARED_PROBES of them, from
 * its P's cursor in a range of its own, so that the Ps seldom touch each
 * other's stacks' cache lines.
 */
#define SHARED_PER_P	16
#define SHARED_MAX	1024
#define SHARED_PROBES	4

/*
 * Make the shared stacks, once, on the first copied fiber_go.  Return:
 * 0, or -ENOMEM (the next call tries again).
 */
int copystack_init(void)
{
	struct fiber_shared_stack *shared;
	long ncpu;
	unsigned int i, n;
	int ret = 0;

	if (atomic_load_explicit(&copy.shared, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&copy.init_lock);
	if (copy.shared)
		goto out;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	for (n = SHARED_PER_P; n < SHARED_MAX && n < ncpu * SHARED_PER_P; n *= 2)
		;
	ret = -ENOMEM;
	shared = aligned_alloc(64, n * sizeof(*shared));
	if (!shared)
		goto out;
	memset(shared, 0, n * sizeof(*shared));
	for (i = 0; i < n; i++) {
		if (fiber_stack_alloc(&shared[i].stack,
				      fiber_stack_default_size()))
			goto free_stacks;
		fiber_stack_prepare(&shared[i].stack);
	}
	copy.nshared = n;
	atomic_store_explicit(&copy.shared, shared, memory_order_release);
	ret = 0;
	goto out;

free_stacks:
	while (i--)
		fiber_stack_free(&shared[i].stack);
	free(shared);
out:
	pthread_mutex_unlock(&copy.init_lock);
	return ret;
}

static void *stack_top(const struct fiber_shared_stack *s)
{
	return (char *)s->stack.base + s->stack.size;
}

/*
 * Make *@buf (of *@cap bytes) hold at least @size.  Out of memory here
 * has nobody to return an error to: it is fatal, as in Go's runtime.
 */
static void grow(void **buf, size_t *cap, size_t size, const char *what)
{
	void *p;

	if (size <= *cap)
		return;
	p = realloc(*buf, size);
	if (!p)
		fiber_fatal("out of memory for %s", what);
	*buf = p;
	*cap = size;
}

/* Free *@buf if it is larger than is worth keeping for reuse. */
static void shrink(void **buf, size_t *cap)
{
	if (*cap > SAVED_KEEP) {
		free(*buf);
		*buf = NULL;
		*cap = 0;
	}
}

/* Copy the used bytes of @g, parked on @s, out to the heap. */
static void save_bytes(struct fiber_shared_stack *s, struct fiber *g)
{
	size_t len = (size_t)((char *)stack_top(s) - (char *)g->ctx.sp);

	grow(&g->saved, &g->saved_cap, len, "a copied fiber's stack");
	/* Its frames' red zones may be poisoned; these bytes are data now. */
	san_unpoison_stack(g->ctx.sp, len);
	memcpy(g->saved, g->ctx.sp, len);
	g->saved_len = len;
}

/* Put @g's bytes (or, the first time, its first frame) on @s. */
static void load_bytes(struct fiber_shared_stack *s, struct fiber *g)
{
	if (!g->ctx.sp) {
		san_unpoison_stack(s->stack.base, s->stack.size);
		vg_make_writable(s->stack.base, s->stack.size);
		fiber_context_make(&g->ctx, s->stack.base, s->stack.size,
				   fiber_entry, g);
		return;
	}
	san_unpoison_stack(g->ctx.sp, g->saved_len);
	vg_make_writable(g->ctx.sp, g->saved_len);
	memcpy(g->ctx.sp, g->saved, g->saved_len);
	g->saved_len = 0;
	shrink(&g->saved, &g->saved_cap);
}

/*
 * A shared stack for a fresh fiber about to run on @p: of the few looked
 * at, a free one with no owner, else a free one (whose owner will be
 * copied out), else the first (to wait for).  Racy reads: a hint, which
 * copystack_acquire() checks under the stack's lock.
 */
static struct fiber_shared_stack *pick_stack(struct fiber_p *p)
{
	unsigned int mask = copy.nshared - 1, i, start;
	struct fiber_shared_stack *shared = copy.shared, *s, *free = NULL;

	start = (unsigned int)p->id * SHARED_PER_P + p->copy_cursor++;
	for (i = 0; i < SHARED_PROBES; i++) {
		s = &shared[(start + i) & mask];
		if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != SHARED_FREE)
			continue;
		if (!__atomic_load_n(&s->owner, __ATOMIC_RELAXED))
			return s;
		if (!free)
			free = s;
	}
	return free ? free : &shared[start & mask];
}

/*
 * M @m is about to run copied fiber @g (RUNNABLE, off every queue).
 * Return: true if @g's bytes are on its stack and it may run; false if
 * the stack is taken and @g joined its waiters, to be queued again when
 * it is handed over.
 */
bool copystack_acquire(struct fiber_m *m, struct fiber *g)
{
	struct fiber_shared_stack *s = g->shared;
	struct fiber *owner;

	if (!s)
		s = g->shared = pick_stack(m->p);
	fiber_lock(&s->lock);
	if (s->state == SHARED_ONCPU ||
	    (s->state == SHARED_RESERVED && s->running != g)) {
		g->schedlink = NULL;
		if (s->waittail)
			s->waittail->schedlink = g;
		else
			s->waithead = g;
		s->waittail = g;
		fiber_unlock(&s->lock);
		m->p->stack_waits++;
		return false;
	}
	__atomic_store_n(&s->state, SHARED_ONCPU, __ATOMIC_RELAXED);
	s->running = g;
	owner = s->owner;
	if (owner != g) {
		if (owner)
			save_bytes(s, owner);
		load_bytes(s, g);
		__atomic_store_n(&s->owner, g, __ATOMIC_RELAXED);
		m->p->stack_copies++;
	}
	fiber_unlock(&s->lock);
	g->stack = s->stack;
	return true;
}

/*
 * Copied fiber @g, switched out by M @m, no longer needs its stack; if
 * @dead, its bytes are garbage.  Called once nothing reads its frames:
 * after the park's commit, before a yield queues it.  The first waiter
 * gets the stack and runs next on our P (or, with none, from the global
 * queue).
 */
void copystack_release(struct fiber_m *m, struct fiber *g, bool dead)
{
	struct fiber_shared_stack *s = g->shared;
	struct fiber *next;

	fiber_lock(&s->lock);
	if (dead) {
		if (s->owner == g)
			__atomic_store_n(&s->owner, NULL, __ATOMIC_RELAXED);
		g->shared = NULL;
	}
	next = s->waithead;
	if (next) {
		s->waithead = next->schedlink;
		if (!s->waithead)
			s->waittail = NULL;
		s->running = next;
		__atomic_store_n(&s->state, SHARED_RESERVED, __ATOMIC_RELAXED);
	} else {
		s->running = NULL;
		__atomic_store_n(&s->state, SHARED_FREE, __ATOMIC_RELAXED);
	}
	fiber_unlock(&s->lock);
	if (dead) {
		memset(&g->stack, 0, sizeof(g->stack));
		g->ctx.sp = NULL;
		/*
		 * Its saved bytes were loaded, and their buffer shrunk, when
		 * it last ran; a big select's park block is not kept either.
		 */
		shrink(&g->park_buf, &g->park_cap);
	}
	if (!next)
		return;
	if (m->p) {
		runq_put(m->p, next, true);
	} else {
		fiber_lock(&sched.lock);
		globrunq_put(next);
		fiber_unlock(&sched.lock);
		wakep();
	}
}

/* How many shared stacks there are: 0 before the first copied fiber. */
uint64_t copystack_count(void)
{
	return atomic_load_explicit(&copy.shared, memory_order_acquire) ?
	       copy.nshared : 0;
}

/*
 * The block that holds what other fibers touch while @g is parked: for a
 * fiber with its own stack, @local itself (on that stack, which stays put);
 * for a copied fiber, its park buffer, which is not on any stack, filled
 * with @size bytes of @local.  One block per fiber at a time:
 * park_block_done() ends it.  park_alloc() is the same, zeroed, for a
 * copied fiber only.
 */
void park_grow(struct fiber *g, size_t size)
{
	grow(&g->park_buf, &g->park_cap, size, "a copied fiber's wait");
}

void *park_alloc(struct fiber *g, size_t size)
{
	if (g->park_busy)
		fiber_fatal("a copied fiber's park block is already in use");
	park_grow(g, size);
	memset(g->park_buf, 0, size);
	g->park_busy = true;
	return g->park_buf;
}

void *park_block_copied(struct fiber *g, const void *local, size_t size)
{
	return memcpy(park_alloc(g, size), local, size);
}
