// SPDX-License-Identifier: MIT
/*
 * Ms and Ps: starting and parking threads, handing Ps between them,
 * stopping the world to change fiber_maxprocs(), and fiber_main().
 *
 * Ownership of a P.  A P in state RUNNING belongs to the M in p->m and
 * only that M touches its run queue's tail, its free list and its ticks.
 * An IDLE P sits on sched.pidle and belongs to whoever takes it off under
 * sched.lock.  A P in SYSCALL still has its queue but no running M: the
 * M that left it may take it back, and sysmon or a stop-the-world may
 * take it away, and a CAS on p->status decides which (syscall.c).
 *
 * Handing a P to an M.  startm() puts the P in the woken M's nextp before
 * waking it; the M acquires it when it wakes.  An M never sleeps with a P.
 *
 * Starting an M.  A new thread inherits its creator's state (signal mask,
 * working directory, namespaces...), so a thread that a locked fiber may
 * have changed never starts one: the template thread does (Go's
 * templateThread; "clean threads for new Ms" below).
 *
 * Deadlock.  When an M goes idle, checkdead() counts the Ms still doing
 * something.  If there are none and no timer is armed, no fiber can ever
 * become runnable again (an M blocked in the netpoller counts as doing
 * something), and the program is reported as deadlocked, as Go does.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"
#include "sanitizer.h"

bool fiber_debug;

static bool started;
static int initial_procs;		/* fiber_maxprocs() before start */

