/* SPDX-License-Identifier: MIT */
/*
 * libfiber: Go-style fibers for C.
 *
 * A fiber is a function with its own stack that the runtime schedules
 * cooperatively on carrier threads, like a goroutine.  A program hands its
 * main function to fiber_main(), which runs it as the first fiber; from
 * there fiber_go() starts more.  The scheduler is Go's G/M/P design:
 * fiber_maxprocs() processors, each with a run queue, run fibers on as
 * many threads; idle ones steal work; a monitor thread (sysmon) takes the
 * processor of a thread stuck in a system call.  See docs/libfiber.md and
 * the man pages in docs/man/man3/.
 *
 * Scheduling is cooperative: a fiber runs until it yields, exits, waits
 * (a channel, a lock, a timer, an fd) or enters a system call through
 * fiber_syscall_enter().
 *
 * Fibers migrate between threads.  A fiber may resume on another thread
 * after any call that can switch (fiber_yield, fiber_syscall_exit, and
 * every call that may wait: channels, select, sync, sleep, I/O), so code
 * must not keep the address of a thread-local variable across one: take
 * errno, or &tls_var, again after the call.  Use fiber_lock_thread() to
 * stay on one thread.
 *
 * Errors are returned as negative errno values, never through errno.
 */
#ifndef FIBER_H
#define FIBER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* fiber_exit() does not return, in every language this header serves. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define FIBER_NORETURN [[noreturn]]
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define FIBER_NORETURN _Noreturn
#else
#define FIBER_NORETURN __attribute__((__noreturn__))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * fiber_main() - run @main_fn as the main fiber, then exit the process
 *
 * Starts the runtime on the calling thread and runs main_fn(argc, argv) as
 * the first fiber (id 1).  When main_fn returns, the process exits with its
 * return value, like a Go program whose main returns; fibers still running
 * are not waited for.  If the main fiber calls fiber_exit() the other fibers
 * keep running, and when none is left the runtime reports a deadlock on
 * stderr and exits with status 2.
 *
 * Return: only on error: -EBUSY if the runtime is already running, -EINVAL
 * if @main_fn is NULL, -ENOMEM.
 */
int fiber_main(int (*main_fn)(int argc, char **argv), int argc, char **argv);

/**
 * fiber_go() - start a fiber running fn(arg)
 *
 * The new fiber is queued behind the runnable ones; the caller keeps
 * running.  When @fn returns, the fiber exits as if it called fiber_exit().
 *
 * Return: 0, -EINVAL if @fn is NULL, -ESRCH if called outside fiber_main(),
 * -ENOMEM if no stack could be allocated.
 */
int fiber_go(void (*fn)(void *arg), void *arg);

/**
 * struct fiber_attr - how to start a fiber (fiber_go_attr)
 * @size: sizeof(struct fiber_attr) as the caller knows it.  Fields the
 *	library has and the caller's struct lacks take their defaults; a
 *	larger struct must be zero beyond what the library knows.
 * @stack_size: stack size in bytes, rounded up to pages; 0 for the
 *	default (256 KiB, or FIBER_STACK_SIZE).  From 16 KiB to 1 GiB.
 */
struct fiber_attr {
	size_t size;
	size_t stack_size;
};

/**
 * fiber_go_attr() - start a fiber with attributes
 *
 * As fiber_go(); @attr may be NULL for the defaults.
 *
 * Return: 0, -EINVAL (NULL @fn, bad @attr->size, stack size out of
 * range), -ESRCH outside a fiber, -ENOMEM.
 */
int fiber_go_attr(const struct fiber_attr *attr, void (*fn)(void *arg),
		  void *arg);

/**
 * fiber_yield() - let the other runnable fibers run (Go's Gosched)
 *
 * The calling fiber goes to the back of the global run queue.
 */
void fiber_yield(void);

/**
 * fiber_exit() - end the calling fiber (Go's Goexit)
 *
 * Runs the fiber's deferred calls, most recent first, then frees the fiber.
 * Called outside a fiber it terminates the process with status 2.
 */
FIBER_NORETURN void fiber_exit(void);

/**
 * fiber_defer() - call fn(arg) when the calling fiber ends
 *
 * Deferred calls run in reverse order when the fiber's function returns or
 * when it calls fiber_exit().
 *
 * Return: 0, -EINVAL if @fn is NULL, -ESRCH outside a fiber, -ENOMEM.
 */
