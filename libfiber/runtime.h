/* SPDX-License-Identifier: MIT */
/*
 * libfiber's internal types: G (struct fiber), M (struct fiber_m) and P
 * (struct fiber_p), the global scheduler state, and the functions the
 * runtime's files share.  Nothing here is part of the ABI.
 *
 * The model is Go's (src/runtime/proc.go):
 *
 *  - A fiber (G) is a function with a stack.  It runs only on an M that
 *    holds a P.
 *  - An M is an OS thread.  Its own pthread stack is its "g0": the
 *    scheduler's code that may block the thread (parking an idle M, waiting
 *    for a stopped world) runs there, never on a fiber's stack.
 *  - A P is the right to run fiber code.  There are exactly
 *    fiber_maxprocs() of them, each with a local run queue, so at most
 *    that many Ms run fibers at once; Ms in a system call (between
 *    fiber_syscall_enter and _exit) have given theirs up.
 *
 * Locks, outermost first: sched.lock (idle Ms and Ps, the global run
 * queue, the global free list, stopping the world); the stack pool's
 * lock.  (The list of every fiber, for fiber_dump, is lock-free.)  An M
 * holding one is never claimed by a spare (kernel.c; lock.h).
 * Nothing is switched away from with a lock held, with one exception: a
 * yield that takes its successor from the global queue keeps sched.lock
 * across the switch and the successor, in finish_switch(), queues the
 * yielder and unlocks (as Linux holds the runqueue lock across
 * context_switch), saving a second lock round trip.
 */
#ifndef FIBER_RUNTIME_H
#define FIBER_RUNTIME_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/fiber.h>

#include "fiber.h"
#include "context.h"
#include "lock.h"
#include "note.h"
#include "stack.h"
#include "trace.h"

/* ---- G ------------------------------------------------------------------ */

/*
 * A fiber's status.  The transitions, and who makes them:
 *   IDLE -> RUNNABLE           fiber_go (its creator)
 *   RUNNABLE -> RUNNING        the M that takes it off a run queue
 *   RUNNING -> RUNNABLE        the fiber itself, yielding
 *   RUNNING -> WAITING         the fiber itself, parking (fiber_park)
 *   WAITING -> RUNNABLE        whoever readies it (fiber_ready)
 *   RUNNING <-> SYSCALL        the fiber itself, around a system call
 *   RUNNING -> DEAD            the fiber itself, exiting
 *   DEAD -> IDLE               fiber_go reusing it from a free list
 */
enum fiber_status {
	FIBER_IDLE,
	FIBER_RUNNABLE,
	FIBER_RUNNING,
	FIBER_SYSCALL,
	FIBER_WAITING,
	FIBER_DEAD,
	FIBER_NSTATUS
};

/*
 * A fiber's pending deferred calls are one list of struct fiber_scope
 * (fiber.h), most recent first, written only by the fiber itself:
 * fiber_defer()'s, allocated, and scoped ones (FIBER_SCOPED_DEFER), which
 * live in the frame of the block that registered them.  A scoped one
 * leaves the list at the end of its block; fiber_exit() runs whatever is
 * still there.  state_private says which kind, and whether it is queued.
 */
enum fiber_scope_state {
	SCOPE_IDLE,	/* not on a list: outside a fiber, or run */
	SCOPE_QUEUED,	/* scoped, on its fiber's list */
	SCOPE_HEAP,	/* fiber_defer()'s: freed once run */
};

struct fiber_m;

struct fiber {
	struct fiber_context ctx;	/* saved registers while not running */
	_Atomic uint32_t status;	/* enum fiber_status */
	uint64_t id;
	struct fiber_stack stack;
	void (*fn)(void *arg);
	void *arg;
	struct fiber_scope *deferred;	/* most recent first */
	struct fiber *schedlink;	/* run queue or free list link */
	/* The first fiber of a batch on sched's free list (gfree_put). */
	struct fiber *gfree_next;	/* the next batch */
	int gfree_n;			/* fibers in this batch */

	/* LockOSThread: the M this fiber is wired to, and the nesting. */
	struct fiber_m *lockedm;
	unsigned int lock_depth;

