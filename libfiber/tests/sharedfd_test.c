// SPDX-License-Identifier: MIT
/*
 * One fd, many fibers, as Go lets goroutines share a listener or a
 * connection: acceptors on one listening socket, readers and writers on
 * one pipe or socket, every connection and byte accounted for; waiters
 * served first come first served, one edge waking one fiber without
 * stranding the others; writes never interleaved; and fiber_close()
 * waking everyone who waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

/*
 * Yield until @cond holds.  A fiber that never comes back (a wake-up
 * lost, an early failure) fails the test with the condition's text
 * rather than spinning until the harness kills it; the limit is far
 * above what any wait here needs.
 */
#define WAIT_LIMIT_NS	(20 * 1000000000LL)
#define WAIT_FOR(cond) do {						\
	int64_t t0_ = fiber_now();					\
									\
	while (!(cond)) {						\
		CHECK(fiber_now() - t0_ < WAIT_LIMIT_NS && #cond);	\
		fiber_yield();						\
	}								\
} while (0)

/* Until @n fibers are parked (the caller runs, so is not one). */
static void wait_parked(uint64_t n)
{
	WAIT_FOR(stats_now().waiting >= n);
}

static void wait_alone(void)
{
	WAIT_FOR(fiber_num() == 1);
}

/* ---- many acceptors on one listener ------------------------------------- */

#define ACCEPTORS	8
#define CONNS		400
#define CONN_BYTES	2000

static int listen_fd;
static struct sockaddr_in server_addr;
static _Atomic int conn_seen[CONNS];
static _Atomic int conn_acceptor[CONNS];	/* who took it, + 1 */
static _Atomic int acceptor_end[ACCEPTORS];	/* its last accept's result */
static _Atomic long conn_bytes;

static unsigned char pattern(uint32_t id, long i)
{
	return (unsigned char)(id * 7 + i * 13);
}

/* Read exactly @len bytes. */
static void read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = fiber_read(fd, (char *)buf + got, len - got);
		CHECK(n > 0);
		got += (size_t)n;
	}
}

static void acceptor(void *arg)
{
	int me = (int)(long)arg, fd;
	unsigned char buf[CONN_BYTES];
	uint32_t id;
	long i;

	for (;;) {
		fd = fiber_accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			acceptor_end[me] = fd;
			return;
		}
		read_full(fd, &id, sizeof(id));
		CHECK(id < CONNS);
		conn_seen[id]++;
		conn_acceptor[id] = me + 1;
		read_full(fd, buf, sizeof(buf));
		for (i = 0; i < CONN_BYTES; i++)
			CHECK(buf[i] == pattern(id, i));
		conn_bytes += CONN_BYTES;
		CHECK(fiber_write(fd, "k", 1) == 1);
		fiber_close(fd);
	}
}

static _Atomic int clients_done;

/* Connect, say who we are, send the payload, and wait for the ack. */
static void client_conn(uint32_t id)
{
	unsigned char buf[CONN_BYTES];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char ack;
	long i;

	CHECK(fd >= 0);
	CHECK(fiber_connect(fd, (struct sockaddr *)&server_addr,
			    sizeof(server_addr)) == 0);
	CHECK(fiber_write(fd, &id, sizeof(id)) == sizeof(id));
	for (i = 0; i < CONN_BYTES; i++)
		buf[i] = pattern(id, i);
	CHECK(fiber_write(fd, buf, sizeof(buf)) == sizeof(buf));
	CHECK(fiber_read(fd, &ack, 1) == 1);
	CHECK(fiber_read(fd, &ack, 1) == 0);
	fiber_close(fd);
	clients_done++;
}

static void client(void *arg)
{
	client_conn((uint32_t)(long)arg);
}

/*
 * The first ACCEPTORS connections, one after the other: the acceptors
 * are served in the order they came, and each goes back to the end of
 * the line, so connection k goes to acceptor k.
 */
static void first_clients(void *arg)
{
	uint32_t i;

	(void)arg;
	for (i = 0; i < ACCEPTORS; i++)
		client_conn(i);
}