int fiber_defer(void (*fn)(void *arg), void *arg);

/*
 * The version of this header.  One project version covers libfiber, fiber.ko
 * and the tools; fiber_version() gives that of the library the program runs
 * with, which is newer than the header's when libfiber.so.0 was upgraded
 * under a built program.
 */
#define FIBER_VERSION_MAJOR	0
#define FIBER_VERSION_MINOR	1
#define FIBER_VERSION_PATCH	0

/** fiber_version() - the running library's version, "MAJOR.MINOR.PATCH". */
const char *fiber_version(void);

/** fiber_id() - the calling fiber's id (main is 1), 0 outside a fiber. */
uint64_t fiber_id(void);

/**
 * fiber_num() - number of fibers that exist (NumGoroutine)
 *
 * Counts runnable, running, waiting fibers and those in a system call.
 */
int fiber_num(void);

/**
 * fiber_maxprocs() - set the number of processors (GOMAXPROCS)
 *
 * At most @n threads run fiber code at once.  The default is the number
 * of CPUs the process may run on, or $FIBER_MAXPROCS.  Changing it stops
 * the world: every running fiber reaches its next scheduling point, the
 * fibers queued on removed processors move to the global queue, and the
 * new processors start.  Values above 1024 are clamped.  Before
 * fiber_main() it sets the number fiber_main() will use.
 *
 * Return: the previous setting (@n < 1 only queries); -ESRCH when called
 * to change it from a thread that is not running a fiber.
 */
int fiber_maxprocs(int n);

/**
 * fiber_lock_thread() - wire the calling fiber to its thread (LockOSThread)
 *
 * Until fiber_unlock_thread() has been called as many times, the fiber
 * runs only on this thread, and the thread runs no other fiber.  A fiber
 * that exits while locked takes its thread with it: the thread ends (the
 * main thread parks for good), since it may hold state others must not
 * inherit.
 */
void fiber_lock_thread(void);

/** fiber_unlock_thread() - undo one fiber_lock_thread(); extra calls are ignored. */
void fiber_unlock_thread(void);

/**
 * fiber_syscall_enter() - the calling fiber is about to block its thread
 *
 * Wrap a call that may block the thread (a read, a sleep, a lock) in
 * fiber_syscall_enter() and fiber_syscall_exit(), as Go's runtime does
 * around system calls.  If the call takes longer than a sysmon tick
 * (20 us to 10 ms), the processor is handed to another thread so the
 * other fibers keep running.  Between the two calls the fiber must not
 * call other libfiber functions; if it does, the section ends first.
 * Both are no-ops outside a fiber.
 */
void fiber_syscall_enter(void);

/**
 * fiber_syscall_exit() - the blocking call is over
 *
 * Takes the processor back if nobody took it, else any idle one; if none
 * is free, the fiber waits in the run queue.  The fiber may continue on
 * another thread.
 */
void fiber_syscall_exit(void);

/**
 * struct fiber_stats - a snapshot of the runtime (fiber_stats)
 * @size: set by the caller to sizeof(struct fiber_stats) as it knows it;
 *	the library fills that many bytes and no more.
 *
 * Fibers by state: @runnable, @running, @syscall, @waiting; @live is
 * fiber_num(); @dead fibers are cached for reuse.  Threads (Ms):
 * @threads, of which @threads_idle parked, @threads_spinning looking for
 * work, @threads_locked wired to a fiber.  Processors: @procs, @procs_idle.
 * @global_runq fibers wait in the global queue.  @steals: fibers taken
 * from another processor's queue; @handoffs: processors taken from a
 * thread in a system call by sysmon; @long_runs: times sysmon saw a fiber
 * run 10 ms without a scheduling point; @thread_create_failures.  Stacks:
 * default @stack_size, how many were guarded with madvise guard regions,
 * with mprotect, or only with a canary (see docs/libfiber.md),
 * @stack_mapped_bytes of address space, and @scavenged_bytes returned to
 * the kernel.
 *
 * Blocking (since LIBFIBER_0.4; see docs/libfiber.md, "Kernel mode"):
 * @kernel is 1 when the fiber module assists the runtime, 0 when sysmon
 * does its best alone (FIBER_KERNEL).  With the module: @carriers, the
 * threads registered with it; @kernel_spares, those parked in it;
 * @kernel_claims, processors taken over from a thread blocked in the
 * kernel; @kernel_grants, processors given back to such a thread when it
 * woke.  Without it: @signal_retakes, threads that sysmon found blocked
 * in a system call nobody announced.  @threads_retired: spare threads
 * that exited after idling.  @threads_unassisted: threads the module
 * refused, past its limit of carriers (FIBER_MAX_CARRIERS).
 */
