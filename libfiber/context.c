// SPDX-License-Identifier: MIT
#include <stdint.h>
#include <string.h>

#include "context.h"

void fiber_context_start(void);

/* Mirrors the frame described in context_x86_64.S. */
struct switch_frame {
	uint32_t mxcsr;
	uint16_t fpu_cw;
	uint16_t pad;
	uint64_t r15, r14, r13, r12, rbx, rbp;
	uint64_t ret;
};

void fiber_context_make(struct fiber_context *ctx, void *stack, size_t size,
			void (*entry)(void *arg), void *arg)
{
	uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
	struct switch_frame *f;

	/*
	 * After the switch pops the frame and returns into
	 * fiber_context_start, %rsp must be 16-byte aligned so that its call
	 * to @entry sees the alignment the ABI promises.  The frame is 64
	 * bytes, so it starts 16 bytes below the aligned top.
	 */
	f = (struct switch_frame *)(top - 16 - sizeof(*f));
	memset(f, 0, sizeof(*f) + 16);
	/* A new fiber starts with the creator's floating-point modes. */
	__asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(f->fpu_cw));
	f->r12 = (uintptr_t)entry;
	f->r13 = (uintptr_t)arg;
	f->ret = (uintptr_t)fiber_context_start;
	ctx->sp = f;
}
