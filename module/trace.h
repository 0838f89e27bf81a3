/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the fiber module (the "fiber" trace system), for ftrace
 * and perf: /sys/kernel/tracing/events/fiber/, or perf record -e 'fiber:*'.
 *
 * Every event names the carrier it is about by thread-group and thread id
 * (of the initial pid namespace, as ftrace does) and slot.  They cost a
 * patched-out jump each while disabled.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM fiber

#if !defined(_FIBER_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _FIBER_TRACE_H

#include <linux/sched.h>
#include <linux/tracepoint.h>

DECLARE_EVENT_CLASS(fiber_carrier_event,
		    TP_PROTO(struct task_struct *task, u32 slot, u64 seq),
		    TP_ARGS(task, slot, seq),
		    TP_STRUCT__entry(__field(pid_t, pid)
				     __field(pid_t, tid)
				     __field(u32, slot)
				     __field(u64, seq)),
		    TP_fast_assign(__entry->pid = task->tgid;
				   __entry->tid = task->pid;
				   __entry->slot = slot;
				   __entry->seq = seq;),
		    TP_printk("pid=%d tid=%d slot=%u seq=%llu", __entry->pid,
			      __entry->tid, __entry->slot, __entry->seq));

/* A RUNNING carrier went to sleep in the kernel: its slot is BLOCKED. */
DEFINE_EVENT(fiber_carrier_event, fiber_block,
	     TP_PROTO(struct task_struct *task, u32 slot, u64 seq),
	     TP_ARGS(task, slot, seq));

/* A carrier woke and found that a spare had claimed its P. */
DEFINE_EVENT(fiber_carrier_event, fiber_claim,
	     TP_PROTO(struct task_struct *task, u32 slot, u64 seq),
	     TP_ARGS(task, slot, seq));

/* A claimed carrier is held on its way to user space (WAITING). */
DEFINE_EVENT(fiber_carrier_event, fiber_hold,
	     TP_PROTO(struct task_struct *task, u32 slot, u64 seq),
	     TP_ARGS(task, slot, seq));

/* A held carrier was granted a P (FIBER_IOC_WAKE or FIBER_IOC_SWITCH). */
DEFINE_EVENT(fiber_carrier_event, fiber_grant,
	     TP_PROTO(struct task_struct *task, u32 slot, u64 seq),
	     TP_ARGS(task, slot, seq));

/* A carrier parks: @timeout_ns is its deadline, 0 for none. */
TRACE_EVENT(fiber_park,
	    TP_PROTO(struct task_struct *task, u32 slot, u64 timeout_ns),
	    TP_ARGS(task, slot, timeout_ns),
	    TP_STRUCT__entry(__field(pid_t, pid)
			     __field(pid_t, tid)
			     __field(u32, slot)
			     __field(u64, timeout_ns)),
	    TP_fast_assign(__entry->pid = task->tgid;
			   __entry->tid = task->pid;
			   __entry->slot = slot;
			   __entry->timeout_ns = timeout_ns;),
	    TP_printk("pid=%d tid=%d slot=%u timeout_ns=%llu", __entry->pid,
		      __entry->tid, __entry->slot, __entry->timeout_ns));

/* A parked or held carrier is woken (by an event, a wake or a switch). */
TRACE_EVENT(fiber_wake,
	    TP_PROTO(struct task_struct *task, u32 slot),
	    TP_ARGS(task, slot),
	    TP_STRUCT__entry(__field(pid_t, pid)
			     __field(pid_t, tid)
			     __field(u32, slot)),
	    TP_fast_assign(__entry->pid = task->tgid;
			   __entry->tid = task->pid;
			   __entry->slot = slot;),
	    TP_printk("pid=%d tid=%d slot=%u", __entry->pid, __entry->tid,
		      __entry->slot));

#endif /* _FIBER_TRACE_H */

/* Out of tree: define_trace.h finds this file by path, not on include/. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
