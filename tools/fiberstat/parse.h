/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Turning netlink messages of the "fiber" family (and the few controller
 * and error messages fiberstat needs) into plain C structures.
 *
 * Everything here is a pure function of the bytes it is given: no socket,
 * no global state, no output.  That is what lets fuzz_parse.c throw random
 * bytes at it.  Each function returns 0 or a negative errno (-EBADMSG for
 * bytes that are not what the spec in <linux/fiber.h> promises, -ENOMEM),
 * and on error leaves nothing allocated behind.
 */
#ifndef FIBERSTAT_PARSE_H
#define FIBERSTAT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;

/* The seven counters a group and the module-wide totals share. */
struct fs_counters {
	uint64_t blocks;
	uint64_t notifications;
	uint64_t claims;
	uint64_t holds;
	uint64_t grants;
	uint64_t wakeups;
	uint64_t park_timeouts;
};

struct fs_carrier {
	uint32_t slot;
	uint32_t tid;
	uint8_t state;			/* FIBER_SLOT_* */
	uint64_t seq;
	uint64_t user_word;
	int has_user_word;		/* only for who may ptrace the owner */
	uint64_t blocks;
	uint64_t wakeups;
	uint64_t claims;
	uint64_t holds;
	uint64_t last_block_ns;		/* 0: never */
	uint64_t last_wake_ns;
};

/*
 * A comm is TASK_COMM_LEN (16) bytes in today's kernels; the buffer is
 * larger so that a kernel with longer names is merely truncated.
 */
#define FS_COMM_MAX	64

struct fs_group {
	uint64_t id;
	uint32_t pid;
	char comm[FS_COMM_MAX];		/* always NUL-terminated */
	uint32_t uid;
	bool dead;
	uint32_t max_carriers;
	uint64_t handoff_delay_ns;
	uint8_t hold_on_wake;
	uint32_t nr_carriers;
	uint32_t nr_running;
	uint32_t nr_blocked;
	uint32_t nr_claimed;
	uint32_t nr_waiting;
	uint32_t nr_parked;
	uint32_t nr_pending;
	struct fs_counters counters;
	/* Carriers from FIBER_GROUP_A_CARRIERS, possibly over several messages. */
	struct fs_carrier *carriers;
	size_t nr;			/* entries used in carriers[] */
	size_t cap;			/* entries allocated */
};

struct fs_stats {
	uint32_t abi_version;
	uint32_t nr_groups;
	uint32_t nr_carriers;
	struct fs_counters counters;
	uint64_t events_sent;
	uint64_t events_dropped;
	uint32_t max_carriers;
	uint32_t max_groups_per_user;
	uint32_t events_per_sec;
	uint64_t features;		/* FIBER_FEATURE_* bits */
	bool has_features;		/* false: the module predates them */
};

struct fs_event {
	uint8_t type;			/* FIBER_EVENT_TYPE_* */
	uint32_t pid;
	uint32_t tid;
	uint32_t slot;
	uint64_t seq;
	uint64_t time_ns;
	uint32_t dropped;
};

/* What the generic netlink controller says about a family. */
struct fs_family {
	uint16_t id;
	uint32_t events_group;		/* 0: the family has no "events" group */
};

/*
 * The attribute stream of a generic netlink message: checks that @nlh (of
 * which @len bytes are readable) is a whole message of the generic netlink
 * kind and points @attrs/@attrs_len past its genlmsghdr.  @cmd receives
 * the genlmsghdr's command.
 */
int fs_genl_attrs(const struct nlmsghdr *nlh, size_t len, uint8_t *cmd,
		  const void **attrs, size_t *attrs_len);

/*
 * Each of these parses the attribute stream of one message (as found by
 * fs_genl_attrs()).  fs_parse_group() fills @g afresh; the caller owns
 * g->carriers afterwards and frees it with fs_group_free().
 */
int fs_parse_group(const void *attrs, size_t len, struct fs_group *g);
int fs_parse_stats(const void *attrs, size_t len, struct fs_stats *s);
int fs_parse_event(const void *attrs, size_t len, struct fs_event *e);
int fs_parse_family(const void *attrs, size_t len, const char *mcgrp,
		    struct fs_family *f);

void fs_group_free(struct fs_group *g);

/*
 * A group that did not fit one message continues in the next with the same
 * id: fold @src's carriers into @dst (the attributes of the later message
 * win, being newer).  @src is emptied either way.
 */
int fs_group_merge(struct fs_group *dst, struct fs_group *src);

/*
 * NLMSG_ERROR and NLMSG_DONE: @err receives the (negative or zero) errno
 * the kernel reported and @msg the extended ACK's message, or "" if there
 * is none.  @len bytes of @nlh are readable.
 */
int fs_parse_status(const struct nlmsghdr *nlh, size_t len, int *err,
		    char *msg, size_t msg_size);

#endif /* FIBERSTAT_PARSE_H */