	/* For fiber_dump() and sysmon's reports; written by the fiber. */
	const char *wait_reason;	/* why it is WAITING */
	int64_t waitsince;		/* when it last parked (coarse ns) */
	_Atomic uint32_t runs;		/* times it was switched to (dump.c) */
	void *created_pc;		/* return address of fiber_go's caller */
	uint64_t parent_id;
	struct fiber *allnext;		/* allfibers list, never unlinked */

	/*
	 * FIBER_ATTR_COPY_STACK (copystack.c): the shared stack it is bound
	 * to, its bytes while another fiber's are there, and the block that
	 * holds its waiters while it is parked.  Written by the M that holds
	 * the shared stack's lock, or by the fiber itself.
	 */
	bool copied;
	bool park_busy;
	struct fiber_shared_stack *shared;
	void *saved;
	size_t saved_len, saved_cap;
	void *park_buf;
	size_t park_cap;
};

/* ---- timers ------------------------------------------------------------- */

/*
 * A timer (timer.c).  @when, @fn and @arg are the owner's to set while
 * it is not armed; the rest belongs to the heap it is in.  @firing counts
 * the callbacks running: more than one only for a timer that its own
 * callback, or a reset racing it, arms again (timerobj.c).
 */
struct fiber_timer {
	int64_t when;			/* CLOCK_MONOTONIC ns */
	void (*fn)(void *arg);		/* runs on a scheduler stack */
	void *arg;
	_Atomic(struct fiber_p *) p;	/* heap it is in, NULL if none */
	int idx;			/* index in that heap */
	_Atomic int firing;		/* callbacks taken off a heap, running */
};

/* ---- P ------------------------------------------------------------------ */

enum fiber_p_status {
	P_IDLE,		/* on sched.pidle, no M */
	P_RUNNING,	/* held by an M running fibers or the scheduler */
	P_SYSCALL,	/* its M is in a system call; sysmon may retake it */
	P_STOP,		/* stopped for a stop-the-world */
	P_DEAD,		/* beyond fiber_maxprocs() */
};

/*
 * Dead fibers are kept apart by what their stack holds: WARM, pages it
 * used while it ran (likely in cache, surely mapped); COLD, a stack never
 * touched, or given back by the scavenger, or none (sched.c, "live and
 * free fibers").
 */
enum fiber_gfree_kind { GFREE_WARM, GFREE_COLD, GFREE_KINDS };

struct fiber_gfree_list {
	struct fiber *head;
	int n;
};

#define FIBER_RUNQ_SIZE		256
#define FIBER_PFREE_MAX		64

/* What sysmon saw of a P at its last look. */
struct fiber_sysmon_view {
	uint32_t schedtick;
	int64_t schedwhen;
	uint32_t syscalltick;
	int64_t syscallwhen;
	int64_t probewhen;	/* fallback: last look at its M's state */
	uint64_t kblock;	/* module: its M's slot word, if BLOCKED */
	int64_t kblockwhen;	/* when that block was first seen */
	bool reported;		/* this run was counted as long */
	bool skipped;		/* this stall was counted in signal_skips */
};

struct fiber_p {
	int id;
	_Atomic uint32_t status;	/* enum fiber_p_status */
	struct fiber_m *m;		/* owner while RUNNING */
	struct fiber_p *link;		/* sched.pidle */

	/* Bumped by the owner; read by sysmon to see progress. */
	_Atomic uint32_t schedtick;
	_Atomic uint32_t syscalltick;
	struct fiber_sysmon_view sysmon;

	/*
	 * The local run queue: a ring written only by the owner (tail) and
	 * consumed by the owner or thieves (CAS on head).  runnext, if set,
	 * runs before the ring and inherits the current time slice.
	 */
	_Atomic uint32_t runqhead;
	_Atomic uint32_t runqtail;
	_Atomic(struct fiber *) runq[FIBER_RUNQ_SIZE];
	_Atomic(struct fiber *) runnext;

	/* Timers added on this P: a min-heap on when (timer.c). */
	struct fiber_lock timerlock;
	struct fiber_timer **timers;
	int ntimers, timerscap;
	_Atomic int64_t timer0;		/* earliest when, 0 if none */

	/* Dead fibers, ready for reuse, by kind (sched.c); owner only. */
	struct fiber_gfree_list gfree[GFREE_KINDS];

	/* Fiber ids handed out by this P, taken 16 at a time (Go's goidcache). */
	uint64_t idcache, idcacheend;

