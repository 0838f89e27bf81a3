// SPDX-License-Identifier: GPL-2.0
/*
 * The netlink plumbing of fiberstat: one libmnl socket, the family and its
 * events group resolved through the generic netlink controller, and a
 * receive loop that handles acks, errors (with the kernel's extended ACK
 * message), dump ends and interrupted dumps.
 *
 * The loop is written out here rather than left to mnl_cb_run(): that one
 * turns an NLMSG_ERROR into errno and drops the extended ACK, whose
 * message ("changing settings needs CAP_SYS_ADMIN") is the most useful
 * thing a failing command can print.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/fiber.h>

#include "netlink.h"
#include "parse.h"

/*
 * A dump's skb grows to what the reader's recvmsg() offers (up to 32 KiB
 * in current kernels); a smaller buffer would truncate messages, so take
 * more than that.
 */
#define RECV_BUF_SIZE	(64 * 1024)

/* How often a dump that keeps getting interrupted is started over. */
#define DUMP_RETRIES	5

static void note_error(struct fs_nl *nl, int err, const char *msg)
{
	nl->err = err;
	strncpy(nl->errmsg, msg, sizeof(nl->errmsg) - 1);
	nl->errmsg[sizeof(nl->errmsg) - 1] = '\0';
}

static struct nlmsghdr *put_genl(struct fs_nl *nl, char *buf, uint16_t type,
				 uint16_t flags, uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = version;
	return nlh;
}

/*
 * Read replies to request @seq until it is answered: an ack or error for
 * a request, NLMSG_DONE for a dump.  *@intr is set if any part of a dump
 * was marked inconsistent.  Messages for other requests (a late answer to
 * an earlier one) are skipped.
 */
static int receive(struct fs_nl *nl, uint32_t seq, fs_msg_fn fn, void *data,
		   int *intr)
{
	int cb_ret = 0;

	for (;;) {
		const struct nlmsghdr *nlh;
		ssize_t got;
		int len;

		got = mnl_socket_recvfrom(nl->sock, nl->buf, nl->buf_size);
		if (got < 0)
			return -errno;
		len = (int)got;
		for (nlh = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			char msg[FS_ERRMSG_MAX];
			const void *attrs;
			size_t alen;
			uint8_t cmd;
			int err;

			if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != nl->portid)
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				*intr = 1;
			if (nlh->nlmsg_type == NLMSG_ERROR ||
			    nlh->nlmsg_type == NLMSG_DONE) {
				if (fs_parse_status(nlh, nlh->nlmsg_len, &err, msg,
						    sizeof(msg)))
					return -EBADMSG;
				if (err) {
					note_error(nl, err, msg);
					return err;
				}
				/* An error from the callback wins over the end. */
				return cb_ret;
			}
			if (nlh->nlmsg_type == NLMSG_NOOP)
				continue;
			if (nlh->nlmsg_type == NLMSG_OVERRUN)
				return -ENOBUFS;
			if (cb_ret || !fn)
				continue;	/* read on to the end all the same */
			if (fs_genl_attrs(nlh, nlh->nlmsg_len, &cmd, &attrs, &alen))
				cb_ret = -EBADMSG;
			else
				cb_ret = fn(nlh, cmd, attrs, alen, data);
		}
	}
}

static int request_once(struct fs_nl *nl, uint16_t type, uint8_t cmd,
			uint8_t version, int dump,
			void (*put)(struct nlmsghdr *nlh, void *data),
			fs_msg_fn fn, void *data, int *intr)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	/* A request gets an ack so that the loop knows it is over. */
	nlh = put_genl(nl, buf, type, dump ? NLM_F_DUMP : NLM_F_ACK, cmd,
		       version);
	if (put)
		put(nlh, data);
	*intr = 0;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return receive(nl, nlh->nlmsg_seq, fn, data, intr);
}

int fs_nl_request(struct fs_nl *nl, uint8_t cmd, int dump,
		  void (*put)(struct nlmsghdr *nlh, void *data),
		  fs_msg_fn fn, void (*reset)(void *data), void *data)
{
	int tries, intr, ret;

	nl->err = 0;
	nl->errmsg[0] = '\0';
	for (tries = 0; tries < DUMP_RETRIES; tries++) {
		ret = request_once(nl, nl->family, cmd, FIBER_GENL_VERSION, dump,
				   put, fn, data, &intr);
		if (ret || !dump || !intr)
			return ret;
		/* Groups came or went mid-dump: what we have is not one view. */
		if (reset)
			reset(data);
	}
	return -EAGAIN;
}

