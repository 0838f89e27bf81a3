// SPDX-License-Identifier: MIT
/*
 * SIGPIPE: fiber_write to a socket whose peer is gone returns -EPIPE and
 * the process lives on, with SIGPIPE left at its default (Go ignores it
 * for sockets, and a server must not die of one client).  Pipes keep
 * write(2)'s behaviour, which is why programs ignore SIGPIPE: checked
 * here as documented.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

/* A unix socket pair whose peer is closed: every write is -EPIPE. */
static void unix_peer_gone(void)
{
	static char big[1 << 20];
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(close(sv[1]) == 0);
	CHECK(fiber_write(sv[0], "x", 1) == -EPIPE);
	CHECK(fiber_write(sv[0], big, sizeof(big)) == -EPIPE);
	CHECK(fiber_close(sv[0]) == 0);
}

static int main_sockets(int argc, char **argv)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	static char buf[65536];
	int lfd, cfd, sfd, p[2];
	ssize_t n;

	(void)argc, (void)argv;
	CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
	unix_peer_gone();
	/*
	 * TCP: the first writes after the peer closed may still succeed
	 * (the peer's reset is on its way); then -EPIPE or -ECONNRESET.
	 */
	lfd = loopback_listen(&addr, 4);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(cfd >= 0);
	CHECK(fiber_connect(cfd, (struct sockaddr *)&addr, len) == 0);
	sfd = fiber_accept(lfd, NULL, NULL);
	CHECK(sfd >= 0);
	CHECK(fiber_close(sfd) == 0);
	while ((n = fiber_write(cfd, buf, sizeof(buf))) > 0)
		fiber_sleep(1000000);
	CHECK(n == -EPIPE || n == -ECONNRESET);
	CHECK(fiber_write(cfd, buf, 1) == -EPIPE);
	CHECK(fiber_close(cfd) == 0);
	CHECK(fiber_close(lfd) == 0);
	/*
	 * An fd number that served a pipe, closed with fiber_close, then
	 * reused by a socket: it is known for a socket again.
	 */
	CHECK(pipe(p) == 0);
	CHECK(fiber_write(p[1], "x", 1) == 1);
	CHECK(fiber_write(p[0], "x", 1) == -EBADF);	/* the read end */
	CHECK(fiber_close(p[0]) == 0);
	CHECK(fiber_close(p[1]) == 0);
	unix_peer_gone();
	return 0;
}

TEST(socket_whose_peer_is_gone_is_epipe_not_sigpipe)
{
	EXPECT_CLEAN_RUN(main_sockets);
}

TEST(socket_outside_a_fiber_too)
{
	int sv[2];

	ASSERT_TRUE(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, close(sv[1]));
	EXPECT_EQ(-EPIPE, fiber_write(sv[0], "x", 1));
	close(sv[0]);
}

/* Pipes: SIGPIPE as with write(2), unless the program ignores it. */
static int main_pipe_default(int argc, char **argv)
{
	int p[2];

	(void)argc, (void)argv;
	CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
	CHECK(pipe(p) == 0);
	CHECK(close(p[0]) == 0);
	CHECK(fiber_write(p[1], "x", 1) == -EPIPE);
	return 0;	/* not reached: SIGPIPE killed us */
}

static int main_pipe_ignored(int argc, char **argv)
{
	int p[2];

	(void)argc, (void)argv;
	CHECK(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
	CHECK(pipe(p) == 0);
	CHECK(close(p[0]) == 0);
	CHECK(fiber_write(p[1], "x", 1) == -EPIPE);
	CHECK(fiber_close(p[1]) == 0);
	return 0;
}

TEST(pipe_needs_sigpipe_ignored_as_documented)
{
	int status = run_fiber_main(main_pipe_default);

	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE)
		TH_LOG("status %#x", status);
	EXPECT_TRUE(exited_with(run_fiber_main(main_pipe_ignored), 0));
}

TEST_HARNESS_MAIN
