/* SPDX-License-Identifier: MIT */
/*
 * Switching between fiber stacks (x86-64 System V, aarch64 AAPCS64).
 *
 * A suspended context is just its stack pointer: fiber_context_switch()
 * pushes the callee-saved registers and the floating-point control state
 * (MXCSR and the x87 control word; FPCR) on the old stack, saves the
 * stack pointer, loads the new one and pops the same frame there.
 * Caller-saved registers need no saving: the switch is a function call.
 * One .S file per architecture; each assembles to nothing elsewhere.
 */
#ifndef FIBER_CONTEXT_H
#define FIBER_CONTEXT_H

#include <stddef.h>

struct fiber_context {
	void *sp;
};

/* Save the current context in @from and resume @to. */
void fiber_context_switch(struct fiber_context *from,
			  const struct fiber_context *to);

/*
 * Prepare @ctx so that switching to it calls entry(arg) on the stack
 * [@stack, @stack + @size).  @entry must never return.
 */
void fiber_context_make(struct fiber_context *ctx, void *stack, size_t size,
			void (*entry)(void *arg), void *arg);

/*
 * Call fn(arg) on the calling thread's stack, in a frame whose unwind
 * information names the context suspended at @sp as its caller: a
 * backtrace() in @fn continues into that context's stack.  Nothing is
 * written there; the context must stay suspended meanwhile.
 */
void fiber_context_unwind_from(void *sp, void (*fn)(void *arg), void *arg);

#endif /* FIBER_CONTEXT_H */
