/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fiberstat's side of the "fiber" generic netlink family: the socket, the
 * family looked up by name, requests, dumps and the events group.
 * fiberinfo links it (and parse.c) too, for FIBER_CMD_GET_STATS.
 */
#ifndef FIBERSTAT_NETLINK_H
#define FIBERSTAT_NETLINK_H

#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;

/* Room for the kernel's extended ACK message. */
#define FS_ERRMSG_MAX	256

struct fs_nl {
	struct mnl_socket *sock;
	uint16_t family;		/* the family's id, once resolved */
	uint32_t events_group;		/* its "events" multicast group */
	uint32_t portid;
	uint32_t seq;
	char *buf;			/* one receive buffer, reused */
	size_t buf_size;
	/* The last error the kernel reported, with its extended ACK. */
	int err;			/* negative errno */
	char errmsg[FS_ERRMSG_MAX];	/* "" if the kernel gave none */
};

/*
 * Called for each reply message of the family (not for NLMSG_ERROR or
 * NLMSG_DONE); @attrs/@len is its attribute stream.  A negative return
 * stops the request with that error.
 */
typedef int (*fs_msg_fn)(const struct nlmsghdr *nlh, uint8_t cmd,
			 const void *attrs, size_t len, void *data);

/*
 * Open the socket and resolve the family.  Returns 0 or -errno; -ENOENT
 * means the controller does not know the family: the module is not loaded.
 */
int fs_nl_open(struct fs_nl *nl);
void fs_nl_close(struct fs_nl *nl);

/*
 * Send @cmd with the attributes @put adds (may be NULL) and feed the
 * replies to @fn.  A dump (@dump) that the kernel marks NLM_F_DUMP_INTR is
 * started over, after @reset(@data), up to a few times.  Returns 0 or
 * -errno; the kernel's own errors also leave their message in nl->errmsg.
 */
int fs_nl_request(struct fs_nl *nl, uint8_t cmd, int dump,
		  void (*put)(struct nlmsghdr *nlh, void *data),
		  fs_msg_fn fn, void (*reset)(void *data), void *data);

struct fs_stats;

/*
 * FIBER_CMD_GET_STATS: the module's totals, settings and features into
 * @st.  Returns 0, -EBADMSG if no reply came, or fs_nl_request()'s error.
 */
int fs_nl_get_stats(struct fs_nl *nl, struct fs_stats *st);

/* Join the events group: 0, -ENOENT if the family has none, or -errno. */
int fs_nl_join_events(struct fs_nl *nl);

/*
 * Wait up to @timeout_ms (negative: forever) for multicast messages and
 * feed each to @fn.  Returns 0 after a batch, -ETIMEDOUT, -ENOBUFS when
 * the socket overflowed (messages were lost; the socket stays usable), a
 * negative return of @fn, or -errno.
 */
int fs_nl_wait(struct fs_nl *nl, int timeout_ms, fs_msg_fn fn, void *data);

#endif /* FIBERSTAT_NETLINK_H */
