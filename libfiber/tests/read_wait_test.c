// SPDX-License-Identifier: MIT
/*
 * Reads that wait first (io.c, netpoll.c "Drained"): once a read of a TCP
 * socket had to wait, libfiber turns TCP_INQ on, and a read that left
 * nothing queued lets the next one wait for an edge before it calls.
 *
 * The tests count the calls libfiber makes: this program defines read()
 * and recvmsg(), which the library's calls reach before libc's (the
 * executable comes first in symbol lookup), and counts those on one fd.
 * Each test is written as a way to lose bytes: a read that leaves bytes,
 * EOF or an error after an empty read, a socket that refuses TCP_INQ, an
 * fd number reused behind the library's back.  A lost byte would be a
 * read that waits for an edge that never comes: every read here has a
 * timeout, so that shows as a failed check, not a hang.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define SECOND		(1000LL * 1000 * 1000)

static _Atomic int watched_fd = -1;
static _Atomic long calls, eagains, recvmsgs;

static void count(int fd, long ret, bool is_recvmsg)
{
	if (fd != atomic_load(&watched_fd))
		return;
	calls++;
	if (is_recvmsg)
		recvmsgs++;
	if (ret < 0 && errno == EAGAIN)
		eagains++;
}

ssize_t read(int fd, void *buf, size_t len)
{
	long ret = syscall(SYS_read, fd, buf, len);

	count(fd, ret, false);
	return ret;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	long ret = syscall(SYS_recvmsg, fd, msg, flags);

	count(fd, ret, true);
	return ret;
}

static void watch(int fd)
{
	calls = eagains = recvmsgs = 0;
	atomic_store(&watched_fd, fd);
}

/* A connected loopback TCP pair: *@a and *@b. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in addr;
	int l = loopback_listen(&addr, 1);

	*a = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(*a >= 0);
	CHECK(connect(*a, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	*b = accept(l, NULL, NULL);
	CHECK(*b >= 0);
	CHECK(close(l) == 0);
	CHECK(setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
			 sizeof(int)) == 0);
	CHECK(setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
			 sizeof(int)) == 0);
}

/* Read exactly @len bytes of @fd, each read within 10 s. */
static void read_full(int fd, char *buf, size_t len)
{
	ssize_t n;
	size_t got;

	for (got = 0; got < len; got += (size_t)n) {
		n = fiber_read_timeout(fd, buf + got, len - got, 10 * SECOND);
		CHECK(n > 0);
	}
}

static void echo(void *arg)
{
	int fd = (int)(long)arg;
	char buf[64];
	ssize_t n;

	while ((n = fiber_read(fd, buf, sizeof(buf))) > 0)
		CHECK(fiber_write(fd, buf, (size_t)n) == n);
	CHECK(n == 0);
	fiber_close(fd);
}

/* Make one read of @fd wait, so that TCP_INQ goes on; @peer answers. */
static void wait_once(int fd, int peer)
{
	socklen_t len = sizeof(int);
	int on = 0;
	char c;

	CHECK(fiber_read_timeout(fd, &c, 1, SECOND / 100) == -ETIMEDOUT);
	CHECK(write(peer, "x", 1) == 1);
	CHECK(fiber_read_timeout(fd, &c, 1, 10 * SECOND) == 1 && c == 'x');
	CHECK(getsockopt(fd, SOL_TCP, TCP_INQ, &on, &len) == 0 && on == 1);
}

/*
 * Request and response: after the first wait, a read that follows a
 * write waits for the echo's edge instead of calling and finding EAGAIN,
 * so nearly every read is one call.  Without the change, nearly every
 * read found EAGAIN first.
 */
#define ROUNDS	400

static int main_pingpong(int argc, char **argv)
{
	char out[64], in[64];
	int a, b, i;

	(void)argc, (void)argv;
	tcp_pair(&a, &b);
	CHECK(fiber_go(echo, (void *)(long)b) == 0);
	watch(a);
	for (i = 0; i < ROUNDS; i++) {
		memset(out, 'a' + i % 26, sizeof(out));
		CHECK(fiber_write(a, out, sizeof(out)) == sizeof(out));
		read_full(a, in, sizeof(in));
		CHECK(memcmp(in, out, sizeof(in)) == 0);
	}
	atomic_store(&watched_fd, -1);
	printf("# %d round trips: %ld reads, %ld of them EAGAIN, %ld recvmsg\n",
	       ROUNDS, calls, eagains, recvmsgs);
	/*
	 * A read may still find EAGAIN after an edge that stood for bytes
	 * read already (an ACK's write edge reports the read state too),
	 * but not one in four.
	 */
	CHECK(eagains < ROUNDS / 4);
	CHECK(recvmsgs > ROUNDS / 2);
	CHECK(calls < ROUNDS + ROUNDS / 4);
	fiber_close(a);
	wait_others();
	return 0;
}

TEST(a_read_after_a_write_waits_without_a_call)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_pingpong), 0));
}

/*
 * Bytes left queued: three messages arrive at once and the reader takes
 * them one by one.  The second and third reads must call at once, since
 * no edge will come for bytes already there.
 */
