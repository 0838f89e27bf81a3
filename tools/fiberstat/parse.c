// SPDX-License-Identifier: GPL-2.0
/*
 * Netlink messages to C structures; see parse.h.
 *
 * The parser trusts nothing about the bytes: lengths come from the buffer
 * it is handed, every attribute is bounded by mnl_attr_ok() before it is
 * touched and checked by mnl_attr_validate() for its type and exact length
 * before it is read.  A known attribute that fails that check makes the
 * whole message invalid (-EBADMSG): a kernel that sends a u32 where the
 * spec says u64 is not one this tool understands, and a half-read message
 * would be worse than none.  Unknown attribute types are skipped, as the
 * spec asks, since newer kernels may add attributes to any nest.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/fiber.h>

#include "parse.h"

/*
 * How one attribute type maps to a member of the output structure: the
 * libmnl data type it must validate as (MNL_TYPE_UNSPEC: not one we know)
 * and the member's offset.  Nests are not stored this way; each table's
 * user handles its nest itself.
 */
struct field {
	enum mnl_attr_data_type kind;
	size_t off;
};

/*
 * A compile-time check that a member has the size the attribute type
 * needs (it evaluates to 0; a mismatch is a negative bit-field width), so
 * that a table entry cannot write a u64 into a u32.
 */
#define SIZE_CHECK(t, m, n) \
	(0 * sizeof(struct { int x : (sizeof(((t *)0)->m) == (n)) ? 1 : -1; }))

#define U8(t, m)	{ MNL_TYPE_U8, offsetof(t, m) + SIZE_CHECK(t, m, 1) }
#define U16(t, m)	{ MNL_TYPE_U16, offsetof(t, m) + SIZE_CHECK(t, m, 2) }
#define U32(t, m)	{ MNL_TYPE_U32, offsetof(t, m) + SIZE_CHECK(t, m, 4) }
#define U64(t, m)	{ MNL_TYPE_U64, offsetof(t, m) + SIZE_CHECK(t, m, 8) }
#define FLAG(t, m)	{ MNL_TYPE_FLAG, offsetof(t, m) + SIZE_CHECK(t, m, sizeof(bool)) }
#define STR(t, m)	{ MNL_TYPE_STRING, offsetof(t, m) + SIZE_CHECK(t, m, FS_COMM_MAX) }

/* The same counters appear in groups and in the totals. */
#define COUNTERS(t, first, m) \
	[first + 0] = U64(t, m.blocks), \
	[first + 1] = U64(t, m.notifications), \
	[first + 2] = U64(t, m.claims), \
	[first + 3] = U64(t, m.holds), \
	[first + 4] = U64(t, m.grants), \
	[first + 5] = U64(t, m.wakeups), \
	[first + 6] = U64(t, m.park_timeouts)

static const struct field group_fields[FIBER_GROUP_A_MAX + 1] = {
	[FIBER_GROUP_A_ID] = U64(struct fs_group, id),
	[FIBER_GROUP_A_PID] = U32(struct fs_group, pid),
	[FIBER_GROUP_A_COMM] = STR(struct fs_group, comm),
	[FIBER_GROUP_A_UID] = U32(struct fs_group, uid),
	[FIBER_GROUP_A_DEAD] = FLAG(struct fs_group, dead),
	[FIBER_GROUP_A_MAX_CARRIERS] = U32(struct fs_group, max_carriers),
	[FIBER_GROUP_A_HANDOFF_DELAY_NS] = U64(struct fs_group, handoff_delay_ns),
	[FIBER_GROUP_A_HOLD_ON_WAKE] = U8(struct fs_group, hold_on_wake),
	[FIBER_GROUP_A_NR_CARRIERS] = U32(struct fs_group, nr_carriers),
	[FIBER_GROUP_A_NR_RUNNING] = U32(struct fs_group, nr_running),
	[FIBER_GROUP_A_NR_BLOCKED] = U32(struct fs_group, nr_blocked),
	[FIBER_GROUP_A_NR_CLAIMED] = U32(struct fs_group, nr_claimed),
	[FIBER_GROUP_A_NR_WAITING] = U32(struct fs_group, nr_waiting),
	[FIBER_GROUP_A_NR_PARKED] = U32(struct fs_group, nr_parked),
	[FIBER_GROUP_A_NR_PENDING] = U32(struct fs_group, nr_pending),
	COUNTERS(struct fs_group, FIBER_GROUP_A_BLOCKS, counters),
};

