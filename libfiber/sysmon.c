// SPDX-License-Identifier: MIT
/*
 * sysmon: a thread without a P that watches the Ps, as Go's does.
 *
 *  - Retake: a P that has been in P_SYSCALL for a whole tick (the same
 *    syscalltick seen twice) while it has work to do, or for 10 ms in any
 *    case, is taken from its M and handed to another (syscall.c).
 *  - Long runs: fibers are cooperative, so one that computes without a
 *    scheduling point holds its P.  A P whose schedtick has not moved for
 *    10 ms is counted in fiber_stats().long_runs, and with FIBER_DEBUG=1
 *    reported on stderr by fiber id.
 *  - Overdue timers: a P that computes (or whose M blocks) never runs its
 *    timers, and no other P steals them while it is busy too.  Timers
 *    more than TIMER_OVERDUE_NS past due are run here, on any P's heap
 *    (timer.c, "Timers stuck behind a busy P"); their fibers go to the
 *    global queue for any P to pick up.
 *  - Scavenging: once a second, stacks of fibers that have sat on the
 *    global free list for a second give their pages back to the kernel,
 *    and the /proc files of ended threads (below) are closed.
 *  - Blocking calls nobody announced.  Kernel mode: keep the pool of
 *    spare Ms filled and catch lost wake-ups (kernel_sysmon).  Fallback:
 *    when work waits behind a P, sysmon asks the kernel whether the P's
 *    M is asleep and in which system call (/proc/self/task/TID/syscall)
 *    - at once if the P has not moved for RETAKE_STALL_NS, else at most
 *    every RETAKE_PROBE_NS - and if the call is one that a signal does
 *    not cut short, sends it a signal, which turns it into a system-call
 *    section that the retake above then handles (syscall.c).  That costs
 *    a read of a /proc file, so it is done only then.
 *
 * It wakes every 20 us while it finds something to do, and backs off to
 * every 10 ms after 50 idle rounds.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#define SYSMON_MIN_NS		20000LL
#define SYSMON_MAX_NS		10000000LL
#define LONG_RUN_NS		10000000LL
#define SYSCALL_FORCE_NS	10000000LL
#define SCAVENGE_PERIOD_NS	1000000000LL
#define SCAVENGE_BATCH		4096
#define RETAKE_STALL_NS		20000LL
#define RETAKE_PROBE_NS		1000000LL
#define TIMER_OVERDUE_NS	1000000LL

static struct fiber_note sysmon_note;

int64_t fiber_nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Busy-wait @ns nanoseconds: the tests' delays that widen a race. */
void fiber_spin_ns(int64_t ns)
{
	int64_t start = fiber_nanotime();

	while (fiber_nanotime() - start < ns)
		cpu_relax();
}

/*
 * The same clock at its tick's resolution (a few ms), for what is only
 * ever shown to a person, such as how long a fiber has waited: a few
 * loads from the vDSO page instead of a read of the TSC.
 */
int64_t fiber_coarsetime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void report_long_run(struct fiber_p *p, int64_t ran)
{
	struct fiber_m *m = p->m;
	struct fiber *g = m ? m->curg : NULL;

	atomic_fetch_add(&sched.nlongruns, 1);
	if (fiber_debug && g)
		fprintf(stderr,
			"libfiber: fiber %llu has run for %lld ms on P %d without a scheduling point (created at %p)\n",
			(unsigned long long)g->id, (long long)(ran / 1000000),
			p->id, g->created_pc);
}

/* FIBER_DEBUG=1: a fiber holds its P in a call the signal would cut short. */
static void report_skip(struct fiber_p *p, const struct thread_call *c)
{
	struct fiber_m *m = p->m;
	struct fiber *g = m ? m->curg : NULL;

	if (fiber_debug && g)
		fprintf(stderr,
			"libfiber: fiber %llu holds P %d in system call %ld, which a signal would cut short (EINTR): it keeps the P until the call returns (created at %p)\n",
			(unsigned long long)g->id, p->id, c->nr, g->created_pc);
}

/*
 * What is @m doing?  Its /proc/self/task/TID/syscall says "running", or
 * which system call it sleeps in and with what arguments; the file stays
 * open (sysmon's, in m->callfd).  Return: as thread_call_read().
 */
static int m_blocked_call(struct fiber_m *m, struct thread_call *c)
{
	char path[64];

	if (m->callfd < 0) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", m->tid);
		m->callfd = open(path, O_RDONLY | O_CLOEXEC);
		if (m->callfd < 0)
			return -1;
	}
	return thread_call_read(m->callfd, c);
}

