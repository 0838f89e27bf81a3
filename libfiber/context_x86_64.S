/* SPDX-License-Identifier: MIT */
/*
 * fiber_context_switch(from, to) - see context.h.
 *
 * The frame it leaves on a suspended stack, lowest address first:
 *
 *	sp ->	mxcsr (4 bytes), x87 control word (2 bytes), padding
 *		r15, r14, r13, r12, rbx, rbp
 *		return address
 *
 * fiber_context_make() builds the same frame on a fresh stack, with
 * fiber_context_start as the return address, the entry function in r12
 * and its argument in r13.
 */
#ifdef __x86_64__
	.text
	.globl	fiber_context_switch
	.hidden	fiber_context_switch
	.type	fiber_context_switch, @function
	.p2align 4
fiber_context_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)

	movq	(%rsi), %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	/*
	 * Not "ret": the return stack buffer predicts a return to our
	 * caller, but we return into another context, so a ret mispredicts
	 * on every switch.  An indirect jump is predicted from its history.
	 */
	popq	%r8
	jmpq	*%r8
	.cfi_endproc
	.size	fiber_context_switch, .-fiber_context_switch

	.globl	fiber_context_start
	.hidden	fiber_context_start
	.type	fiber_context_start, @function
	.p2align 4
fiber_context_start:
	.cfi_startproc
	.cfi_undefined rip	/* the first frame of a fiber: stop unwinding */
	movq	%r13, %rdi
	callq	*%r12
	ud2			/* entry functions never return */
	.cfi_endproc
	.size	fiber_context_start, .-fiber_context_start


/*
 * fiber_context_unwind_from(sp, fn, arg) - see context.h.
 *
 * Calls fn(arg) on the caller's own stack, with unwind information
 * that says this frame's caller is the fiber suspended at @sp: its CFA
 * is @sp + 64 (kept in rbx), and the registers and return address are
 * where fiber_context_switch left them.  An unwinder started in fn
 * (backtrace()) thus walks into the suspended fiber's stack.
 */
	.globl	fiber_context_unwind_from
	.hidden	fiber_context_unwind_from
	.type	fiber_context_unwind_from, @function
	.p2align 4
fiber_context_unwind_from:
	.cfi_startproc
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	movq	%rdi, %rbx
	.cfi_def_cfa rbx, 64
	.cfi_offset rip, -8
	.cfi_offset rbp, -16
	.cfi_offset rbx, -24
	.cfi_offset r12, -32
	.cfi_offset r13, -40
	.cfi_offset r14, -48
	.cfi_offset r15, -56
	movq	%rdx, %rdi
	callq	*%rsi
	popq	%rbx
	ret
	.cfi_endproc
	.size	fiber_context_unwind_from, .-fiber_context_unwind_from

#endif /* __x86_64__ */
	.section .note.GNU-stack, "", @progbits