static int main_acceptors(int argc, char **argv)
{
	long i, conns = scaled(CONNS);

	(void)argc, (void)argv;
	listen_fd = loopback_listen(&server_addr, 4096);
	/* Acceptor k joins the line k-th: parked before the next starts. */
	for (i = 0; i < ACCEPTORS; i++) {
		CHECK(fiber_go(acceptor, (void *)i) == 0);
		wait_parked((uint64_t)i + 1);
	}
	CHECK(fiber_go(first_clients, NULL) == 0);
	WAIT_FOR(clients_done == ACCEPTORS);
	for (i = 0; i < ACCEPTORS; i++)
		CHECK(conn_acceptor[i] == i + 1);
	/* Then the rest, all at once. */
	for (i = ACCEPTORS; i < conns; i++)
		CHECK(fiber_go(client, (void *)i) == 0);
	WAIT_FOR(clients_done == conns);
	for (i = 0; i < conns; i++)
		CHECK(conn_seen[i] == 1);
	CHECK(conn_bytes == conns * CONN_BYTES);
	/* All acceptors wait again: closing the listener wakes them all. */
	wait_parked(ACCEPTORS);
	CHECK(fiber_close(listen_fd) == 0);
	wait_alone();
	for (i = 0; i < ACCEPTORS; i++)
		CHECK(acceptor_end[i] == -EBADF);
	printf("# %ld connections, %ld bytes, by %d acceptors\n", conns,
	       (long)conn_bytes, ACCEPTORS);
	return 0;
}

TEST(many_acceptors_on_one_listener_served_in_turn)
{
	EXPECT_CLEAN_RUN(main_acceptors);
}

/* ---- many readers and writers on one pipe or socket --------------------- */

#define READERS		16
#define WRITERS		4
#define RECORDS		40000		/* 8 bytes each */

static int rw_fds[2];
static _Atomic unsigned char *record_seen;
static _Atomic long records_read, reader_eofs;
static long nrecords;

static void record_reader(void *arg)
{
	uint64_t v;
	ssize_t n;

	(void)arg;
	/* Records are written whole, and each read takes one whole. */
	while ((n = fiber_read(rw_fds[0], &v, sizeof(v))) == sizeof(v)) {
		CHECK(v < (uint64_t)nrecords);
		record_seen[v]++;
		records_read++;
	}
	CHECK(n == 0);
	reader_eofs++;
}

static void record_writer(void *arg)
{
	long w = (long)arg;
	uint64_t v;

	for (v = (uint64_t)w; v < (uint64_t)nrecords; v += WRITERS)
		CHECK(fiber_write(rw_fds[1], &v, sizeof(v)) == sizeof(v));
}

static void readers_and_writers(bool sock)
{
	long i;

	nrecords = scaled(RECORDS);
	record_seen = calloc((size_t)nrecords, 1);
	CHECK(record_seen);
	if (sock)
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, rw_fds) == 0);
	else
		CHECK(pipe(rw_fds) == 0);
	for (i = 0; i < READERS; i++)
		CHECK(fiber_go(record_reader, NULL) == 0);
	wait_parked(READERS);
	for (i = 0; i < WRITERS; i++)
		CHECK(fiber_go(record_writer, (void *)i) == 0);
	WAIT_FOR(records_read == nrecords);
	for (i = 0; i < nrecords; i++)
		CHECK(record_seen[i] == 1);
	/* One hang-up, one edge: every reader must still see EOF. */
	if (sock)
		CHECK(shutdown(rw_fds[1], SHUT_WR) == 0);
	else
		CHECK(fiber_close(rw_fds[1]) == 0);
	wait_alone();
	CHECK(reader_eofs == READERS);
	CHECK(records_read == nrecords);
	fiber_close(rw_fds[0]);
	if (sock)
		fiber_close(rw_fds[1]);
	free(record_seen);
}

static int main_pipe_readers(int argc, char **argv)
{
	(void)argc, (void)argv;
	readers_and_writers(false);
	return 0;
}

