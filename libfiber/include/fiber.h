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
 * the man pages in libfiber/man/.
 *
 * Scheduling is cooperative: a fiber runs until it yields, exits, parks or
 * enters a system call through fiber_syscall_enter().
 *
 * Fibers migrate between threads.  A fiber may resume on another thread
 * after any call that can switch (fiber_yield, fiber_syscall_exit, and
 * later the blocking calls), so code must not keep the address of a
 * thread-local variable across one: take errno, or &tls_var, again after
 * the call.  Use fiber_lock_thread() to stay on one thread.
 *
 * Errors are returned as negative errno values, never through errno.
 */
#ifndef FIBER_H
#define FIBER_H

#include <stddef.h>
#include <stdint.h>

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
_Noreturn void fiber_exit(void);

/**
 * fiber_defer() - call fn(arg) when the calling fiber ends
 *
 * Deferred calls run in reverse order when the fiber's function returns or
 * when it calls fiber_exit().
 *
 * Return: 0, -EINVAL if @fn is NULL, -ESRCH outside a fiber, -ENOMEM.
 */
int fiber_defer(void (*fn)(void *arg), void *arg);

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
 */
struct fiber_stats {
	uint64_t size;
	uint64_t runnable, running, syscall, waiting, live, dead;
	uint32_t threads, threads_idle, threads_spinning, threads_locked;
	uint32_t procs, procs_idle, global_runq, pad;
	uint64_t steals, handoffs, long_runs, thread_create_failures;
	uint64_t stack_size, stacks_guard_madvise, stacks_guard_mprotect;
	uint64_t stacks_canary, stack_mapped_bytes, scavenged_bytes;
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

#ifdef __cplusplus
}
#endif

#endif /* FIBER_H */
