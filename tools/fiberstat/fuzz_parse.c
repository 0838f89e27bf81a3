// SPDX-License-Identifier: GPL-2.0
/*
 * A deterministic fuzzer for fiberstat's parse.c, run as a host test (TAP).
 *
 * It builds well-formed messages of every kind fiberstat reads (a group
 * with nested carriers, the totals, an event, the controller's family
 * reply, an error with an extended ACK and a dump's end), checks that they
 * parse to what was put in, then mutates them for a fixed number of rounds
 * from a fixed seed: truncation, flipped and overwritten bytes, lying
 * nla_len and nlmsg_len fields, changed attribute types, garbage nests.
 * Each mutant goes to the parser twice: from an exact-size heap copy, so
 * that AddressSanitizer (this is built with -fsanitize=address,undefined)
 * sees any read past it by our code, and from the very end of a page
 * followed by an inaccessible one, so that a read past it by libmnl,
 * which is not instrumented, faults.  The parser must return an error or
 * a structure that is sane for the bytes it was given.
 *
 * No libFuzzer: the same rounds run on every machine, and a failure names
 * its round, so it can be replayed with FUZZ_ROUND=N.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/fiber.h>

#include "parse.h"

#define ROUNDS		1000000		/* 200000 of each kind */
#define MSG_MAX		16384		/* largest message built or mutated */

static int test_no, failures;

static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

/* ---- xorshift64*: the same numbers everywhere ---------------------- */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

/* ---- well-formed messages ------------------------------------------ */

/*
 * Messages are built in 4-byte aligned buffers, as the kernel's are; the
 * parser is entitled to that alignment and to nothing else.
 */
struct msg {
	uint32_t words[MSG_MAX / 4];
};

static struct nlmsghdr *genl_start(struct msg *m, uint16_t type, uint8_t cmd)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	memset(m, 0, sizeof(*m));
	nlh = mnl_nlmsg_put_header(m->words);
	nlh->nlmsg_type = type;
	nlh->nlmsg_seq = 7;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = FIBER_GENL_VERSION;
	return nlh;
}

/* A carrier whose fields are derived from @i, so that a parse can be checked. */
static void put_carrier(struct nlmsghdr *nlh, uint32_t i)
{
	struct nlattr *c = mnl_attr_nest_start(nlh, 0);

	mnl_attr_put_u32(nlh, FIBER_CARRIER_A_SLOT, i);
	mnl_attr_put_u32(nlh, FIBER_CARRIER_A_TID, 1000 + i);
	mnl_attr_put_u8(nlh, FIBER_CARRIER_A_STATE, i % 6);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_SEQ, 10ULL * i);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_USER_WORD, 0xdead0000ULL + i);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_BLOCKS, 20ULL * i);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_WAKEUPS, 30ULL * i);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_CLAIMS, 40ULL * i);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_HOLDS, 50ULL * i);
	mnl_attr_put(nlh, FIBER_CARRIER_A_PAD, 0, NULL);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_LAST_BLOCK_NS, 60ULL * i);
	mnl_attr_put_u64(nlh, FIBER_CARRIER_A_LAST_WAKE_NS, 70ULL * i);
	mnl_attr_nest_end(nlh, c);
}

/* A group with carriers @first .. @first + @n - 1. */
static struct nlmsghdr *build_group(struct msg *m, uint64_t id, uint32_t first,
				    uint32_t n)
{
	struct nlmsghdr *nlh = genl_start(m, 0x20, FIBER_CMD_GET_GROUP);
	struct nlattr *list;
	uint32_t i;

	mnl_attr_put_u64(nlh, FIBER_GROUP_A_ID, id);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_PID, 4242);
	mnl_attr_put_strz(nlh, FIBER_GROUP_A_COMM, "worker\"\\\x01");
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_UID, 65534);
	mnl_attr_put(nlh, FIBER_GROUP_A_DEAD, 0, NULL);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_MAX_CARRIERS, 10000);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_HANDOFF_DELAY_NS, 50000);
	mnl_attr_put_u8(nlh, FIBER_GROUP_A_HOLD_ON_WAKE, 1);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_NR_CARRIERS, 3);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_NR_RUNNING, 1);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_NR_BLOCKED, 2);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_NR_CLAIMED, 3);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_NR_WAITING, 4);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_NR_PARKED, 5);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_NR_PENDING, 6);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_BLOCKS, 101);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_NOTIFICATIONS, 102);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_CLAIMS, 103);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_HOLDS, 104);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_GRANTS, 105);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_WAKEUPS, 106);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_PARK_TIMEOUTS, 107);
	list = mnl_attr_nest_start(nlh, FIBER_GROUP_A_CARRIERS);
	for (i = 0; i < n; i++)
		put_carrier(nlh, first + i);
	mnl_attr_nest_end(nlh, list);
	return nlh;
}

