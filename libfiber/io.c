// SPDX-License-Identifier: MIT
/*
 * Fiber I/O: the system call is tried first, non-blocking; while it would
 * block, the fiber waits in the netpoller and tries again.  Go's
 * internal/poll does the same.  The fd is switched to non-blocking mode
 * on first use and stays so.
 *
 * Each call holds its direction of the fd from netpoll_io_begin() to
 * netpoll_end(), so calls of several fibers on one fd take turns, and
 * each one tries the system call before it waits (netpoll.c says why
 * that loses no wake-up).  The fd's mode is remembered until
 * fiber_close(): an fd closed with plain close() whose number is reused
 * by a blocking file would block the thread.  Hence fiber_close().
 *
 * SIGPIPE.  write(2) to a socket whose peer is gone raises SIGPIPE,
 * which kills a process that has not ignored it: one client that hangs
 * up would take a server down.  Go ignores SIGPIPE for every fd but 1
 * and 2; a library must not change a process's signal dispositions, so
 * fiber_write sends with MSG_NOSIGNAL, which only sockets have.  Whether
 * an fd is a socket is learnt from the first send(), which fails with
 * ENOTSOCK on anything else, and remembered until fiber_close(); that
 * costs sockets nothing and other fds one failed call.  Pipes still
 * raise SIGPIPE: programs ignore it (fiber_main(3)).
 *
 * Reads that wait first.  A reader that answers requests reads right
 * after it wrote, and finds EAGAIN almost every time: a third of the
 * system calls of a TCP echo.  The first time a read of an fd has to
 * wait, io_read() turns TCP_INQ on for it (sockets that are not TCP
 * refuse it, and are never asked again), and from then on reads with
 * recvmsg(), which then also says how many bytes it left queued.  A
 * read that left none lets the next read wait for an edge before it
 * calls (netpoll.c, "Drained").  The one thing a user can see is the
 * TCP_CM_INQ control message in their own recvmsg() calls on that
 * socket (fiber_read(3)).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime.h"

/*
 * The call failed with errno @err.  Return: 1 to try it again (EINTR, or
 * EAGAIN and the fd became ready), else the -errno to report.
 */
static int io_retry(struct netpoll_op *op, int err)
{
	int ret;

	if (err == EINTR)
		return 1;
	if (err != EAGAIN)
		return -err;
	ret = netpoll_wait(op);
	return ret < 0 ? ret : 1;
}

/*
 * write(2), or send(2) without SIGPIPE on a socket; *@kind is what we
 * know of @fd, updated here and in its descriptor as we learn.
 * Return: n or -errno.
 */
static ssize_t write_nosignal(int fd, int *kind, const void *buf, size_t len)
{
	ssize_t n;

	if (*kind != FD_OTHER) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0 || errno == EAGAIN || errno == EPIPE) {
			if (*kind == FD_UNKNOWN) {
				*kind = FD_SOCKET;
				netpoll_set_kind(fd, FD_SOCKET);
			}
			return n >= 0 ? n : -errno;
		}
		if (errno != ENOTSOCK)
			return -errno;
		/* Not a socket (or no longer: plain close() and reuse). */
		*kind = FD_OTHER;
		netpoll_set_kind(fd, FD_OTHER);
	}
	n = write(fd, buf, len);
	return n >= 0 ? n : -errno;
}

/*
 * Read once from @fd, as @op knows it.  With TCP_INQ on, recvmsg() says
 * how many bytes the read left; none sets @op->drained.
 * Return: n or -errno.
 */
static ssize_t read_once(struct netpoll_op *op, int fd, void *buf, size_t len)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = &control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	ssize_t n;
	int inq;

	if (op->inq == INQ_ON) {
		n = recvmsg(fd, &msg, 0);
		if (n < 0 && errno == ENOTSOCK) {
			/* Closed with close() and the number reused. */
			netpoll_set_inq(op, INQ_OFF);
			goto plain;
		}
		if (n <= 0)
			return n < 0 ? -errno : 0;
		for (cmsg = CMSG_FIRSTHDR(&msg); cmsg;
		     cmsg = CMSG_NXTHDR(&msg, cmsg)) {
			if (cmsg->cmsg_level != SOL_TCP ||
			    cmsg->cmsg_type != TCP_CM_INQ)
				continue;
			memcpy(&inq, CMSG_DATA(cmsg), sizeof(inq));
			op->drained = inq == 0;
		}
		return n;
	}
plain:
	n = read(fd, buf, len);
	return n >= 0 ? n : -errno;
}