static int main_leftover(int argc, char **argv)
{
	char buf[64 * 3], in[64];
	int a, b, i;

	(void)argc, (void)argv;
	tcp_pair(&a, &b);
	wait_once(a, b);
	for (i = 0; i < 3; i++)
		memset(buf + 64 * i, '0' + i, 64);
	CHECK(write(b, buf, sizeof(buf)) == sizeof(buf));
	for (i = 0; i < 3; i++) {
		read_full(a, in, sizeof(in));
		CHECK(memcmp(in, buf + 64 * i, sizeof(in)) == 0);
	}
	/* Now empty: a read waits, and one byte ends the wait. */
	CHECK(fiber_read_timeout(a, in, 1, SECOND / 100) == -ETIMEDOUT);
	CHECK(write(b, "y", 1) == 1);
	CHECK(fiber_read_timeout(a, in, sizeof(in), 10 * SECOND) == 1);
	CHECK(in[0] == 'y');
	fiber_close(a);
	close(b);
	return 0;
}

TEST(a_read_that_leaves_bytes_does_not_wait)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_leftover), 0));
}

/* After a read that took everything, EOF and a reset still arrive. */
static int main_eof(int argc, char **argv)
{
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	char in[64];
	int a, b;

	(void)argc, (void)argv;
	tcp_pair(&a, &b);
	wait_once(a, b);
	/* The last read left nothing queued: EOF is an edge too. */
	CHECK(shutdown(b, SHUT_WR) == 0);
	CHECK(fiber_read_timeout(a, in, sizeof(in), 10 * SECOND) == 0);
	CHECK(fiber_read_timeout(a, in, sizeof(in), 10 * SECOND) == 0);
	fiber_close(a);
	close(b);

	tcp_pair(&a, &b);
	wait_once(a, b);
	/* A reset: the read fails with its error, it does not wait on. */
	CHECK(setsockopt(b, SOL_SOCKET, SO_LINGER, &abort_close,
			 sizeof(abort_close)) == 0);
	CHECK(close(b) == 0);
	CHECK(fiber_read_timeout(a, in, sizeof(in), 10 * SECOND) ==
	      -ECONNRESET);
	fiber_close(a);
	return 0;
}

TEST(eof_and_reset_after_an_empty_read)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_eof), 0));
}

/*
 * Sockets that refuse TCP_INQ (a UNIX stream) keep reading with read(),
 * every read calling first, and lose nothing.
 */
static int main_unix(int argc, char **argv)
{
	char out[64], in[64];
	int sv[2], i;

	(void)argc, (void)argv;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(fiber_go(echo, (void *)(long)sv[1]) == 0);
	watch(sv[0]);
	for (i = 0; i < 100; i++) {
		memset(out, 'a' + i % 26, sizeof(out));
		CHECK(fiber_write(sv[0], out, sizeof(out)) == sizeof(out));
		read_full(sv[0], in, sizeof(in));
		CHECK(memcmp(in, out, sizeof(in)) == 0);
	}
	atomic_store(&watched_fd, -1);
	CHECK(recvmsgs == 0);
	fiber_close(sv[0]);
	wait_others();
	return 0;
}

TEST(a_socket_without_tcp_inq_reads_as_before)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_unix), 0));
}

/*
 * The fd is closed with plain close() and its number reused by a pipe
 * (a misuse: fiber_read(3) asks for fiber_close): libfiber still
 * believes in TCP_INQ, its recvmsg() fails with ENOTSOCK, and the read
 * falls back to read() and returns the pipe's bytes.  The last read on
 * the socket left a byte, so the read calls first.
 */
static int main_reuse(int argc, char **argv)
{
	char in[8];
	int a, b, p[2];

	(void)argc, (void)argv;
	tcp_pair(&a, &b);
	wait_once(a, b);
	CHECK(write(b, "zz", 2) == 2);
	CHECK(fiber_read_timeout(a, in, 1, 10 * SECOND) == 1);
	CHECK(pipe(p) == 0);
	CHECK(close(a) == 0);
	CHECK(dup2(p[0], a) == a);
	CHECK(write(p[1], "pipe", 4) == 4);
	watch(a);
	CHECK(fiber_read_timeout(a, in, sizeof(in), 10 * SECOND) == 4);
	CHECK(memcmp(in, "pipe", 4) == 0);
	atomic_store(&watched_fd, -1);
	CHECK(recvmsgs == 1 && calls == 2);
	fiber_close(a);
	close(b);
	close(p[0]);
	close(p[1]);
	return 0;
}

TEST(a_reused_number_falls_back_to_read)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_reuse), 0));
}

/*
 * Several fibers reading one socket in turn (each takes one message):
 * "left nothing" passes from one owner to the next, and every message
 * reaches a reader.
 */
#define READERS	8
#define PER_READER	50

static int shared_fd;
static _Atomic int received;

static void reader(void *arg)
{
	char in[16];
	int i;

	(void)arg;
	for (i = 0; i < PER_READER; i++) {
		read_full(shared_fd, in, sizeof(in));
		CHECK(memcmp(in, "0123456789abcdef", sizeof(in)) == 0);
		received++;
	}
}

static int main_shared(int argc, char **argv)
{
	int b, i;

	(void)argc, (void)argv;
	tcp_pair(&shared_fd, &b);
	wait_once(shared_fd, b);
	for (i = 0; i < READERS; i++)
		CHECK(fiber_go(reader, NULL) == 0);
	for (i = 0; i < READERS * PER_READER; i++) {
		CHECK(write(b, "0123456789abcdef", 16) == 16);
		if (i % 7 == 0)
			fiber_sleep(SECOND / 10000);
	}
	wait_others();
	CHECK(received == READERS * PER_READER);
	fiber_close(shared_fd);
	close(b);
	return 0;
}

TEST(readers_taking_turns_lose_no_message)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_shared), 0));
}

TEST_HARNESS_MAIN
