/* SPDX-License-Identifier: MIT */
/*
 * Helpers for libfiber's tests.  fiber_main() ends the process, so each
 * scenario runs it in a child and the test judges the child's wait status.
 * Inside fibers, CHECK() reports a failed condition and exits with 1.
 */
#ifndef FIBER_TEST_HELPERS_H
#define FIBER_TEST_HELPERS_H

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fiber.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		exit(1);						\
	}								\
} while (0)

/*
 * Run main_fn under fiber_main() in a child with @procs processors (0:
 * the default) and FIBER_STRICT=@strict; return its wait status.  If @err
 * is not NULL, the child's stderr is captured there (NUL-terminated,
 * truncated to @len - 1 bytes).
 *
 * The tests run with FIBER_STRICT=1 (run_fiber_main*): a misuse of the
 * API aborts the scenario with a report instead of returning an error
 * the test might not look at (docs/libfiber.md, "Misuse").  A scenario
 * that checks the error a misuse returns runs with strict off
 * (run_fiber_main_lax*).  Whatever the caller's environment says.
 */
static inline int run_fiber_main_as(int (*main_fn)(int argc, char **argv),
				    int procs, const char *strict,
				    char *err, size_t len)
{
	int status, fds[2] = { -1, -1 };
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	fflush(NULL);
	if (err && pipe(fds))
		return -1;
	pid = fork();
	if (pid == 0) {
		if (err) {
			dup2(fds[1], 2);
			close(fds[0]);
		}
		setenv("FIBER_STRICT", strict, 1);
		if (procs)
			fiber_maxprocs(procs);
		if (fiber_main(main_fn, 0, NULL))
			_exit(99);	/* fiber_main failed to start */
		_exit(98);	/* not reached: fiber_main ends the process */
	}
	if (err) {
		char rest[512];

		close(fds[1]);
		while (pid > 0 && got < len - 1 &&
		       (n = read(fds[0], err + got, len - 1 - got)) > 0)
			got += n;
		err[got] = 0;
		/*
		 * Read the rest too: a child writing more than @len (a
		 * deadlock's dump lists every carrier of fiber.ko's) would
		 * die of SIGPIPE, not exit with its own status.
		 */
		while (pid > 0 && read(fds[0], rest, sizeof(rest)) > 0)
			;
		close(fds[0]);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static inline int run_fiber_main_procs(int (*main_fn)(int argc, char **argv),
				       int procs, char *err, size_t len)
{
	return run_fiber_main_as(main_fn, procs, "1", err, len);
}

static inline int run_fiber_main_err(int (*main_fn)(int argc, char **argv),
				     char *err, size_t len)
{
	return run_fiber_main_procs(main_fn, 0, err, len);
}

/*
 * In a TEST: run @main_fn under fiber_main with @procs processors (0:
 * the default); log its stderr if it fails.  (A macro: EXPECT_TRUE and
 * TH_LOG belong to the harness.)
 */
#define EXPECT_CLEAN_RUN_PROCS(main_fn, procs) do {			\
	char err_[1024];						\
									\
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_fn, procs,	\
						     err_, sizeof(err_)), 0)) \
		TH_LOG("%s", err_);					\
} while (0)

#define EXPECT_CLEAN_RUN(main_fn) EXPECT_CLEAN_RUN_PROCS(main_fn, 0)

static inline int run_fiber_main(int (*main_fn)(int argc, char **argv))
{
	return run_fiber_main_procs(main_fn, 0, NULL, 0);
}

/* With FIBER_STRICT=0: for the scenarios that check a misuse's error. */
static inline int run_fiber_main_lax(int (*main_fn)(int argc, char **argv))
{
	return run_fiber_main_as(main_fn, 0, "0", NULL, 0);
}

/* Yield until only the caller is left. */
static inline void wait_others(void)
{
	while (fiber_num() > 1)
		fiber_yield();
}

static inline struct fiber_stats stats_now(void)
{
	struct fiber_stats s = { .size = sizeof(s) };

	CHECK(fiber_stats(&s) == 0);
	return s;
}

/*
 * Under valgrind (FIBER_TEST_SLOW=1, set by testing/check-libfiber.sh) every
 * thread runs in turn and slowly: loops shrink by 20 so the tests finish
 * within the harness's 30 s, and waits for sysmon grow by 5.
 */
static inline int test_slow(void)
{
	const char *s = getenv("FIBER_TEST_SLOW");

	return s && *s == '1';
}

/*
 * FIBER_TEST_SHRINK=N: loops shrink by N, nothing else changes.  fiber-vm
 * sets it on its debug kernel, where KASAN and lockdep make every block,
 * wake-up and page fault of the module's many times dearer: there the
 * loops' length proves nothing more about what those look for.
 */
static inline long scaled(long n)
{
	const char *shrink = getenv("FIBER_TEST_SHRINK");
	long by = test_slow() ? 20 : shrink && atol(shrink) > 1 ? atol(shrink) : 1;

	return n / by > 0 ? n / by : 1;
}

/*
 * FIBER_TEST_SLACK=N: a bound on how late a wake-up may come grows N
 * times (the lower bounds, never early, stay).  fiber-vm sets it on its
 * debug kernel, where a timer's interrupt, the wake-up and the switch to
 * the woken thread each cost tens of milliseconds under QEMU: there a
 * bound meant for real hardware says nothing about the runtime.
 */
static inline long test_slack(void)
{
	const char *s = getenv("FIBER_TEST_SLACK");

	return s && atol(s) > 1 ? atol(s) : 1;
}

/*
 * The most fibers one test keeps alive: @n, or FIBER_TEST_FIBERS when that
 * is lower.  testing/check-libfiber.sh sets it under the checkers, where a
 * fiber costs a hundred times more (ASan maps shadow and a fake stack for
 * each, valgrind registers each stack, qemu-user translates every first
 * touch): there the size of a test proves nothing about the checker's
 * findings, and the plain build runs the full size.  The test says so.
 */
static inline long many_fibers(long n)
{
	const char *cap = getenv("FIBER_TEST_FIBERS");

	if (cap && atol(cap) > 0 && atol(cap) < n) {
		printf("# %ld fibers instead of %ld (FIBER_TEST_FIBERS)\n",
		       atol(cap), n);
		fflush(stdout);
		return atol(cap);
	}
	return n;
}

/*
 * Did the wait status @status come from a normal exit with @code?  A
 * function, not a macro, so that a scenario passed as @status runs once
 * (the macro this replaces ran every scenario that exited twice).
 */
static inline bool exited_with(int status, int code)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

/*
 * Install the seccomp filter @prog (@len instructions) on every thread
 * of the process.  Return: 0, or -errno where filters cannot be set
 * (qemu-user has none).
 */
static inline int seccomp_install(struct sock_filter *prog,
				  unsigned short len)
{
	struct sock_fprog fprog = { .len = len, .filter = prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &fprog))
		return -errno;
	return 0;
}

/*
 * A TCP socket listening on a free loopback port, with @backlog; its
 * address in *@addr.  Return: the fd (a failure ends the scenario).
 */
static inline int loopback_listen(struct sockaddr_in *addr, int backlog)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET };
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)addr, len) == 0);
	CHECK(listen(fd, backlog) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)addr, &len) == 0);
	return fd;
}

#endif /* FIBER_TEST_HELPERS_H */
