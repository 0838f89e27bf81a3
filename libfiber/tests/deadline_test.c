// SPDX-License-Identifier: MIT
/*
 * Deadlines on fiber I/O, as Go's SetDeadline: per fd and direction,
 * absolute, for calls waiting and calls to come, an expired one failing
 * calls at once; set while fibers wait, extended, cleared; on pipes and
 * sockets, for reads, writes, accept and connect.  And the per-call
 * timeouts, fiber_read_timeout and fiber_write_timeout.
 *
 * Timing: deadlines are never early (the checks that matter), and the
 * upper bounds only catch a deadline that never fires (seconds, where
 * milliseconds are needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define MS		1000000LL
#define LATE_NS		(5000 * MS)	/* "it fired at all", not "on time" */

/* As in sharedfd_test: yield until @cond, failing after 20 s. */
#define WAIT_FOR(cond) do {						\
	int64_t t0_ = fiber_now();					\
									\
	while (!(cond)) {						\
		CHECK(fiber_now() - t0_ < 20000 * MS && #cond);		\
		fiber_yield();						\
	}								\
} while (0)

static void wait_parked(uint64_t n)
{
	WAIT_FOR(stats_now().waiting >= n);
}

/* A pipe (sock false) or a connected socket pair, in @fds. */
static void make_pair(int fds[2], bool sock)
{
	if (sock)
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	else
		CHECK(pipe(fds) == 0);
}

static void close_pair(int fds[2])
{
	CHECK(fiber_close(fds[0]) == 0);
	CHECK(fiber_close(fds[1]) == 0);
}

/* ---- a read deadline: expiry, at once when passed, cleared -------------- */

static void read_deadline(bool sock)
{
	int fds[2];
	int64_t t0;
	char c;

	make_pair(fds, sock);
	t0 = fiber_now();
	CHECK(fiber_set_deadline(fds[0], FIBER_READ, t0 + 20 * MS) == 0);
	CHECK(fiber_read(fds[0], &c, 1) == -ETIMEDOUT);
	CHECK(fiber_now() - t0 >= 20 * MS);
	CHECK(fiber_now() - t0 < LATE_NS);
	/* Passed: calls fail at once, even with data there (Go's rule)... */
	CHECK(write(fds[1], "x", 1) == 1);
	CHECK(fiber_read(fds[0], &c, 1) == -ETIMEDOUT);
	CHECK(fiber_wait_fd(fds[0], POLLIN, -1) == -ETIMEDOUT);
	/* ...but only in that direction. */
	CHECK(fiber_write(fds[1], "y", 1) == 1);
	if (sock)
		CHECK(fiber_write(fds[0], "z", 1) == 1);
	/* Cleared, the data is there. */
	CHECK(fiber_set_deadline(fds[0], FIBER_READ, 0) == 0);
	CHECK(fiber_read(fds[0], &c, 1) == 1 && c == 'x');
	CHECK(fiber_read(fds[0], &c, 1) == 1 && c == 'y');
	/* A deadline in the past is passed already. */
	CHECK(fiber_set_deadline(fds[0], FIBER_READ, fiber_now() - 1) == 0);
	CHECK(fiber_read(fds[0], &c, 1) == -ETIMEDOUT);
	CHECK(fiber_set_deadline(fds[0], FIBER_READ, -5) == 0);
	CHECK(fiber_read(fds[0], &c, 1) == -ETIMEDOUT);
	/* A future one lets reads through until then. */
	CHECK(fiber_set_deadline(fds[0], FIBER_READ,
				 fiber_now() + LATE_NS) == 0);
	CHECK(write(fds[1], "w", 1) == 1);
	CHECK(fiber_read(fds[0], &c, 1) == 1 && c == 'w');
	close_pair(fds);
}

static int main_read_deadline(int argc, char **argv)
{
	(void)argc, (void)argv;
	read_deadline(false);
	read_deadline(true);
	return 0;
}

TEST(read_deadline_on_pipe_and_socket)
{
	EXPECT_CLEAN_RUN(main_read_deadline);
}

/* ---- set while fibers wait, or moved later ------------------------------ */

#define WAITERS	8
static int wfds[2];
static _Atomic int wresult[WAITERS];
static _Atomic int wdone;

static void waiting_reader(void *arg)
{
	char c;

	wresult[(long)arg] = (int)fiber_read(wfds[0], &c, 1);
	wdone++;
}

static void waiting_wait_fd(void *arg)
{
	wresult[(long)arg] = fiber_wait_fd(wfds[0], POLLIN, -1);
	wdone++;
}

/* Start WAITERS fibers reading @wfds[0] (the last through wait_fd). */
static void start_waiters(void)
{
	long i;

	wdone = 0;
	for (i = 0; i < WAITERS; i++) {
		wresult[i] = 1000;
		CHECK(fiber_go(i == WAITERS - 1 ? waiting_wait_fd :
			       waiting_reader, (void *)i) == 0);
	}
	wait_parked(WAITERS);
}