static const struct field carrier_fields[FIBER_CARRIER_A_MAX + 1] = {
	[FIBER_CARRIER_A_SLOT] = U32(struct fs_carrier, slot),
	[FIBER_CARRIER_A_TID] = U32(struct fs_carrier, tid),
	[FIBER_CARRIER_A_STATE] = U8(struct fs_carrier, state),
	[FIBER_CARRIER_A_SEQ] = U64(struct fs_carrier, seq),
	[FIBER_CARRIER_A_USER_WORD] = U64(struct fs_carrier, user_word),
	[FIBER_CARRIER_A_BLOCKS] = U64(struct fs_carrier, blocks),
	[FIBER_CARRIER_A_WAKEUPS] = U64(struct fs_carrier, wakeups),
	[FIBER_CARRIER_A_CLAIMS] = U64(struct fs_carrier, claims),
	[FIBER_CARRIER_A_HOLDS] = U64(struct fs_carrier, holds),
	[FIBER_CARRIER_A_LAST_BLOCK_NS] = U64(struct fs_carrier, last_block_ns),
	[FIBER_CARRIER_A_LAST_WAKE_NS] = U64(struct fs_carrier, last_wake_ns),
};

static const struct field stats_fields[FIBER_STATS_A_MAX + 1] = {
	[FIBER_STATS_A_ABI_VERSION] = U32(struct fs_stats, abi_version),
	[FIBER_STATS_A_NR_GROUPS] = U32(struct fs_stats, nr_groups),
	[FIBER_STATS_A_NR_CARRIERS] = U32(struct fs_stats, nr_carriers),
	COUNTERS(struct fs_stats, FIBER_STATS_A_BLOCKS, counters),
	[FIBER_STATS_A_EVENTS_SENT] = U64(struct fs_stats, events_sent),
	[FIBER_STATS_A_EVENTS_DROPPED] = U64(struct fs_stats, events_dropped),
	[FIBER_STATS_A_MAX_CARRIERS] = U32(struct fs_stats, max_carriers),
	[FIBER_STATS_A_MAX_GROUPS_PER_USER] = U32(struct fs_stats, max_groups_per_user),
	[FIBER_STATS_A_EVENTS_PER_SEC] = U32(struct fs_stats, events_per_sec),
	[FIBER_STATS_A_FEATURES] = U64(struct fs_stats, features),
};

static const struct field event_fields[FIBER_EVENT_A_MAX + 1] = {
	[FIBER_EVENT_A_TYPE] = U8(struct fs_event, type),
	[FIBER_EVENT_A_PID] = U32(struct fs_event, pid),
	[FIBER_EVENT_A_TID] = U32(struct fs_event, tid),
	[FIBER_EVENT_A_SLOT] = U32(struct fs_event, slot),
	[FIBER_EVENT_A_SEQ] = U64(struct fs_event, seq),
	[FIBER_EVENT_A_TIME_NS] = U64(struct fs_event, time_ns),
	[FIBER_EVENT_A_DROPPED] = U32(struct fs_event, dropped),
};

/* The controller's answer, and one of its multicast groups. */
struct family_ctx {
	uint16_t id;
	const char *want;		/* the multicast group looked for */
	uint32_t group;
};

struct mcgrp {
	char name[FS_COMM_MAX];
	uint32_t id;
};

static const struct field family_fields[CTRL_ATTR_FAMILY_ID + 1] = {
	[CTRL_ATTR_FAMILY_ID] = U16(struct family_ctx, id),
};

static const struct field mcgrp_fields[CTRL_ATTR_MCAST_GRP_ID + 1] = {
	[CTRL_ATTR_MCAST_GRP_NAME] = STR(struct mcgrp, name),
	[CTRL_ATTR_MCAST_GRP_ID] = U32(struct mcgrp, id),
};

