/* SPDX-License-Identifier: MIT */
#ifndef FIBER_STACK_H
#define FIBER_STACK_H

#include <stddef.h>

/*
 * A fiber stack: anonymous memory that the kernel backs lazily, with an
 * inaccessible guard page below it, so that an overflow faults instead of
 * silently corrupting a neighbour.
 */
struct fiber_stack {
	void *base;	/* lowest usable byte (just above the guard page) */
	size_t size;	/* usable bytes */
};

#define FIBER_STACK_DEFAULT	(256 * 1024)

int fiber_stack_alloc(struct fiber_stack *st, size_t size);
void fiber_stack_free(struct fiber_stack *st);

#endif /* FIBER_STACK_H */