_Noreturn void fiber_fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("libfiber: fatal error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- Ps ----------------------------------------------------------------- */

void pidleput(struct fiber_p *p)
{
	if (!runq_empty(p))
		fiber_fatal("idle P %d has runnable fibers", p->id);
	atomic_store(&p->status, P_IDLE);
	p->m = NULL;
	p->link = sched.pidle;
	sched.pidle = p;
	atomic_fetch_add(&sched.npidle, 1);
}

struct fiber_p *pidleget(void)
{
	struct fiber_p *p = sched.pidle;

	if (p) {
		sched.pidle = p->link;
		atomic_fetch_sub(&sched.npidle, 1);
	}
	return p;
}

void acquirep(struct fiber_m *m, struct fiber_p *p)
{
	m->p = p;
	p->m = m;
	atomic_store(&p->status, P_RUNNING);
	kernel_set_user_word(m, p);
	fiber_trace(TRACE_ACQUIREP, p->id, m->id);
}

struct fiber_p *releasep(struct fiber_m *m)
{
	struct fiber_p *p = m->p;

	fiber_trace(TRACE_RELEASEP, p->id, m->id);
	kernel_set_user_word(m, NULL);
	p->m = NULL;
	m->p = NULL;
	atomic_store(&p->status, P_IDLE);
	return p;
}

/*
 * Park @p, which nobody owns: stopped if a stop-the-world waits for it
 * (it was not counted as stopped yet), else idle.  sched.lock held.
 */
static void idle_or_stop(struct fiber_p *p)
{
	if (atomic_load(&sched.gcwaiting)) {
		atomic_store(&p->status, P_STOP);
		if (--sched.stopwait == 0)
			note_wakeup(&sched.stopnote);
		return;
	}
	pidleput(p);
}

static struct fiber_p *p_alloc(int id)
{
	struct fiber_p *p = calloc(1, sizeof(*p));

	if (!p)
		fiber_fatal("out of memory allocating P %d", id);
	p->id = id;
	atomic_store(&p->status, P_STOP);
	return p;
}

/* ---- Ms ----------------------------------------------------------------- */

static void m_stack_bounds(struct fiber_m *m)
{
	pthread_attr_t attr;

	if (pthread_getattr_np(pthread_self(), &attr))
		return;
	pthread_attr_getstack(&attr, &m->g0_lo, &m->g0_size);
	pthread_attr_destroy(&attr);
}

/* Set up the calling thread as M @m. */
static void m_init_thread(struct fiber_m *m)
{
	set_this_m(m);
	m->tid = (pid_t)syscall(SYS_gettid);
	m->thread = pthread_self();
	m_stack_bounds(m);
	kernel_register_m(m);
	/* Without an alternate stack an overflow report dies silently. */
	if (stack_sigaltstack_init(m) && fiber_debug)
		fprintf(stderr, "libfiber: M%d has no signal stack\n", m->id);
}

static struct fiber_m *m_alloc(void)
{
	struct fiber_m *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	fiber_lock(&sched.lock);
	m->callfd = -1;
	/* Grantable only once a claim has finished with it (kernel.c). */
	atomic_store(&m->granting, 1);
	m->id = sched.next_mid++;
	m->rand = 0x9e3779b97f4a7c15ULL * (uint64_t)(m->id + 1);
	m->allnext = sched.allm;
	sched.allm = m;
	sched.mcount++;
	fiber_unlock(&sched.lock);
	return m;
}

static void *mstart(void *arg)
{
	struct fiber_m *m = arg;

	/* m_thread_exit(): the thread ends by returning from here. */
	if (setjmp(m->exit_jmp))
		return NULL;
	m_init_thread(m);
	if (m->nextp) {
		acquirep(m, m->nextp);
		m->nextp = NULL;
	} else {
		/*
		 * A spare (kernel.c): park until there is work.  It stays
		 * counted in sched.nspares until it gets a P, unless the
		 * module refused it: then it is no spare for blocks.
		 */
		if (!m->kslot) {
			m->spare = false;
			atomic_fetch_sub(&sched.nspares, 1);
		}
		stopm();
	}
	schedule();
}

/*
 * Starting a thread for M @m failed, or its struct could not be made
 * (@m NULL): give back what it was handed.  An idle P must have an empty
 * queue, so @p's fibers move to the global queue, where sysmon's safety
 * net (queued work and an idle P) tries to start an M for them again.
 * @spinning: the M was counted in sched.nmspinning.
 */
static void newm_failed(struct fiber_m *m, struct fiber_p *p, bool spinning)
{
	struct fiber *batch[FIBER_RUNQ_SIZE + 1];
	int n = p ? runq_drain(p, batch) : 0, i;

	fiber_lock(&sched.lock);
	if (m) {
		/* Keep the struct on allm, but uncount it. */
		sched.mcount--;
		m->dead = true;
		m->nextp = NULL;
	}
	for (i = 0; i < n; i++)
		globrunq_put(batch[i]);
	if (p)
		idle_or_stop(p);
	fiber_unlock(&sched.lock);
	atomic_fetch_add(&sched.nthread_fail, 1);
	if (m && m->spare) {
		m->spare = false;
		atomic_fetch_sub(&sched.nspares, 1);
	}
	if (spinning)
		atomic_fetch_sub(&sched.nmspinning, 1);
}

/*
 * Start a thread running fn(arg) that nobody joins: an M, sysmon, the
 * template.  Return: 0 or -errno.
 */
int thread_start_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return ret;
}

/* Start @m's thread from the calling one.  Return: 0 or -errno. */
static int m_clone(struct fiber_m *m)
{
	int ret = thread_start_detached(mstart, m);

	if (ret)
		newm_failed(m, m->nextp, m->spinning);
	return ret;
}

/* ---- clean threads for new Ms ------------------------------------------- */