/* The totals, with the feature bits or (as an older module) without. */
static struct nlmsghdr *build_stats(struct msg *m, int with_features)
{
	struct nlmsghdr *nlh = genl_start(m, 0x20, FIBER_CMD_GET_STATS);
	uint16_t t;

	mnl_attr_put_u32(nlh, FIBER_STATS_A_ABI_VERSION, FIBER_ABI_VERSION);
	mnl_attr_put_u32(nlh, FIBER_STATS_A_NR_GROUPS, 2);
	mnl_attr_put_u32(nlh, FIBER_STATS_A_NR_CARRIERS, 9);
	for (t = FIBER_STATS_A_BLOCKS; t <= FIBER_STATS_A_EVENTS_DROPPED; t++)
		mnl_attr_put_u64(nlh, t, 1000 + t);
	mnl_attr_put_u32(nlh, FIBER_STATS_A_MAX_CARRIERS, 10000);
	mnl_attr_put_u32(nlh, FIBER_STATS_A_MAX_GROUPS_PER_USER, 64);
	mnl_attr_put_u32(nlh, FIBER_STATS_A_EVENTS_PER_SEC, 1000);
	if (with_features)
		mnl_attr_put_u64(nlh, FIBER_STATS_A_FEATURES, 0x1000f);
	return nlh;
}

static struct nlmsghdr *build_event(struct msg *m)
{
	struct nlmsghdr *nlh = genl_start(m, 0x20, FIBER_CMD_EVENT);

	mnl_attr_put_u8(nlh, FIBER_EVENT_A_TYPE, FIBER_EVENT_TYPE_HOLD);
	mnl_attr_put_u32(nlh, FIBER_EVENT_A_PID, 77);
	mnl_attr_put_u32(nlh, FIBER_EVENT_A_TID, 78);
	mnl_attr_put_u32(nlh, FIBER_EVENT_A_SLOT, 3);
	mnl_attr_put_u64(nlh, FIBER_EVENT_A_SEQ, 12);
	mnl_attr_put_u64(nlh, FIBER_EVENT_A_TIME_NS, 123456789012ULL);
	mnl_attr_put_u32(nlh, FIBER_EVENT_A_DROPPED, 5);
	return nlh;
}

/* What the controller answers to CTRL_CMD_GETFAMILY, in its own order. */
static struct nlmsghdr *build_family(struct msg *m, int with_events)
{
	struct nlmsghdr *nlh = genl_start(m, GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	struct nlattr *list, *grp;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, FIBER_GENL_NAME);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x1d);
	mnl_attr_put_u32(nlh, CTRL_ATTR_VERSION, FIBER_GENL_VERSION);
	mnl_attr_put_u32(nlh, CTRL_ATTR_HDRSIZE, 0);
	mnl_attr_put_u32(nlh, CTRL_ATTR_MAXATTR, FIBER_GROUP_A_MAX);
	list = mnl_attr_nest_start(nlh, CTRL_ATTR_MCAST_GROUPS);
	grp = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME, "other");
	mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 11);
	mnl_attr_nest_end(nlh, grp);
	if (with_events) {
		grp = mnl_attr_nest_start(nlh, 2);
		mnl_attr_put_u32(nlh, CTRL_ATTR_MCAST_GRP_ID, 12);
		mnl_attr_put_strz(nlh, CTRL_ATTR_MCAST_GRP_NAME,
				  FIBER_GENL_MCGRP_EVENTS);
		mnl_attr_nest_end(nlh, grp);
	}
	mnl_attr_nest_end(nlh, list);
	return nlh;
}

