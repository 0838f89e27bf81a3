/* SPDX-License-Identifier: MIT */
/*
 * Fiber stacks.  See stack.c for how they are laid out and guarded.
 */
#ifndef FIBER_STACK_H
#define FIBER_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the memory below a stack is kept from being overrun. */
enum fiber_guard {
	GUARD_NONE,		/* not allocated */
	GUARD_MADVISE,		/* MADV_GUARD_INSTALL region (Linux 6.13+) */
	GUARD_MPROTECT,		/* PROT_NONE pages: two mappings per stack */
	GUARD_CANARY,		/* past the mapping budget: a checked canary */
};

struct fiber_stack {
	void *base;		/* lowest usable byte */
	size_t size;		/* usable bytes */
	uint8_t guard;		/* enum fiber_guard */
	bool pooled;		/* a default-size slot of the shared pool */
	bool dirty;		/* may hold touched pages (for the scavenger) */
	unsigned int vg_id;	/* valgrind's stack id */
	int64_t freed_at;	/* when it went to the global free list */
};

#define FIBER_STACK_DEFAULT	(256 * 1024)
#define FIBER_STACK_MIN		(16 * 1024)
#define FIBER_STACK_MAX		((size_t)1 << 30)
#define FIBER_GUARD_SIZE	(16 * 1024)

void fiber_stack_init(void);
size_t fiber_stack_default_size(void);
size_t fiber_stack_actual_size(size_t size);
int fiber_stack_alloc(struct fiber_stack *st, size_t size);
void fiber_stack_free(struct fiber_stack *st);
void fiber_stack_scavenge(struct fiber_stack *st);
void fiber_stack_prepare(struct fiber_stack *st);

/*
 * Default-size stacks prepared ahead, a batch at a time (stack.c,
 * "Batches"): one per P, used by its owner only.
 */
#define FIBER_STACK_BATCH	16

struct fiber_stack_cache {
	int n;
	struct fiber_stack st[FIBER_STACK_BATCH - 1];
};

/* Would @st cost system calls to prepare (fresh, or scavenged)? */
static inline bool fiber_stack_cold(const struct fiber_stack *st)
{
	return st->base && (!st->dirty || st->guard == GUARD_NONE);
}

bool fiber_stack_take_prepared(struct fiber_stack_cache *c,
			       struct fiber_stack *st);

/* Where the guard below @st is, for the fault handler. */
static inline bool fiber_stack_in_guard(const struct fiber_stack *st,
					const void *addr)
{
	uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)st->base;

	return st->base && a < lo && a >= lo - FIBER_GUARD_SIZE;
}

#define FIBER_CANARY	0x5a17ab1ec0de5eedULL

/*
 * Return: whether a canary-guarded stack was overrun: its canary is gone,
 * or the fiber switched out with its stack pointer @sp below the stack.
 */
static inline bool fiber_stack_overrun(const struct fiber_stack *st,
				       const void *sp)
{
	return st->guard == GUARD_CANARY &&
	       ((uintptr_t)sp < (uintptr_t)st->base ||
		*(volatile uint64_t *)st->base !=
			(FIBER_CANARY ^ (uintptr_t)st->base));
}

struct fiber_stack_counts {
	uint64_t madvise, mprotect, canary;	/* slots by guard kind */
	uint64_t mapped_bytes;			/* address space reserved */
};
void fiber_stack_counts(struct fiber_stack_counts *out);

#endif /* FIBER_STACK_H */