static int main_socket_readers(int argc, char **argv)
{
	(void)argc, (void)argv;
	readers_and_writers(true);
	return 0;
}

TEST(many_readers_and_writers_on_one_pipe)
{
	EXPECT_CLEAN_RUN(main_pipe_readers);
}

TEST(many_readers_and_writers_on_one_socket)
{
	EXPECT_CLEAN_RUN(main_socket_readers);
}

/* ---- first come, first served; one edge strands nobody ------------------ */

#define LINE	8
static int line_fds[2];
static _Atomic int line_order[LINE], line_next;

static void line_reader(void *arg)
{
	char c;

	CHECK(fiber_read(line_fds[0], &c, 1) == 1);
	/* Reader k must get the k-th byte, and be the k-th to get one. */
	CHECK(c == 'a' + (int)(long)arg);
	line_order[line_next++] = (int)(long)arg;
}

static int main_line(int argc, char **argv)
{
	long i;

	(void)argc, (void)argv;
	CHECK(pipe(line_fds) == 0);
	for (i = 0; i < LINE; i++) {
		CHECK(fiber_go(line_reader, (void *)i) == 0);
		wait_parked((uint64_t)i + 1);
	}
	/* All eight bytes at once: one edge for eight waiters. */
	CHECK(write(line_fds[1], "abcdefgh", LINE) == LINE);
	wait_alone();
	CHECK(line_next == LINE);
	for (i = 0; i < LINE; i++)
		CHECK(line_order[i] == i);
	fiber_close(line_fds[0]);
	fiber_close(line_fds[1]);
	return 0;
}

TEST(waiting_readers_served_in_order_by_one_edge)
{
	EXPECT_CLEAN_RUN(main_line);
}

/*
 * fiber_wait_fd shares too.  The waiters here do what it is for: their
 * own non-blocking call, waiting again on EAGAIN.  One byte at a time,
 * each written once the last was read: the k-th waiter gets the k-th.
 * One P, so that a waiter handed the fd cannot look at it in parallel
 * before the one woken took its byte (it would find the byte there and
 * try its read too: correct, but not in order).
 */
static int wait_fds[2];

static void line_waiter(void *arg)
{
	char c;

	for (;;) {
		if (read(wait_fds[0], &c, 1) == 1)
			break;
		CHECK(errno == EAGAIN);
		CHECK(fiber_wait_fd(wait_fds[0], POLLIN, -1) == POLLIN);
	}
	CHECK(c == 'a' + (int)(long)arg);
	line_order[line_next++] = (int)(long)arg;
}

static int main_wait_line(int argc, char **argv)
{
	char c;
	long i;

	(void)argc, (void)argv;
	CHECK(pipe2(wait_fds, O_NONBLOCK) == 0);
	for (i = 0; i < LINE; i++) {
		CHECK(fiber_go(line_waiter, (void *)i) == 0);
		wait_parked((uint64_t)i + 1);
	}
	for (i = 0; i < LINE; i++) {
		c = (char)('a' + i);
		CHECK(write(wait_fds[1], &c, 1) == 1);
		WAIT_FOR(line_next > i);
	}
	wait_alone();
	for (i = 0; i < LINE; i++)
		CHECK(line_order[i] == i);
	/* And several bytes at once reach as many waiters. */
	line_next = 0;
	for (i = 0; i < 4; i++) {
		CHECK(fiber_go(line_waiter, (void *)i) == 0);
		wait_parked((uint64_t)i + 1);
	}
	CHECK(write(wait_fds[1], "abcd", 4) == 4);
	wait_alone();
	CHECK(line_next == 4);
	fiber_close(wait_fds[0]);
	fiber_close(wait_fds[1]);
	return 0;
}

TEST(wait_fd_waiters_served_in_order)
{
	char err[1024];

	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_wait_line, 1, err,
						     sizeof(err)), 0))
		TH_LOG("%s", err);
}

/* ---- writes do not interleave ------------------------------------------- */

#define BIG_WRITERS	4
#define BIG_LEN		(256 * 1024)	/* more than a pipe or socket holds */

static int big_fds[2];

