// SPDX-License-Identifier: MIT
/*
 * The program gdb_test.sh debugs: fibers parked in functions of their own,
 * one per way of waiting, so that a backtrace of each must name its
 * function.  Once every one of them is parked (read from fiber_dump(), so
 * that no timing is assumed), the main fiber calls gdb_target_ready(),
 * where the test has its breakpoint; then the program exits.
 *
 * The ids of the fibers are kept in globals (gdb_target_*_id) so that the
 * test can name a fiber with `fiber gdb_target_chan_id bt`.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fiber.h"

volatile uint64_t gdb_target_chan_id, gdb_target_sleep_id, gdb_target_cond_id,
	gdb_target_mutex_id, gdb_target_locked_id, gdb_target_main_id;

static fiber_chan_t *never_sent;
static fiber_mutex_t mu = FIBER_MUTEX_INITIALIZER;
static fiber_mutex_t held = FIBER_MUTEX_INITIALIZER;
static fiber_cond_t never_signalled = FIBER_COND_INITIALIZER;
static fiber_wg_t never_done = FIBER_WG_INITIALIZER;

/* noinline: each must be a frame of its own in a backtrace. */
#define FRAME __attribute__((noinline))

FRAME void gdb_target_ready(void)
{
	__asm__ volatile("" ::: "memory");	/* not folded into its caller */
}

FRAME static void park_in_chan_recv(void *arg)
{
	int v;

	(void)arg;
	gdb_target_chan_id = fiber_id();
	fiber_chan_recv(never_sent, &v);
	__asm__ volatile("" ::: "memory");	/* no tail call */
}

FRAME static void park_in_sleep(void *arg)
{
	(void)arg;
	gdb_target_sleep_id = fiber_id();
	fiber_sleep(3600 * 1000000000LL);
	__asm__ volatile("" ::: "memory");
}

FRAME static void park_in_cond_wait(void *arg)
{
	(void)arg;
	gdb_target_cond_id = fiber_id();
	fiber_mutex_lock(&mu);
	fiber_cond_wait(&never_signalled, &mu);
	fiber_mutex_unlock(&mu);
}

FRAME static void park_in_mutex_lock(void *arg)
{
	(void)arg;
	gdb_target_mutex_id = fiber_id();
	fiber_mutex_lock(&held);	/* the main fiber holds it */
	fiber_mutex_unlock(&held);
}

FRAME static void park_locked_to_thread(void *arg)
{
	(void)arg;
	gdb_target_locked_id = fiber_id();
	fiber_lock_thread();
	fiber_wg_wait(&never_done);
	fiber_unlock_thread();
}

/* How many fibers fiber_dump() shows waiting for @reason. */
static int count_waiting(const char *dump, const char *reason)
{
	char pat[64];
	const char *p = dump;
	int n = 0;

	snprintf(pat, sizeof(pat), "[waiting, %s, ", reason);
	while ((p = strstr(p, pat))) {
		n++;
		p += strlen(pat);
	}
	return n;
}

/* True once fiber_dump() shows all five parked. */
static bool all_parked(void)
{
	static char buf[1 << 16];
	bool done;
	ssize_t n;
	int fd = memfd_create("gdb_target_dump", 0);

	if (fd < 0) {
		perror("memfd_create");
		exit(1);
	}
	fiber_dump(fd);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	done = count_waiting(buf, "chan receive") == 1 &&
	       count_waiting(buf, "sleep") == 1 &&
	       count_waiting(buf, "cond wait") == 1 &&
	       count_waiting(buf, "mutex") == 1 &&
	       count_waiting(buf, "WaitGroup wait") == 1;
	return done;
}

static int target_main(int argc, char **argv)
{
	void (*const fns[])(void *) = {
		park_in_chan_recv, park_in_sleep, park_in_cond_wait,
		park_in_mutex_lock, park_locked_to_thread,
	};
	size_t i;

	(void)argc, (void)argv;
	gdb_target_main_id = fiber_id();
	never_sent = fiber_chan_new(sizeof(int), 0);
	if (!never_sent || fiber_wg_add(&never_done, 1))
		return 1;
	fiber_mutex_lock(&held);
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (fiber_go(fns[i], NULL))
			return 1;
	while (!all_parked())
		fiber_sleep(1000000);	/* 1 ms; as long as it takes */
	gdb_target_ready();
	printf("gdb_target: ready and done\n");
	return 0;
}

int main(int argc, char **argv)
{
	return fiber_main(target_main, argc, argv);
}
