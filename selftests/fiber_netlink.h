/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small client of the "fiber" generic netlink family for the selftests,
 * on libmnl.  It is kept apart from fiberstat's on purpose: the tests check
 * the kernel against the uapi spec, not against the tool.
 *
 * Every call returns 0 or -errno; after a kernel error, nl->extack holds
 * the extended ACK message ("" if none).  A dump's messages go to a
 * callback one by one; nl->intr says whether any had NLM_F_DUMP_INTR.
 */
#ifndef FIBER_NETLINK_H
#define FIBER_NETLINK_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/fiber.h>

struct fiber_nl {
	struct mnl_socket *sock;
	uint16_t family;
	uint32_t mcgrp_events;
	unsigned int seq;
	bool intr;
	bool use_write;			/* write(2), not sendto(2), requests */
	size_t recv_size;		/* buffer size for receiving */
	char extack[256];
	char buf[65536];
};

/* Called for each message of a reply; return 0 to go on, <0 to stop. */
typedef int (*fiber_nl_msg_fn)(const struct nlmsghdr *nlh, void *data);
/* Adds the request's attributes. */
typedef void (*fiber_nl_put_fn)(struct nlmsghdr *nlh, void *data);

/* Copy the extended ACK message of an NLMSG_ERROR or NLMSG_DONE. */
static inline void fiber_nl_take_extack(struct fiber_nl *nl,
					const struct nlmsghdr *nlh,
					size_t offset)
{
	const struct nlattr *a;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	mnl_attr_for_each(a, nlh, offset)
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
			snprintf(nl->extack, sizeof(nl->extack), "%s",
				 mnl_attr_get_str(a));
}

/* Receive until the reply to @seq is over. */
static inline int fiber_nl_recv(struct fiber_nl *nl, unsigned int seq,
				fiber_nl_msg_fn fn, void *data)
{
	const struct nlmsgerr *e;
	const struct nlmsghdr *nlh;
	int len, ret;

	for (;;) {
		len = mnl_socket_recvfrom(nl->sock, nl->buf, nl->recv_size);
		if (len < 0)
			return -errno;
		for (nlh = (void *)nl->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				nl->intr = true;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				e = mnl_nlmsg_get_payload(nlh);
				if (nlh->nlmsg_flags & NLM_F_CAPPED)
					fiber_nl_take_extack(nl, nlh,
							     sizeof(*e));
				else
					fiber_nl_take_extack(nl, nlh,
						sizeof(*e) + e->msg.nlmsg_len -
						sizeof(struct nlmsghdr));
				return e->error;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				ret = *(int *)mnl_nlmsg_get_payload(nlh);
				fiber_nl_take_extack(nl, nlh, sizeof(int));
				return ret;
			}
			if (fn) {
				ret = fn(nlh, data);
				if (ret < 0)
					return ret;
			}
			if (!(nlh->nlmsg_flags & NLM_F_MULTI))
				return 0;
		}
	}
}

/* Send @cmd to @type with @flags (NLM_F_DUMP or 0); an ACK is always asked. */
static inline int fiber_nl_call(struct fiber_nl *nl, uint16_t type,
				uint8_t cmd, uint16_t flags,
				fiber_nl_put_fn put, void *put_data,
				fiber_nl_msg_fn fn, void *data)
{
	char req[1024];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++nl->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = type == GENL_ID_CTRL ? 1 : FIBER_GENL_VERSION;
	if (put)
		put(nlh, put_data);
	nl->intr = false;
	nl->extack[0] = 0;
	if ((nl->use_write ?
	     write(mnl_socket_get_fd(nl->sock), nlh, nlh->nlmsg_len) :
	     mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len)) < 0)
		return -errno;
	return fiber_nl_recv(nl, nlh->nlmsg_seq, fn, data);
}

static inline void fiber_nl_put_family_name(struct nlmsghdr *nlh, void *data)
{
	(void)data;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, FIBER_GENL_NAME);
}