/* NLMSG_ERROR for a request, echoed (or capped), with an extended ACK. */
static struct nlmsghdr *build_error(struct msg *m, int capped, const char *text)
{
	struct nlmsghdr *nlh, req = {
		.nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + 8,
		.nlmsg_type = 0x20,
	};
	struct nlmsgerr *e;
	char *echo;

	memset(m, 0, sizeof(*m));
	nlh = mnl_nlmsg_put_header(m->words);
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = NLM_F_ACK_TLVS | (capped ? NLM_F_CAPPED : 0);
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = -EPERM;
	e->msg = req;
	if (!capped) {
		/* The echoed request's payload: its genl header and an attr. */
		echo = mnl_nlmsg_put_extra_header(nlh, req.nlmsg_len - NLMSG_HDRLEN);
		memset(echo, 0xab, req.nlmsg_len - NLMSG_HDRLEN);
	}
	mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
	mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 20);
	return nlh;
}

static struct nlmsghdr *build_done(struct msg *m, const char *text)
{
	struct nlmsghdr *nlh;
	int32_t *code;

	memset(m, 0, sizeof(*m));
	nlh = mnl_nlmsg_put_header(m->words);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI | NLM_F_ACK_TLVS;
	code = mnl_nlmsg_put_extra_header(nlh, sizeof(*code));
	*code = -ESRCH;
	mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
	return nlh;
}

/* ---- one parse, checked -------------------------------------------- */

enum kind { K_GROUP, K_STATS, K_EVENT, K_FAMILY, K_STATUS, NR_KINDS };

static const char *const kind_names[NR_KINDS] = {
	"group", "stats", "event", "family", "error/done",
};

/*
 * Parse @len bytes at @p as @kind.  Returns 1 on success, 0 on a clean
 * rejection, -1 if the result is not sane for the input (a bug).
 */
static int parse_one(enum kind kind, const void *p, size_t len)
{
	const struct nlmsghdr *nlh = p;
	const void *attrs;
	size_t alen;
	uint8_t cmd;
	int err;

	if (kind == K_STATUS) {
		char msg[64];

		memset(msg, 'x', sizeof(msg));
		if (fs_parse_status(nlh, len, &err, msg, sizeof(msg)))
			return 0;
		return (err <= 0 && memchr(msg, 0, sizeof(msg))) ? 1 : -1;
	}
	if (fs_genl_attrs(nlh, len, &cmd, &attrs, &alen))
		return 0;
	if ((const char *)attrs + alen > (const char *)p + len)
		return -1;

	switch (kind) {
	case K_GROUP: {
		struct fs_group g;
		int sane;

		if (fs_parse_group(attrs, alen, &g))
			return 0;
		/*
		 * Each carrier takes a nest header and two u32 attributes,
		 * 20 bytes at least: more carriers than that came from
		 * nowhere.
		 */
		sane = memchr(g.comm, 0, sizeof(g.comm)) && g.nr <= g.cap &&
		       (!g.nr || g.carriers) && g.nr * 20 <= alen;
		fs_group_free(&g);
		return sane ? 1 : -1;
	}
	case K_STATS: {
		struct fs_stats s;

		return fs_parse_stats(attrs, alen, &s) ? 0 : 1;
	}
	case K_EVENT: {
		struct fs_event e;

		return fs_parse_event(attrs, alen, &e) ? 0 : 1;
	}
	case K_FAMILY: {
		struct fs_family f;

		if (fs_parse_family(attrs, alen, FIBER_GENL_MCGRP_EVENTS, &f))
			return 0;
		return 1;
	}
	default:
		return -1;
	}
}

/* ---- mutations ----------------------------------------------------- */

/* Offsets that look like attribute headers are where lies hurt most. */
static size_t attr_offset(size_t len)
{
	size_t first = NLMSG_HDRLEN + GENL_HDRLEN;

	if (len < first + 4)
		return rnd_below(len / 4) * 4;
	return first + (rnd_below((len - first) / 4) * 4);
}

