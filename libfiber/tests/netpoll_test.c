// SPDX-License-Identifier: MIT
/*
 * The netpoller: a TCP echo server with 1000 client fibers exchanging
 * 10 MB on loopback, every byte checked; 10k fibers each reading its own
 * pipe; fds opened in blocking mode; fiber_wait_fd's timeout and errors.
 */
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>

#include "harness_ext.h"
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
	long i, clients = scaled(CLIENTS);
	struct rlimit rl;

	(void)argc, (void)argv;
	/* 2 fds per connection, here. */
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 2 * (rlim_t)clients + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	listen_fd = loopback_listen(&server_addr, 4096);
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
	EXPECT_CLEAN_RUN(main_echo);
}
/* Under 1 s here; 8 s on fiber.ko in the VM. */
TEST_LIMIT(tcp_echo_1000_clients_10MB, 120)

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
	int i;

	(void)argc, (void)argv;
	listen_fd = loopback_listen(&server_addr, 4096);
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
		ASSERT_TRUE(exited_with(run_fiber_main(main_churn), 0));
}
/* 2 s here; 15 s on fiber.ko in the VM. */
TEST_LIMIT(connection_churn_loses_no_edge, 120)

/* A reader and a writer on one socket: one edge with both directions. */
static int duplex[2];
static _Atomic int duplex_done;

static void duplex_reader(void *arg)
{
	char b[16];

	(void)arg;
	CHECK(fiber_read(duplex[0], b, sizeof(b)) < 0);	/* peer gone */
	duplex_done++;
}

static void duplex_writer(void *arg)
{
	static char buf[65536];
	ssize_t n;

	(void)arg;
	while ((n = fiber_write(duplex[0], buf, sizeof(buf))) > 0)
		;
	CHECK(n < 0);
	duplex_done++;
}

static int main_duplex(int argc, char **argv)
{
	(void)argc, (void)argv;
	/* A socket: the writer gets -EPIPE, and no SIGPIPE kills us. */
	signal(SIGPIPE, SIG_DFL);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, duplex) == 0);
	CHECK(fiber_go(duplex_reader, NULL) == 0);
	CHECK(fiber_go(duplex_writer, NULL) == 0);
	while (stats_now().waiting < 2)
		fiber_yield();
	close(duplex[1]);	/* HUP: readable and writable at once */
	wait_others();
	CHECK(duplex_done == 2);
	fiber_close(duplex[0]);
	return 0;
}

TEST(reader_and_writer_on_one_socket)
{
	EXPECT_CLEAN_RUN(main_duplex);
}

/* fiber_close wakes a fiber parked on the fd, which must not then see
 * the next file that gets the same number. */
static int p1[2], p2[2];
static _Atomic ssize_t got_a = 1, got_b;

static void reader_a(void *arg)
{
	char b;

	(void)arg;
	got_a = fiber_read(p1[0], &b, 1);
}

static void reader_b(void *arg)
{
	char b;

	(void)arg;
	got_b = fiber_read(p2[0], &b, 1);
}

static int main_close_wakes(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(pipe(p1) == 0);
	CHECK(fiber_go(reader_a, NULL) == 0);
	while (stats_now().waiting < 1)
		fiber_yield();
	CHECK(fiber_close(p1[0]) == 0);
	close(p1[1]);
	CHECK(pipe(p2) == 0);	/* likely reuses p1's numbers */
	CHECK(fiber_go(reader_b, NULL) == 0);
	while (got_a == 1 || stats_now().waiting < 1)
		fiber_yield();
	CHECK(got_a == -EBADF);
	CHECK(write(p2[1], "x", 1) == 1);
	wait_others();
	CHECK(got_b == 1);
	return 0;
}

TEST(close_wakes_a_parked_reader_with_ebadf)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_close_wakes), 0));
}

/*
 * 10k fibers, each parked reading its own pipe.  Named pipes, so that
 * each needs one fd while parked (machines here cap RLIMIT_NOFILE at
 * 20000, which 10k anonymous pipes would exceed): a reader opens its FIFO
 * read-write, in blocking mode, so it never sees EOF; the writer opens
 * each FIFO, writes and closes it in turn.
 */
#define PIPES	10000
static int *pipe_fds;
static char fifo_dir[64];
static _Atomic long pipe_sum;

static void fifo_path(char *buf, size_t len, long i)
{
	snprintf(buf, len, "%s/%ld", fifo_dir, i);
}

static void pipe_reader(void *arg)
{
	long i = (long)arg, v;

	CHECK(fiber_read(pipe_fds[i], &v, sizeof(v)) == sizeof(v));
	CHECK(v == i);
	pipe_sum += v;
	fiber_close(pipe_fds[i]);
}

static int main_pipes(int argc, char **argv)
{
	long i, n = many_fibers(PIPES), want = 0;
	char path[96];
	struct rlimit rl;
	int fd;

	(void)argc, (void)argv;
	/* One fd per reader: past the usual soft limit of 1024. */
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(fifo_dir, sizeof(fifo_dir), "/tmp/fiber-fifos.XXXXXX");
	CHECK(mkdtemp(fifo_dir));
	pipe_fds = calloc((size_t)n, sizeof(*pipe_fds));
	for (i = 0; i < n; i++) {
		fifo_path(path, sizeof(path), i);
		CHECK(mkfifo(path, 0600) == 0);
		pipe_fds[i] = open(path, O_RDWR);	/* blocking mode */
		CHECK(pipe_fds[i] >= 0);
		CHECK(fiber_go(pipe_reader, (void *)i) == 0);
	}
	/* Let them all park, then write in reverse order. */
	while (stats_now().waiting < (uint64_t)n)
		fiber_yield();
	for (i = n - 1; i >= 0; i--) {
		fifo_path(path, sizeof(path), i);
		fd = open(path, O_WRONLY);
		CHECK(fd >= 0);
		CHECK(write(fd, &i, sizeof(i)) == sizeof(i));
		close(fd);
		want += i;
	}
	wait_others();
	CHECK(pipe_sum == want);
	for (i = 0; i < n; i++) {
		fifo_path(path, sizeof(path), i);
		unlink(path);
	}
	rmdir(fifo_dir);
	free(pipe_fds);
	return 0;
}

TEST(ten_thousand_fibers_each_reading_a_pipe)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_pipes), 0));
}
/* 3 s here; 11 s on fiber.ko in the VM. */
TEST_LIMIT(ten_thousand_fibers_each_reading_a_pipe, 120)

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
	EXPECT_TRUE(exited_with(run_fiber_main(main_wait_fd), 0));
}

TEST_HARNESS_MAIN
