// SPDX-License-Identifier: MIT
/*
 * fiber_stats(): what the runtime is doing, read without stopping it.
 * The numbers are a racy snapshot, exact only when the program is
 * quiescent.  Also the list of every fiber ever made, which it and
 * fiber_dump() (dump.c) walk; entries are never freed, so a walk is safe
 * while fibers come and go.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runtime.h"

/*
 * Every fiber ever made, newest first.  Entries are only ever pushed at
 * the head, so a walk needs no lock: it starts from the head it loaded
 * and every link it follows is final.  (A lock here would be one a
 * thread may sleep on while holding it, e.g. writing a dump to a pipe,
 * and with the module such a thread can lose its P while others wait.)
 */
static struct fiber *_Atomic allfibers;

void allfibers_add(struct fiber *g)
{
	struct fiber *head = atomic_load_explicit(&allfibers, memory_order_relaxed);

	do {
		g->allnext = head;
	} while (!atomic_compare_exchange_weak_explicit(&allfibers, &head, g,
							memory_order_release,
							memory_order_relaxed));
}

struct fiber *allfibers_head(void)
{
	return atomic_load_explicit(&allfibers, memory_order_acquire);
}

const char *fiber_status_name(uint32_t status)
{
	static const char *const names[FIBER_NSTATUS] = {
		[FIBER_IDLE] = "idle",
		[FIBER_RUNNABLE] = "runnable",
		[FIBER_RUNNING] = "running",
		[FIBER_SYSCALL] = "syscall",
		[FIBER_WAITING] = "waiting",
		[FIBER_DEAD] = "dead",
	};

	return status < FIBER_NSTATUS ? names[status] : "?";
}

int fiber_stats(struct fiber_stats *out)
{
	struct fiber_stats s;
	struct fiber_stack_counts sc;
	struct fiber *g;
	struct fiber_m *m;
	int i, n, idle;
	int64_t live;

	if (!out || out->size <= offsetof(struct fiber_stats, runnable))
		return -EINVAL;
	if (!fiber_runtime_started())
		return -ESRCH;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);

	for (g = allfibers_head(); g; g = g->allnext) {
		switch (atomic_load(&g->status)) {
		case FIBER_RUNNABLE:
			s.runnable++;
			break;
		case FIBER_RUNNING:
			s.running++;
			break;
		case FIBER_SYSCALL:
			s.syscall++;
			break;
		case FIBER_WAITING:
			s.waiting++;
			break;
		default:
			s.dead++;
			break;
		}
	}
	live = fibers_live();
	s.live = live > 0 ? (uint64_t)live : 0;

	fiber_lock(&sched.lock);
	s.threads = (uint32_t)sched.mcount;
	/* nmidlelocked dips below zero while a locked M is being woken. */
	idle = sched.nmidle + sched.nmidlelocked;
	s.threads_idle = idle > 0 ? (uint32_t)idle : 0;
	for (m = sched.allm; m; m = m->allnext)
		if (!m->dead && m->lockedg)
			s.threads_locked++;
	n = atomic_load(&sched.nprocs);
	s.steals = sched.dead_steals;
	s.stack_copies = sched.dead_stack_copies;
	s.stack_waits = sched.dead_stack_waits;
	for (i = 0; i < n; i++) {
		s.steals += sched.allp[i]->nsteals;
		s.stack_copies += sched.allp[i]->stack_copies;
		s.stack_waits += sched.allp[i]->stack_waits;
	}
	s.global_runq = (uint32_t)atomic_load(&sched.runqsize);
	fiber_unlock(&sched.lock);

	s.procs = (uint32_t)n;
	s.procs_idle = (uint32_t)atomic_load(&sched.npidle);
	s.threads_spinning = (uint32_t)atomic_load(&sched.nmspinning);
	s.handoffs = atomic_load(&sched.nhandoffs);
	s.long_runs = atomic_load(&sched.nlongruns);
	s.thread_create_failures = atomic_load(&sched.nthread_fail);
	s.scavenged_bytes = atomic_load(&sched.scavenged_bytes);

	fiber_stack_counts(&sc);
	s.stack_size = fiber_stack_default_size();
	s.stacks_guard_madvise = sc.madvise;
	s.stacks_guard_mprotect = sc.mprotect;
	s.stacks_canary = sc.canary;
	s.stack_mapped_bytes = sc.mapped_bytes;
	kernel_stats(&s);
	s.signal_skips = atomic_load(&sched.nsignal_skips);
	s.signal_eintrs = atomic_load(&sched.nsignal_eintrs);
	s.shared_stacks = copystack_count();

	memcpy((char *)out + sizeof(out->size), (char *)&s + sizeof(s.size),
	       (out->size < sizeof(s) ? out->size : sizeof(s)) - sizeof(s.size));
	return 0;
}