/*
 * A thread starts as a copy of the one that creates it: pthread_create()
 * gives it the creator's signal mask, scheduling policy and priority,
 * CPU affinity and credentials, and clone() its namespaces and (with
 * CLONE_FS, which threads always share) its fs_struct: working
 * directory, root and umask.  A fiber locks its thread precisely to
 * change such state (unshare(CLONE_FS) and chdir(), setns(), a signal
 * mask), so a thread started from it would carry the change into every
 * fiber that later runs there, and into every thread that one starts.
 *
 * Go's rule since 1.10, and ours: a thread whose state may differ from
 * the process's never starts an M itself.  Such a thread ("tainted") is
 * an M whose fiber is locked to it (LockOSThread: a fiber that unlocks
 * has promised to have undone what it changed), an M ending because its
 * locked fiber exited (mexit: the thread is not reused), or a thread
 * that is not the runtime's at all (one of the program's own pthreads
 * waking a fiber).  It hands the new M to the template thread instead,
 * which fiber_main() starts before any fiber runs, so its state is the
 * process's at start, and which does nothing but start threads: it runs
 * no fiber, so nothing can change it.  sysmon, started the same way,
 * starts Ms itself.
 *
 * The hand-over (Go's newmHandoff): the M, counted and holding its P in
 * nextp, goes on the pending list and the template is woken; until its
 * thread runs, the M counts as running (checkdead) and, if spinning, as
 * spinning, exactly as when its creator starts it directly.  If the
 * thread cannot be started, the template gives its P back
 * (newm_failed).  The template sleeps on a note that it clears, under the
 * list's lock, only after finding the list empty, and wakers add to the
 * list and wake it under that lock, so no hand-over is missed.
 */
static struct {
	struct fiber_lock lock;
	struct fiber_m *pending;	/* Ms to start, linked by schedlink */
	bool sleeping;			/* the template sleeps on wake */
	struct fiber_note wake;
} mtemplate;

/* sysmon and the template: threads that run no fiber and are clean. */
static __thread bool runtime_thread;

void mark_runtime_thread(void)
{
	runtime_thread = true;
}

/* May the calling thread's state differ from the process's? */
static bool thread_tainted(void)
{
	struct fiber_m *m = this_m();

	if (!m)
		return !runtime_thread;
	return m->lockedg || m->locked_exit;
}

static void *mtemplate_loop(void *arg)
{
	struct fiber_m *list, *m;

	(void)arg;
	mark_runtime_thread();
	for (;;) {
		fiber_lock(&mtemplate.lock);
		while ((list = mtemplate.pending)) {
			mtemplate.pending = NULL;
			fiber_unlock(&mtemplate.lock);
			while ((m = list)) {
				list = m->schedlink;
				m->schedlink = NULL;
				(void)m_clone(m);
			}
			fiber_lock(&mtemplate.lock);
		}
		mtemplate.sleeping = true;
		note_clear(&mtemplate.wake);
		fiber_unlock(&mtemplate.lock);
		note_sleep(&mtemplate.wake);
	}
	return NULL;
}

/* Hand @m to the template, which starts its thread. */
static void mtemplate_handoff(struct fiber_m *m)
{
	fiber_lock(&mtemplate.lock);
	m->schedlink = mtemplate.pending;
	mtemplate.pending = m;
	if (mtemplate.sleeping) {
		mtemplate.sleeping = false;
		note_wakeup(&mtemplate.wake);
	}
	fiber_unlock(&mtemplate.lock);
}

/*
 * A new M to run @p, or a spare that parks at once if @p is NULL.
 * @spinning: the caller counted it in sched.nmspinning.  Its thread is
 * started here, or by the template if the calling thread is tainted.
 * Return: 0 or -errno; on failure the M is not counted, @p is idle (its
 * fibers on the global queue) and the M uncounted as spinning.
 */
int newm(struct fiber_p *p, bool spinning)
{
	struct fiber_m *m = m_alloc();

	if (!m) {
		newm_failed(NULL, p, spinning);
		return -ENOMEM;
	}
	if (!p) {
		m->spare = true;
		atomic_fetch_add(&sched.nspares, 1);
	}
	m->nextp = p;
	m->spinning = spinning;
	if (thread_tainted()) {
		mtemplate_handoff(m);
		return 0;
	}
	return m_clone(m);
}

/*
 * Wake M @m, asleep in sleep_for_p(), to take the P in its nextp.  @m may
 * see the key, take the P, run a fiber and block before our WAKE reaches
 * the module; were it claimed and held by then, the late WAKE would
 * release it as a grant, without a P.  So while a wake is in flight, @m
 * is not claimed (kernel_claim), nor does its thread, ending, give up
 * its slot (kernel_unregister_m).
 */