static void set_while_waiting(bool sock)
{
	int64_t t0;
	long i;

	make_pair(wfds, sock);
	/* A deadline to come, set after they parked, wakes them all... */
	start_waiters();
	t0 = fiber_now();
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ, t0 + 10 * MS) == 0);
	WAIT_FOR(wdone == WAITERS);
	CHECK(fiber_now() - t0 >= 10 * MS);
	for (i = 0; i < WAITERS; i++)
		CHECK(wresult[i] == -ETIMEDOUT);
	/* ...and so does one in the past, at once. */
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ, 0) == 0);
	start_waiters();
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ, fiber_now()) == 0);
	WAIT_FOR(wdone == WAITERS);
	for (i = 0; i < WAITERS; i++)
		CHECK(wresult[i] == -ETIMEDOUT);
	/* A write deadline leaves readers alone. */
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ, 0) == 0);
	start_waiters();
	CHECK(fiber_set_deadline(wfds[0], FIBER_WRITE, fiber_now()) == 0);
	fiber_sleep(20 * MS);
	CHECK(wdone == 0);
	CHECK(write(wfds[1], "abcdefgh", WAITERS) == WAITERS);
	WAIT_FOR(wdone == WAITERS);
	for (i = 0; i < WAITERS - 1; i++)
		CHECK(wresult[i] == 1);
	CHECK(wresult[WAITERS - 1] == POLLIN);
	close_pair(wfds);
}

static int main_set_while_waiting(int argc, char **argv)
{
	(void)argc, (void)argv;
	set_while_waiting(false);
	set_while_waiting(true);
	return 0;
}

TEST(deadline_set_while_fibers_wait)
{
	EXPECT_CLEAN_RUN(main_set_while_waiting);
}

static void extended(bool sock)
{
	int64_t t0;
	long i;
	char c;

	make_pair(wfds, sock);
	start_waiters();
	/* Moved an hour later before it fires: they keep waiting. */
	t0 = fiber_now();
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ, t0 + 100 * MS) == 0);
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ,
				 fiber_now() + 3600 * 1000 * MS) == 0);
	if (fiber_now() - t0 < 100 * MS) {
		while (fiber_now() - t0 < 300 * MS)
			fiber_sleep(10 * MS);
		CHECK(wdone == 0);
	} else {
		/* Too slow to move it in time: proves nothing either way. */
		printf("# extended too late to tell\n");
		WAIT_FOR(wdone == WAITERS);
		start_waiters();
	}
	CHECK(write(wfds[1], "abcdefgh", WAITERS) == WAITERS);
	WAIT_FOR(wdone == WAITERS);
	for (i = 0; i < WAITERS - 1; i++)
		CHECK(wresult[i] == 1);
	CHECK(wresult[WAITERS - 1] == POLLIN);
	CHECK(read(wfds[0], &c, 1) == 1);	/* what wait_fd left */
	/* Moved earlier while they wait: they wake then. */
	start_waiters();
	t0 = fiber_now();
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ, t0 + 10 * MS) == 0);
	WAIT_FOR(wdone == WAITERS);
	CHECK(fiber_now() - t0 >= 10 * MS);
	for (i = 0; i < WAITERS; i++)
		CHECK(wresult[i] == -ETIMEDOUT);
	/* Extended after it passed: the fd works again. */
	CHECK(fiber_set_deadline(wfds[0], FIBER_READ,
				 fiber_now() + LATE_NS) == 0);
	start_waiters();
	CHECK(write(wfds[1], "abcdefgh", WAITERS) == WAITERS);
	WAIT_FOR(wdone == WAITERS);
	for (i = 0; i < WAITERS - 1; i++)
		CHECK(wresult[i] == 1);
	close_pair(wfds);
}

static int main_extended(int argc, char **argv)
{
	(void)argc, (void)argv;
	extended(false);
	extended(true);
	return 0;
}

TEST(deadline_extended_and_moved_earlier)
{
	EXPECT_CLEAN_RUN(main_extended);
}

/* From a thread that runs no fiber, as a watchdog would. */
static _Atomic int thread_ret = 1000;

static void *deadline_thread(void *arg)
{
	struct timespec ts = { 0, 10 * MS };

	(void)arg;
	nanosleep(&ts, NULL);
	thread_ret = fiber_set_deadline(wfds[0], FIBER_READ, fiber_now());
	return NULL;
}

static int main_from_thread(int argc, char **argv)
{
	pthread_t t;
	long i;

	(void)argc, (void)argv;
	make_pair(wfds, true);
	start_waiters();
	CHECK(pthread_create(&t, NULL, deadline_thread, NULL) == 0);
	WAIT_FOR(wdone == WAITERS);
	/* The waiters may be done before the call that woke them returns. */
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(thread_ret == 0);
	for (i = 0; i < WAITERS; i++)
		CHECK(wresult[i] == -ETIMEDOUT);
	close_pair(wfds);
	return 0;
}