/* Called for the one nest type a table's user handles itself. */
typedef int (*nest_fn)(const struct nlattr *attr, void *out);

/* Validate @attr as @kind and store it into @out at @off. */
static int store(const struct nlattr *attr, const struct field *f, void *out)
{
	char *dst = (char *)out + f->off;
	const char *src;
	size_t n;

	if (mnl_attr_validate(attr, f->kind) < 0)
		return -EBADMSG;
	switch (f->kind) {
	case MNL_TYPE_U8:
		*(uint8_t *)dst = mnl_attr_get_u8(attr);
		break;
	case MNL_TYPE_U16:
		*(uint16_t *)dst = mnl_attr_get_u16(attr);
		break;
	case MNL_TYPE_U32:
		*(uint32_t *)dst = mnl_attr_get_u32(attr);
		break;
	case MNL_TYPE_U64:
		*(uint64_t *)dst = mnl_attr_get_u64(attr);
		break;
	case MNL_TYPE_FLAG:
		*(bool *)dst = true;
		break;
	case MNL_TYPE_STRING:
		/*
		 * The kernel sends the terminating NUL, but a string is only
		 * as long as its payload says: stop at whichever comes first,
		 * and truncate what does not fit rather than fail on it.
		 */
		src = mnl_attr_get_payload(attr);
		n = mnl_attr_get_payload_len(attr);
		n = strnlen(src, n);
		if (n > FS_COMM_MAX - 1)
			n = FS_COMM_MAX - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
		break;
	default:
		return -EBADMSG;
	}
	return 0;
}

/*
 * Walk the attribute stream @buf/@len into @out by @tbl (types above @max
 * are unknown), handing attributes of type @nest_type to @nest.  *@seen
 * gets a bit per known type present, so that callers can insist on the
 * attributes without which a message means nothing.
 */
static int parse_attrs(const void *buf, size_t len, const struct field *tbl,
		       unsigned int max, void *out, unsigned int nest_type,
		       nest_fn nest, uint64_t *seen)
{
	const struct nlattr *attr;
	int ret;

	*seen = 0;
	/* mnl_attr_ok() measures what is left in an int. */
	if (len > INT_MAX)
		return -EBADMSG;
	mnl_attr_for_each_payload(buf, len) {
		uint16_t type = mnl_attr_get_type(attr);

		if (nest && type == nest_type) {
			ret = nest(attr, out);
		} else if (type <= max && tbl[type].kind != MNL_TYPE_UNSPEC) {
			ret = store(attr, &tbl[type], out);
		} else {
			continue;	/* a newer kernel's attribute */
		}
		if (ret)
			return ret;
		if (type < 64)
			*seen |= 1ULL << type;
	}
	/*
	 * The loop stops at the first attribute that does not fit what is
	 * left; anything but the end of the buffer there is a truncated or
	 * lying attribute.  (Going past the end is fine: that is the last
	 * attribute's alignment padding, which a message may leave out.)
	 */
	if ((const char *)attr < (const char *)buf + len)
		return -EBADMSG;
	return 0;
}

#define HAS(seen, type)	((seen) & (1ULL << (type)))

/* Make room for @want carriers in @g. */
static int reserve(struct fs_group *g, size_t want)
{
	struct fs_carrier *c;
	size_t cap;

	if (want <= g->cap)
		return 0;
	cap = g->cap ? g->cap : 16;
	while (cap < want) {
		if (cap > SIZE_MAX / 2 / sizeof(*c))
			return -ENOMEM;
		cap *= 2;
	}
	c = realloc(g->carriers, cap * sizeof(*c));
	if (!c)
		return -ENOMEM;
	g->carriers = c;
	g->cap = cap;
	return 0;
}