static void m_wake(struct fiber_m *m)
{
	if (m->kslot) {
		atomic_fetch_add(&m->wakes_inflight, 1);
		atomic_store(&m->park.key, 1);
		kernel_wake_m(m);
		atomic_fetch_sub(&m->wakes_inflight, 1);
	} else {
		note_wakeup(&m->park);
	}
}

/*
 * Run @p (or an idle P if NULL) on an idle M, or on a new one.
 * @spinning: the caller already counted the M in sched.nmspinning.
 */
void startm(struct fiber_p *p, bool spinning)
{
	struct fiber_m *nm;

	fiber_lock(&sched.lock);
	if (!p) {
		p = pidleget();
		if (!p) {
			fiber_unlock(&sched.lock);
			if (spinning)
				atomic_fetch_sub(&sched.nmspinning, 1);
			return;
		}
	}
	nm = sched.midle;
	if (nm) {
		sched.midle = nm->schedlink;
		sched.nmidle--;
	}
	fiber_unlock(&sched.lock);
	if (nm) {
		nm->spinning = spinning;
		nm->nextp = p;
		m_wake(nm);
		return;
	}
	/* On failure newm() has given @p back. */
	(void)newm(p, spinning);
}

/*
 * Sleep on @m's note until a waker hands it a P in nextp; take it.  A
 * carrier sleeps in the module instead, where a block can wake it too.
 */
static void sleep_for_p(struct fiber_m *m)
{
	if (m->kslot) {
		kernel_sleep_for_p(m);
		return;
	}
	note_sleep(&m->park);
	note_clear(&m->park);
	acquirep(m, m->nextp);
	m->nextp = NULL;
}

/* Put @m on the idle list, where startm() finds it.  sched.lock held. */
void midle_put(struct fiber_m *m)
{
	m->schedlink = sched.midle;
	sched.midle = m;
	sched.nmidle++;
}

/*
 * Take @m off the idle list if it is there (a spare woken by the module
 * rather than by startm(); kernel.c).  sched.lock held.
 */
bool midle_remove(struct fiber_m *m)
{
	struct fiber_m **pp;

	for (pp = &sched.midle; *pp; pp = &(*pp)->schedlink) {
		if (*pp == m) {
			*pp = m->schedlink;
			sched.nmidle--;
			return true;
		}
	}
	return false;
}

/* Park the calling M (which holds no P) until startm() gives it one. */
void stopm(void)
{
	struct fiber_m *m = this_m();

	fiber_lock(&sched.lock);
	midle_put(m);
	checkdead();
	fiber_unlock(&sched.lock);
	sleep_for_p(m);
}

/* Find an M for @p, which nobody owns, or put it on the idle list. */
void handoffp(struct fiber_p *p)
{
	int zero = 0;

	if (!runq_empty(p) || atomic_load(&sched.runqsize) > 0) {
		startm(p, false);
		return;
	}
	/* No spinning or idle P left: start a spinner so work is found. */
	if (atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1)) {
		startm(p, true);
		return;
	}
	fiber_lock(&sched.lock);
	if (!atomic_load(&sched.gcwaiting) &&
	    atomic_load(&sched.runqsize) > 0) {
		fiber_unlock(&sched.lock);
		startm(p, false);
		return;
	}
	idle_or_stop(p);
	fiber_unlock(&sched.lock);
}

/* Stop for a stop-the-world in progress. */
void gcstopm(void)
{
	struct fiber_m *m = this_m();
	struct fiber_p *p;

	if (m->spinning) {
		m->spinning = false;
		atomic_fetch_sub(&sched.nmspinning, 1);
	}
	p = releasep(m);
	fiber_lock(&sched.lock);
	atomic_store(&p->status, P_STOP);
	if (--sched.stopwait == 0)
		note_wakeup(&sched.stopnote);
	fiber_unlock(&sched.lock);
	stopm();
}

/*
 * The M's locked fiber cannot run now (it waits, or it sits in a run
 * queue): give the P away and sleep until startlockedm() hands one back
 * with the fiber.
 */