	/*
	 * Fibers started on this P minus those that ended on it, negative
	 * where more ended than started; fiber_num() is the sum over every
	 * P.  Per P, so that starting and ending a fiber write no shared
	 * cache line.  Owner writes, anyone reads.
	 */
	_Atomic int64_t nlive;

	/* Counters for fiber_stats(); owner only, read racily. */
	uint64_t nsteals;
	uint32_t copy_cursor;	/* the next shared stack to try (copystack.c) */
	uint64_t stack_copies, stack_waits;	/* copystack.c, for fiber_stats */
	struct fiber_stack_cache stacks;	/* prepared ahead (stack.c) */
};

/* ---- M ------------------------------------------------------------------ */

/*
 * What to do with the fiber just switched away from, once its registers
 * are saved.  It runs on the stack switched to (the next fiber's or the
 * M's g0), so the fiber is never made visible to other Ms while its own
 * stack is still in use.
 */
enum fiber_after {
	AFTER_NONE,
	AFTER_YIELD,		/* put it on the global run queue */
	AFTER_YIELD_LOCKED,	/* the same, sched.lock already held */
	AFTER_PARK,		/* call park_commit; resume it if that fails */
	AFTER_EXIT,		/* free it */
	AFTER_SYSCALL_EXIT,	/* it found no P after a system call */
};

struct fiber_m {
	int id;
	pid_t tid;
	pthread_t thread;
	struct fiber_context g0;	/* the scheduler's own context */
	struct fiber *curg;		/* the running fiber, or NULL on g0 */
	struct fiber_p *p;		/* held P */
	struct fiber_p *nextp;		/* P handed over with the wake-up */
	struct fiber_p *oldp;		/* P left at fiber_syscall_enter */
	bool spinning;			/* looking for work, holds a P */
	struct fiber *lockedg;		/* fiber wired to this M */
	struct fiber_note park;		/* sleeps here when idle */
	struct fiber_m *schedlink;	/* sched.midle */
	struct fiber_m *allnext;	/* sched.allm */
	uint64_t rand;			/* steal order */
	void *sigstack;			/* alternate signal stack */

	/* The pending after-switch action; see enum fiber_after. */
	enum fiber_after after;
	struct fiber *after_g;
	bool (*park_commit)(struct fiber *g, void *arg);
	void *park_arg;

	/* The thread's own stack, for the sanitizers' bookkeeping. */
	void *g0_lo;
	size_t g0_size;
	bool dead;			/* exited (locked fiber, or a retired spare) */
	jmp_buf exit_jmp;		/* in mstart(), for m_thread_exit() */
	bool locked_exit;		/* its locked fiber exited: in mexit() */

	/*
	 * Runtime locks held, plus m_acquire() sections: while non-zero,
	 * neither a spare (kernel.c) nor sysmon's signal (syscall.c) takes
	 * this M's P, however long it sleeps.  Written by the M only.
	 */
	_Atomic int locks;

	/* Kernel mode (kernel.c): our slot, and the grant we are owed. */
	struct fiber_slot *kslot;	/* NULL: not a carrier */
	uint32_t kslot_id;
	bool spare;			/* counted in sched.nspares */
	_Atomic uint32_t granting;	/* a granter picked us */
	_Atomic uint32_t wakes_inflight;	/* m_wake()s whose WAKE has not returned */

	/* Fallback mode: sysmon asked the signal handler to retake. */
	_Atomic bool retake_req;
	int callfd;			/* sysmon's: /proc/self/task/TID/syscall */
};

/* ---- the scheduler ------------------------------------------------------ */

#define FIBER_MAXPROCS_LIMIT	1024

struct fiber_sched {
	struct fiber_lock lock;

	struct fiber_m *midle;		/* idle Ms, parked on their note */
	int nmidle;
	int nmidlelocked;		/* Ms waiting for their locked fiber */
	int mcount;			/* Ms that exist */
	int nmsys;			/* Ms that must not count for deadlock */
	struct fiber_m *allm;
	int next_mid;

	struct fiber_p *pidle;
	_Atomic int npidle;
	_Atomic int nmspinning;
	_Atomic int nprocs;		/* fiber_maxprocs() */
	struct fiber_p *allp[FIBER_MAXPROCS_LIMIT];