static const uint16_t odd_lengths[] = { 0, 1, 3, 4, 5, 7, 8, 11, 12, 16, 0x7fff, 0xffff };
#define N_ODD	(sizeof(odd_lengths) / sizeof(odd_lengths[0]))

static size_t mutate(unsigned char *b, size_t len)
{
	int n = 1 + (int)rnd_below(4);
	struct nlattr *a;
	size_t off, k;

	while (n--) {
		switch (rnd_below(8)) {
		case 0:	/* truncate, nlmsg_len left as it was */
			len = rnd_below(len + 1);
			break;
		case 1:	/* truncate and make nlmsg_len agree */
			len = rnd_below(len + 1);
			if (len >= 4)
				((struct nlmsghdr *)b)->nlmsg_len = (uint32_t)len;
			break;
		case 2:	/* flip bits */
			if (len)
				b[rnd_below(len)] ^= (unsigned char)(1 << rnd_below(8));
			break;
		case 3:	/* overwrite a byte */
			if (len)
				b[rnd_below(len)] = (unsigned char)rnd();
			break;
		case 4:	/* a lying nla_len */
			off = attr_offset(len);
			if (off + 4 > len)
				break;
			a = (struct nlattr *)(b + off);
			a->nla_len = rnd_below(2) ? odd_lengths[rnd_below(N_ODD)] :
				     (uint16_t)rnd_below(len + 16);
			break;
		case 5:	/* another nla_type, perhaps with the flag bits */
			off = attr_offset(len);
			if (off + 4 > len)
				break;
			a = (struct nlattr *)(b + off);
			a->nla_type = (uint16_t)(rnd_below(2) ? rnd_below(32) : rnd()) |
				      (rnd_below(4) ? 0 : NLA_F_NESTED);
			break;
		case 6:	/* a nest full of garbage in the middle of it */
			off = attr_offset(len);
			k = 4 + rnd_below(64);
			if (off + 4 > len || len + k > MSG_MAX)
				break;
			memmove(b + off + k, b + off, len - off);
			a = (struct nlattr *)(b + off);
			a->nla_len = (uint16_t)k;
			a->nla_type = (uint16_t)rnd_below(32) | NLA_F_NESTED;
			for (size_t i = 4; i < k; i++)
				b[off + i] = (unsigned char)rnd();
			len += k;
			if (rnd_below(2))
				((struct nlmsghdr *)b)->nlmsg_len += (uint32_t)k;
			break;
		case 7:	/* a lying nlmsg_len */
			if (len >= 4)
				((struct nlmsghdr *)b)->nlmsg_len = rnd_below(2) ?
					(uint32_t)rnd() : (uint32_t)rnd_below(len + 8);
			break;
		}
	}
	return len;
}

/* ---- the fuzz loop ------------------------------------------------- */

static unsigned char *guard_end;	/* first byte of the no-access page */