void stoplockedm(void)
{
	struct fiber_m *m = this_m();

	if (m->p)
		handoffp(releasep(m));
	fiber_lock(&sched.lock);
	sched.nmidlelocked++;
	checkdead();
	fiber_unlock(&sched.lock);
	/* startlockedm() uncounted us from nmidlelocked before waking us. */
	sleep_for_p(m);
}

/* We picked @g, locked to another M: hand that M our P and sleep. */
void startlockedm(struct fiber *g)
{
	struct fiber_m *m = this_m(), *lm = g->lockedm;

	/*
	 * Uncount it as idle now, not when it wakes: else our stopm() below
	 * could find every M idle and report a deadlock.
	 */
	fiber_lock(&sched.lock);
	sched.nmidlelocked--;
	fiber_unlock(&sched.lock);
	lm->nextp = releasep(m);
	m_wake(lm);
	stopm();
}

/*
 * The calling M's locked fiber exited: the thread goes too (Go's rule:
 * its state may be unfit for other fibers).  The main thread cannot end
 * without ending the process, so it parks for good instead.  Either way
 * the thread is tainted from here on: an M that the hand-off below
 * starts is started by the template (newm).
 */
_Noreturn void mexit(struct fiber_m *m)
{
	m->locked_exit = true;
	handoffp(releasep(m));
	fiber_lock(&sched.lock);
	sched.mcount--;
	m->dead = true;
	checkdead();
	fiber_unlock(&sched.lock);
	if (m->id == 0) {
		for (;;)
			pause();
	}
	kernel_unregister_m(m);
	m_thread_exit(m);
}

/*
 * End the calling M's thread (not the main thread's: mstart() started
 * it).  Not with pthread_exit(): that unwinds the stack with libgcc's
 * unwinder, which in a statically linked program finds the frames'
 * unwind tables through a registry that exit() empties on its way out
 * (crtbeginT.o's __deregister_frame_info).  A thread caught ending while
 * the program exits then finds no frame, and glibc aborts the whole
 * program, without a word: a static program died of SIGABRT at its end
 * when a spare retired or a locked fiber's thread ended just then (seen
 * in the arm64 VM, whose programs are static; lock_test's
 * the_program_ends_while_threads_of_locked_fibers_end).  g0 is the
 * thread's own stack, so mstart()'s frame is still below us: jumping
 * back to it and returning ends the thread as pthread_exit() would, less
 * the unwinding, which had nothing to do (the runtime pushes no cleanup
 * handlers); thread-specific data is destroyed either way.
 */
_Noreturn void m_thread_exit(struct fiber_m *m)
{
	longjmp(m->exit_jmp, 1);
}

void checkdead(void)
{
	int run = sched.mcount - sched.nmidle - sched.nmidlelocked;

	if (run > 0)
		return;
	/* A timer will ready someone: not dead, just sleeping. */
	if (timers_earliest())
		return;
	/*
	 * Runnable fibers and an idle P, but no M: only newm_failed()
	 * leaves that state (a thread could not be started), and sysmon's
	 * safety net hands the work to an M when one can run it.  An M that
	 * found no P and queued its fiber just before the failed start made
	 * the P idle ends up here, with its fiber among those queued.
	 */
	if (atomic_load(&sched.runqsize) > 0 && atomic_load(&sched.npidle) > 0)
		return;
	if (run < 0)
		fiber_fatal("checkdead: inconsistent M count (%d Ms, %d idle, %d locked)",
			    sched.mcount, sched.nmidle, sched.nmidlelocked);
	if (fibers_live() == 0 && sched.main_exited)
		fiber_fatal("no fibers left (main called fiber_exit) - deadlock!");
	/* Like Go, show where everyone is stuck. */
	fflush(stdout);
	fputs("libfiber: fatal error: all fibers are asleep - deadlock!\n\n",
	      stderr);
	fiber_dump(2);
	exit(2);
}

/* ---- stopping the world ------------------------------------------------- */