	/* Global run queue (FIFO). */
	struct fiber *runq_head, *runq_tail;
	_Atomic int runqsize;

	/*
	 * Global free list of dead fibers, scavenged by sysmon: batches of
	 * up to FIBER_PFREE_MAX / 2, each a schedlink list whose first
	 * fiber links the next batch, so that a P moves one in O(1) under
	 * its own lock, on its own cache line (a spawn loop on one P feeds
	 * fibers to the P that runs them and gets them back, batch by batch).
	 */
	struct {
		struct fiber_lock lock;
		struct fiber *batches[GFREE_KINDS];
		_Atomic long n[GFREE_KINDS];	/* fibers; read unlocked */
	} gfree __attribute__((aligned(64)));

	/* Stop-the-world: set while a fiber_maxprocs() waits. */
	_Atomic bool gcwaiting;
	int stopwait;
	struct fiber_note stopnote;

	_Atomic uint64_t next_id;
	bool main_exited;		/* main called fiber_exit() */

	/* Totals for fiber_stats(). */
	_Atomic uint64_t nhandoffs;	/* Ps retaken from system calls */
	_Atomic uint64_t nlongruns;	/* fibers seen running > 10 ms */
	_Atomic uint64_t nthread_fail;	/* pthread_create failures */
	_Atomic uint64_t scavenged_bytes;
	uint64_t dead_steals;		/* nsteals of Ps that were removed */
	uint64_t dead_stack_copies, dead_stack_waits;	/* theirs too */

	/* Kernel mode and its fallback (kernel.c, syscall.c, sysmon.c). */
	_Atomic uint64_t nclaims;	/* Ps taken from blocked Ms */
	_Atomic uint64_t ngrants;	/* Ps given to held Ms */
	_Atomic uint64_t nunstuck;	/* held Ms let go by sysmon */
	_Atomic uint64_t nsignal_retakes; /* fallback: blocked Ms caught */
	_Atomic uint64_t nsignal_skips;	/* ...left blocked: EINTR otherwise */
	_Atomic uint64_t nsignal_eintrs; /* calls the signal cut short */
	_Atomic uint64_t nretired;	/* spare Ms that exited idle */
	_Atomic int nunassisted;	/* Ms the module refused (its limit) */
	/*
	 * Spares that exist (kernel.c): started and not parked yet, parked,
	 * or out of the park and going back.  Not the module's nr_parked.
	 */
	_Atomic int nspares;
};

extern struct fiber_sched sched;
extern bool fiber_debug;		/* FIBER_DEBUG=1 */

/* The calling thread's M, read afresh each time (see this_m()). */
struct fiber_m *this_m(void);

/* ---- shared between the files ------------------------------------------- */

/* runq.c */
bool runq_empty(struct fiber_p *p);
void runq_put(struct fiber_p *p, struct fiber *g, bool next);
struct fiber *runq_get(struct fiber_p *p, bool *inherit);
struct fiber *runq_steal(struct fiber_p *p, struct fiber_p *victim,
			 bool steal_runnext);
int runq_drain(struct fiber_p *p, struct fiber **out);
void globrunq_put(struct fiber *g);		/* sched.lock held */
void globrunq_put_head(struct fiber *g);	/* sched.lock held */
struct fiber *globrunq_get(struct fiber_p *p, int max); /* sched.lock held */

/* sched.c */
_Noreturn void schedule(void);
void fiber_ready(struct fiber *g);
void fiber_park(bool (*commit)(struct fiber *g, void *arg), void *arg,
		const char *reason);
void fiber_park_unlock(struct fiber_lock *l, const char *reason);
void fiber_ready_list(struct fiber *list);
void wakep(void);
uint64_t fiber_rand(struct fiber_m *m);
void finish_switch(struct fiber_m *m);
void execute(struct fiber_m *m, struct fiber *g, bool inherit);
void gfree_put(struct fiber_p *p, struct fiber *g);
int64_t fibers_live(void);
void gfree_push(enum fiber_gfree_kind kind, struct fiber *list, int n,
		int64_t now);
void gfree_splice(enum fiber_gfree_kind kind, struct fiber *first,
		  struct fiber *last, long n);
