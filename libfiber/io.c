// SPDX-License-Identifier: MIT
/*
 * Fiber I/O: the system call is tried first, non-blocking; while it would
 * block, the fiber waits in the netpoller (fiber_wait_fd) and tries
 * again.  Go's internal/poll does the same.  The fd is switched to
 * non-blocking mode on first use and stays so.
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "runtime.h"

/*
 * The fd's mode is remembered until fiber_close(): an fd closed with
 * plain close() whose number is reused by a blocking file would block
 * the thread.  Hence fiber_close().
 */
static int set_nonblock(int fd)
{
	return netpoll_set_nonblock(fd);
}

/*
 * A call on @fd failed with errno.  Return: 1 to try it again (EINTR, or
 * EAGAIN and @fd became ready for @events), else the -errno to report.
 */
static int wait_to_retry(int fd, int events)
{
	int ret;

	if (errno == EINTR)
		return 1;
	if (errno != EAGAIN)
		return -errno;
	ret = fiber_wait_fd(fd, events, -1);
	return ret < 0 ? ret : 1;
}

ssize_t fiber_read(int fd, void *buf, size_t len)
{
	ssize_t n;
	int ret;

	if (!this_fiber()) {
		n = read(fd, buf, len);
		return n < 0 ? -errno : n;
	}
	ret = set_nonblock(fd);
	if (ret)
		return ret;
	for (;;) {
		n = read(fd, buf, len);
		if (n >= 0)
			return n;
		ret = wait_to_retry(fd, POLLIN);
		if (ret < 0)
			return ret;
	}
}

ssize_t fiber_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t n;
	int ret;

	if (!this_fiber()) {
		n = write(fd, buf, len);
		return n < 0 ? -errno : n;
	}
	ret = set_nonblock(fd);
	if (ret)
		return ret;
	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		ret = wait_to_retry(fd, POLLOUT);
		if (ret < 0)
			return done ? (ssize_t)done : ret;
	}
	return (ssize_t)done;
}

int fiber_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	int nfd, ret;

	if (!this_fiber())
		return -ESRCH;
	ret = set_nonblock(fd);
	if (ret)
		return ret;
	for (;;) {
		nfd = accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (nfd >= 0)
			return nfd;
		if (errno == ECONNABORTED)
			continue;	/* that one is gone; wait for the next */
		ret = wait_to_retry(fd, POLLIN);
		if (ret < 0)
			return ret;
	}
}

int fiber_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	socklen_t len = sizeof(int);
	int ret, err = 0;

	if (!this_fiber())
		return -ESRCH;
	ret = set_nonblock(fd);
	if (ret)
		return ret;
	if (!connect(fd, addr, addrlen))
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	ret = fiber_wait_fd(fd, POLLOUT, -1);
	if (ret < 0)
		return ret;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return -errno;
	return -err;
}

int fiber_close(int fd)
{
	netpoll_close(fd);
	return close(fd) ? -errno : 0;
}