/*
 * Bring every P to P_STOP but the caller's.  Fibers are cooperative, so
 * a running P stops at its fiber's next scheduling point (yield, park,
 * exit, system call); a fiber that never reaches one delays this.
 *
 * One stop at a time (Go's worldsema): a second caller would count the
 * Ps afresh while the first sleeps holding its own, and both would wait
 * for each other forever.  A caller that finds a stop in progress yields,
 * which stops its P for the other, and tries again when resumed.
 *
 * Return: the calling M (the fiber may have moved), with sched.lock
 * released, the world stopped and an m_acquire() section open.
 */
static struct fiber_m *stop_the_world(void)
{
	struct fiber_m *m;
	struct fiber_p *p;
	uint32_t s;
	bool wait;
	int n, i;

	for (;;) {
		m = this_m();
		fiber_lock(&sched.lock);
		if (!atomic_load(&sched.gcwaiting))
			break;
		fiber_unlock(&sched.lock);
		fiber_yield();
	}
	/* Our P is stopped while we wait: nobody may claim it. */
	m_acquire();
	n = atomic_load(&sched.nprocs);
	sched.stopwait = n;
	atomic_store(&sched.gcwaiting, true);
	atomic_store(&m->p->status, P_STOP);
	sched.stopwait--;
	for (i = 0; i < n; i++) {
		p = sched.allp[i];
		s = P_SYSCALL;
		if (atomic_compare_exchange_strong(&p->status, &s, P_STOP)) {
			atomic_fetch_add(&p->syscalltick, 1);
			sched.stopwait--;
		}
	}
	while ((p = pidleget())) {
		atomic_store(&p->status, P_STOP);
		sched.stopwait--;
	}
	wait = sched.stopwait > 0;
	fiber_unlock(&sched.lock);
	if (wait)
		note_sleep(&sched.stopnote);
	note_clear(&sched.stopnote);
	return m;
}

/*
 * Make @n Ps, moving the fibers of removed ones to the global queue.
 * World stopped, sched.lock held.  Return: the Ps with work, linked.
 */
static struct fiber_p *procresize(struct fiber_m *m, int n)
{
	int old = atomic_load(&sched.nprocs), i, k, cnt;
	struct fiber *batch[FIBER_RUNQ_SIZE + 1];
	struct fiber_p *p, *runnable = NULL;

	for (i = old; i < n; i++) {
		if (!sched.allp[i])
			sched.allp[i] = p_alloc(i);
		atomic_store(&sched.allp[i]->status, P_STOP);
		memset(&sched.allp[i]->sysmon, 0, sizeof(sched.allp[i]->sysmon));
	}
	for (i = n; i < old; i++) {
		p = sched.allp[i];
		cnt = runq_drain(p, batch);
		/* Ahead of the global queue, in their local order. */
		for (k = cnt - 1; k >= 0; k--)
			globrunq_put_head(batch[k]);
		for (k = 0; k < GFREE_KINDS; k++) {
			if (p->gfree[k].head)
				gfree_push(k, p->gfree[k].head, p->gfree[k].n,
					   fiber_nanotime());
			p->gfree[k].head = NULL;
			p->gfree[k].n = 0;
		}
		timers_move(p, sched.allp[0]);
		sched.dead_steals += p->nsteals;
		p->nsteals = 0;
		sched.dead_stack_copies += p->stack_copies;
		sched.dead_stack_waits += p->stack_waits;
		p->stack_copies = p->stack_waits = 0;
		p->m = NULL;
		atomic_store(&p->status, P_DEAD);
	}
	if (m->p->id >= n) {
		/* Our P is gone: carry on with P 0. */
		m->p = NULL;
		acquirep(m, sched.allp[0]);
	} else {
		atomic_store(&m->p->status, P_RUNNING);
	}
	atomic_store(&sched.nprocs, n);
	for (i = n - 1; i >= 0; i--) {
		p = sched.allp[i];
		if (p == m->p)
			continue;
		if (runq_empty(p)) {
			pidleput(p);
		} else {
			atomic_store(&p->status, P_IDLE);
			p->link = runnable;
			runnable = p;
		}
	}
	return runnable;
}

