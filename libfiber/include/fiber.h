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
 * Where Go panics (send on a closed channel, a second close, unlock of an
 * unlocked mutex, a negative WaitGroup counter, go of a NULL function)
 * the call returns an error instead, and changes nothing.  Such a misuse
 * is a bug in the program: with FIBER_STRICT=1 in the environment it
 * aborts the process with a report (what, which fiber, which object,
 * the call site, then fiber_dump()), as a Go program would panic.  The
 * man pages list the misuses of each call; docs/libfiber.md, "Misuse",
 * all of them.
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

/*
 * FIBER_MUST_CHECK marks the calls whose result the caller must look at:
 * those whose failure leaves the program in a state it did not ask for
 * and would not notice otherwise (no fiber started, no value sent, no
 * channel made, nothing deferred, no case known, no data read), and
 * those whose result is the point of the call (trylock, I/O).  Ignoring
 * such a result is then a compiler warning (-Wunused-result, on by
 * default in gcc and clang).
 *
 * The other calls are not marked, so that code written the way Go is
 * written stays quiet:
 *  - calls whose result Go lets a program drop: fiber_chan_recv (`<-ch`
 *    and `v := <-ch` ignore ok), fiber_maxprocs (the previous setting);
 *  - calls that fail only on a programming error, where Go panics or
 *    cannot fail: unlock, close, signal, WaitGroup add and done, a lock
 *    or wait outside a fiber.  Run with FIBER_STRICT=1 (docs/libfiber.md,
 *    "Misuse") to have those abort with a report instead of returning
 *    the error;
 *  - void calls (fiber_yield, fiber_sleep) and plain queries.
 *
 * It is [[nodiscard]] in C++17 and C23, where a cast to void silences
 * it, and warn_unused_result elsewhere with gcc and clang, where gcc
 * warns even for a cast to void: test the result instead, e.g.
 * `if (fiber_defer(fn, arg)) abort();`.  Other compilers get nothing.
 * Define FIBER_MUST_CHECK (empty) before including this header to turn
 * the warnings off.
 */
#ifndef FIBER_MUST_CHECK
#if defined(__cplusplus) && defined(__has_cpp_attribute)
#if __cplusplus >= 201703L && __has_cpp_attribute(nodiscard) >= 201603L
#define FIBER_MUST_CHECK [[nodiscard]]
#endif
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ > 201710L && \
	defined(__has_c_attribute)
#if __has_c_attribute(nodiscard)
#define FIBER_MUST_CHECK [[nodiscard]]
#endif
#endif
#if !defined(FIBER_MUST_CHECK) && (defined(__GNUC__) || defined(__clang__))
#define FIBER_MUST_CHECK __attribute__((__warn_unused_result__))
#endif
#ifndef FIBER_MUST_CHECK
#define FIBER_MUST_CHECK
#endif
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
 * if @main_fn is NULL, -ENOMEM, -EAGAIN if its threads cannot be started.
 */
FIBER_MUST_CHECK int fiber_main(int (*main_fn)(int argc, char **argv), int argc,
				char **argv);

/**
 * fiber_go() - start a fiber running fn(arg)
 *
 * The new fiber is queued behind the runnable ones; the caller keeps
 * running.  When @fn returns, the fiber exits as if it called fiber_exit().
 *
 * Return: 0, -EINVAL if @fn is NULL, -ESRCH if called outside fiber_main(),
 * -ENOMEM if no stack could be allocated.
 */
FIBER_MUST_CHECK int fiber_go(void (*fn)(void *arg), void *arg);

/**
 * struct fiber_attr - how to start a fiber (fiber_go_attr)
 * @size: sizeof(struct fiber_attr) as the caller knows it.  Fields the
 *	library has and the caller's struct lacks take their defaults; a
 *	larger struct must be zero beyond what the library knows.
 * @stack_size: stack size in bytes, rounded up to pages; 0 for the
 *	default (256 KiB, or FIBER_STACK_SIZE).  From 16 KiB to 1 GiB.
 * @flags: FIBER_ATTR_* bits, 0 for none (also when @size ends before it).
 */