/* A read of @op's fd had to wait: ask for TCP_INQ, once (see above). */
static void inq_try(struct netpoll_op *op, int fd)
{
	int on = 1;

	if (op->kind == FD_OTHER ||
	    setsockopt(fd, SOL_TCP, TCP_INQ, &on, sizeof(on)))
		netpoll_set_inq(op, INQ_OFF);
	else
		netpoll_set_inq(op, INQ_ON);
}

static ssize_t io_read(int fd, void *buf, size_t len, int64_t deadline)
{
	struct netpoll_op op;
	ssize_t n;
	int ret;

	ret = netpoll_io_begin(&op, fd, POLLIN, deadline);
	if (ret)
		return ret;
	/* The last read left nothing: wait for bytes before asking. */
	if (op.drained) {
		op.drained = false;
		n = netpoll_wait(&op);
		if (n < 0)
			goto out;
	}
	for (;;) {
		n = read_once(&op, fd, buf, len);
		if (n >= 0)
			break;
		if (n == -EAGAIN && op.inq == INQ_UNTRIED)
			inq_try(&op, fd);
		ret = io_retry(&op, (int)-n);
		if (ret < 0) {
			n = ret;
			break;
		}
	}
out:
	netpoll_end(&op);
	return n;
}

static ssize_t io_write(int fd, const void *buf, size_t len, int64_t deadline)
{
	struct netpoll_op op;
	const char *p = buf;
	size_t done = 0;
	ssize_t n;
	int ret;

	ret = netpoll_io_begin(&op, fd, POLLOUT, deadline);
	if (ret)
		return ret;
	while (done < len) {
		n = write_nosignal(fd, &op.kind, p + done, len - done);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		ret = io_retry(&op, (int)-n);
		if (ret < 0)
			break;
	}
	netpoll_end(&op);
	return done ? (ssize_t)done : ret;
}

ssize_t fiber_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	if (!this_fiber()) {
		n = read(fd, buf, len);
		return n < 0 ? -errno : n;
	}
	return io_read(fd, buf, len, 0);
}

ssize_t fiber_read_timeout(int fd, void *buf, size_t len, int64_t timeout_ns)
{
	if (!this_fiber())
		return -ESRCH;
	return io_read(fd, buf, len, netpoll_deadline(timeout_ns));
}

ssize_t fiber_write(int fd, const void *buf, size_t len)
{
	int kind;

	if (!this_fiber()) {
		kind = netpoll_kind(fd);
		return write_nosignal(fd, &kind, buf, len);
	}
	return io_write(fd, buf, len, 0);
}

ssize_t fiber_write_timeout(int fd, const void *buf, size_t len,
			    int64_t timeout_ns)
{
	if (!this_fiber())
		return -ESRCH;
	return io_write(fd, buf, len, netpoll_deadline(timeout_ns));
}

int fiber_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct netpoll_op op;
	int nfd, ret;

	if (!this_fiber())
		return -ESRCH;
	ret = netpoll_io_begin(&op, fd, POLLIN, 0);
	if (ret)
		return ret;
	for (;;) {
		nfd = accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (nfd >= 0)
			break;
		if (errno == ECONNABORTED)
			continue;	/* that one is gone; wait for the next */
		nfd = io_retry(&op, errno);
		if (nfd < 0)
			break;
	}
	netpoll_end(&op);
	return nfd;
}

int fiber_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct netpoll_op op;
	struct sockaddr_storage peer;
	socklen_t len;
	int ret, err;

	if (!this_fiber())
		return -ESRCH;
	ret = netpoll_io_begin(&op, fd, POLLOUT, 0);
	if (ret)
		return ret;
	if (!connect(fd, addr, addrlen))
		goto out;
	if (errno != EINPROGRESS && errno != EINTR) {
		ret = -errno;
		goto out;
	}
	/*
	 * As Go's connect: a wake-up may be spurious (an edge remembered
	 * from before), so the connection is done only when the socket
	 * has an error or a peer.
	 */
	for (;;) {
		ret = netpoll_wait(&op);
		if (ret < 0)
			break;
		err = 0;
		len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) {
			ret = -errno;
			break;
		}
		len = sizeof(peer);
		if (err || !getpeername(fd, (struct sockaddr *)&peer, &len)) {
			ret = -err;
			break;
		}
		if (errno != ENOTCONN) {
			ret = -errno;
			break;
		}
	}
out:
	netpoll_end(&op);
	return ret;
}

int fiber_close(int fd)
{
	netpoll_close(fd);
	return close(fd) ? -errno : 0;
}