/* FIBER_GROUP_A_CARRIERS: a list of nests, one per carrier. */
static int parse_carriers(const struct nlattr *list, void *out)
{
	struct fs_group *g = out;
	const struct nlattr *attr;
	uint64_t seen;
	int ret;

	if (mnl_attr_validate(list, MNL_TYPE_NESTED) < 0)
		return -EBADMSG;
	mnl_attr_for_each_nested(attr, list) {
		struct fs_carrier c = { 0 };

		/* The spec says type 0; the type carries no meaning here. */
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return -EBADMSG;
		ret = parse_attrs(mnl_attr_get_payload(attr),
				  mnl_attr_get_payload_len(attr), carrier_fields,
				  FIBER_CARRIER_A_MAX, &c, 0, NULL, &seen);
		if (ret)
			return ret;
		/* A carrier is its slot and thread; without them, nothing. */
		if (!HAS(seen, FIBER_CARRIER_A_SLOT) ||
		    !HAS(seen, FIBER_CARRIER_A_TID))
			return -EBADMSG;
		c.has_user_word = !!HAS(seen, FIBER_CARRIER_A_USER_WORD);
		ret = reserve(g, g->nr + 1);
		if (ret)
			return ret;
		g->carriers[g->nr++] = c;
	}
	if ((const char *)attr < (const char *)mnl_attr_get_payload(list) +
				 mnl_attr_get_payload_len(list))
		return -EBADMSG;
	return 0;
}

int fs_parse_group(const void *attrs, size_t len, struct fs_group *g)
{
	uint64_t seen;
	int ret;

	memset(g, 0, sizeof(*g));
	ret = parse_attrs(attrs, len, group_fields, FIBER_GROUP_A_MAX, g,
			  FIBER_GROUP_A_CARRIERS, parse_carriers, &seen);
	/* The id is what merges continuations; the pid is what users see. */
	if (!ret && (!HAS(seen, FIBER_GROUP_A_ID) || !HAS(seen, FIBER_GROUP_A_PID)))
		ret = -EBADMSG;
	if (ret)
		fs_group_free(g);
	return ret;
}

void fs_group_free(struct fs_group *g)
{
	free(g->carriers);
	g->carriers = NULL;
	g->nr = 0;
	g->cap = 0;
}

int fs_group_merge(struct fs_group *dst, struct fs_group *src)
{
	struct fs_group old = *dst;
	int ret;

	ret = reserve(&old, old.nr + src->nr);
	if (ret) {
		fs_group_free(src);
		return ret;
	}
	if (src->nr)
		memcpy(old.carriers + old.nr, src->carriers,
		       src->nr * sizeof(*src->carriers));
	/*
	 * A continuation carries only the id, the pid and more carriers:
	 * the group's attributes are those of its first message.
	 */
	dst->carriers = old.carriers;
	dst->nr = old.nr + src->nr;
	dst->cap = old.cap;
	free(src->carriers);
	memset(src, 0, sizeof(*src));
	return 0;
}

int fs_parse_stats(const void *attrs, size_t len, struct fs_stats *s)
{
	uint64_t seen;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = parse_attrs(attrs, len, stats_fields, FIBER_STATS_A_MAX, s, 0,
			  NULL, &seen);
	if (!ret)
		s->has_features = HAS(seen, FIBER_STATS_A_FEATURES);
	return ret;
}

int fs_parse_event(const void *attrs, size_t len, struct fs_event *e)
{
	uint64_t seen;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = parse_attrs(attrs, len, event_fields, FIBER_EVENT_A_MAX, e, 0,
			  NULL, &seen);
	if (!ret && !HAS(seen, FIBER_EVENT_A_TYPE))
		ret = -EBADMSG;
	return ret;
}

/* CTRL_ATTR_MCAST_GROUPS: nests of name and id; remember the one wanted. */
static int parse_mcgrps(const struct nlattr *list, void *out)
{
	struct family_ctx *ctx = out;
	const struct nlattr *attr;
	uint64_t seen;
	int ret;

	if (mnl_attr_validate(list, MNL_TYPE_NESTED) < 0)
		return -EBADMSG;
	mnl_attr_for_each_nested(attr, list) {
		struct mcgrp grp = { .id = 0 };

		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return -EBADMSG;
		ret = parse_attrs(mnl_attr_get_payload(attr),
				  mnl_attr_get_payload_len(attr), mcgrp_fields,
				  CTRL_ATTR_MCAST_GRP_ID, &grp, 0, NULL, &seen);
		if (ret)
			return ret;
		if (HAS(seen, CTRL_ATTR_MCAST_GRP_NAME) &&
		    HAS(seen, CTRL_ATTR_MCAST_GRP_ID) && ctx->want &&
		    !strcmp(grp.name, ctx->want))
			ctx->group = grp.id;
	}
	if ((const char *)attr < (const char *)mnl_attr_get_payload(list) +
				 mnl_attr_get_payload_len(list))
		return -EBADMSG;
	return 0;
}