struct fiber_attr {
	size_t size;
	size_t stack_size;
	unsigned int flags;
};

/*
 * FIBER_ATTR_COPY_STACK: run on a stack shared with other such fibers
 * and, while waiting, keep only the bytes the stack uses (copied to the
 * heap when another fiber needs the shared stack), instead of at least
 * one page of a stack of its own.  For many fibers that mostly wait.
 * The rule that comes with it: while the fiber is not running, nothing
 * may touch its stack.  Never give another fiber or thread a pointer to
 * its local variables (a channel value, a fiber_wg_t, a buffer) that it
 * may use while this fiber waits; use memory from the heap.  The
 * runtime's own waits (channels, select, sync, sleep, I/O) are safe,
 * and refuse (-EFAULT) to wait on a sync object on the fiber's own stack.
 * @stack_size must be 0: the shared stacks have the default size.  A
 * blocking system call outside the netpoller keeps the shared stack
 * taken, and fibers bound to the same one wait for it to return.  Each
 * switch to such a fiber goes through the scheduler, and one that must
 * swap the bytes on its stack copies them.  See docs/copied-stacks.md.
 */
#define FIBER_ATTR_COPY_STACK	0x1u

/**
 * fiber_go_attr() - start a fiber with attributes
 *
 * As fiber_go(); @attr may be NULL for the defaults.
 *
 * Return: 0, -EINVAL (NULL @fn, bad @attr->size, stack size out of
 * range, unknown flags, a stack size with FIBER_ATTR_COPY_STACK),
 * -ESRCH outside a fiber, -ENOMEM.
 */
FIBER_MUST_CHECK int fiber_go_attr(const struct fiber_attr *attr,
				   void (*fn)(void *arg), void *arg);

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
 * when it calls fiber_exit().  Unlike Go's defer, not when the function
 * that called fiber_defer() returns: for that, see FIBER_SCOPED_DEFER.
 *
 * Return: 0, -EINVAL if @fn is NULL, -ESRCH outside a fiber, -ENOMEM.
 */
FIBER_MUST_CHECK int fiber_defer(void (*fn)(void *arg), void *arg);

/**
 * struct fiber_scope - a call made when a C scope ends, or its fiber
 * @fn: the function, called with @arg.
 * @arg: its argument.
 * @link_private: the runtime's.
 * @state_private: the runtime's.
 *
 * Go's defer runs when the function returns, and Goexit runs the defers
 * of every frame.  C has no such hook, so libfiber offers both halves:
 * FIBER_SCOPED_DEFER(fn, arg) calls fn(arg) when the enclosing block is
 * left (its end, return, break, goto out of it), through the compiler's
 * cleanup attribute; and if the fiber calls fiber_exit() (directly or
 * deeper down) while the block is still open, fiber_exit() makes the
 * call with the other deferred calls, in reverse order of registration,
 * and the block's end never comes.  Either way the call is made once.
 *
 * FIBER_SCOPED_LOCK(mu) locks @mu and unlocks it the same way: Go's
 * `mu.Lock(); defer mu.Unlock()`, and no lock outlives its block.
 *
 * The macros need gcc or clang (GNU C, C99 and later, or GNU C++): with
 * other compilers they are not defined, rather than silently not
 * running.  In C++ they work too; a class whose constructor calls
 * fiber_scope_enter() and destructor fiber_scope_exit() is the RAII
 * equivalent, and a thrown exception runs either.  Do not longjmp() out
 * of the block: the call is not made, as with any cleanup attribute, and
 * the record stays queued in a dead frame for fiber_exit() to read.
 * Outside a fiber they only call at the end of the block.  They cannot
 * fail: no memory is allocated, the record lives in the block.
 *
 * fiber_scope_enter() registers @s (fn and arg set) for the calling
 * fiber and returns it; fiber_scope_exit() unregisters it and makes the
 * call.  A NULL @fn is a misuse (Go: defer of nil func): nothing is
 * called.
 */
struct fiber_scope {
	void (*fn)(void *arg);
	void *arg;
	struct fiber_scope *link_private;
	uintptr_t state_private;
};

