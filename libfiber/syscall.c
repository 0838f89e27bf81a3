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
 * not moved for two of its ticks while work waits, and whose M sleeps in
 * a system call that a signal does not cut short ("Which calls" below),
 * and sends that M SIGURG (Go's choice: ignored by default, and rarely
 * used).  A call inside a fiber_syscall_enter() section needs none of
 * this: its P is already P_SYSCALL, and sysmon hands it off directly.  The handler
 * runs on that M, so it can do what the fiber would have done:
 * fiber_syscall_enter(), after which sysmon's next look retakes the P as
 * for any system call.  It does so only at a safe point: the M runs a
 * fiber, holds no runtime lock and no m_acquire() section, and it was
 * stopped in a system call (the instruction at or just before the
 * interrupted PC is the system call instruction: the kernel rewinds the
 * PC to restart an interrupted call).  The call restarts (SA_RESTART);
 * when the fiber comes back to the runtime, leave_syscall() takes a P
 * again.  Page faults are not
 * system calls: without the module, a fiber blocked in one keeps its P,
 * as in Go.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
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
	fiber_event(syscall_enter, TRACE_SYSCALL_ENTER, g->id, 0);
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
	if (syscall_exit_fast(m, g)) {
		fiber_event(syscall_exit, TRACE_SYSCALL_EXIT, g->id, 1);
		return;
	}
	fiber_event(syscall_exit, TRACE_SYSCALL_EXIT, g->id, 0);
	/* No P: let g0 queue us and park the M. */
	switch_to_g0(m, g, AFTER_SYSCALL_EXIT);
	finish_switch(this_m());
}

/* ---- the fallback's retake of unannounced blocking calls -------------- */

#define RETAKE_SIGNAL	SIGURG

static bool retake_installed;
static enum { RETAKE_RESTARTABLE, RETAKE_ALL, RETAKE_OFF } retake_mode;

/*
 * Which calls the signal may interrupt.  A handled signal ends a blocking
 * system call in one of three ways (signal(7)):
 *
 *  - the kernel restarts it, unseen: the call said -ERESTARTSYS and the
 *    handler has SA_RESTART (ours has), or it said -ERESTARTNOINTR;
 *  - it returns what it had done: a read or write that had moved some
 *    bytes returns that count;
 *  - it fails with EINTR, SA_RESTART or not: every call with a timeout
 *    (nanosleep, clock_nanosleep, poll, select, epoll_wait, a futex wait
 *    with a timeout, a socket call under SO_RCVTIMEO or SO_SNDTIMEO),
 *    pause, sigsuspend, sigtimedwait, the System V IPC waits, io_getevents.
 *
 * Plain C code rarely retries the third kind (usleep() returns early,
 * sem_timedwait() fails), so in the default mode, FIBER_SIGNAL_RETAKE=
 * restartable, sysmon signals a thread only when its
 * /proc/self/task/TID/syscall shows it blocked in a call of the first
 * kind: the table below, under the rule each entry names for its
 * arguments.  A thread blocked in any other call keeps its P until the
 * call returns, as a page fault does, and sysmon counts the stall in
 * fiber_stats().signal_skips.  =all signals any call (what libfiber did
 * before: the EINTRs are counted in signal_eintrs), =off none.
 *
 * Between sysmon's look and the signal's arrival the thread may have
 * moved on to another call, which the signal then interrupts: the
 * handler sees that (the call returned EINTR instead of being rewound
 * to restart) and counts it in signal_eintrs too.  Nothing closes that
 * window but the module.
 */
enum restart_rule {
	RESTARTS,		/* -ERESTARTSYS whatever its arguments */
	RESTARTS_RECV,		/* unless the fd is a socket with SO_RCVTIMEO */
	RESTARTS_SEND,		/* at most PIPE_BUF bytes, written whole or not
				 * at all; unless a socket with SO_SNDTIMEO */
	RESTARTS_FUTEX,		/* a futex wait without a timeout */
};

/*
 * System call numbers as the kernel reports them: x86-64's table, and
 * the generic one (aarch64, riscv64, loongarch64).  Which of the two the
 * kernel speaks is found at start (retake_signal_init): under qemu-user,
 * an aarch64 program's threads make the x86-64 host's calls.  The column
 * of the architecture we are built for is checked against <sys/syscall.h>
 * below.  open has no generic number.
 */
