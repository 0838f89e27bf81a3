/* SPDX-License-Identifier: MIT */
/*
 * fiber_context_switch(from, to) for aarch64 (AAPCS64) - see context.h.
 *
 * The frame it leaves on a suspended stack, 176 bytes, lowest first:
 *
 *	sp ->	d8 .. d15		(the low halves of v8-v15)
 *		x19 .. x28
 *		x29 (frame pointer), x30 (return address)
 *		fpcr (rounding mode and traps), padding
 *
 * fiber_context_make() builds the same frame on a fresh stack, with
 * fiber_context_start in x30, the entry function in x19 and its argument
 * in x20.
 */
#ifdef __aarch64__
	.text
	.globl	fiber_context_switch
	.hidden	fiber_context_switch
	.type	fiber_context_switch, %function
	.p2align 4
fiber_context_switch:
	.cfi_startproc
	sub	sp, sp, #176
	stp	d8, d9, [sp, #0]
	stp	d10, d11, [sp, #16]
	stp	d12, d13, [sp, #32]
	stp	d14, d15, [sp, #48]
	stp	x19, x20, [sp, #64]
	stp	x21, x22, [sp, #80]
	stp	x23, x24, [sp, #96]
	stp	x25, x26, [sp, #112]
	stp	x27, x28, [sp, #128]
	stp	x29, x30, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]

	ldr	x9, [x1]
	mov	sp, x9
	ldp	d8, d9, [sp, #0]
	ldp	d10, d11, [sp, #16]
	ldp	d12, d13, [sp, #32]
	ldp	d14, d15, [sp, #48]
	ldp	x19, x20, [sp, #64]
	ldp	x21, x22, [sp, #80]
	ldp	x23, x24, [sp, #96]
	ldp	x25, x26, [sp, #112]
	ldp	x27, x28, [sp, #128]
	ldp	x29, x30, [sp, #144]
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	add	sp, sp, #176
	ret
	.cfi_endproc
	.size	fiber_context_switch, .-fiber_context_switch

	.globl	fiber_context_start
	.hidden	fiber_context_start
	.type	fiber_context_start, %function
	.p2align 4
fiber_context_start:
	.cfi_startproc
	.cfi_undefined x30	/* the first frame of a fiber: stop unwinding */
	mov	x0, x20
	blr	x19
	brk	#0		/* entry functions never return */
	.cfi_endproc
	.size	fiber_context_start, .-fiber_context_start
/*
 * fiber_context_unwind_from(sp, fn, arg) - see context.h and the x86-64
 * version: the caller of fn's frame is described as the fiber suspended
 * at @sp, whose CFA is @sp + 176 (kept in x19).
 */
	.globl	fiber_context_unwind_from
	.hidden	fiber_context_unwind_from
	.type	fiber_context_unwind_from, %function
	.p2align 4
fiber_context_unwind_from:
	.cfi_startproc
	stp	x29, x30, [sp, #-32]!
	.cfi_def_cfa_offset 32
	.cfi_offset x29, -32
	.cfi_offset x30, -24
	str	x19, [sp, #16]
	.cfi_offset x19, -16
	mov	x19, x0
	.cfi_def_cfa x19, 176
	.cfi_offset x30, -24
	.cfi_offset x29, -32
	.cfi_offset x28, -40
	.cfi_offset x27, -48
	.cfi_offset x26, -56
	.cfi_offset x25, -64
	.cfi_offset x24, -72
	.cfi_offset x23, -80
	.cfi_offset x22, -88
	.cfi_offset x21, -96
	.cfi_offset x20, -104
	.cfi_offset x19, -112
	mov	x0, x2
	blr	x1
	ldr	x19, [sp, #16]
	ldp	x29, x30, [sp], #32
	ret
	.cfi_endproc
	.size	fiber_context_unwind_from, .-fiber_context_unwind_from

#endif /* __aarch64__ */
	.section .note.GNU-stack, "", %progbits