struct fiber_scope *fiber_scope_enter(struct fiber_scope *s);
void fiber_scope_exit(struct fiber_scope *s);


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
 * inherit.  Nor do new threads inherit it (Go 1.10's rule): while a fiber
 * is locked, threads the runtime needs are started by a clean template
 * thread, never by the locked one.  Unlocking promises that the thread's
 * state is as it was.
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
 * default @stack_size, how many of those fibers ran on (or a processor
 * prepared, a batch at a time, for fibers to run on) were guarded with
 * madvise guard regions, with mprotect, or only with a canary (see
 * docs/libfiber.md),
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
 *
 * The fallback's signal (since LIBFIBER_0.6; see docs/libfiber.md,
 * "Without the module"): @signal_skips, times sysmon left a processor
 * with a thread blocked in a call that its signal would have cut short
 * with EINTR (nanosleep, poll...: FIBER_SIGNAL_RETAKE); @signal_eintrs,
 * system calls its signal did cut short.  Both stay 0 with the module.
 *
 * Copied stacks (FIBER_ATTR_COPY_STACK; docs/copied-stacks.md):
 * @shared_stacks, how many the copied fibers share (0 until the first
 * one starts); @stack_copies, times a copied fiber's bytes were put on
 * its shared stack in place of another's; @stack_waits, times a copied
 * fiber had to wait because another ran on its shared stack.
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
	uint64_t signal_skips, signal_eintrs;
	uint64_t shared_stacks, stack_copies, stack_waits;
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
FIBER_MUST_CHECK int fiber_stats(struct fiber_stats *out);

/**
 * fiber_dump() - write every live fiber to @fd
 *
 * One entry per fiber: id, state, what it waits for, whether it is locked
 * to a thread, and which fiber created it where (a symbol if the creator
 * is in a shared object or the program was linked with -rdynamic).
 */
void fiber_dump(int fd);

/**
 * fiber_trace_start() - record what the scheduler does, for @path
 * @path: the file fiber_trace_stop() writes the trace to; it is created
 *	(or opened) now, so that a path that cannot be written fails here
 *
 * From now on every fiber run, park, wake-up, steal, system call and
 * handoff, and fiber.ko's block, claim, hold and grant events where the
 * module is used, go to per-thread buffers, which a runtime thread
 * writes to an unnamed file beside @path every 5 ms (at most 64 MiB wait
 * to be written; beyond that, events are counted and dropped).
 * FIBER_TRACE=path in the environment starts a trace with the runtime.
 * A trace still running at exit() is written then.
 *
 * Return: 0, -EINVAL if @path is NULL or empty, -EBUSY if a trace runs,
 * -ENOMEM, -EAGAIN (no thread for the writer), or the -errno of opening
 * @path.
 */
FIBER_MUST_CHECK int fiber_trace_start(const char *path);

/**
 * fiber_trace_stop() - stop the trace and write it
 *
 * Writes the trace as Chrome trace-event JSON, which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open: a track per P with a
 * slice per fiber run, a track per M (thread) with the P it holds, its
 * system calls and fiber.ko's view of it, and arrows from each fiber to
 * the ones it readied.  docs/debugging.md describes every event.
 *
 * Return: 0, -ENOENT if no trace runs, -ENOMEM, or the -errno of
 * writing the file.  The trace is stopped whatever the result.
 */