struct fiber_stats {
	uint64_t size;
	uint64_t runnable, running, syscall, waiting, live, dead;
	uint32_t threads, threads_idle, threads_spinning, threads_locked;
	uint32_t procs, procs_idle, global_runq, pad;
	uint64_t steals, handoffs, long_runs, thread_create_failures;
	uint64_t stack_size, stacks_guard_madvise, stacks_guard_mprotect;
	uint64_t stacks_canary, stack_mapped_bytes, scavenged_bytes;
	uint32_t kernel, carriers, kernel_spares, threads_retired;
	uint64_t kernel_claims, kernel_grants, signal_retakes;
	uint32_t threads_unassisted, pad2;
};

/**
 * fiber_stats() - fill @out with a snapshot of the runtime
 *
 * The counts are read without stopping anything; they are exact only
 * while the program is quiescent.
 *
 * Return: 0, -EINVAL if @out is NULL or @out->size too small, -ESRCH
 * before fiber_main().
 */
int fiber_stats(struct fiber_stats *out);

/**
 * fiber_dump() - write every live fiber to @fd
 *
 * One entry per fiber: id, state, what it waits for, whether it is locked
 * to a thread, and which fiber created it where (a symbol if the creator
 * is in a shared object or the program was linked with -rdynamic).
 */
void fiber_dump(int fd);

/**
 * fiber_kernel_shared() - the fiber module's view of this process
 *
 * With kernel assistance on (fiber_stats().kernel), the memory the
 * module shares with the runtime: a struct fiber_shared, then one struct
 * fiber_slot per carrier thread (uapi/linux/fiber.h says who writes each
 * field; a slot's user_word is the id + 1 of the processor its thread
 * holds, 0 if none).  For tools and tests: read it, never write it.
 *
 * The module gives a page of slots memory only when a carrier first
 * registers in it, and reading a page it never gave faults (SIGBUS).  So
 * read only the slots below *@nr_slots: those the process ever used.
 *
 * Return: a pointer to the struct fiber_shared, or NULL without the
 * module or before fiber_main().  *@nr_slots (if not NULL) is set either
 * way, to 0 in the second case.
 */
const void *fiber_kernel_shared(unsigned int *nr_slots);


/* ---- channels and select (chan.c) ---------------------------------------- */

/**
 * fiber_chan_t - a Go channel of fixed-size elements
 *
 * fiber_chan_new(elem_size, capacity) makes one (capacity 0: unbuffered,
 * a send completes only when a receiver has taken the value); NULL if out
 * of memory or elem_size * capacity overflows.  A NULL channel, like Go's
 * nil channel, blocks forever and is never ready in a select.
 *
 * fiber_chan_send: 0 once the value is taken or buffered; -EPIPE if the
 * channel is or gets closed (where Go panics).  fiber_chan_recv: 1 with a
 * value, 0 when closed and drained (*elem zeroed).  fiber_chan_close: 0;
 * -EPIPE if already closed; every waiter wakes.  fiber_chan_free: only
 * when no fiber uses the channel any more.  Outside a fiber, send and
 * receive return -ESRCH.
 */
typedef struct fiber_chan fiber_chan_t;

fiber_chan_t *fiber_chan_new(size_t elem_size, size_t capacity);
int fiber_chan_send(fiber_chan_t *c, const void *elem);
int fiber_chan_recv(fiber_chan_t *c, void *elem);
int fiber_chan_close(fiber_chan_t *c);
void fiber_chan_free(fiber_chan_t *c);
/** fiber_chan_len() - values buffered now (Go's len(ch)). */
int fiber_chan_len(fiber_chan_t *c);

enum fiber_case_op {
	FIBER_CASE_SEND = 1,	/* send *elem on chan */
	FIBER_CASE_RECV,	/* receive into elem (may be NULL) */
	FIBER_CASE_TIMEOUT,	/* ready after timeout_ns (<= 0: at once) */
};

/**
 * struct fiber_case - one case of fiber_select()
 * @op: enum fiber_case_op.
 * @chan: the channel (NULL: never ready).
 * @elem: the value to send, or where to receive.
 * @timeout_ns: for FIBER_CASE_TIMEOUT, like Go's case <-time.After(d).
 * @result: out, for the case taken: send 0 or -EPIPE (closed); receive 1
 *	(value) or 0 (closed); timeout 0.
 */
