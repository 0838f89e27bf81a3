// SPDX-License-Identifier: MIT
#include <stdint.h>
#include <string.h>

#include "context.h"

void fiber_context_start(void);

#if defined(__x86_64__)
/* Mirrors the frame described in context_x86_64.S. */
struct switch_frame {
	uint32_t mxcsr;
	uint16_t fpu_cw;
	uint16_t pad;
	uint64_t r15, r14, r13, r12, rbx, rbp;
	uint64_t ret;
};

/*
 * After the switch pops the frame and returns into fiber_context_start,
 * %rsp must be 16-byte aligned so that its call to the entry function
 * sees the alignment the ABI promises.  The frame is 64 bytes, so it
 * starts 16 bytes below the aligned top.
 */
#define FRAME_GAP	16

static void frame_init(struct switch_frame *f, void (*entry)(void *arg),
		       void *arg)
{
	/* A new fiber starts with the creator's floating-point modes. */
	__asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(f->fpu_cw));
	f->r12 = (uintptr_t)entry;
	f->r13 = (uintptr_t)arg;
	f->ret = (uintptr_t)fiber_context_start;
}
#elif defined(__aarch64__)
/* Mirrors the frame described in context_aarch64.S. */
struct switch_frame {
	uint64_t d[8];
	uint64_t x19, x20, x21_x28[8];
	uint64_t x29, x30;
	uint64_t fpcr, pad;
};

/* The frame is a multiple of 16 bytes: sp is aligned after popping it. */
#define FRAME_GAP	0

static void frame_init(struct switch_frame *f, void (*entry)(void *arg),
		       void *arg)
{
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	f->fpcr = fpcr;
	f->x19 = (uintptr_t)entry;
	f->x20 = (uintptr_t)arg;
	f->x30 = (uintptr_t)fiber_context_start;
}
#else
#error "libfiber supports x86-64 and aarch64 only"
#endif

void fiber_context_make(struct fiber_context *ctx, void *stack, size_t size,
			void (*entry)(void *arg), void *arg)
{
	uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
	struct switch_frame *f;

	f = (struct switch_frame *)(top - FRAME_GAP - sizeof(*f));
	memset(f, 0, sizeof(*f) + FRAME_GAP);
	frame_init(f, entry, arg);
	ctx->sp = f;
}