int fs_parse_family(const void *attrs, size_t len, const char *mcgrp,
		    struct fs_family *f)
{
	struct family_ctx ctx = { .want = mcgrp };
	uint64_t seen;
	int ret;

	memset(f, 0, sizeof(*f));
	ret = parse_attrs(attrs, len, family_fields, CTRL_ATTR_FAMILY_ID, &ctx,
			  CTRL_ATTR_MCAST_GROUPS, parse_mcgrps, &seen);
	if (ret)
		return ret;
	if (!HAS(seen, CTRL_ATTR_FAMILY_ID))
		return -EBADMSG;
	f->id = ctx.id;
	f->events_group = ctx.group;
	return 0;
}

int fs_genl_attrs(const struct nlmsghdr *nlh, size_t len, uint8_t *cmd,
		  const void **attrs, size_t *attrs_len)
{
	const struct genlmsghdr *genl;

	if (len < sizeof(*nlh) || nlh->nlmsg_len > len ||
	    nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EBADMSG;
	genl = mnl_nlmsg_get_payload(nlh);
	*cmd = genl->cmd;
	*attrs = (const char *)genl + GENL_HDRLEN;
	*attrs_len = nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
	return 0;
}

int fs_parse_status(const struct nlmsghdr *nlh, size_t len, int *err,
		    char *msg, size_t msg_size)
{
	const char *payload;
	const void *tlv;
	const struct nlattr *attr;
	struct nlmsgerr e;
	size_t plen, off;
	int32_t code;

	if (msg_size)
		msg[0] = '\0';
	*err = 0;
	if (len < sizeof(*nlh) || nlh->nlmsg_len > len ||
	    nlh->nlmsg_len < NLMSG_HDRLEN)
		return -EBADMSG;
	payload = mnl_nlmsg_get_payload(nlh);
	plen = nlh->nlmsg_len - NLMSG_HDRLEN;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		if (plen < sizeof(e))
			return -EBADMSG;
		memcpy(&e, payload, sizeof(e));
		code = e.error;
		off = sizeof(e);
		/*
		 * Without NLM_F_CAPPED the request's payload is echoed after
		 * the header, and the extended ACK comes after that.
		 */
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e.msg.nlmsg_len < NLMSG_HDRLEN)
				off = plen;	/* nonsense: no TLVs then */
			else
				off += MNL_ALIGN(e.msg.nlmsg_len - NLMSG_HDRLEN);
		}
	} else if (nlh->nlmsg_type == NLMSG_DONE) {
		/* A dump's end: the error of its last part, then the TLVs. */
		if (plen < sizeof(code))
			return 0;
		memcpy(&code, payload, sizeof(code));
		off = MNL_ALIGN(sizeof(code));
	} else {
		return -EBADMSG;
	}
	/* The kernel sends -errno; a positive one would be a lie. */
	*err = code > 0 ? -EBADMSG : code;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || off >= plen || !msg_size)
		return 0;

	tlv = payload + off;
	plen -= off;
	if (plen > INT_MAX)
		return 0;
	mnl_attr_for_each_payload(tlv, plen) {
		const char *s;
		size_t n;

		if (mnl_attr_get_type(attr) != NLMSGERR_ATTR_MSG ||
		    mnl_attr_validate(attr, MNL_TYPE_STRING) < 0)
			continue;
		s = mnl_attr_get_payload(attr);
		n = strnlen(s, mnl_attr_get_payload_len(attr));
		if (n > msg_size - 1)
			n = msg_size - 1;
		memcpy(msg, s, n);
		msg[n] = '\0';
		/* The kernel ends its messages without a newline; trim any. */
		while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			msg[--n] = '\0';
	}
	return 0;
}