void gfree_to_cold(struct fiber_p *p, struct fiber *d);
void switch_to_g0(struct fiber_m *m, struct fiber *g, enum fiber_after what);
_Noreturn void fiber_switch_dead(struct fiber_m *m, struct fiber *g);
struct fiber *gfree_get(struct fiber_p *p);
void set_this_m(struct fiber_m *m);

/* proc.c */
void startm(struct fiber_p *p, bool spinning);
int newm(struct fiber_p *p, bool spinning);
int thread_start_detached(void *(*fn)(void *), void *arg);
void mark_runtime_thread(void);
void stopm(void);
void midle_put(struct fiber_m *m);		/* sched.lock held */
bool midle_remove(struct fiber_m *m);		/* sched.lock held */
void handoffp(struct fiber_p *p);
struct fiber_p *pidleget(void);			/* sched.lock held */
void pidleput(struct fiber_p *p);		/* sched.lock held */
void acquirep(struct fiber_m *m, struct fiber_p *p);
struct fiber_p *releasep(struct fiber_m *m);
void gcstopm(void);
void stoplockedm(void);
void startlockedm(struct fiber *g);
void checkdead(void);				/* sched.lock held */
_Noreturn void mexit(struct fiber_m *m);
_Noreturn void m_thread_exit(struct fiber_m *m);
_Noreturn void fiber_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* timer.c */
int timer_add(struct fiber_timer *t);
bool timer_del(struct fiber_timer *t);
bool timer_cancel(struct fiber_timer *t);
int64_t timers_run(struct fiber_p *p, int64_t now);
int64_t timers_earliest(void);
void timers_move(struct fiber_p *from, struct fiber_p *to);
bool timers_run_overdue(int64_t now, int64_t grace);

/* chan.c */
struct chan_waiter;

/* Fibers a channel woke, to ready once no lock is held: chan_wake_all(). */
struct chan_wake {
	struct chan_waiter *list;
};

void chan_wake_all(struct chan_wake *wk);
int chan_send_nowait(struct fiber_chan *c, const void *elem,
		     struct chan_wake *wk);
int chan_drain(struct fiber_chan *c, struct chan_wake *wk);

/* netpoll.c */

/*
 * One I/O call's hold on an fd, from netpoll_begin() to netpoll_end():
 * the directions it owns, in turn with the other fibers using the fd.
 */
struct netpoll_op {
	struct fiber_pd *pd;	/* NULL: not pollable, always ready */
	int events;		/* POLLIN, POLLOUT or both */
	int held;		/* those it owns now */
	bool waited;		/* handed over after others' turns */
	uint32_t seq;		/* the fd's incarnation (fiber_close) */
	int64_t deadline;	/* its own, CLOCK_MONOTONIC ns; 0: none */
	int kind;		/* enum netpoll_kind, for io.c */
	int inq;		/* enum netpoll_inq, for io.c */
	/*
	 * Reading: the last read left the socket empty, so no byte is
	 * there that an edge has not yet announced (netpoll.c, "Drained").
	 * netpoll_io_begin() says so; io.c sets it for netpoll_end().
	 */
	bool drained;
};

/* What io.c found @fd to be, until fiber_close(). */
enum netpoll_kind { FD_UNKNOWN, FD_SOCKET, FD_OTHER };

/* Whether io.c turned TCP_INQ on for @fd, until fiber_close(). */
enum netpoll_inq { INQ_UNTRIED, INQ_ON, INQ_OFF };

int netpoll_begin(struct netpoll_op *op, int fd, int events, int64_t deadline);
int netpoll_io_begin(struct netpoll_op *op, int fd, int events,
		     int64_t deadline);
int netpoll_wait(struct netpoll_op *op);
void netpoll_end(struct netpoll_op *op);
int64_t netpoll_deadline(int64_t timeout_ns);
int netpoll_kind(int fd);
void netpoll_set_kind(int fd, int kind);
void netpoll_set_inq(struct netpoll_op *op, int inq);
int netpoll_init(void);
bool netpoll_active(void);
bool netpoll_has_waiters(void);
bool netpoll_block(struct fiber **list);
bool netpoll_stale(int64_t now, int64_t ns);
void netpoll_close(int fd);
struct fiber *netpoll(int64_t delay_ns);
void netpoll_wake_for(int64_t when);
void netpoll_break(void);
void inject_list(struct fiber_p *p, struct fiber *list);