/*
 * Fallback: work waits behind running P @p.  If its M sleeps in a system
 * call that the signal would not cut short, ask it to let the P go; if
 * in one it would, leave it (syscall.c, "Which calls") and count the
 * stall once.  Return: whether we asked.
 */
static bool retake_blocked(struct fiber_p *p, int64_t now)
{
	struct fiber_sysmon_view *v = &p->sysmon;
	struct fiber_m *m = p->m;
	struct thread_call call;

	if (kernel_on || !retake_signal_on() || !m || m->dead ||
	    (runq_empty(p) && atomic_load(&sched.runqsize) == 0))
		return false;
	/*
	 * The runtime's own sleep, short, or the scheduler's on g0 (no
	 * fiber to hand off): the handler would refuse anyway.
	 */
	if (atomic_load_explicit(&m->locks, memory_order_relaxed) || !m->curg)
		return false;
	if (now - v->schedwhen < RETAKE_STALL_NS && now - v->probewhen < RETAKE_PROBE_NS)
		return false;
	v->probewhen = now;
	/* Asleep outside a system call (a page fault): nothing to do. */
	if (m_blocked_call(m, &call) != 1 || call.nr < 0)
		return false;
	if (!retake_call_restarts(&call)) {
		if (!v->skipped) {
			v->skipped = true;
			atomic_fetch_add(&sched.nsignal_skips, 1);
			report_skip(p, &call);
		}
		return false;
	}
	/*
	 * The P's status was read before the probe: meanwhile its M may
	 * have entered a fiber_syscall_enter() section (the usual way to
	 * sleep with a P), which retake() hands off without a signal.  A
	 * signal now would only cut that call short with EINTR.  Look
	 * again; what is left is the window between this look and the
	 * signal's delivery.
	 */
	if (atomic_load(&p->status) != P_RUNNING || p->m != m)
		return false;
	retake_signal(m);
	return true;
}

/* Return: whether a P was retaken. */
static bool retake(int64_t now)
{
	int n = atomic_load(&sched.nprocs), i;
	struct fiber_sysmon_view *v;
	uint32_t tick, s;
	struct fiber_p *p;
	bool took = false;

	for (i = 0; i < n; i++) {
		p = sched.allp[i];
		v = &p->sysmon;
		s = atomic_load(&p->status);
		/*
		 * A view whose time is 0 has never been taken: its tick of
		 * 0 says nothing.  A P's tick may well still be 0 there:
		 * the first fibers a P runs may all come from runnext,
		 * which inherits the time slice and leaves the tick (main
		 * starts a fiber and blocks, and a spare, or the M sysmon
		 * hands the P to, takes that fiber).  Without this, the
		 * first look counted that run as long, as having run since
		 * the clock's epoch (the machine's boot): "fiber 2 has run
		 * for 27144 ms" 50 ms into a program.  The same for the
		 * time a call started.
		 */
		if (s == P_RUNNING) {
			tick = atomic_load(&p->schedtick);
			if (tick != v->schedtick || !v->schedwhen) {
				v->schedtick = tick;
				v->schedwhen = now;
				v->reported = false;
				v->skipped = false;
			} else if (!v->reported && now - v->schedwhen >= LONG_RUN_NS) {
				v->reported = true;
				report_long_run(p, now - v->schedwhen);
			}
			if (retake_blocked(p, now))
				took = true;
			continue;
		}
		if (s != P_SYSCALL)
			continue;
		tick = atomic_load(&p->syscalltick);
		if (tick != v->syscalltick || !v->syscallwhen) {
			v->syscalltick = tick;
			v->syscallwhen = now;
			continue;
		}
		/*
		 * Nothing queued here and someone idle or spinning to pick
		 * up new work: leave it, unless the call has gone on long.
		 */
		if (runq_empty(p) &&
		    atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) > 0 &&
		    now - v->syscallwhen < SYSCALL_FORCE_NS)
			continue;
		/*
		 * While we hold the P we count as a running M: else the M
		 * we take it from may leave its call, find no P, go idle and
		 * see every M idle while we are about to start one.
		 */
		sysmon_count_running(true);
		s = P_SYSCALL;
		if (atomic_compare_exchange_strong(&p->status, &s, P_IDLE)) {
			atomic_fetch_add(&p->syscalltick, 1);
			atomic_fetch_add(&sched.nhandoffs, 1);
			fiber_event(handoff, TRACE_HANDOFF, p->id, -1);
			handoffp(p);
			took = true;
		}
		sysmon_count_running(false);
	}
	return took;
}

