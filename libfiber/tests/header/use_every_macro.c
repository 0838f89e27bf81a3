// SPDX-License-Identifier: MIT
/*
 * fiber.h as a user includes it, compiled as C (C99, C11, C17) and as C++
 * (C++11, 17, 20) by libfiber/tests/header/check.sh: every public macro
 * and a few functions, then run.  It prints "ok" and exits 0 if the
 * initializers made working objects.  With -DIGNORE_A_RESULT it ignores
 * the result of a FIBER_MUST_CHECK call, which must not compile.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fiber.h>

static fiber_mutex_t mu = FIBER_MUTEX_INITIALIZER;
static fiber_cond_t cond = FIBER_COND_INITIALIZER;
static fiber_wg_t wg = FIBER_WG_INITIALIZER;
static fiber_once_t once = FIBER_ONCE_INITIALIZER;
static int onces, sum;

static void count_once(void)
{
	onces++;
}

static int scoped;

static void count_scoped(void *arg)
{
	scoped += *(int *)arg;
}

static void worker(void *arg)
{
	static int one = 1;

	fiber_once(&once, count_once);
	{
		FIBER_SCOPED_DEFER(count_scoped, &one);
		FIBER_SCOPED_LOCK(&mu);
		sum += *(int *)arg;
		fiber_cond_broadcast(&cond);
	}
	fiber_wg_done(&wg);
}

static void quit(void *arg)
{
	(void)arg;
	fiber_exit();	/* FIBER_NORETURN */
}

static int run(int argc, char **argv)
{
	static int one = 1, two = 2;
	struct fiber_case c;
	fiber_chan_t *ch = fiber_chan_new(sizeof(int), 1);
	struct fiber_attr attr;

	(void)argc;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.flags = FIBER_ATTR_COPY_STACK;
	(void)argv;
	fiber_wg_add(&wg, 2);
	if (fiber_go(worker, &one) || fiber_go(worker, &two) ||
	    fiber_go_attr(&attr, quit, NULL))
		return 1;
#ifdef IGNORE_A_RESULT
	/* FIBER_MUST_CHECK: check.sh expects this not to compile. */
	fiber_go(quit, NULL);
#endif
	fiber_mutex_lock(&mu);
	while (sum != 3)
		fiber_cond_wait(&cond, &mu);
	fiber_mutex_unlock(&mu);
	fiber_wg_wait(&wg);

	/* Nothing is ready: a non-blocking select says so. */
	c.op = FIBER_CASE_RECV;
	c.result = 0;
	c.chan = ch;
	c.elem = NULL;
	c.timeout_ns = 0;
	if (fiber_select(&c, 1, FIBER_SELECT_NONBLOCK) != -EAGAIN || onces != 1 ||
	    scoped != 2)
		return 1;
	fiber_chan_free(ch);

	/* An I/O deadline passed: the read fails at once. */
	int fds[2];
	char byte;

	if (pipe(fds) ||
	    fiber_set_deadline(fds[0], FIBER_READ | FIBER_WRITE, fiber_now() - 1) ||
	    fiber_read(fds[0], &byte, 1) != -ETIMEDOUT)
		return 1;
	fiber_close(fds[0]);
	fiber_close(fds[1]);

	/* The library it runs with is the one the header came with. */
	char version[32];

	snprintf(version, sizeof(version), "%d.%d.%d", FIBER_VERSION_MAJOR,
		 FIBER_VERSION_MINOR, FIBER_VERSION_PATCH);
	if (strcmp(version, fiber_version())) {
		printf("header %s, library %s\n", version, fiber_version());
		return 1;
	}
	puts("ok");
	return 0;
}

int main(int argc, char **argv)
{
	return fiber_main(run, argc, argv);
}