static int setup_guard(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t room = ((MSG_MAX + page - 1) / page) * page;
	unsigned char *p;

	p = mmap(NULL, room + page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (mprotect(p + room, page, PROT_NONE))
		return -1;
	guard_end = p + room;
	return 0;
}

/* Parse @b both ways; returns parse_one()'s worst answer. */
static int parse_twice(enum kind kind, const unsigned char *b, size_t len)
{
	/* Aligned down: 0 to 3 bytes of slack before the guard page. */
	unsigned char *g = guard_end - ((len + 3) & ~(size_t)3);
	unsigned char *h = malloc(len ? len : 1);
	int r1, r2;

	if (!h)
		return -1;
	memcpy(h, b, len);
	r1 = parse_one(kind, h, len);
	free(h);
	memcpy(g, b, len);
	r2 = parse_one(kind, g, len);
	if (r1 < 0 || r2 < 0)
		return -1;
	if (r1 != r2)
		return -1;	/* the same bytes must get the same answer */
	return r1;
}

static struct nlmsghdr *build_kind(struct msg *m, enum kind kind, unsigned int v)
{
	switch (kind) {
	case K_GROUP:
		return build_group(m, 5 + v, v, v % 5);
	case K_STATS:
		return build_stats(m, v % 2);
	case K_EVENT:
		return build_event(m);
	case K_FAMILY:
		return build_family(m, v % 2);
	default:
		return v % 3 ? build_error(m, v % 2, "changing settings needs CAP_SYS_ADMIN") :
			       build_done(m, "no fiber group of that process");
	}
}

static void fuzz(enum kind kind, unsigned long rounds, long only)
{
	static struct msg m;
	/* Aligned as the kernel's buffers are, for the header casts. */
	static unsigned char b[MSG_MAX] __attribute__((aligned(8)));
	unsigned long round, ok = 0, rejected = 0;
	struct nlmsghdr *nlh;
	size_t len;

	for (round = 0; round < rounds; round++) {
		int r;

		/* Every round's numbers depend on its index alone. */
		rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)kind << 56) ^
		      (round * 0xbf58476d1ce4e5b9ULL);
		if (!rng)
			rng = 1;
		if (only >= 0 && (unsigned long)only != round)
			continue;
		nlh = build_kind(&m, kind, (unsigned int)rnd_below(16));
		len = nlh->nlmsg_len;
		memcpy(b, m.words, len);
		len = mutate(b, len);
		r = parse_twice(kind, b, len);
		if (r < 0) {
			tap(0, "fuzz %s: round %lu gave an insane result (FUZZ_ROUND=%lu replays it)",
			    kind_names[kind], round, round);
			return;
		}
		if (r)
			ok++;
		else
			rejected++;
	}
	tap(1, "fuzz %s: %lu rounds, %lu parsed, %lu rejected, no fault",
	    kind_names[kind], rounds, ok, rejected);
}

/* ---- the well-formed cases ----------------------------------------- */

static int group_is(const struct fs_group *g, uint64_t id, uint32_t first,
		    uint32_t n)
{
	uint32_t i;

	if (g->id != id || g->pid != 4242 || strcmp(g->comm, "worker\"\\\x01") ||
	    g->uid != 65534 || !g->dead || g->max_carriers != 10000 ||
	    g->handoff_delay_ns != 50000 || g->hold_on_wake != 1 ||
	    g->nr_carriers != 3 || g->nr_running != 1 || g->nr_blocked != 2 ||
	    g->nr_claimed != 3 || g->nr_waiting != 4 || g->nr_parked != 5 ||
	    g->nr_pending != 6 || g->counters.blocks != 101 ||
	    g->counters.notifications != 102 || g->counters.claims != 103 ||
	    g->counters.holds != 104 || g->counters.grants != 105 ||
	    g->counters.wakeups != 106 || g->counters.park_timeouts != 107 ||
	    g->nr != n)
		return 0;
	for (i = 0; i < n; i++) {
		const struct fs_carrier *c = &g->carriers[i];
		uint32_t k = first + i;

		if (c->slot != k || c->tid != 1000 + k || c->state != k % 6 ||
		    c->seq != 10ULL * k || c->user_word != 0xdead0000ULL + k ||
		    c->blocks != 20ULL * k || c->wakeups != 30ULL * k ||
		    c->claims != 40ULL * k || c->holds != 50ULL * k ||
		    c->last_block_ns != 60ULL * k || c->last_wake_ns != 70ULL * k)
			return 0;
	}
	return 1;
}

static int attrs_of(const struct nlmsghdr *nlh, const void **attrs, size_t *len)
{
	uint8_t cmd;

	return fs_genl_attrs(nlh, nlh->nlmsg_len, &cmd, attrs, len);
}

static void test_group(void)
{
	static struct msg m;
	struct fs_group g = { .id = 0 }, g2;
	const void *a;
	size_t len;
	int ok;

	ok = !attrs_of(build_group(&m, 9, 0, 3), &a, &len) &&
	     !fs_parse_group(a, len, &g) && group_is(&g, 9, 0, 3);
	tap(ok, "a group with three carriers parses to what was sent");

	/* The continuation: same id, the next carriers. */
	ok = ok && !attrs_of(build_group(&m, 9, 3, 4), &a, &len) &&
	     !fs_parse_group(a, len, &g2) && !fs_group_merge(&g, &g2) &&
	     group_is(&g, 9, 0, 7) && !g2.carriers;
	tap(ok, "a group continued in a second message merges to seven carriers");
	fs_group_free(&g);

	/* So many carriers that the buffer nearly fills. */
	ok = !attrs_of(build_group(&m, 1, 0, 100), &a, &len) &&
	     !fs_parse_group(a, len, &g) && group_is(&g, 1, 0, 100);
	tap(ok, "a group with 100 carriers (%zu bytes) parses", len);
	fs_group_free(&g);
}

