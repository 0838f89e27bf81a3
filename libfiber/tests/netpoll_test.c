// SPDX-License-Identifier: MIT
/*
 * The netpoller: a TCP echo server with 1000 client fibers exchanging
 * 10 MB on loopback, every byte checked; 10k fibers each reading its own
 * pipe; fds opened in blocking mode; fiber_wait_fd's timeout and errors.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>

#include "kselftest_harness.h"
#include "runtime_helpers.h"

#define CLIENTS		1000
#define PER_CLIENT	(10 * 1000 * 1000 / CLIENTS)	/* 10 MB in all */

static int listen_fd;
static struct sockaddr_in server_addr;
static _Atomic long echoed;

static void echo_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[4096];
	ssize_t n;

	while ((n = fiber_read(fd, buf, sizeof(buf))) > 0)
		CHECK(fiber_write(fd, buf, (size_t)n) == n);
	CHECK(n == 0);
	fiber_close(fd);
}

static void acceptor(void *arg)
{
	int fd, i, n = (int)(long)arg;

	for (i = 0; i < n; i++) {
		fd = fiber_accept(listen_fd, NULL, NULL);
		CHECK(fd >= 0);
		CHECK(fiber_go(echo_conn, (void *)(long)fd) == 0);
	}
}

static void client(void *arg)
{
	long id = (long)arg, i, total = scaled(PER_CLIENT);
	unsigned char out[1000], in[1000];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n, got;

	CHECK(fd >= 0);
	CHECK(fiber_connect(fd, (struct sockaddr *)&server_addr,
			    sizeof(server_addr)) == 0);
	for (i = 0; i < total; i += sizeof(out)) {
		size_t len = total - i < (long)sizeof(out) ? (size_t)(total - i) : sizeof(out);
		size_t k;

		for (k = 0; k < len; k++)
			out[k] = (unsigned char)(id * 131 + i + k);
		CHECK(fiber_write(fd, out, len) == (ssize_t)len);
		for (got = 0; got < (ssize_t)len; got += n) {
			n = fiber_read(fd, in + got, len - got);
			CHECK(n > 0);
		}
		CHECK(memcmp(in, out, len) == 0);
		echoed += len;
	}
	fiber_close(fd);
}

static int main_echo(int argc, char **argv)
{
	socklen_t len = sizeof(server_addr);
	long i, clients = scaled(CLIENTS);
	struct rlimit rl;

	(void)argc, (void)argv;
	/* 2 fds per connection, here. */
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 2 * (rlim_t)clients + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(listen_fd >= 0);
	server_addr.sin_family = AF_INET;
	server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(listen_fd, (struct sockaddr *)&server_addr, len) == 0);
	CHECK(listen(listen_fd, 4096) == 0);
	CHECK(getsockname(listen_fd, (struct sockaddr *)&server_addr, &len) == 0);
	CHECK(fiber_go(acceptor, (void *)clients) == 0);
	for (i = 0; i < clients; i++)
		CHECK(fiber_go(client, (void *)i) == 0);
	wait_others();
	CHECK(echoed == clients * scaled(PER_CLIENT));
	printf("# %ld bytes echoed by %ld clients\n", (long)echoed, clients);
	fiber_close(listen_fd);
	return 0;
}

TEST(tcp_echo_1000_clients_10MB)
{
	char err[1024];

	EXPECT_TRUE(EXITED_WITH(run_fiber_main_err(main_echo, err, sizeof(err)),
				0)) TH_LOG("%s", err);
}

/*
 * Short connections, opened and closed in a loop by many fibers: each
 * new fd is added to the epoll set while other Ms poll it, the race
 * where an edge reported at once on the add must not be lost.
 */
#define CHURNERS	50
#define CHURN_ROUNDS	40
static _Atomic long churned;

static void churn_server(void *arg)
{
	int fd, i;
	char c;

	(void)arg;
	for (i = 0; i < CHURNERS * scaled(CHURN_ROUNDS); i++) {
		fd = fiber_accept(listen_fd, NULL, NULL);
		CHECK(fd >= 0);
		CHECK(fiber_read(fd, &c, 1) == 1);
		CHECK(fiber_write(fd, &c, 1) == 1);
		fiber_close(fd);
	}
}

static void churn_client(void *arg)
{
	int i, fd;
	char c = 'c';

	(void)arg;
	for (i = 0; i < scaled(CHURN_ROUNDS); i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		CHECK(fiber_connect(fd, (struct sockaddr *)&server_addr,
				    sizeof(server_addr)) == 0);
		CHECK(fiber_write(fd, &c, 1) == 1);
		CHECK(fiber_read(fd, &c, 1) == 1);
		CHECK(fiber_read(fd, &c, 1) == 0);	/* server closed */
		fiber_close(fd);
		churned++;
	}
}