/*
 * sysmon is no M, and checkdead() does not count it.  While it holds
 * work that no run queue, timer heap or poller shows (a P it takes, a
 * timer it fires, fibers it took from the poller), it counts as a
 * running M, as Go's sysmon does around its retake: else an M going idle
 * meanwhile would see every M idle and nothing pending, and report a
 * deadlock while sysmon is about to hand that work on.
 */
void sysmon_count_running(bool running)
{
	fiber_lock(&sched.lock);
	sched.nmidlelocked += running ? -1 : 1;
	/*
	 * An M that went idle meanwhile skipped its check because of us;
	 * if the work came to nothing (an empty poll, a timer that readied
	 * nobody), the deadlock is ours to report.
	 */
	if (!running)
		checkdead();
	fiber_unlock(&sched.lock);
}

/*
 * Close the /proc files of Ms whose thread has ended (a locked fiber's
 * exit, a retired spare).  Only sysmon opens, reads and closes them, so
 * only sysmon may: an M closing its own could close a number that sysmon
 * is about to read and that a new file already reuses.
 */
static void close_dead_callfds(void)
{
	struct fiber_m *m;

	fiber_lock(&sched.lock);
	for (m = sched.allm; m; m = m->allnext) {
		if (m->dead && m->callfd >= 0) {
			close(m->callfd);
			m->callfd = -1;
		}
	}
	fiber_unlock(&sched.lock);
}

/*
 * Give back the pages of stacks idle on the global free list: those of
 * batches that went there a period ago or more, SCAVENGE_BATCH at most.
 */
static void scavenge(int64_t now)
{
	struct fiber *list, *b, *last = NULL, *g;
	int done = 0;
	long n;

	/*
	 * Take the list, so the madvise calls run without its lock.  Only
	 * WARM fibers have pages; scavenged, they stay on it and count as
	 * COLD where it matters (gfree_kind(), fiber_first_frame()).
	 */
	fiber_lock(&sched.gfree.lock);
	list = sched.gfree.batches[GFREE_WARM];
	sched.gfree.batches[GFREE_WARM] = NULL;
	n = atomic_exchange_explicit(&sched.gfree.n[GFREE_WARM], 0,
				     memory_order_relaxed);
	fiber_unlock(&sched.gfree.lock);
	if (!list)
		return;
	for (b = list; b; b = b->gfree_next) {
		last = b;
		if (done >= SCAVENGE_BATCH ||
		    now - b->stack.freed_at < SCAVENGE_PERIOD_NS)
			continue;
		for (g = b; g && done < SCAVENGE_BATCH; g = g->schedlink) {
			if (!g->stack.dirty)
				continue;
			fiber_stack_scavenge(&g->stack);
			atomic_fetch_add(&sched.scavenged_bytes, g->stack.size);
			done++;
		}
	}
	/* Back on the list, on top of what was freed meanwhile. */
	gfree_splice(GFREE_WARM, list, last, n);
}

static void *sysmon(void *arg)
{
	int64_t delay = SYSMON_MIN_NS, now, last_scavenge = 0;
	int idle = 0;

	(void)arg;
	/* It runs no fiber, so the Ms it starts are clean (newm). */
	mark_runtime_thread();
	for (;;) {
		if (idle == 0)
			delay = SYSMON_MIN_NS;
		else if (idle > 50)
			delay *= 2;
		if (delay > SYSMON_MAX_NS)
			delay = SYSMON_MAX_NS;
		note_tsleep(&sysmon_note, delay);
		note_clear(&sysmon_note);
		now = fiber_nanotime();
		if (retake(now))
			idle = 0;
		else
			idle++;
		if (kernel_sysmon())
			idle = 0;
		if (timers_run_overdue(now, TIMER_OVERDUE_NS))
			idle = 0;
		/* A safety net: queued work, an idle P, and nobody looking. */
		if (atomic_load(&sched.runqsize) > 0 &&
		    atomic_load(&sched.npidle) > 0 &&
		    atomic_load(&sched.nmspinning) == 0)
			wakep();
		/* Fibers wait on fds and nobody has polled for 10 ms. */
		if (netpoll_stale(now, SYSCALL_FORCE_NS)) {
			struct fiber *list;

			sysmon_count_running(true);
			list = netpoll(0);
			if (list) {
				inject_list(NULL, list);
				idle = 0;
			}
			sysmon_count_running(false);
		}
		if (now - last_scavenge >= SCAVENGE_PERIOD_NS) {
			last_scavenge = now;
			scavenge(now);
			close_dead_callfds();
		}
	}
	return NULL;
}

/* Wake sysmon now (a spare claimed a P and none is left parked). */
void sysmon_kick(void)
{
	note_wakeup(&sysmon_note);
}

int sysmon_start(void)
{
	return thread_start_detached(sysmon, NULL);
}