int fiber_trace_stop(void);

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
 * of memory, or with errno EINVAL if capacity exceeds 2^40 or the buffer's
 * size overflows.  A NULL channel, like Go's
 * nil channel, blocks forever and is never ready in a select.
 *
 * Send and receive answer as write(2) and read(2) do:
 *  - fiber_chan_recv is Go's `v, ok := <-ch`: 1 (ok) with a value in
 *    *elem, 0 (not ok) once the channel is closed and drained (*elem
 *    zeroed), or a negative errno.  Loop with `> 0`: -ESRCH is true too.
 *  - fiber_chan_send: 0 once the value is taken or buffered, or a
 *    negative errno: -EPIPE if the channel is or gets closed, where Go
 *    panics.
 * They differ on purpose: a receive has two normal outcomes and a send
 * one.  A closed channel ends a receive loop, like read(2)'s 0, but is
 * a bug for a send, like write(2)'s EPIPE.  With -EPIPE for a drained
 * channel too, the same code would mean a normal end of stream in one
 * call and a misuse (that FIBER_STRICT aborts) in the other; as it is,
 * every negative result of a channel call is an error.  fiber_select's
 * case results follow the same rule.
 *
 * fiber_chan_close: 0, every waiter wakes; -EPIPE if already closed and
 * -EINVAL for NULL (Go panics for both).  fiber_chan_free: 0 (NULL is
 * fine); call it when no fiber uses the channel any more: -EBUSY, and
 * nothing is freed, while fibers still wait on it.  Outside a fiber,
 * send and receive return -ESRCH.  The misuses named here abort under
 * FIBER_STRICT=1 (see FIBER_MUST_CHECK).
 */
typedef struct fiber_chan fiber_chan_t;

FIBER_MUST_CHECK fiber_chan_t *fiber_chan_new(size_t elem_size,
					      size_t capacity);
FIBER_MUST_CHECK int fiber_chan_send(fiber_chan_t *c, const void *elem);
int fiber_chan_recv(fiber_chan_t *c, void *elem);
int fiber_chan_close(fiber_chan_t *c);
int fiber_chan_free(fiber_chan_t *c);
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
FIBER_MUST_CHECK int fiber_select(struct fiber_case *cases, int n, int flags);

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
 * return 0; trylock 0 or -EBUSY; unlock of an unlocked mutex -EPERM (a
 * fatal error in Go); -ESRCH for a lock that would have to wait outside
 * a fiber.  Both are misuses, which FIBER_STRICT=1 turns into an abort.
 * So is a wait of a copied fiber (FIBER_ATTR_COPY_STACK) on a mutex,
 * condition, WaitGroup or semaphore on its own stack: -EFAULT.
 */
typedef struct fiber_mutex {
	uint32_t state;
	uint32_t pad;
	struct fiber_waitq_private q;
} fiber_mutex_t;
#define FIBER_MUTEX_INITIALIZER	{ 0, 0, FIBER_WAITQ_PRIVATE_INITIALIZER }

int fiber_mutex_lock(fiber_mutex_t *mu);
FIBER_MUST_CHECK int fiber_mutex_trylock(fiber_mutex_t *mu);
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
 * the counter would go negative, where Go panics (a misuse: FIBER_STRICT
 * aborts); fiber_wg_done is add(-1); fiber_wg_wait parks until the
 * counter is zero.
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
FIBER_MUST_CHECK int fiber_sem_tryacquire(fiber_sem_t *sem);		/* 0 or -EAGAIN */
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

/**
 * fiber_timer_t - Go's time.Timer and time.Ticker, delivered on a channel
 *
 * fiber_timer_new(ns) fires once, @ns from now (<= 0: at once);
 * fiber_ticker_new(period_ns) fires every @period_ns (> 0).  Each firing
 * sends the time it was due (an int64_t in fiber_now()'s clock) on the
 * timer's channel, fiber_timer_chan(): a buffered channel of capacity 1,
 * to receive from or select on, never to send on, close or free.  A
 * ticker whose receiver lags drops ticks rather than queue them, and
 * keeps to its period's grid.  NULL with errno EINVAL (a period <= 0),
 * ENOMEM, or ESRCH before fiber_main().
 *
 * fiber_timer_stop() and fiber_timer_reset() follow Go 1.23: once either
 * returns, no value from before the call can be received (one waiting in
 * the buffer is dropped).  Both return 1 if the timer was active, that
 * is, it had not fired yet or its value had not been received; else 0.
 * Reset arms it again for @ns from now; on a ticker @ns is the new
 * period (> 0).  -EINVAL for a NULL timer or a bad period (nothing
 * changes), -ENOMEM (the timer is left stopped).
 *
 * fiber_timer_free() stops the timer and frees it with its channel: only
 * once no fiber uses either any more (as fiber_chan_free).  A firing in
 * progress is waited for; a value not received is dropped.  NULL is a
 * no-op.  These calls work from any thread once fiber_main() runs.
 */