TEST(deadline_set_from_a_plain_thread)
{
	EXPECT_CLEAN_RUN(main_from_thread);
}

/* ---- write deadlines ---------------------------------------------------- */

#define BIG	(4 << 20)

static void write_deadline(bool sock)
{
	/*
	 * Long enough for the first write to start before it: valgrind
	 * once took more than 100 ms between the two lines below.
	 */
	int64_t window = (test_slow() ? 2000 : 100) * MS, t0;
	char *buf = calloc(1, BIG), c;
	int fds[2];
	ssize_t n;

	CHECK(buf);
	make_pair(fds, sock);
	/* Nobody reads: the write stops at the deadline, part done. */
	t0 = fiber_now();
	CHECK(fiber_set_deadline(fds[1], FIBER_WRITE, t0 + window) == 0);
	n = fiber_write(fds[1], buf, BIG);
	CHECK(n > 0 && n < BIG);
	CHECK(fiber_now() - t0 >= window);
	/* Passed: at once, even with room to write. */
	CHECK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
	while (read(fds[0], buf, BIG) > 0)
		;
	CHECK(fiber_write(fds[1], "x", 1) == -ETIMEDOUT);
	/* Both directions at once, and cleared both. */
	CHECK(fiber_set_deadline(fds[1], FIBER_READ | FIBER_WRITE, 0) == 0);
	CHECK(fiber_write(fds[1], "x", 1) == 1);
	/* fiber_write_timeout: 0 tries once, else waits that long. */
	while (fiber_write_timeout(fds[1], buf, 4096, 0) > 0)
		;
	while (fiber_write_timeout(fds[1], "x", 1, 0) == 1)
		;
	CHECK(fiber_write_timeout(fds[1], "x", 1, 0) == -ETIMEDOUT);
	t0 = fiber_now();
	CHECK(fiber_write_timeout(fds[1], "x", 1, 10 * MS) == -ETIMEDOUT);
	CHECK(fiber_now() - t0 >= 10 * MS);
	CHECK(fiber_now() - t0 < LATE_NS);
	/* The fd's deadline cuts a longer timeout short. */
	t0 = fiber_now();
	CHECK(fiber_set_deadline(fds[1], FIBER_WRITE, t0 + 10 * MS) == 0);
	CHECK(fiber_write_timeout(fds[1], "x", 1,
				  3600 * 1000 * MS) == -ETIMEDOUT);
	CHECK(fiber_now() - t0 >= 10 * MS);
	CHECK(fiber_now() - t0 < LATE_NS);
	CHECK(fiber_read(fds[0], &c, 1) == 1);
	close_pair(fds);
	free(buf);
}

static int main_write_deadline(int argc, char **argv)
{
	(void)argc, (void)argv;
	write_deadline(false);
	write_deadline(true);
	return 0;
}

TEST(write_deadline_on_pipe_and_socket)
{
	EXPECT_CLEAN_RUN(main_write_deadline);
}

/* ---- accept and connect ------------------------------------------------- */

static int main_accept_connect(int argc, char **argv)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int lfd, cfd, fd;
	int64_t t0;

	(void)argc, (void)argv;
	lfd = loopback_listen(&addr, 16);
	/* Accept: a read deadline on the listener. */
	t0 = fiber_now();
	CHECK(fiber_set_deadline(lfd, FIBER_READ, t0 + 10 * MS) == 0);
	CHECK(fiber_accept(lfd, NULL, NULL) == -ETIMEDOUT);
	CHECK(fiber_now() - t0 >= 10 * MS);
	/* Connect: a write deadline, passed, fails before connecting. */
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(cfd >= 0);
	CHECK(fiber_set_deadline(cfd, FIBER_WRITE, fiber_now() - 1) == 0);
	CHECK(fiber_connect(cfd, (struct sockaddr *)&addr, len) == -ETIMEDOUT);
	CHECK(fiber_set_deadline(lfd, FIBER_READ, 0) == 0);
	CHECK(fiber_wait_fd(lfd, POLLIN, 20 * MS) == -ETIMEDOUT);
	/* Cleared, both work. */
	CHECK(fiber_set_deadline(cfd, FIBER_WRITE, 0) == 0);
	CHECK(fiber_connect(cfd, (struct sockaddr *)&addr, len) == 0);
	fd = fiber_accept(lfd, NULL, NULL);
	CHECK(fd >= 0);
	CHECK(fiber_close(fd) == 0);
	CHECK(fiber_close(cfd) == 0);
	CHECK(fiber_close(lfd) == 0);
	return 0;
}