struct fiber_case {
	int op;
	int result;
	fiber_chan_t *chan;
	void *elem;
	int64_t timeout_ns;
};

#define FIBER_SELECT_NONBLOCK	1	/* Go's default: -EAGAIN if none is ready */

/**
 * fiber_select() - wait for the first of @n cases (Go's select)
 *
 * Picks uniformly at random among the cases ready at once; otherwise
 * waits until one is.  Return: the index of the case taken, -EAGAIN with
 * FIBER_SELECT_NONBLOCK when none is ready, -EINVAL (bad op, flags or
 * n outside 0..4096), -ENOMEM, -ESRCH outside a fiber.  With no case
 * that can become ready and no flag it blocks forever.
 */
int fiber_select(struct fiber_case *cases, int n, int flags);

/* ---- synchronization (sync.c) -------------------------------------------- */

/* The private part of every primitive below: a lock and a wait queue. */
struct fiber_waitq_private {
	uint32_t lock;
	uint32_t flags;
	void *head, *tail;
};
/* Every member named, so that C++ and -Wextra find no field left out. */
#define FIBER_WAITQ_PRIVATE_INITIALIZER	{ 0, 0, 0, 0 }

/**
 * fiber_mutex_t - a mutex that parks the fiber, never the thread
 *
 * Starvation-free like Go's sync.Mutex: a fiber that has waited over
 * 1 ms gets the lock handed to it at the next unlock.  Zero-initialized
 * (FIBER_MUTEX_INITIALIZER) it is unlocked.  fiber_mutex_lock/unlock
 * return 0; trylock 0 or -EBUSY; unlock of an unlocked mutex -EPERM;
 * -ESRCH outside a fiber for the calls that may wait.
 */
typedef struct fiber_mutex {
	uint32_t state;
	uint32_t pad;
	struct fiber_waitq_private q;
} fiber_mutex_t;
#define FIBER_MUTEX_INITIALIZER	{ 0, 0, FIBER_WAITQ_PRIVATE_INITIALIZER }

int fiber_mutex_lock(fiber_mutex_t *mu);
int fiber_mutex_trylock(fiber_mutex_t *mu);
int fiber_mutex_unlock(fiber_mutex_t *mu);

/** fiber_cond_t - a condition variable used with a fiber_mutex_t. */
typedef struct fiber_cond {
	struct fiber_waitq_private q;
} fiber_cond_t;
#define FIBER_COND_INITIALIZER	{ FIBER_WAITQ_PRIVATE_INITIALIZER }

int fiber_cond_wait(fiber_cond_t *c, fiber_mutex_t *mu);
int fiber_cond_signal(fiber_cond_t *c);
int fiber_cond_broadcast(fiber_cond_t *c);

/**
 * fiber_wg_t - Go's sync.WaitGroup
 *
 * fiber_wg_add(wg, delta) returns 0, or -EINVAL (and changes nothing) if
 * the counter would go negative; fiber_wg_done is add(-1); fiber_wg_wait
 * parks until the counter is zero.
 */
typedef struct fiber_wg {
	int64_t count;
	struct fiber_waitq_private q;
} fiber_wg_t;
#define FIBER_WG_INITIALIZER	{ 0, FIBER_WAITQ_PRIVATE_INITIALIZER }

int fiber_wg_add(fiber_wg_t *wg, int64_t delta);
int fiber_wg_done(fiber_wg_t *wg);
int fiber_wg_wait(fiber_wg_t *wg);

/** fiber_once_t - Go's sync.Once: fiber_once() calls @fn exactly once. */
typedef struct fiber_once {
	uint32_t done;
	uint32_t pad;
	fiber_mutex_t mu;
} fiber_once_t;
#define FIBER_ONCE_INITIALIZER	{ 0, 0, FIBER_MUTEX_INITIALIZER }

int fiber_once(fiber_once_t *once, void (*fn)(void));

/** fiber_sem_t - a counting semaphore; waiters are served in order. */
typedef struct fiber_sem {
	int64_t count;
	struct fiber_waitq_private q;
} fiber_sem_t;

int fiber_sem_init(fiber_sem_t *sem, int64_t count);	/* -EINVAL if < 0 */
int fiber_sem_acquire(fiber_sem_t *sem);
int fiber_sem_tryacquire(fiber_sem_t *sem);		/* 0 or -EAGAIN */
int fiber_sem_release(fiber_sem_t *sem);

