/* SPDX-License-Identifier: MIT */
/*
 * What the scheduler does, for the tools that watch it: USDT probes and
 * FIBER_TRACE's event log (trace.c).
 *
 * Each point of interest is one fiber_event(NAME, A, B) line in the code.
 * It is two things at once:
 *
 *  - a USDT probe, libfiber:NAME with arguments A and B, as sys/sdt.h
 *    makes them: a nop in the code and an ELF note that names it, which
 *    gdb, perf, bpftrace and SystemTap turn into a breakpoint when asked.
 *    Where sys/sdt.h is missing (or with -DFIBER_NO_PROBES) it is nothing.
 *  - an entry in the calling thread's trace buffer, while a trace runs
 *    (fiber_trace_start(), or FIBER_TRACE=file): one relaxed load and a
 *    branch that is not taken when none does.
 *
 * The probes, their arguments, and the trace events they make are listed
 * in docs/debugging.md.  Probe names are ABI: tools name them.
 */
#ifndef FIBER_TRACE_H
#define FIBER_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#if !defined(FIBER_NO_PROBES) && defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define FIBER_HAVE_PROBES 1
#endif
#endif

#ifdef FIBER_HAVE_PROBES
#define fiber_probe(name, a, b)	DTRACE_PROBE2(libfiber, name, a, b)
#else
#define fiber_probe(name, a, b)	do { } while (0)
#endif

/* The kinds of trace entries; trace.c turns them into the JSON's events. */
enum fiber_trace_kind {
	TRACE_CREATE,		/* a: new fiber, b: its creator */
	TRACE_START,		/* a: fiber that starts running on this P */
	TRACE_PARK,		/* a: fiber, b: its wait reason (const char *) */
	TRACE_YIELD,		/* a: fiber */
	TRACE_EXIT,		/* a: fiber */
	TRACE_READY,		/* a: fiber made runnable, b: by this fiber */
	TRACE_STEAL,		/* a: P robbed */
	TRACE_SYSCALL_ENTER,	/* a: fiber */
	TRACE_SYSCALL_EXIT,	/* a: fiber, b: kept its P */
	TRACE_HANDOFF,		/* a: P taken from a system call, b: its M */
	TRACE_CLAIM,		/* a: blocked M, b: its P (fiber.ko) */
	TRACE_BLOCK,		/* a: the M; at fiber.ko's time of the block */
	TRACE_GRANT,		/* a: held M | its P << 32, b: its wake-up (ns) */
	TRACE_ACQUIREP,		/* a: P, b: the M that takes it */
	TRACE_RELEASEP,		/* a: P, b: the M that lets it go */
	TRACE_TIMERS,		/* a: timers fired */
	TRACE_NETPOLL,		/* a: fibers a poll made runnable */
	TRACE_STW_START,	/* a: the Ps to be */
	TRACE_STW_END,		/* a: the Ps to be */
	TRACE_KINDS
};

extern _Atomic bool fiber_tracing;

void trace_record(enum fiber_trace_kind kind, uint64_t a, uint64_t b);
void trace_record_ns(enum fiber_trace_kind kind, int64_t ns, uint64_t a);
int trace_init(void);

static inline bool trace_on(void)
{
	return __builtin_expect(atomic_load_explicit(&fiber_tracing,
						     memory_order_relaxed), 0);
}

/* A probe and a trace entry: see the top of this file. */
#define fiber_event(name, kind, a, b)					\
	do {								\
		fiber_probe(name, a, b);				\
		if (trace_on())						\
			trace_record(kind, (uint64_t)(a), (uint64_t)(b)); \
	} while (0)

/* A trace entry with no probe, for what only the timeline needs. */
#define fiber_trace(kind, a, b)						\
	do {								\
		if (trace_on())						\
			trace_record(kind, (uint64_t)(a), (uint64_t)(b)); \
	} while (0)

#endif /* FIBER_TRACE_H */
