// SPDX-License-Identifier: MIT
/*
 * A fiber's life: fiber_go() makes it, fiber_exit() (or returning from
 * its function) ends it, and its struct and stack go to a free list for
 * the next fiber_go().  Also the calls that ask about or pin the calling
 * fiber: fiber_id, fiber_num, fiber_version, fiber_defer, fiber_lock_thread.
 *
 * A struct fiber is never freed once made: fiber_dump() walks the list of
 * every fiber without stopping anyone, as Go's allgs.  Its stack's pages
 * are returned to the kernel by the scavenger while it sits unused.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "sanitizer.h"

_Noreturn void fiber_entry(void *arg)
{
	struct fiber *g = arg;

	/* We got here by a switch like any other; finish it. */
	san_finish_switch(NULL);
	finish_switch(this_m());
	g->fn(g->arg);
	fiber_exit();
}

/*
 * The first frame: when a fiber starts, not when it is made.
 *
 * A fiber's first touch of its stack is a page fault if the stack is
 * fresh, and where page tables are virtualised a first touch costs more
 * than the rest of a fiber's life (docs/performance.md).  A tree of
 * fibers like skynet has ten times as many fibers queued, not started,
 * as fibers running or waiting: giving each its frame when it was made
 * touched a fresh page for every one of them.  So a fiber made with a
 * stack that is still warm (taken from a fiber that ended) gets its frame
 * at once, as before; one whose stack is fresh, or was scavenged, gets a
 * NULL ctx.sp, and its frame only when an M is about to run it.  If the
 * P's free list then holds a fiber that ended with a warm stack of the
 * same size, the two swap stacks: the new fiber runs on the warm one and
 * the fresh one waits, untouched, on the free list.  Its slot was taken
 * when the fiber was made, so running out of stacks is still fiber_go's
 * -ENOMEM, never a failure at the start.
 *
 * Every switch to a fiber goes through fiber_first_frame() first: from g0
 * in execute(), and from a fiber in next_direct() and next_for_yield().
 * The caller holds @p, whose free list and stack cache are its own.
 * Preparing a stack may sleep (madvise, a new arena's mmap), and from a
 * fiber a spare could then take @p (kernel.c, "What may not be
 * claimed"): hence m_acquire().
 */
void fiber_first_frame(struct fiber_p *p, struct fiber *g)
{
	struct fiber *d = p->gfree[GFREE_WARM].head;
	struct fiber_m *m = m_acquire();
	struct fiber_stack warm;

	/* Scavenged while on the list, it is no warmer than ours. */
	if (d && d->stack.dirty && d->stack.size == g->stack.size) {
		warm = d->stack;
		d->stack = g->stack;
		g->stack = warm;
		gfree_to_cold(p, d);
	} else if (g->stack.pooled && fiber_stack_cold(&g->stack)) {
		/* A stack of the P's batch: fiber_stack_take_prepared. */
		fiber_stack_take_prepared(&p->stacks, &g->stack);
	}
	fiber_stack_prepare(&g->stack);
	m_release(m);
	fiber_context_make(&g->ctx, g->stack.base, g->stack.size, fiber_entry,
			   g);
}

/*
 * A fiber with a stack of @size (0: none, a copied fiber): one from our
 * P's free list if it has one, else a new one.  Allocating may sleep
 * (mmap_lock, malloc's locks), so it runs with nothing cached: with the
 * module, a spare may take our P meanwhile and we come back with another
 * (or, with FIBER_HOLD_ON_WAKE=0, none).  Return: the fiber, or NULL
 * with *@err.
 */
static struct fiber *fiber_get(size_t size, int *err)
{
	struct fiber_m *m = m_acquire();
	struct fiber *g = gfree_get(m->p);

	m_release(m);
	if (g && g->stack.base && g->stack.size != size) {
		fiber_stack_free(&g->stack);
	} else if (g && g->stack.base && g->stack.dirty) {
		fiber_stack_prepare(&g->stack);	/* warm: its frame now */
	} else if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g) {
			*err = -ENOMEM;
			return NULL;
		}
		allfibers_add(g);
	}
	if (!g->stack.base && size) {
		*err = fiber_stack_alloc(&g->stack, size);
		if (*err) {
			atomic_store(&g->status, FIBER_DEAD);
			/* May switch threads: take the M afterwards. */
			leave_syscall(this_m());
			m = m_acquire();
			gfree_put(m->p, g);
			m_release(m);
			return NULL;
		}
	}
	return g;
}

/* @attr's flags, 0 if it is NULL or too old to have them. */
static unsigned int attr_flags(const struct fiber_attr *attr)
{
	if (!attr || attr->size < offsetof(struct fiber_attr, flags) +
				  sizeof(attr->flags))
		return 0;
	return attr->flags;
}