#define RESTART_CALLS(X)						\
	X(read,		  0,  63, RESTARTS_RECV)			\
	X(write,	  1,  64, RESTARTS_SEND)			\
	X(pread64,	 17,  67, RESTARTS)				\
	X(pwrite64,	 18,  68, RESTARTS)				\
	X(readv,	 19,  65, RESTARTS_RECV)			\
	X(accept,	 43, 202, RESTARTS_RECV)			\
	X(sendto,	 44, 206, RESTARTS_SEND)			\
	X(recvfrom,	 45, 207, RESTARTS_RECV)			\
	X(recvmsg,	 47, 212, RESTARTS_RECV)			\
	X(wait4,	 61, 260, RESTARTS)				\
	X(fcntl,	 72,  25, RESTARTS)	/* F_SETLKW */		\
	X(flock,	 73,  32, RESTARTS)				\
	X(futex,	202,  98, RESTARTS_FUTEX)			\
	X(waitid,	247,  95, RESTARTS)				\
	X(openat,	257,  56, RESTARTS)	/* a FIFO */		\
	X(accept4,	288, 242, RESTARTS_RECV)			\
	X(preadv,	295,  69, RESTARTS)				\
	X(preadv2,	327, 286, RESTARTS)				\
	X(openat2,	437, 437, RESTARTS)

enum { CALLS_X86_64, CALLS_GENERIC, CALLS_UNKNOWN };

static const struct restart_call {
	short nr[2];		/* by CALLS_X86_64, CALLS_GENERIC */
	unsigned char rule;	/* enum restart_rule */
} restart_calls[] = {
#define RESTART_CALL(name, x86_64, generic, rule) { { x86_64, generic }, rule },
	RESTART_CALLS(RESTART_CALL)
#undef RESTART_CALL
	{ { 2, -1 }, RESTARTS },	/* open: a FIFO */
};