typedef struct fiber_timer_obj fiber_timer_t;

FIBER_MUST_CHECK fiber_timer_t *fiber_timer_new(int64_t ns);
FIBER_MUST_CHECK fiber_timer_t *fiber_ticker_new(int64_t period_ns);
fiber_chan_t *fiber_timer_chan(fiber_timer_t *t);
int fiber_timer_stop(fiber_timer_t *t);		/* like Go's Stop: may be ignored */
FIBER_MUST_CHECK int fiber_timer_reset(fiber_timer_t *t, int64_t ns);
void fiber_timer_free(fiber_timer_t *t);

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
FIBER_MUST_CHECK int fiber_wait_fd(int fd, int events, int64_t timeout_ns);

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
FIBER_MUST_CHECK ssize_t fiber_read(int fd, void *buf, size_t len);
FIBER_MUST_CHECK ssize_t fiber_write(int fd, const void *buf, size_t len);
FIBER_MUST_CHECK int fiber_accept(int fd, struct sockaddr *addr,
				  socklen_t *addrlen);
FIBER_MUST_CHECK int fiber_connect(int fd, const struct sockaddr *addr,
				   socklen_t addrlen);
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
FIBER_MUST_CHECK int fiber_set_deadline(int fd, int which, int64_t when_ns);

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
FIBER_MUST_CHECK ssize_t fiber_read_timeout(int fd, void *buf, size_t len, int64_t timeout_ns);
FIBER_MUST_CHECK ssize_t fiber_write_timeout(int fd, const void *buf, size_t len,
			    int64_t timeout_ns);

/* ---- scoped defer (fiber.c): struct fiber_scope above ------------------- */

#if defined(__GNUC__) || defined(__clang__)
/* The macros' helpers: not part of the API. */
static inline void fiber_scope_cleanup_(struct fiber_scope **s)
{
	if (*s)
		fiber_scope_exit(*s);
}

static inline void fiber_scope_unlock_(void *mu)
{
	fiber_mutex_unlock((fiber_mutex_t *)mu);
}

/* Lock, then register: the unlock is due only once the lock is held. */
static inline struct fiber_scope *fiber_scope_lock_(struct fiber_scope *s)
{
	if (fiber_mutex_lock((fiber_mutex_t *)s->arg))
		return 0;	/* a misuse: not locked, so no unlock */
	return fiber_scope_enter(s);
}

/* Only a fiber_mutex_t * will do. */
static inline void *fiber_scope_mutex_(fiber_mutex_t *mu)
{
	return mu;
}

#define FIBER_SCOPE_CAT_(a, b)	a##b
#define FIBER_SCOPE_NAME_(a, n)	FIBER_SCOPE_CAT_(a, n)
/*
 * The record, and a pointer to it whose cleanup leaves the scope (clang
 * counts a variable read only by its cleanup as unused).
 */
#define FIBER_SCOPE_VARS_(n, fn, arg, enter)				\
	struct fiber_scope FIBER_SCOPE_NAME_(fiber_scope_, n) =		\
		{ (fn), (arg), 0, 0 };					\
	struct fiber_scope *FIBER_SCOPE_NAME_(fiber_scope_guard_, n)	\
	__attribute__((__cleanup__(fiber_scope_cleanup_), __unused__)) = \
		enter(&FIBER_SCOPE_NAME_(fiber_scope_, n))

/* Call fn(arg) when the enclosing block is left (struct fiber_scope). */
#define FIBER_SCOPED_DEFER(fn, arg)					\
	FIBER_SCOPE_VARS_(__COUNTER__, fn, arg, fiber_scope_enter)

/* Lock @mu now and unlock it when the enclosing block is left. */
#define FIBER_SCOPED_LOCK(mu)						\
	FIBER_SCOPE_VARS_(__COUNTER__, fiber_scope_unlock_,		\
			  fiber_scope_mutex_(mu), fiber_scope_lock_)
#endif

#ifdef __cplusplus
}
#endif

#endif /* FIBER_H */