static void big_writer(void *arg)
{
	unsigned char *buf = malloc(BIG_LEN);

	CHECK(buf);
	memset(buf, (int)(long)arg, BIG_LEN);
	CHECK(fiber_write(big_fds[1], buf, BIG_LEN) == BIG_LEN);
	free(buf);
}

static void big_writes(bool sock)
{
	unsigned char *all = malloc((size_t)BIG_WRITERS * BIG_LEN);
	size_t got = 0, want = (size_t)BIG_WRITERS * BIG_LEN, i;
	bool seen[BIG_WRITERS] = { false };
	ssize_t n;
	long w;

	CHECK(all);
	if (sock)
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, big_fds) == 0);
	else
		CHECK(pipe(big_fds) == 0);
	for (w = 0; w < BIG_WRITERS; w++)
		CHECK(fiber_go(big_writer, (void *)w) == 0);
	while (got < want) {
		n = fiber_read(big_fds[0], all + got, want - got);
		CHECK(n > 0);
		got += (size_t)n;
	}
	/* Each writer's bytes in one piece. */
	for (i = 0; i < want; i += BIG_LEN) {
		w = all[i];
		CHECK(w < BIG_WRITERS && !seen[w]);
		seen[w] = true;
		CHECK(memchr(all + i, (int)w ^ 0xff, BIG_LEN) == NULL);
		for (n = 0; n < BIG_LEN; n++)
			CHECK(all[i + (size_t)n] == w);
	}
	wait_alone();
	fiber_close(big_fds[0]);
	fiber_close(big_fds[1]);
	free(all);
}

static int main_big_writes(int argc, char **argv)
{
	(void)argc, (void)argv;
	big_writes(false);
	big_writes(true);
	return 0;
}

TEST(concurrent_writes_never_interleave)
{
	EXPECT_CLEAN_RUN(main_big_writes);
}

/* ---- close while many wait ---------------------------------------------- */

#define CLOSE_WAITERS	16
static int rpipe[2], wpipe[2];
static _Atomic int close_results[2 * CLOSE_WAITERS];
static _Atomic int close_done;

static void close_reader(void *arg)
{
	char c;

	close_results[(long)arg] = (int)fiber_read(rpipe[0], &c, 1);
	close_done++;
}

static void close_wait_fd(void *arg)
{
	close_results[(long)arg] = fiber_wait_fd(rpipe[0], POLLIN, -1);
	close_done++;
}

static void close_writer(void *arg)
{
	char c = 'w';

	close_results[(long)arg] = (int)fiber_write(wpipe[1], &c, 1);
	close_done++;
}

static int main_close_many(int argc, char **argv)
{
	char junk[4096] = { 0 };
	long i, n = 0;

	(void)argc, (void)argv;
	/* Readers (some through fiber_wait_fd) on an empty pipe... */
	CHECK(pipe(rpipe) == 0);
	for (i = 0; i < CLOSE_WAITERS; i++, n++)
		CHECK(fiber_go(i % 4 == 3 ? close_wait_fd : close_reader,
			       (void *)n) == 0);
	wait_parked((uint64_t)n);
	/* ...and writers on a full one. */
	CHECK(pipe2(wpipe, O_NONBLOCK) == 0);
	while (write(wpipe[1], junk, sizeof(junk)) > 0)
		;
	CHECK(errno == EAGAIN);
	for (i = 0; i < CLOSE_WAITERS; i++, n++)
		CHECK(fiber_go(close_writer, (void *)n) == 0);
	wait_parked((uint64_t)n);
	CHECK(fiber_close(rpipe[0]) == 0);
	CHECK(fiber_close(wpipe[1]) == 0);
	wait_alone();
	CHECK(close_done == n);
	for (i = 0; i < n; i++)
		CHECK(close_results[i] == -EBADF);
	close(rpipe[1]);
	close(wpipe[0]);
	return 0;
}

TEST(close_wakes_every_waiter_with_ebadf)
{
	EXPECT_CLEAN_RUN(main_close_many);
}

TEST_HARNESS_MAIN