static void test_others(void)
{
	static struct msg m;
	struct fs_stats s;
	struct fs_event e;
	struct fs_family f;
	struct nlmsghdr *nlh;
	const void *a;
	size_t len;
	char msg[64];
	int err, ok;

	ok = !attrs_of(build_stats(&m, 1), &a, &len) && !fs_parse_stats(a, len, &s) &&
	     s.abi_version == FIBER_ABI_VERSION && s.nr_groups == 2 &&
	     s.nr_carriers == 9 && s.counters.blocks == 1000 + FIBER_STATS_A_BLOCKS &&
	     s.counters.park_timeouts == 1000 + FIBER_STATS_A_PARK_TIMEOUTS &&
	     s.events_sent == 1000 + FIBER_STATS_A_EVENTS_SENT &&
	     s.events_dropped == 1000 + FIBER_STATS_A_EVENTS_DROPPED &&
	     s.max_carriers == 10000 && s.max_groups_per_user == 64 &&
	     s.events_per_sec == 1000 && s.has_features && s.features == 0x1000f;
	tap(ok, "the totals parse to what was sent");

	ok = !attrs_of(build_stats(&m, 0), &a, &len) && !fs_parse_stats(a, len, &s) &&
	     s.max_carriers == 10000 && !s.has_features && !s.features;
	nlh = build_stats(&m, 0);
	mnl_attr_put_u32(nlh, FIBER_STATS_A_FEATURES, 0xf);
	ok = ok && !attrs_of(nlh, &a, &len) && fs_parse_stats(a, len, &s) == -EBADMSG;
	tap(ok, "totals without the features say so; features of the wrong size are rejected");

	ok = !attrs_of(build_event(&m), &a, &len) && !fs_parse_event(a, len, &e) &&
	     e.type == FIBER_EVENT_TYPE_HOLD && e.pid == 77 && e.tid == 78 &&
	     e.slot == 3 && e.seq == 12 && e.time_ns == 123456789012ULL &&
	     e.dropped == 5;
	tap(ok, "an event parses to what was sent");

	ok = !attrs_of(build_family(&m, 1), &a, &len) &&
	     !fs_parse_family(a, len, FIBER_GENL_MCGRP_EVENTS, &f) &&
	     f.id == 0x1d && f.events_group == 12;
	ok = ok && !attrs_of(build_family(&m, 0), &a, &len) &&
	     !fs_parse_family(a, len, FIBER_GENL_MCGRP_EVENTS, &f) &&
	     f.id == 0x1d && f.events_group == 0;
	tap(ok, "the family reply gives the id and the events group, if any");

	nlh = build_error(&m, 0, "changing settings needs CAP_SYS_ADMIN");
	ok = !fs_parse_status(nlh, nlh->nlmsg_len, &err, msg, sizeof(msg)) &&
	     err == -EPERM && !strcmp(msg, "changing settings needs CAP_SYS_ADMIN");
	nlh = build_error(&m, 1, "capped");
	ok = ok && !fs_parse_status(nlh, nlh->nlmsg_len, &err, msg, sizeof(msg)) &&
	     err == -EPERM && !strcmp(msg, "capped");
	nlh = build_done(&m, "no fiber group of that process");
	ok = ok && !fs_parse_status(nlh, nlh->nlmsg_len, &err, msg, sizeof(msg)) &&
	     err == -ESRCH && !strcmp(msg, "no fiber group of that process");
	/* A message longer than the buffer is cut, not overrun. */
	nlh = build_error(&m, 0, "a rather long message that does not fit in sixteen");
	ok = ok && !fs_parse_status(nlh, nlh->nlmsg_len, &err, msg, 16) &&
	     strlen(msg) == 15;
	tap(ok, "errors and dump ends give the errno and the extended ACK message");
}