struct family_req {
	struct fs_family family;
	int found;
};

static void put_family_name(struct nlmsghdr *nlh, void *data)
{
	(void)data;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, FIBER_GENL_NAME);
}

static int family_reply(const struct nlmsghdr *nlh, uint8_t cmd,
			const void *attrs, size_t len, void *data)
{
	struct family_req *req = data;
	int ret;

	(void)nlh;
	if (cmd != CTRL_CMD_NEWFAMILY)
		return 0;
	ret = fs_parse_family(attrs, len, FIBER_GENL_MCGRP_EVENTS, &req->family);
	if (ret)
		return ret;
	req->found = 1;
	return 0;
}

int fs_nl_open(struct fs_nl *nl)
{
	struct family_req req = { .found = 0 };
	int one = 1, intr, ret;

	memset(nl, 0, sizeof(*nl));
	nl->buf_size = RECV_BUF_SIZE;
	nl->buf = malloc(nl->buf_size);
	if (!nl->buf)
		return -ENOMEM;
	nl->sock = mnl_socket_open(NETLINK_GENERIC);
	if (!nl->sock) {
		ret = -errno;
		goto fail;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	/*
	 * Ask for the kernel's reasons with its errors, and for acks without
	 * the echo of our request.  Kernels too old for either just say no,
	 * which costs only the messages.
	 */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	/* Seed the sequence so that a reused port id's old replies differ. */
	nl->seq = (uint32_t)time(NULL);

	ret = request_once(nl, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0,
			   put_family_name, family_reply, &req, &intr);
	if (!ret && !req.found)
		ret = -ENOENT;
	if (ret)
		goto fail;
	nl->family = req.family.id;
	nl->events_group = req.family.events_group;
	return 0;
fail:
	fs_nl_close(nl);
	return ret;
}

void fs_nl_close(struct fs_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
	free(nl->buf);
	nl->buf = NULL;
}

int fs_nl_join_events(struct fs_nl *nl)
{
	int grp = (int)nl->events_group;

	if (!nl->events_group)
		return -ENOENT;
	if (mnl_socket_setsockopt(nl->sock, NETLINK_ADD_MEMBERSHIP, &grp,
				  sizeof(grp)) < 0)
		return -errno;
	return 0;
}

int fs_nl_wait(struct fs_nl *nl, int timeout_ms, fs_msg_fn fn, void *data)
{
	struct pollfd pfd = {
		.fd = mnl_socket_get_fd(nl->sock),
		.events = POLLIN,
	};
	const struct nlmsghdr *nlh;
	ssize_t got;
	int len, ret;

	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (!ret)
		return -ETIMEDOUT;
	got = mnl_socket_recvfrom(nl->sock, nl->buf, nl->buf_size);
	if (got < 0)
		return -errno;	/* ENOBUFS: the kernel dropped some for us */
	len = (int)got;
	for (nlh = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		const void *attrs;
		size_t alen;
		uint8_t cmd;

		/* Multicast comes from the kernel (port 0) of our family only. */
		if (nlh->nlmsg_pid != 0 || nlh->nlmsg_type != nl->family)
			continue;
		if (fs_genl_attrs(nlh, nlh->nlmsg_len, &cmd, &attrs, &alen))
			continue;
		ret = fn(nlh, cmd, attrs, alen, data);
		if (ret)
			return ret;
	}
	return 0;
}

struct stats_req {
	struct fs_stats *stats;
	int found;
};

static int stats_reply(const struct nlmsghdr *nlh, uint8_t cmd,
		       const void *attrs, size_t len, void *data)
{
	struct stats_req *req = data;
	int ret;

	(void)nlh;
	(void)cmd;
	ret = fs_parse_stats(attrs, len, req->stats);
	if (!ret)
		req->found = 1;
	return ret;
}

int fs_nl_get_stats(struct fs_nl *nl, struct fs_stats *st)
{
	struct stats_req req = { .stats = st, .found = 0 };
	int ret;

	ret = fs_nl_request(nl, FIBER_CMD_GET_STATS, 0, NULL, stats_reply,
			    NULL, &req);
	if (!ret && !req.found)
		ret = -EBADMSG;
	return ret;
}