static inline int fiber_nl_take_family(const struct nlmsghdr *nlh, void *data)
{
	struct fiber_nl *nl = data;
	const struct nlattr *a, *grp, *g;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID)
			nl->family = mnl_attr_get_u16(a);
		if (mnl_attr_get_type(a) != CTRL_ATTR_MCAST_GROUPS)
			continue;
		mnl_attr_for_each_nested(grp, a) {
			const char *name = NULL;
			uint32_t id = 0;

			mnl_attr_for_each_nested(g, grp) {
				if (mnl_attr_get_type(g) == CTRL_ATTR_MCAST_GRP_NAME)
					name = mnl_attr_get_str(g);
				if (mnl_attr_get_type(g) == CTRL_ATTR_MCAST_GRP_ID)
					id = mnl_attr_get_u32(g);
			}
			if (name && !strcmp(name, FIBER_GENL_MCGRP_EVENTS))
				nl->mcgrp_events = id;
		}
	}
	return 0;
}

/*
 * Resolve the family on @sock (a generic netlink socket, not yet bound):
 * -ENOENT if the module is not there.  Replies are read @recv_size bytes at
 * a time.  The socket is closed on failure.
 */
static inline int fiber_nl_setup(struct fiber_nl *nl, struct mnl_socket *sock,
				 size_t recv_size)
{
	int one = 1, ret;

	memset(nl, 0, sizeof(*nl));
	nl->recv_size = recv_size;
	nl->sock = sock;
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	setsockopt(mnl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(nl->sock), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	ret = fiber_nl_call(nl, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0,
			    fiber_nl_put_family_name, NULL,
			    fiber_nl_take_family, nl);
	if (ret) {
		mnl_socket_close(nl->sock);
		return ret;
	}
	return 0;
fail:
	ret = -errno;
	mnl_socket_close(nl->sock);
	return ret;
}

/* Open a socket and resolve the family. */
static inline int fiber_nl_open_sized(struct fiber_nl *nl, size_t recv_size)
{
	return fiber_nl_setup(nl, mnl_socket_open(NETLINK_GENERIC), recv_size);
}

/* The same on generic netlink socket @fd, which someone else may have made. */
static inline int fiber_nl_open_fd(struct fiber_nl *nl, int fd)
{
	return fiber_nl_setup(nl, mnl_socket_fdopen(fd), sizeof(nl->buf));
}

static inline int fiber_nl_open(struct fiber_nl *nl)
{
	return fiber_nl_open_sized(nl, sizeof(nl->buf));
}

static inline void fiber_nl_close(struct fiber_nl *nl)
{
	mnl_socket_close(nl->sock);
}

/* A request to the fiber family. */
static inline int fiber_nl(struct fiber_nl *nl, uint8_t cmd, uint16_t flags,
			   fiber_nl_put_fn put, void *put_data,
			   fiber_nl_msg_fn fn, void *data)
{
	return fiber_nl_call(nl, nl->family, cmd, flags, put, put_data, fn,
			     data);
}

/*
 * The attributes of @nest, or of the message @nlh if @nest is NULL, by
 * type; unknown types are skipped, as the spec asks of readers.
 */
static inline void fiber_nl_table(const struct nlattr *nest,
				  const struct nlmsghdr *nlh,
				  const struct nlattr **tb, int max)
{
	const struct nlattr *a;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	if (nest) {
		mnl_attr_for_each_nested(a, nest)
			if (mnl_attr_get_type(a) <= max)
				tb[mnl_attr_get_type(a)] = a;
		return;
	}
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr))
		if (mnl_attr_get_type(a) <= max)
			tb[mnl_attr_get_type(a)] = a;
}

static inline uint64_t fiber_nl_u64(const struct nlattr *a)
{
	return a ? mnl_attr_get_u64(a) : UINT64_MAX;
}

static inline uint32_t fiber_nl_u32(const struct nlattr *a)
{
	return a ? mnl_attr_get_u32(a) : UINT32_MAX;
}

#endif /* FIBER_NETLINK_H */
