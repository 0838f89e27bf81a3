// SPDX-License-Identifier: MIT
/*
 * The scheduler, in its first form: one carrier thread (M) holding one
 * processor (P) with a FIFO run queue.
 *
 * The carrier runs the scheduler loop on its own stack (Go's g0) and
 * switches to one fiber at a time.  A fiber comes back to the loop only by
 * yielding, exiting, or (later) blocking; the loop then picks the next
 * runnable fiber.  Because every switch goes through the loop, a fiber's
 * stack is never in use when the loop frees or recycles it.
 *
 * Invariants:
 *  - rt.current is the running fiber, NULL while the loop runs;
 *  - a fiber is on the run queue iff its state is FIBER_RUNNABLE;
 *  - rt.nlive counts the fibers not yet dead (fiber_num()).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "fiber.h"
#include "context.h"
#include "stack.h"

enum fiber_state {
	FIBER_RUNNABLE,
	FIBER_RUNNING,
	FIBER_DEAD,
};

struct fiber_deferred {
	void (*fn)(void *arg);
	void *arg;
	struct fiber_deferred *next;
};

struct fiber {
	uint64_t id;
	enum fiber_state state;
	struct fiber_context ctx;
	struct fiber_stack stack;
	void (*fn)(void *arg);
	void *arg;
	struct fiber_deferred *deferred;	/* most recent first */
	struct fiber *next;		/* run queue or free list link */
};

/* Dead fibers kept, stack and all, for reuse by fiber_go(). */
#define FIBER_FREE_MAX	64

static struct {
	bool started;
	struct fiber_context loop_ctx;	/* the carrier's own stack */
	struct fiber *current;
	struct fiber *runq_head, *runq_tail;
	struct fiber *free_list;
	int nfree;
	uint64_t next_id;
	int nlive;
	bool main_exited;		/* the main fiber called fiber_exit() */
	int (*main_fn)(int argc, char **argv);
	int argc;
	char **argv;
} rt;

static _Noreturn void fatal(const char *msg)
{
	fflush(stdout);
	fprintf(stderr, "libfiber: fatal error: %s\n", msg);
	exit(2);
}

static void runq_put(struct fiber *f)
{
	f->state = FIBER_RUNNABLE;
	f->next = NULL;
	if (rt.runq_tail)
		rt.runq_tail->next = f;
	else
		rt.runq_head = f;
	rt.runq_tail = f;
}

static struct fiber *runq_get(void)
{
	struct fiber *f = rt.runq_head;

	if (f) {
		rt.runq_head = f->next;
		if (!rt.runq_head)
			rt.runq_tail = NULL;
	}
	return f;
}

/* Switch from the running fiber back to the scheduler loop. */
static void park_current(void)
{
	fiber_context_switch(&rt.current->ctx, &rt.loop_ctx);
}

static _Noreturn void fiber_entry(void *arg)
{
	struct fiber *f = arg;

	f->fn(f->arg);
	fiber_exit();
}

static struct fiber *fiber_alloc(void)
{
	struct fiber *f = rt.free_list;

	if (f) {
		rt.free_list = f->next;
		rt.nfree--;
		return f;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	if (fiber_stack_alloc(&f->stack, FIBER_STACK_DEFAULT)) {
		free(f);
		return NULL;
	}
	return f;
}

/* Called by the loop only, once @f's stack is no longer in use. */
static void fiber_release(struct fiber *f)
{
	if (rt.nfree < FIBER_FREE_MAX) {
		f->next = rt.free_list;
		rt.free_list = f;
		rt.nfree++;
		return;
	}
	fiber_stack_free(&f->stack);
	free(f);
}

static int fiber_spawn(void (*fn)(void *arg), void *arg)
{
	struct fiber *f = fiber_alloc();

	if (!f)
		return -ENOMEM;
	f->id = ++rt.next_id;
	f->fn = fn;
	f->arg = arg;
	f->deferred = NULL;
	fiber_context_make(&f->ctx, f->stack.base, f->stack.size,
			   fiber_entry, f);
	rt.nlive++;
	runq_put(f);
	return 0;
}

int fiber_go(void (*fn)(void *arg), void *arg)
{
	if (!fn)
		return -EINVAL;
	if (!rt.current)
		return -ESRCH;
	return fiber_spawn(fn, arg);
}

void fiber_yield(void)
{
	if (!rt.current)
		return;
	runq_put(rt.current);
	park_current();
}

_Noreturn void fiber_exit(void)
{
	struct fiber *f = rt.current;
	struct fiber_deferred *d;

	if (!f)
		fatal("fiber_exit called outside a fiber");
	/* Unlink each call before making it, so that a deferred call that
	 * itself exits does not run again. */
	while ((d = f->deferred)) {
		f->deferred = d->next;
		d->fn(d->arg);
		free(d);
	}
	if (f->id == 1)
		rt.main_exited = true;
	f->state = FIBER_DEAD;
	rt.nlive--;
	park_current();
	__builtin_unreachable();
}

int fiber_defer(void (*fn)(void *arg), void *arg)
{
	struct fiber_deferred *d;

	if (!fn)
		return -EINVAL;
	if (!rt.current)
		return -ESRCH;
	d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fn = fn;
	d->arg = arg;
	d->next = rt.current->deferred;
	rt.current->deferred = d;
	return 0;
}

uint64_t fiber_id(void)
{
	return rt.current ? rt.current->id : 0;
}

int fiber_num(void)
{
	return rt.nlive;
}

static void main_fiber(void *arg)
{
	(void)arg;
	/* Like Go's main: returning from main ends the process. */
	exit(rt.main_fn(rt.argc, rt.argv));
}

static _Noreturn void schedule_loop(void)
{
	struct fiber *f;

	for (;;) {
		f = runq_get();
		if (!f) {
			if (rt.main_exited)
				fatal("no fibers left (main called fiber_exit) - deadlock!");
			fatal("all fibers are asleep - deadlock!");
		}
		f->state = FIBER_RUNNING;
		rt.current = f;
		fiber_context_switch(&rt.loop_ctx, &f->ctx);
		rt.current = NULL;
		if (f->state == FIBER_DEAD)
			fiber_release(f);
	}
}

int fiber_main(int (*main_fn)(int argc, char **argv), int argc, char **argv)
{
	int ret;

	if (!main_fn)
		return -EINVAL;
	if (rt.started)
		return -EBUSY;
	rt.started = true;
	rt.main_fn = main_fn;
	rt.argc = argc;
	rt.argv = argv;
	ret = fiber_spawn(main_fiber, NULL);
	if (ret) {
		rt.started = false;
		return ret;
	}
	schedule_loop();
}
