// SPDX-License-Identifier: GPL-2.0
/*
 * Time namespaces.  A container, or a process CRIU restored, may see
 * CLOCK_MONOTONIC an hour (or a week) ahead of the host's.  PARK's
 * deadline is read on the caller's clock, and the block and wake times in
 * its slots are written on it, so a process in such a namespace finds them
 * right.  The module of before used the host's clock for both: a park for
 * 50 ms slept an hour more, and the slots' times were an hour behind.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "harness_ext.h"

#define AHEAD_S		3600

/* Become the first process of a time namespace AHEAD_S seconds ahead. */
static int enter_ahead(void)
{
	char text[64];
	int fd, n;
	pid_t pid;

	if (unshare(CLONE_NEWTIME))
		return -errno;
	fd = open("/proc/self/timens_offsets", O_WRONLY);
	if (fd < 0)
		return -errno;
	n = snprintf(text, sizeof(text), "monotonic %d 0\n", AHEAD_S);
	if (write(fd, text, n) != n) {
		close(fd);
		return -errno;
	}
	close(fd);
	/* The namespace applies to children: carry on in one. */
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid) {
		int status;

		waitpid(pid, &status, 0);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 100);
	}
	return 0;
}

/* A carrier that blocks once in nanosleep() and then waits to be told. */
struct napper {
	int fd;
	atomic_int state;		/* 1 registered, 2 napped */
	uint32_t slot;
};

static void *napper_main(void *arg)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	struct napper *n = arg;

	if (fiber_register(n->fd, 0, &n->slot))
		return (void *)1;
	atomic_store(&n->state, 1);
	nanosleep(&nap, NULL);
	atomic_store(&n->state, 2);
	while (atomic_load(&n->state) != 3)
		;
	return fiber_unregister(n->fd) ? (void *)2 : NULL;
}

/*
 * In the child, in the namespace: the park deadline and the slot's times.
 * Exit codes say which step failed.
 */
static int ahead_checks(void)
{
	struct fiber_map m;
	struct napper n = { 0 };
	struct fiber_slot *s;
	uint64_t before, after;
	uint32_t me, nr = 0;
	pthread_t t;
	void *ret;
	int fd;

	fd = fiber_open();
	if (fd < 0 || fiber_map(fd, &m))
		return 20;
	/* A deadline 50 ms from now on this clock passes 50 ms from now. */
	if (fiber_register(fd, 0, &me))
		return 21;
	before = now_ns();
	if (fiber_park_ms(fd, 50, NULL, &nr) != -ETIMEDOUT)
		return 22;
	after = now_ns();
	if (after - before > 5000 * MSEC)
		return 23;
	if (fiber_unregister(fd))
		return 24;

	/* The slot's block and wake times are on this clock too. */
	n.fd = fd;
	before = now_ns();
	if (pthread_create(&t, NULL, napper_main, &n))
		return 25;
	while (atomic_load(&n.state) < 2)
		usleep(1000);
	after = now_ns();
	s = fiber_slot_of(&m, n.slot);
	if (s->last_block_ns < before || s->last_block_ns > after ||
	    s->last_wake_ns < s->last_block_ns || s->last_wake_ns > after) {
		fprintf(stderr, "# slot times %llu and %llu, not in [%llu, %llu]\n",
			(unsigned long long)s->last_block_ns,
			(unsigned long long)s->last_wake_ns,
			(unsigned long long)before, (unsigned long long)after);
		return 26;
	}
	atomic_store(&n.state, 3);
	pthread_join(t, &ret);
	return ret ? 27 : 0;
}

TEST(a_process_ahead_in_time_parks_and_stamps_on_its_own_clock)
{
	pid_t pid, done = 0;
	int status;

	if (access("/proc/self/timens_offsets", F_OK))
		SKIP(return, "this kernel has no time namespaces");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int ret;

		setpgid(0, 0);	/* its child is killed with it */
		ret = enter_ahead();
		if (ret == -EPERM)
			_exit(99);
		_exit(ret ? 98 : ahead_checks());
	}
	/* The module of before parked for an hour: give up after 20 s. */
	for (int i = 0; i < 2000 && !(done = waitpid(pid, &status, WNOHANG)); i++)
		usleep(10 * 1000);
	if (!done) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 99)
		SKIP(return, "may not make a time namespace (needs CAP_SYS_ADMIN)");
	EXPECT_TRUE(WIFEXITED(status)) TH_LOG("the park did not return in 20 s");
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_LIMIT(a_process_ahead_in_time_parks_and_stamps_on_its_own_clock, 60)

/* It parks on the module. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