/*
 * Make a fiber running fn(arg) and queue it on the current P.  The
 * caller is a fiber (or fiber_main, holding P 0).
 */
int fiber_spawn(const struct fiber_attr *attr, void (*fn)(void *), void *arg,
		void *pc)
{
	bool copied = attr_flags(attr) & FIBER_ATTR_COPY_STACK;
	size_t size = copied ? 0 :
		      fiber_stack_actual_size(attr ? attr->stack_size : 0);
	struct fiber_m *m;
	struct fiber_p *p;
	struct fiber *g;
	int ret;

	if (copied) {
		ret = copystack_init();
		if (ret)
			return ret;
		/* It maps stacks, and may sleep: our P may be gone (fiber_get). */
		leave_syscall(this_m());
	}
	g = fiber_get(size, &ret);
	if (!g)
		return ret;
	m = this_m();
	leave_syscall(m);	/* we may have lost our P while allocating */
	m = m_acquire();
	p = m->p;
	if (p->idcache == p->idcacheend) {
		p->idcache = atomic_fetch_add(&sched.next_id, 16) + 1;
		p->idcacheend = p->idcache + 16;
	}
	g->id = p->idcache++;
	g->fn = fn;
	g->arg = arg;
	g->deferred = NULL;
	g->lockedm = NULL;
	g->lock_depth = 0;
	g->wait_reason = NULL;
	g->created_pc = pc;
	g->parent_id = m->curg ? m->curg->id : 0;
	g->copied = copied;
	g->park_busy = false;
	if (copied) {
		/* fiber_get() freed any stack of its own: no size fits 0. */
		g->ctx.sp = NULL;	/* made on its shared stack */
	} else if (g->stack.dirty) {
		fiber_context_make(&g->ctx, g->stack.base, g->stack.size,
				   fiber_entry, g);
	} else {
		g->ctx.sp = NULL;	/* fresh stack: fiber_first_frame() */
	}
	p_live_add(p, 1);
	fiber_event(create, TRACE_CREATE, g->id, g->parent_id);
	atomic_store_explicit(&g->status, FIBER_RUNNABLE, memory_order_release);
	/* Go's newproc: the new fiber runs next on this P. */
	runq_put(p, g, true);
	m_release(m);
	wakep();
	return 0;
}

/* libbpf's rule: a caller's struct larger than ours must be zero beyond it. */
static bool attr_tail_zero(const struct fiber_attr *attr)
{
	const char *c = (const char *)attr;
	size_t i;

	for (i = sizeof(*attr); i < attr->size; i++)
		if (c[i])
			return false;
	return true;
}

/* @call (fiber_go or fiber_go_attr) was called from @pc. */
static int go_common(const struct fiber_attr *attr, void (*fn)(void *arg),
		     void *arg, const char *call, void *pc)
{
	struct fiber_m *m = this_m();

	if (!fn)
		return fiber_misuse(-EINVAL, "go of nil func value", call,
				    "function", NULL, pc);
	if (attr) {
		if (attr->size < offsetof(struct fiber_attr, stack_size) +
				 sizeof(attr->stack_size) ||
		    !attr_tail_zero(attr))
			return -EINVAL;
		if (attr->stack_size &&
		    (attr->stack_size < FIBER_STACK_MIN ||
		     attr->stack_size > FIBER_STACK_MAX))
			return -EINVAL;
		if (attr_flags(attr) & ~FIBER_ATTR_COPY_STACK)
			return -EINVAL;
		/* Copied fibers share stacks of the default size. */
		if ((attr_flags(attr) & FIBER_ATTR_COPY_STACK) &&
		    attr->stack_size)
			return -EINVAL;
	}
	if (!m || !m->curg)
		return fiber_misuse(-ESRCH, "go outside a fiber", call,
				    "function", (void *)fn, pc);
	leave_syscall(m);
	return fiber_spawn(attr, fn, arg, pc);
}

int fiber_go_attr(const struct fiber_attr *attr, void (*fn)(void *arg),
		  void *arg)
{
	return go_common(attr, fn, arg, "fiber_go_attr",
			 __builtin_return_address(0));
}

int fiber_go(void (*fn)(void *arg), void *arg)
{
	return go_common(NULL, fn, arg, "fiber_go",
			 __builtin_return_address(0));
}