/* syscall.c */
bool syscall_exit_fast(struct fiber_m *m, struct fiber *g);

/* sysmon.c */
int sysmon_start(void);
void sysmon_kick(void);
void sysmon_count_running(bool running);
int64_t fiber_nanotime(void);
void fiber_spin_ns(int64_t ns);
int64_t fiber_coarsetime(void);

/* syscall.c: the fallback's retake of Ms blocked outside a section */
struct thread_call {
	long nr;		/* the system call a thread sleeps in, -1: none */
	uint64_t args[6];
};
int retake_read_env(void);
int retake_signal_init(void);
bool retake_signal_on(void);
int thread_call_read(int fd, struct thread_call *c);
bool retake_call_restarts(const struct thread_call *c);
void retake_signal(struct fiber_m *m);

/* kernel.c */
extern bool kernel_on;
extern const char *kernel_off_reason;
int kernel_init(void);
void kernel_register_m(struct fiber_m *m);
void kernel_unregister_m(struct fiber_m *m);
void kernel_wake_m(struct fiber_m *m);
void kernel_sleep_for_p(struct fiber_m *m);
bool kernel_handoff(struct fiber_m *m);
bool kernel_waiting(void);
bool kernel_grant_idle(void);
bool kernel_sysmon(void);
bool kernel_fill_spares(void);
void kernel_dump(int fd);
void kernel_stats(struct fiber_stats *s);

/* Tell the module (and whoever reads the slots) which P @m holds. */
static inline void kernel_set_user_word(struct fiber_m *m, struct fiber_p *p)
{
	if (m->kslot)
		atomic_store_explicit((_Atomic uint64_t *)&m->kslot->user_word,
				      p ? (uint64_t)p->id + 1 : 0,
				      memory_order_relaxed);
}

static inline void m_locks_add(struct fiber_m *m, int delta)
{
	if (!m)
		return;
	/* Only the M itself writes it; its signal handler reads it too. */
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&m->locks,
			      atomic_load_explicit(&m->locks, memory_order_relaxed) + delta,
			      memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
}

/*
 * m_acquire() .. m_release(): the calling M's P must stay its own even
 * if it sleeps in between (Go's acquirem).  Runtime locks do the same
 * (lock.h).  Return: the M, for m_release().
 */
static inline struct fiber_m *m_acquire(void)
{
	struct fiber_m *m = this_m();

	m_locks_add(m, 1);
	return m;
}

static inline void m_release(struct fiber_m *m)
{
	m_locks_add(m, -1);
}

/* A fiber started (+1) or ended (-1) on @p, which the caller holds. */
static inline void p_live_add(struct fiber_p *p, int delta)
{
	atomic_store_explicit(&p->nlive,
			      atomic_load_explicit(&p->nlive, memory_order_relaxed) + delta,
			      memory_order_relaxed);
}

/* stats.c */
void allfibers_add(struct fiber *g);
const char *fiber_status_name(uint32_t status);
/*
 * @pc in words: "symbol+0x1c (binary+0x11a4)", or "binary+0x11a4" when
 * the symbol is not exported (a program linked without -rdynamic), or
 * false and the bare address when dladdr() knows nothing of it.
 */
bool fiber_describe_pc(void *pc, char *buf, size_t len);
struct fiber *allfibers_head(void);
int dump_init(void);
void dump_segv(void);

/*
 * strict.c: a programming error, where Go panics (docs/libfiber.md,
 * "Misuse").  What counts: a use of a channel or sync object that its
 * state forbids (send on or close of a closed channel, close of NULL,
 * free while fibers wait on it, unlock of an unlocked mutex, a negative
 * WaitGroup counter), a NULL function to run (go, defer, once), and a
 * call that must wait on a channel or sync object, or start or defer
 * something for the calling fiber, made on a thread that is not running
 * a fiber.  Bad arguments (a select op, a stack size) and failures of
 * the system (-ENOMEM, -ETIMEDOUT) do not count: a program may handle
 * them.
 *
 * fiber_misuse() returns @err for the call to return, or, under
 * FIBER_STRICT=1, aborts with a report naming @what (Go's words), the
 * calling fiber, @call on @kind @obj, and @pc, the return address into
 * @call's caller.  Call it with no runtime lock held.  MISUSE() is for
 * use in @call itself.
 */