static int main_churn(int argc, char **argv)
{
	socklen_t len = sizeof(server_addr);
	int i;

	(void)argc, (void)argv;
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(listen_fd >= 0);
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = 0;
	server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(listen_fd, (struct sockaddr *)&server_addr, len) == 0);
	CHECK(listen(listen_fd, 4096) == 0);
	CHECK(getsockname(listen_fd, (struct sockaddr *)&server_addr, &len) == 0);
	CHECK(fiber_go(churn_server, NULL) == 0);
	for (i = 0; i < CHURNERS; i++)
		CHECK(fiber_go(churn_client, NULL) == 0);
	wait_others();
	CHECK(churned == CHURNERS * scaled(CHURN_ROUNDS));
	fiber_close(listen_fd);
	return 0;
}

TEST(connection_churn_loses_no_edge)
{
	int i;

	for (i = 0; i < 3; i++)
		ASSERT_TRUE(EXITED_WITH(run_fiber_main(main_churn), 0));
}

#define PIPES	10000
static int (*pipes)[2];
static _Atomic long pipe_sum;

static void pipe_reader(void *arg)
{
	long i = (long)arg, v;

	CHECK(fiber_read(pipes[i][0], &v, sizeof(v)) == sizeof(v));
	CHECK(v == i);
	pipe_sum += v;
	fiber_close(pipes[i][0]);
}

static int main_pipes(int argc, char **argv)
{
	long i, n = scaled(PIPES), want = 0;
	struct rlimit rl;

	(void)argc, (void)argv;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_max < 2 * (rlim_t)n + 64) {
		printf("# SKIP: RLIMIT_NOFILE %ld too low\n", (long)rl.rlim_max);
		return 0;
	}
	rl.rlim_cur = rl.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	pipes = calloc((size_t)n, sizeof(*pipes));
	for (i = 0; i < n; i++) {
		CHECK(pipe(pipes[i]) == 0);	/* blocking mode */
		CHECK(fiber_go(pipe_reader, (void *)i) == 0);
	}
	/* Let them all park, then write in reverse order. */
	while (stats_now().waiting < (uint64_t)n)
		fiber_yield();
	for (i = n - 1; i >= 0; i--) {
		CHECK(write(pipes[i][1], &i, sizeof(i)) == sizeof(i));
		close(pipes[i][1]);
		want += i;
	}
	wait_others();
	CHECK(pipe_sum == want);
	free(pipes);
	return 0;
}

TEST(ten_thousand_fibers_each_reading_a_pipe)
{
	EXPECT_TRUE(EXITED_WITH(run_fiber_main(main_pipes), 0));
}

static int main_wait_fd(int argc, char **argv)
{
	int p[2];
	int64_t t0;
	char c = 'x';

	(void)argc, (void)argv;
	CHECK(pipe(p) == 0);
	/* Nothing to read: times out, and 0 only checks. */
	t0 = fiber_now();
	CHECK(fiber_wait_fd(p[0], POLLIN, 5 * 1000000) == -ETIMEDOUT);
	CHECK(fiber_now() - t0 >= 5 * 1000000);
	CHECK(fiber_wait_fd(p[0], POLLIN, 0) == -ETIMEDOUT);
	/* The write end is writable. */
	CHECK(fiber_wait_fd(p[1], POLLOUT, -1) == POLLOUT);
	CHECK(write(p[1], &c, 1) == 1);
	CHECK(fiber_wait_fd(p[0], POLLIN, -1) == POLLIN);
	/* Errors. */
	CHECK(fiber_wait_fd(p[0], 0, -1) == -EINVAL);
	CHECK(fiber_wait_fd(p[0], POLLPRI, -1) == -EINVAL);
	CHECK(fiber_wait_fd(-1, POLLIN, -1) == -EBADF);
	CHECK(fiber_wait_fd(1000000, POLLIN, -1) == -EBADF);
	CHECK(fiber_read(-1, &c, 1) == -EBADF);
	CHECK(fiber_write(-1, &c, 1) == -EBADF);
	CHECK(fiber_accept(p[0], NULL, NULL) == -ENOTSOCK);
	fiber_close(p[0]);
	fiber_close(p[1]);
	return 0;
}

TEST(wait_fd_timeout_and_errors)
{
	char c;

	EXPECT_EQ(-ESRCH, fiber_wait_fd(0, POLLIN, 0));
	EXPECT_EQ(-ESRCH, fiber_accept(0, NULL, NULL));
	EXPECT_EQ(-EBADF, fiber_read(-1, &c, 1));
	EXPECT_TRUE(EXITED_WITH(run_fiber_main(main_wait_fd), 0));
}

TEST_HARNESS_MAIN
