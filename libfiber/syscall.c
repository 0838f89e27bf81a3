// SPDX-License-Identifier: MIT
/*
 * fiber_syscall_enter / fiber_syscall_exit: Go's entersyscall and
 * exitsyscall.
 *
 * A fiber about to make a call that may block its thread announces it.
 * Its M keeps running the fiber but stops holding the P in the P's own
 * view: the P goes to P_SYSCALL, owned by nobody, with its run queue.
 * Three parties may then race for it, and a CAS on p->status from
 * P_SYSCALL picks exactly one winner:
 *
 *  - the M itself, coming back (P_SYSCALL -> P_RUNNING): nothing else
 *    happened, and the call cost two atomic operations;
 *  - sysmon, if the call lasts a whole sysmon tick (P_SYSCALL -> P_IDLE):
 *    it hands the P to another M, which runs the queued fibers;
 *  - a stop-the-world (P_SYSCALL -> P_STOP).
 *
 * A fiber that lost its P takes any idle one; failing that it queues
 * itself on the global queue and its M goes idle.
 */
#include "runtime.h"

void fiber_syscall_enter(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;
	struct fiber_p *p;
	uint32_t s;

	if (!g || atomic_load(&g->status) == FIBER_SYSCALL)
		return;
	p = m->p;
	atomic_fetch_add(&p->syscalltick, 1);
	atomic_store(&g->status, FIBER_SYSCALL);
	m->oldp = p;
	p->m = NULL;
	m->p = NULL;
	atomic_store(&p->status, P_SYSCALL);
	if (atomic_load(&sched.gcwaiting)) {
		/* Someone waits for every P to stop: this one has. */
		fiber_lock(&sched.lock);
		/*
		 * Look again under the lock: the stop may be over and our P
		 * gone to another M by now.  Then it is not ours to stop.
		 */
		s = P_SYSCALL;
		if (atomic_load(&sched.gcwaiting) && sched.stopwait > 0 &&
		    atomic_compare_exchange_strong(&p->status, &s, P_STOP) &&
		    --sched.stopwait == 0)
			note_wakeup(&sched.stopnote);
		fiber_unlock(&sched.lock);
	}
}

void fiber_syscall_exit(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;
	struct fiber_p *p;
	uint32_t s = P_SYSCALL;

	if (!g || atomic_load(&g->status) != FIBER_SYSCALL)
		return;
	p = m->oldp;
	m->oldp = NULL;
	if (atomic_compare_exchange_strong(&p->status, &s, P_RUNNING)) {
		/* The fast path: nobody took it. */
		p->m = m;
		m->p = p;
		atomic_fetch_add(&p->syscalltick, 1);
		atomic_store(&g->status, FIBER_RUNNING);
		return;
	}
	if (atomic_load(&sched.npidle) > 0) {
		fiber_lock(&sched.lock);
		p = pidleget();
		fiber_unlock(&sched.lock);
		if (p) {
			acquirep(m, p);
			atomic_store(&g->status, FIBER_RUNNING);
			return;
		}
	}
	/* No P: let g0 queue us and park the M. */
	switch_to_g0(m, g, AFTER_SYSCALL_EXIT);
	finish_switch(this_m());
}