int strict_init(void);		/* fiber_main: read FIBER_STRICT */
int fiber_misuse(int err, const char *what, const char *call,
		 const char *kind, const void *obj, void *pc)
	__attribute__((cold));
#define MISUSE(err, what, call, kind, obj)				\
	fiber_misuse(err, what, call, kind, obj, __builtin_return_address(0))

/* fiber.c */
int fiber_spawn(const struct fiber_attr *attr, void (*fn)(void *arg),
		void *arg, void *pc);
bool fiber_runtime_started(void);	/* proc.c */

/* stack.c: overflow reports */
int stack_overflow_handler_init(void);
int stack_sigaltstack_init(struct fiber_m *m);
_Noreturn void fiber_stack_overrun_fatal(struct fiber *g);

/* Catch an overrun of a canary-guarded stack as its fiber switches out. */
static inline void stack_check(struct fiber *g)
{
	if (__builtin_expect(fiber_stack_overrun(&g->stack, g->ctx.sp), 0))
		fiber_stack_overrun_fatal(g);
}

/* ---- copied stacks (copystack.c) --------------------------------------- */

int copystack_init(void);
bool copystack_acquire(struct fiber_m *m, struct fiber *g);

/* fiber.c */
void fiber_first_frame(struct fiber_p *p, struct fiber *g);

/* Before switching to @g on @p: its first frame, if it has none yet. */
/*
 * @g's stack is about to change (it runs, or parks): a dump reading that
 * stack meanwhile sees g->runs move (dump.c).  Only @g's M writes it.
 */
static inline void fiber_runs_bump(struct fiber *g)
{
	atomic_store_explicit(&g->runs, atomic_load_explicit(&g->runs,
			      memory_order_relaxed) + 1, memory_order_relaxed);
}

static inline void fiber_ready_to_run(struct fiber_p *p, struct fiber *g)
{
	fiber_event(start, TRACE_START, g->id, p->id);
	fiber_runs_bump(g);
	if (!g->ctx.sp && !g->copied)
		fiber_first_frame(p, g);
}
void copystack_release(struct fiber_m *m, struct fiber *g, bool dead);
uint64_t copystack_count(void);
void *park_alloc(struct fiber *g, size_t size);
void park_grow(struct fiber *g, size_t size);
void *park_block_copied(struct fiber *g, const void *local, size_t size);
_Noreturn void fiber_entry(void *arg);

/*
 * Where a wait keeps what other fibers touch while the caller is parked
 * (its waiter, its timer, the value it sends or receives): @local, on
 * the caller's stack, unless the caller is a copied fiber, whose stack
 * may hold another fiber's bytes by then.  See copystack.c.
 */
static inline void *park_block(struct fiber *g, void *local, size_t size)
{
	return g->copied ? park_block_copied(g, local, size) : local;
}

static inline void park_block_done(struct fiber *g)
{
	g->park_busy = false;
}

/*
 * Make @g's park block hold @size bytes before the caller takes a lock
 * (park_alloc() under it then never allocates); nothing for a fiber with
 * its own stack.
 */
static inline void park_reserve(struct fiber *g, size_t size)
{
	if (g && g->copied && size > g->park_cap)
		park_grow(g, size);
}

/*
 * Whether @obj is on copied fiber @g's own stack.  Waiting on such an
 * object (a mutex, a WaitGroup...) is the misuse the copied mode
 * forbids: whoever wakes us would write to our stack while another
 * fiber's bytes may be there.
 */
static inline bool on_own_copied_stack(const struct fiber *g,
				       const void *obj)
{
	const char *o = obj, *lo = g ? g->stack.base : NULL;

	return g && g->copied && o >= lo && o < lo + g->stack.size;
}

/* The calling fiber, NULL on a thread that is not running one. */
static inline struct fiber *this_fiber(void)
{
	struct fiber_m *m = this_m();

	return m ? m->curg : NULL;
}

/*
 * Calls that need a P end a system-call section the fiber forgot to
 * close (fiber_syscall_exit() is idempotent).
 */
static inline void leave_syscall(struct fiber_m *m)
{
	if (m->curg && !m->p)
		fiber_syscall_exit();
}

#endif /* FIBER_RUNTIME_H */