static int clamp_procs(int n)
{
	return n > FIBER_MAXPROCS_LIMIT ? FIBER_MAXPROCS_LIMIT : n;
}

int fiber_maxprocs(int n)
{
	struct fiber_m *m = this_m();
	struct fiber_p *runnable, *p;
	int prev;

	if (!started) {
		prev = initial_procs;
		if (n >= 1)
			initial_procs = clamp_procs(n);
		return prev;
	}
	prev = atomic_load(&sched.nprocs);
	if (n < 1 || n == prev)
		return prev;
	if (!m || !m->curg)
		return -ESRCH;
	n = clamp_procs(n);
	leave_syscall(m);
	fiber_trace(TRACE_STW_START, n, 0);
	m = stop_the_world();
	fiber_lock(&sched.lock);
	prev = atomic_load(&sched.nprocs);
	runnable = procresize(m, n);
	atomic_store(&sched.gcwaiting, false);
	fiber_unlock(&sched.lock);
	fiber_trace(TRACE_STW_END, n, 0);
	m_release(m);
	while ((p = runnable)) {
		runnable = p->link;
		startm(p, false);
	}
	wakep();
	return prev;
}

/* ---- starting ----------------------------------------------------------- */

static int default_procs(void)
{
	const char *env = getenv("FIBER_MAXPROCS");
	cpu_set_t set;
	char *end;
	long n;

	if (env) {
		n = strtol(env, &end, 10);
		if (*env && !*end && n >= 1)
			return clamp_procs((int)n);
		fprintf(stderr, "libfiber: FIBER_MAXPROCS=%s is not a positive number; ignored\n",
			env);
	}
	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		return clamp_procs(CPU_COUNT(&set));
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? clamp_procs((int)n) : 1;
}

static int (*main_fn)(int argc, char **argv);
static int main_argc;
static char **main_argv;

static void main_fiber(void *arg)
{
	(void)arg;
	/* Like Go's main: returning from main ends the process. */
	exit(main_fn(main_argc, main_argv));
}

int fiber_main(int (*fn)(int argc, char **argv), int argc, char **argv)
{
	struct fiber_m *m;
	const char *dbg;
	int i, n, ret;

	if (!fn)
		return -EINVAL;
	if (started)
		return -EBUSY;
	dbg = getenv("FIBER_DEBUG");
	fiber_debug = dbg && *dbg && strcmp(dbg, "0");
	ret = strict_init();
	if (ret)
		return ret;
	fiber_stack_init();
	n = initial_procs ? initial_procs : default_procs();
	ret = retake_read_env();
	if (ret)
		return ret;
	ret = kernel_init();
	if (ret)
		return ret;
	if (!kernel_on) {
		ret = retake_signal_init();
		if (ret)
			return ret;
	}
	m = m_alloc();
	if (!m)
		return -ENOMEM;
	m_init_thread(m);
	for (i = 0; i < n; i++)
		sched.allp[i] = p_alloc(i);
	atomic_store(&sched.nprocs, n);
	fiber_lock(&sched.lock);
	for (i = n - 1; i >= 1; i--)
		pidleput(sched.allp[i]);
	fiber_unlock(&sched.lock);
	acquirep(m, sched.allp[0]);
	started = true;
	ret = stack_overflow_handler_init();
	if (ret)
		return ret;
	ret = netpoll_init();
	if (ret)
		return ret;
	ret = trace_init();
	if (ret)
		return ret;
	ret = dump_init();
	if (ret)
		return ret;
	main_fn = fn;
	main_argc = argc;
	main_argv = argv;
	/* While the calling thread is still the process's baseline. */
	ret = thread_start_detached(mtemplate_loop, NULL);
	if (ret)
		return ret;
	ret = fiber_spawn(NULL, main_fiber, NULL, NULL);
	if (ret)
		return ret;
	/*
	 * Spares ready before the first block, not made by it; before
	 * sysmon, so that the two do not both fill the pool.
	 */
	kernel_fill_spares();
	ret = sysmon_start();
	if (ret)
		return ret;
	schedule();
}

bool fiber_runtime_started(void)
{
	return started;
}