#if defined(__x86_64__) || defined(__aarch64__)
#ifdef __x86_64__
#define NATIVE_NR(x86_64, generic)	(x86_64)
_Static_assert(SYS_open == 2, "open's number");
#else
#define NATIVE_NR(x86_64, generic)	(generic)
#endif
#define CHECK_NR(name, x86_64, generic, rule)				\
	_Static_assert(SYS_##name == NATIVE_NR(x86_64, generic),	\
		       "the number of " #name);
RESTART_CALLS(CHECK_NR)
#undef CHECK_NR
#endif

static int call_table = CALLS_UNKNOWN;

/*
 * Read a thread's /proc/self/task/TID/syscall, open at @fd, into @c.
 * Return: 1 if the thread is asleep (c->nr is the call it sleeps in, or
 * -1 outside one: a page fault), 0 if it runs, -1 if unreadable.
 */
int thread_call_read(int fd, struct thread_call *c)
{
	unsigned long long a[6];
	char buf[256];
	ssize_t n;
	long nr;
	int i;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (!strncmp(buf, "running", 7))
		return 0;
	if (sscanf(buf, "%ld", &nr) != 1)
		return -1;
	c->nr = nr;
	if (nr < 0)
		return 1;
	if (sscanf(buf, "%*d %llx %llx %llx %llx %llx %llx", &a[0], &a[1],
		   &a[2], &a[3], &a[4], &a[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		c->args[i] = a[i];
	return 1;
}

/*
 * Has socket @fd a timeout @opt (SO_RCVTIMEO or SO_SNDTIMEO), under
 * which the kernel does not restart its calls?  Not a socket: no.  It
 * is the fd of sysmon's table, which is the blocked thread's unless that
 * one left it (unshare(CLONE_FILES) in a locked fiber): a wrong answer
 * then costs an EINTR or a stall, as in =all or =off.
 */
static bool socket_timeout(uint64_t fd, int opt)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);

	if (fd > INT_MAX)
		return true;
	if (getsockopt((int)fd, SOL_SOCKET, opt, &tv, &len))
		return errno != ENOTSOCK;
	return tv.tv_sec || tv.tv_usec;
}

/* sysmon: may the signal interrupt call @c, which a thread sleeps in? */
bool retake_call_restarts(const struct thread_call *c)
{
	const struct restart_call *rc;
	unsigned int cmd;
	size_t i;

	if (c->nr < 0)
		return false;
	if (retake_mode == RETAKE_ALL)
		return true;
	if (call_table == CALLS_UNKNOWN)
		return false;
	for (i = 0; i < sizeof(restart_calls) / sizeof(restart_calls[0]); i++) {
		rc = &restart_calls[i];
		if (rc->nr[call_table] != c->nr)
			continue;
		switch (rc->rule) {
		case RESTARTS:
			return true;
		case RESTARTS_RECV:
			return !socket_timeout(c->args[0], SO_RCVTIMEO);
		case RESTARTS_SEND:
			return c->args[2] <= PIPE_BUF &&
			       !socket_timeout(c->args[0], SO_SNDTIMEO);
		case RESTARTS_FUTEX:
			cmd = (unsigned int)c->args[1] & FUTEX_CMD_MASK;
			return (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) &&
			       c->args[3] == 0;
		}
	}
	return false;
}

/* Which table of numbers does the kernel report?  Ask about ourselves. */
static void find_call_table(void)
{
	struct thread_call c;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall",
		 (long)syscall(SYS_gettid));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* We are in the pread that reads it. */
	if (thread_call_read(fd, &c) == 1) {
		if (c.nr == 17)
			call_table = CALLS_X86_64;
		else if (c.nr == 67)
			call_table = CALLS_GENERIC;
	}
	close(fd);
}

/* Where the signal found the thread. */
enum call_stop {
	NOT_IN_CALL,
	CALL_RESTARTING,	/* rewound to the system call instruction */
	CALL_INTERRUPTED,	/* just after it, having returned EINTR */
};

/*
 * The kernel rewinds the PC to the system call instruction to restart an
 * interrupted call after the handler; one that fails instead has
 * returned -EINTR, with the PC just past the instruction.
 */
static enum call_stop stopped_in_call(const ucontext_t *uc)
{
#if defined(__x86_64__)
	const unsigned char *pc = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
	long ret = (long)uc->uc_mcontext.gregs[REG_RAX];

	/* syscall is 0f 05 */
	if (pc[0] == 0x0f && pc[1] == 0x05)
		return CALL_RESTARTING;
	if (ret == -EINTR && pc[-2] == 0x0f && pc[-1] == 0x05)
		return CALL_INTERRUPTED;
#elif defined(__aarch64__)
	const uint32_t *pc = (const uint32_t *)uc->uc_mcontext.pc;
	long ret = (long)uc->uc_mcontext.regs[0];

	/* svc #0 */
	if (pc[0] == 0xd4000001)
		return CALL_RESTARTING;
	if (ret == -EINTR && pc[-1] == 0xd4000001)
		return CALL_INTERRUPTED;
#else
	(void)uc;
#endif
	return NOT_IN_CALL;
}

static void retake_handler(int sig, siginfo_t *si, void *uc)
{
	struct fiber_m *m = this_m();
	enum call_stop stop;
	int saved = errno;

	(void)sig;
	(void)si;
	if (!m || !atomic_exchange(&m->retake_req, false))
		goto out;
	stop = stopped_in_call(uc);
	if (stop == CALL_INTERRUPTED)
		atomic_fetch_add(&sched.nsignal_eintrs, 1);
	if (stop == NOT_IN_CALL || !m->curg || !m->p || atomic_load(&m->locks))
		goto out;
	fiber_syscall_enter();
	atomic_fetch_add(&sched.nsignal_retakes, 1);
out:
	errno = saved;
}

/* FIBER_SIGNAL_RETAKE, read whatever the mode.  Return: 0 or -EINVAL. */
int retake_read_env(void)
{
	const char *mode = getenv("FIBER_SIGNAL_RETAKE");

	if (!mode || !*mode || !strcmp(mode, "restartable"))
		retake_mode = RETAKE_RESTARTABLE;
	else if (!strcmp(mode, "all"))
		retake_mode = RETAKE_ALL;
	else if (!strcmp(mode, "off"))
		retake_mode = RETAKE_OFF;
	else {
		fprintf(stderr, "libfiber: FIBER_SIGNAL_RETAKE=%s is not one of restartable, all, off\n",
			mode);
		return -EINVAL;
	}
	return 0;
}

int retake_signal_init(void)
{
	struct sigaction sa, old;

	if (retake_mode == RETAKE_OFF)
		return 0;
	if (sigaction(RETAKE_SIGNAL, NULL, &old))
		return -errno;
	/* The program handles SIGURG itself: leave it, and retake less. */
	if ((old.sa_flags & SA_SIGINFO) ||
	    (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
		if (fiber_debug)
			fprintf(stderr, "libfiber: SIGURG has a handler; sysmon cannot retake Ps from unannounced blocking calls\n");
		return 0;
	}
	find_call_table();
	if (call_table == CALLS_UNKNOWN && retake_mode == RETAKE_RESTARTABLE &&
	    fiber_debug)
		fprintf(stderr, "libfiber: cannot tell which system call a thread blocks in; sysmon retakes Ps from unannounced blocking calls only with FIBER_SIGNAL_RETAKE=all\n");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = retake_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(RETAKE_SIGNAL, &sa, NULL))
		return -errno;
	retake_installed = true;
	return 0;
}

/* sysmon: may it look for blocked Ms and signal them? */
bool retake_signal_on(void)
{
	return retake_installed;
}

/* sysmon: ask @m, whose P has not moved while work waits, to let it go. */
void retake_signal(struct fiber_m *m)
{
	if (!retake_installed)
		return;
	atomic_store(&m->retake_req, true);
	syscall(SYS_tgkill, getpid(), m->tid, RETAKE_SIGNAL);
}
