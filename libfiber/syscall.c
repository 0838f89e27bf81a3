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
 *
 * Blocking calls nobody announced.  With the module, a spare claims the
 * P of an M that sleeps in the kernel (kernel.c) and nothing here is
 * needed.  Without it (the fallback), sysmon finds a P whose fiber has
 * not moved for two of its ticks while work waits, and sends its M
 * SIGURG (Go's choice: ignored by default, and rarely used).  The handler
 * runs on that M, so it can do what the fiber would have done:
 * fiber_syscall_enter(), after which sysmon's next look retakes the P as
 * for any system call.  It does so only at a safe point: the M runs a
 * fiber, holds no runtime lock and no m_acquire() section, and it was
 * stopped in a system call (the instruction at or just before the
 * interrupted PC is the system call instruction: the kernel rewinds the
 * PC to restart an interrupted call).  The call restarts (SA_RESTART), or
 * returns EINTR if it is one that always does; when the fiber comes back
 * to the runtime, leave_syscall() takes a P again.  Page faults are not
 * system calls: without the module, a fiber blocked in one keeps its P,
 * as in Go.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "runtime.h"

void fiber_syscall_enter(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;
	struct fiber_p *p;
	uint32_t s;

	if (!g || atomic_load(&g->status) == FIBER_SYSCALL)
		return;
	/* Between reading m->p and letting it go, it must stay ours. */
	m_locks_add(m, 1);
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
	m_locks_add(m, -1);
}

/*
 * Take a P back without switching: the one we left if nobody took it
 * (two atomics), else an idle one.  Return: whether we hold one now.
 */
bool syscall_exit_fast(struct fiber_m *m, struct fiber *g)
{
	struct fiber_p *p = m->oldp;
	uint32_t s = P_SYSCALL;

	m->oldp = NULL;
	if (p && atomic_compare_exchange_strong(&p->status, &s, P_RUNNING)) {
		/* The fast path: nobody took it. */
		p->m = m;
		m->p = p;
		kernel_set_user_word(m, p);
		atomic_fetch_add(&p->syscalltick, 1);
		atomic_store(&g->status, FIBER_RUNNING);
		return true;
	}
	if (atomic_load(&sched.npidle) > 0) {
		fiber_lock(&sched.lock);
		p = pidleget();
		fiber_unlock(&sched.lock);
		if (p) {
			acquirep(m, p);
			atomic_store(&g->status, FIBER_RUNNING);
			return true;
		}
	}
	return false;
}

void fiber_syscall_exit(void)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;

	if (!g || atomic_load(&g->status) != FIBER_SYSCALL)
		return;
	if (syscall_exit_fast(m, g))
		return;
	/* No P: let g0 queue us and park the M. */
	switch_to_g0(m, g, AFTER_SYSCALL_EXIT);
	finish_switch(this_m());
}

/* ---- the fallback's retake of unannounced blocking calls -------------- */

#define RETAKE_SIGNAL	SIGURG

static bool retake_installed;

/* Was the thread stopped in (or about to restart) a system call? */
static bool at_syscall(const ucontext_t *uc)
{
#if defined(__x86_64__)
	const unsigned char *pc = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
	long ret = (long)uc->uc_mcontext.gregs[REG_RAX];

	/* syscall is 0f 05 */
	if (pc[0] == 0x0f && pc[1] == 0x05)
		return true;
	return ret == -EINTR && pc[-2] == 0x0f && pc[-1] == 0x05;
#elif defined(__aarch64__)
	const uint32_t *pc = (const uint32_t *)uc->uc_mcontext.pc;
	long ret = (long)uc->uc_mcontext.regs[0];

	/* svc #0 */
	if (pc[0] == 0xd4000001)
		return true;
	return ret == -EINTR && pc[-1] == 0xd4000001;
#else
	(void)uc;
	return false;
#endif
}

static void retake_handler(int sig, siginfo_t *si, void *uc)
{
	struct fiber_m *m = this_m();
	int saved = errno;

	(void)sig;
	(void)si;
	if (!m || !atomic_exchange(&m->retake_req, false))
		goto out;
	if (!m->curg || !m->p || atomic_load(&m->locks) || !at_syscall(uc))
		goto out;
	fiber_syscall_enter();
	atomic_fetch_add(&sched.nsignal_retakes, 1);
out:
	errno = saved;
}

int retake_signal_init(void)
{
	struct sigaction sa, old;

	if (sigaction(RETAKE_SIGNAL, NULL, &old))
		return -errno;
	/* The program handles SIGURG itself: leave it, and retake less. */
	if ((old.sa_flags & SA_SIGINFO) ||
	    (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
		if (fiber_debug)
			fprintf(stderr, "libfiber: SIGURG has a handler; sysmon cannot retake Ps from unannounced blocking calls\n");
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = retake_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(RETAKE_SIGNAL, &sa, NULL))
		return -errno;
	retake_installed = true;
	return 0;
}

/* sysmon: ask @m, whose P has not moved while work waits, to let it go. */
void retake_signal(struct fiber_m *m)
{
	if (!retake_installed)
		return;
	atomic_store(&m->retake_req, true);
	syscall(SYS_tgkill, getpid(), m->tid, RETAKE_SIGNAL);
}
