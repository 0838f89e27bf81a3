/* SPDX-License-Identifier: MIT */
/*
 * libfiber: Go-style fibers for C.
 *
 * A fiber is a function with its own stack that the runtime schedules
 * cooperatively on carrier threads, like a goroutine.  A program hands its
 * main function to fiber_main(), which runs it as the first fiber; from
 * there fiber_go() starts more.
 *
 * Status of this version: one carrier thread and one processor run every
 * fiber in FIFO order.  The G/M/P scheduler (work stealing, sysmon,
 * GOMAXPROCS), channels, timers and the kernel-assisted mode come next; the
 * names below are already those of the final API.  See docs/libfiber.md.
 *
 * Errors are returned as negative errno values, never through errno.
 */
#ifndef FIBER_H
#define FIBER_H

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

/** fiber_yield() - let the other runnable fibers run (Go's Gosched). */
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

/** fiber_num() - number of fibers that exist (NumGoroutine). */
int fiber_num(void);

#ifdef __cplusplus
}
#endif

#endif /* FIBER_H */