_Noreturn void fiber_exit(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;
	struct fiber_scope *d;
	bool heap;

	if (!g)
		fiber_fatal("fiber_exit called outside a fiber");
	/*
	 * Unlink each call before making it, so that a deferred call that
	 * itself exits does not run again.  Deferred calls may switch, so
	 * the M is re-read afterwards.  A scoped call's record is in a frame
	 * below us, alive until the fiber dies; its block never ends.
	 */
	leave_syscall(m);
	while ((d = g->deferred)) {
		g->deferred = d->link_private;
		heap = d->state_private == SCOPE_HEAP;
		d->state_private = SCOPE_IDLE;
		d->fn(d->arg);
		if (heap)
			free(d);
	}
	/* A deferred call may have left a system-call section open. */
	m = this_m();
	leave_syscall(m);
	m = this_m();
	stack_check(g);
	if (g->id == 1)
		sched.main_exited = true;
	atomic_store_explicit(&g->status, FIBER_DEAD, memory_order_relaxed);
	m_locks_add(m, 1);
	p_live_add(m->p, -1);
	m_locks_add(m, -1);
	fiber_switch_dead(m, g);
}

int fiber_defer(void (*fn)(void *arg), void *arg)
{
	struct fiber_m *m = this_m();
	struct fiber_scope *d;

	if (!fn)
		return MISUSE(-EINVAL, "defer of nil func value", "fiber_defer",
			      "function", NULL);
	if (!m || !m->curg)
		return MISUSE(-ESRCH, "defer outside a fiber", "fiber_defer",
			      "function", (void *)fn);
	d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fn = fn;
	d->arg = arg;
	d->state_private = SCOPE_HEAP;
	d->link_private = m->curg->deferred;
	m->curg->deferred = d;
	return 0;
}

/*
 * FIBER_SCOPED_DEFER: the record is queued like a fiber_defer() call,
 * so that fiber_exit() inside the block makes it, and leaves the queue
 * when the block ends.  No lock: only the fiber touches its own list,
 * and a block cannot end on another fiber than the one that entered it.
 */
struct fiber_scope *fiber_scope_enter(struct fiber_scope *s)
{
	struct fiber *g = this_fiber();

	s->link_private = NULL;
	s->state_private = SCOPE_IDLE;
	if (!s->fn) {
		MISUSE(-EINVAL, "defer of nil func value", "fiber_scope_enter",
		       "function", NULL);
		return s;
	}
	if (g) {
		s->link_private = g->deferred;
		g->deferred = s;
		s->state_private = SCOPE_QUEUED;
	}
	return s;
}

void fiber_scope_exit(struct fiber_scope *s)
{
	struct fiber_scope **pp;
	struct fiber *g;

	if (s->state_private == SCOPE_QUEUED) {
		g = this_fiber();
		if (!g)
			fiber_fatal("scoped defer %p ends outside a fiber",
				    (void *)s);
		/*
		 * Usually the head; calls fiber_defer()'d inside the block
		 * sit above it and stay for the fiber's end.
		 */
		pp = &g->deferred;
		while (*pp && *pp != s)
			pp = &(*pp)->link_private;
		if (!*pp)
			fiber_fatal("scoped defer %p ends, but fiber %llu has no "
				    "such record (a copy of it?)", (void *)s,
				    (unsigned long long)g->id);
		*pp = s->link_private;
		s->state_private = SCOPE_IDLE;
	}
	if (s->fn)
		s->fn(s->arg);
}

uint64_t fiber_id(void)
{
	struct fiber_m *m = this_m();

	return m && m->curg ? m->curg->id : 0;
}

int fiber_num(void)
{
	int64_t n = fibers_live(), least = fiber_id() ? 1 : 0;

	/*
	 * The sum reads the Ps one after the other while fibers start and
	 * end: a fiber started on a P already read and ended on one read
	 * later counts -1.  A calling fiber counts itself (as Go).
	 */
	return n < least ? (int)least : (int)n;
}

#define FIBER_STRINGIFY(x) #x
#define FIBER_NUMBER(x) FIBER_STRINGIFY(x)

const char *fiber_version(void)
{
	return FIBER_NUMBER(FIBER_VERSION_MAJOR) "." FIBER_NUMBER(FIBER_VERSION_MINOR)
	       "." FIBER_NUMBER(FIBER_VERSION_PATCH);
}

/*
 * LockOSThread.  Only the fiber itself changes its lock, on its own M,
 * so no lock is needed: other Ms see g->lockedm only when they take the
 * fiber off a run queue, after it has switched out.
 */
void fiber_lock_thread(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;

	if (!g)
		return;
	if (g->lock_depth++ == 0) {
		g->lockedm = m;
		m->lockedg = g;
	}
}

void fiber_unlock_thread(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;

	if (!g || g->lock_depth == 0)
		return;
	if (--g->lock_depth == 0) {
		g->lockedm = NULL;
		m->lockedg = NULL;
	}
}
