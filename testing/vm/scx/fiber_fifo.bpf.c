// SPDX-License-Identifier: GPL-2.0
/*
 * fiber_fifo: the smallest useful sched_ext scheduler, for running the
 * block tests with a BPF scheduler attached (testing/vm/kernels/sid-scx.sh).
 *
 * Every task of the fair class runs in the ext class instead (no
 * SCX_OPS_SWITCH_PARTIAL).  A waking task for which the kernel's default
 * CPU selection finds an idle CPU goes straight to that CPU's local
 * queue; any other is queued on one global FIFO, from which a CPU that
 * runs out of work takes the oldest.  No priorities, no weights, no
 * preemption on wake-up: the point is a scheduler that is not CFS/EEVDF,
 * whose sleeping and preempted tasks fiber.ko must still tell apart.
 *
 * The slice is 1 ms (a tick, at HZ=250, in practice), not sched_ext's
 * default 20 ms: the selftests spin-wait for other threads, and without
 * preemption on wake-up a spinner keeps its CPU for a whole slice while
 * the thread it waits for waits behind it.  With 20 ms, claim_test's 500
 * rounds of four threads on two vCPUs took 52 s of their 60 s.
 *
 * ops.cpu_online and ops.cpu_offline are empty but must exist: without
 * them sched_ext ejects the scheduler on any CPU hotplug, and the VM's
 * init takes a vCPU offline around the module's insmod and rmmod.
 *
 * Built with clang against a vmlinux.h dumped from the kernel's BTF, which
 * declares the kfuncs (scx_bpf_*) too; loaded by bpftool struct_ops
 * register, which pins the link so that it stays attached.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

#define FIFO_DSQ 0
#define FIFO_SLICE 1000000ULL	/* ns */

/* As the default would, but with our slice. */
SEC("struct_ops/fiber_fifo_select_cpu")
s32 BPF_PROG(fiber_fifo_select_cpu, struct task_struct *p, s32 prev_cpu,
	     u64 wake_flags)
{
	bool idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &idle);

	if (idle)
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, FIFO_SLICE, 0);
	return cpu;
}

SEC("struct_ops.s/fiber_fifo_init")
s32 BPF_PROG(fiber_fifo_init)
{
	return scx_bpf_create_dsq(FIFO_DSQ, -1);
}

SEC("struct_ops/fiber_fifo_enqueue")
void BPF_PROG(fiber_fifo_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dsq_insert(p, FIFO_DSQ, FIFO_SLICE, enq_flags);
}

SEC("struct_ops/fiber_fifo_dispatch")
void BPF_PROG(fiber_fifo_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_bpf_dsq_move_to_local(FIFO_DSQ);
}

SEC("struct_ops/fiber_fifo_cpu_online")
void BPF_PROG(fiber_fifo_cpu_online, s32 cpu)
{
}

SEC("struct_ops/fiber_fifo_cpu_offline")
void BPF_PROG(fiber_fifo_cpu_offline, s32 cpu)
{
}

SEC(".struct_ops.link")
struct sched_ext_ops fiber_fifo_ops = {
	.select_cpu	= (void *)fiber_fifo_select_cpu,
	.init		= (void *)fiber_fifo_init,
	.enqueue	= (void *)fiber_fifo_enqueue,
	.dispatch	= (void *)fiber_fifo_dispatch,
	.cpu_online	= (void *)fiber_fifo_cpu_online,
	.cpu_offline	= (void *)fiber_fifo_cpu_offline,
	.name		= "fiber_fifo",
};