TEST(accept_and_connect_deadlines)
{
	EXPECT_CLEAN_RUN(main_accept_connect);
}

/* ---- fiber_read_timeout, alone and in the queue ------------------------- */

static int qfds[2];
static _Atomic int qresult[3];

static void queued_reader(void *arg)
{
	char c;

	qresult[(long)arg] = (int)fiber_read(qfds[0], &c, 1);
}

static void queued_timeout_reader(void *arg)
{
	char c;

	qresult[(long)arg] = (int)fiber_read_timeout(qfds[0], &c, 1, 200 * MS);
}

static void read_timeouts(bool sock)
{
	int64_t t0;
	char c;

	make_pair(qfds, sock);
	CHECK(fiber_read_timeout(qfds[0], &c, 1, 0) == -ETIMEDOUT);
	t0 = fiber_now();
	CHECK(fiber_read_timeout(qfds[0], &c, 1, 20 * MS) == -ETIMEDOUT);
	CHECK(fiber_now() - t0 >= 20 * MS);
	CHECK(fiber_now() - t0 < LATE_NS);
	CHECK(write(qfds[1], "ab", 2) == 2);
	CHECK(fiber_read_timeout(qfds[0], &c, 1, 0) == 1 && c == 'a');
	CHECK(fiber_read_timeout(qfds[0], &c, 1, -1) == 1 && c == 'b');
	/*
	 * Three in line: the first waits for ever, the second 200 ms and
	 * leaves the line from the middle (unless so slow a machine lets
	 * it go before the third came), the third stays in it.
	 */
	qresult[0] = qresult[1] = qresult[2] = 1000;
	CHECK(fiber_go(queued_reader, (void *)0L) == 0);
	wait_parked(1);
	CHECK(fiber_go(queued_timeout_reader, (void *)1L) == 0);
	WAIT_FOR(stats_now().waiting >= 2 || qresult[1] != 1000);
	CHECK(fiber_go(queued_reader, (void *)2L) == 0);
	WAIT_FOR(stats_now().waiting >= 3 || qresult[1] != 1000);
	WAIT_FOR(qresult[1] != 1000);
	CHECK(qresult[1] == -ETIMEDOUT);
	CHECK(qresult[0] == 1000 && qresult[2] == 1000);
	CHECK(write(qfds[1], "cd", 2) == 2);
	WAIT_FOR(fiber_num() == 1);
	CHECK(qresult[0] == 1 && qresult[2] == 1);
	close_pair(qfds);
}

static int main_read_timeouts(int argc, char **argv)
{
	(void)argc, (void)argv;
	read_timeouts(false);
	read_timeouts(true);
	return 0;
}

TEST(read_timeout_alone_and_in_line)
{
	EXPECT_CLEAN_RUN(main_read_timeouts);
}

/* ---- fiber_close clears them; the errors -------------------------------- */

static int main_close_and_errors(int argc, char **argv)
{
	int fds[2], again[2];
	char c;

	(void)argc, (void)argv;
	CHECK(pipe(fds) == 0);
	CHECK(fiber_set_deadline(fds[0], FIBER_READ, fiber_now()) == 0);
	CHECK(fiber_read(fds[0], &c, 1) == -ETIMEDOUT);
	close_pair(fds);
	/* The same numbers, a new file: no deadline. */
	CHECK(pipe(again) == 0);
	CHECK(again[0] == fds[0]);
	CHECK(write(again[1], "x", 1) == 1);
	CHECK(fiber_read(again[0], &c, 1) == 1);
	/* Errors. */
	CHECK(fiber_set_deadline(-1, FIBER_READ, 0) == -EBADF);
	CHECK(fiber_set_deadline(fds[1] + 100, FIBER_READ, 0) == -EBADF);
	CHECK(fiber_set_deadline(again[0], 0, 0) == -EINVAL);
	CHECK(fiber_set_deadline(again[0], FIBER_READ | 0x100, 0) == -EINVAL);
	CHECK(fiber_set_deadline(again[0], POLLPRI, 0) == -EINVAL);
	CHECK(fiber_read_timeout(-1, &c, 1, 0) == -EBADF);
	CHECK(fiber_write_timeout(-1, &c, 1, 0) == -EBADF);
	close_pair(again);
	return 0;
}

TEST(close_clears_deadlines_and_errors)
{
	char c;

	/* Before fiber_main, and outside a fiber. */
	EXPECT_EQ(-ESRCH, fiber_set_deadline(0, FIBER_READ, 0));
	EXPECT_EQ(-ESRCH, fiber_read_timeout(0, &c, 1, 0));
	EXPECT_EQ(-ESRCH, fiber_write_timeout(1, &c, 1, 0));
	EXPECT_CLEAN_RUN(main_close_and_errors);
}

TEST_HARNESS_MAIN