static void test_strictness(void)
{
	static struct msg m;
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	struct fs_group g;
	struct fs_event e;
	char comm[100];
	const void *a;
	size_t len;
	int ok;

	/* Unknown types, at the top and inside a carrier, are skipped. */
	nlh = genl_start(&m, 0x20, FIBER_CMD_GET_GROUP);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_ID, 1);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_PID, 2);
	mnl_attr_put_u32(nlh, __FIBER_GROUP_A_MAX + 3, 99);
	nest = mnl_attr_nest_start(nlh, __FIBER_GROUP_A_MAX + 4);
	mnl_attr_put_u64(nlh, 1, 1);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, FIBER_GROUP_A_CARRIERS);
	{
		struct nlattr *c = mnl_attr_nest_start(nlh, 0);

		mnl_attr_put_u32(nlh, FIBER_CARRIER_A_SLOT, 4);
		mnl_attr_put_u32(nlh, FIBER_CARRIER_A_TID, 5);
		mnl_attr_put_strz(nlh, __FIBER_CARRIER_A_MAX + 1, "future");
		mnl_attr_nest_end(nlh, c);
	}
	mnl_attr_nest_end(nlh, nest);
	ok = !attrs_of(nlh, &a, &len) && !fs_parse_group(a, len, &g) &&
	     g.id == 1 && g.pid == 2 && g.nr == 1 && g.carriers[0].slot == 4 &&
	     g.carriers[0].tid == 5;
	tap(ok, "unknown attribute types are ignored");
	if (ok)
		fs_group_free(&g);

	/* A known type of the wrong size rejects the message. */
	nlh = genl_start(&m, 0x20, FIBER_CMD_GET_GROUP);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_ID, 1);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_PID, 2);
	ok = !attrs_of(nlh, &a, &len) && fs_parse_group(a, len, &g) == -EBADMSG;
	nlh = build_event(&m);
	mnl_attr_put_u16(nlh, FIBER_EVENT_A_DROPPED, 1);
	ok = ok && !attrs_of(nlh, &a, &len) && fs_parse_event(a, len, &e) == -EBADMSG;
	/* So does an attribute that runs past the end. */
	nlh = build_event(&m);
	ok = ok && !attrs_of(nlh, &a, &len) && fs_parse_event(a, len - 2, &e) == -EBADMSG;
	/* And a group without its id. */
	nlh = genl_start(&m, 0x20, FIBER_CMD_GET_GROUPS);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_PID, 2);
	ok = ok && !attrs_of(nlh, &a, &len) && fs_parse_group(a, len, &g) == -EBADMSG;
	tap(ok, "wrong sizes, truncation and a missing id are rejected");

	/* A comm with no NUL, longer than the buffer, of any bytes. */
	memset(comm, 0xff, sizeof(comm));
	nlh = genl_start(&m, 0x20, FIBER_CMD_GET_GROUPS);
	mnl_attr_put_u64(nlh, FIBER_GROUP_A_ID, 1);
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_PID, 2);
	mnl_attr_put(nlh, FIBER_GROUP_A_COMM, sizeof(comm), comm);
	ok = !attrs_of(nlh, &a, &len) && !fs_parse_group(a, len, &g) &&
	     strlen(g.comm) == FS_COMM_MAX - 1;
	fs_group_free(&g);
	tap(ok, "a long comm without a NUL is truncated and terminated");
}

int main(void)
{
	const char *env = getenv("FUZZ_ROUND");
	long only = env ? atol(env) : -1;
	enum kind k;

	printf("TAP version 13\n1..%d\n", 11 + NR_KINDS);
	if (setup_guard()) {
		printf("Bail out! no guard page: %s\n", strerror(errno));
		return 1;
	}
	test_group();
	test_others();
	test_strictness();
	for (k = 0; k < NR_KINDS; k++)
		fuzz(k, ROUNDS / NR_KINDS, only);
	return failures ? 1 : 0;
}