/* ---- time (timer.c) ------------------------------------------------------- */

/** fiber_now() - CLOCK_MONOTONIC in nanoseconds. */
int64_t fiber_now(void);

/**
 * fiber_sleep() - park the calling fiber for at least @ns nanoseconds
 *
 * Costs no thread while it sleeps.  @ns <= 0 returns at once.  Outside a
 * fiber it sleeps the thread.
 */
void fiber_sleep(int64_t ns);

/* ---- I/O (netpoll.c, io.c) ------------------------------------------------ */

/**
 * fiber_wait_fd() - park until @fd is ready for @events (POLLIN, POLLOUT)
 *
 * Through the runtime's epoll instance (edge-triggered); @timeout_ns < 0
 * waits forever, 0 only checks.  Any number of fibers may wait on one fd:
 * they are served in turn, first come first served, one per edge, and
 * take their turn with the I/O calls below; a fiber woken should do its
 * I/O until EAGAIN, as with any edge-triggered interface.  The fd's
 * deadlines (fiber_set_deadline) apply.  Return: the events that are
 * ready, -ETIMEDOUT, -EINVAL, -EBADF (also when fiber_close() closes @fd
 * meanwhile), -ESRCH outside a fiber.  Regular files are always ready.
 */
int fiber_wait_fd(int fd, int events, int64_t timeout_ns);

/**
 * fiber_read(), fiber_write(), fiber_accept(), fiber_connect() - I/O that
 * parks the fiber instead of blocking the thread
 *
 * They put @fd in non-blocking mode (it stays so; the calls work on fds
 * opened blocking), try the call, and wait for readiness while it would
 * block.  Any number of fibers may use one fd: in each direction the
 * calls take turns, first come first served (as Go's net.Conn), and a
 * fiber_write is never interleaved with another's.  fiber_write writes
 * all @len bytes unless an error occurs, and on a socket never raises
 * SIGPIPE (MSG_NOSIGNAL: a peer that is gone is -EPIPE); for pipes,
 * ignore SIGPIPE (see fiber_main(3)).  fiber_accept returns the new fd,
 * non-blocking and close-on-exec.  Return: as the system call, with
 * -errno for errors, -ETIMEDOUT past the fd's deadline.  Close fds used
 * with them through fiber_close(), which wakes the fibers waiting on
 * them (-EBADF) and forgets their state.
 */
ssize_t fiber_read(int fd, void *buf, size_t len);
ssize_t fiber_write(int fd, const void *buf, size_t len);
int fiber_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int fiber_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int fiber_close(int fd);

/* The directions of fiber_set_deadline: the bits of POLLIN and POLLOUT. */
#define FIBER_READ	0x001
#define FIBER_WRITE	0x004

/**
 * fiber_set_deadline() - fail I/O on @fd from time @when_ns (SetDeadline)
 *
 * Like Go's SetReadDeadline and SetWriteDeadline, for the directions in
 * @which (FIBER_READ, FIBER_WRITE or both): from @when_ns on
 * (CLOCK_MONOTONIC, as fiber_now()), calls on @fd in that direction,
 * waiting ones included, fail with -ETIMEDOUT, at once and before any
 * I/O.  The deadline is absolute and stays until changed: set a later
 * one to extend it (also after it passed), 0 for none.  fiber_close()
 * clears it.  Return: 0, -EINVAL (bad @which), -EBADF, -ENOMEM (no
 * deadline is set), -ESRCH before fiber_main().
 */
int fiber_set_deadline(int fd, int which, int64_t when_ns);

/**
 * fiber_read_timeout(), fiber_write_timeout() - I/O that waits at most
 * @timeout_ns
 *
 * As fiber_read() and fiber_write(), waiting (in the queue and for
 * readiness together) at most @timeout_ns: 0 tries without waiting, < 0
 * waits for ever.  The fd's deadlines apply as well.  Return: as
 * fiber_read() and fiber_write(): -ETIMEDOUT if the time is up before
 * anything was transferred, else the bytes written; -ESRCH outside a
 * fiber.
 */
ssize_t fiber_read_timeout(int fd, void *buf, size_t len, int64_t timeout_ns);
ssize_t fiber_write_timeout(int fd, const void *buf, size_t len,
			    int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* FIBER_H */
