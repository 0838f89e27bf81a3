// SPDX-License-Identifier: GPL-2.0
/*
 * The "fiber" generic netlink family against its spec in the uapi header:
 * the dumps (consistent while groups come and go, split over messages for
 * big groups), the stats, the settings and who may change them, strict
 * request validation with extended ACK messages, and the events group.
 */
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "fiber_netlink.h"
#include "nobody.h"
#include "harness_ext.h"

/* ---- reading replies ------------------------------------------------------ */

#define MAX_SEEN	4096

struct group_seen {
	uint64_t id;
	uint32_t pid;
	char comm[32];
	uint32_t nr_carriers, nr_running;
	uint64_t blocks, wakeups;
	uint32_t carriers;		/* carrier nests seen, over all parts */
	uint32_t user_words;		/* ... with FIBER_CARRIER_A_USER_WORD */
	uint32_t full_parts;		/* messages with all group attributes */
	uint32_t tids[256];
};

struct dump {
	struct group_seen g[MAX_SEEN];
	int n;
	int parts;			/* messages */
	bool unordered;			/* ids not ascending */
	bool once;			/* each group in one message only */
	bool dup;			/* ... but one came twice */
	bool bad;			/* a message without an id */
};

static struct group_seen *dump_group(struct dump *d, uint64_t id)
{
	int i;

	for (i = 0; i < d->n; i++) {
		if (d->g[i].id == id) {
			d->dup |= d->once;
			return &d->g[i];
		}
	}
	if (d->n && d->g[d->n - 1].id > id)
		d->unordered = true;
	if (d->n == MAX_SEEN)
		return NULL;
	memset(&d->g[d->n], 0, sizeof(d->g[0]));
	d->g[d->n].id = id;
	return &d->g[d->n++];
}

static int take_group(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[FIBER_GROUP_A_MAX + 1];
	const struct nlattr *ctb[FIBER_CARRIER_A_MAX + 1];
	struct dump *d = data;
	const struct nlattr *c;
	struct group_seen *g;

	d->parts++;
	fiber_nl_table(NULL, nlh, tb, FIBER_GROUP_A_MAX);
	if (!tb[FIBER_GROUP_A_ID] || !tb[FIBER_GROUP_A_PID]) {
		d->bad = true;
		return 0;
	}
	g = dump_group(d, mnl_attr_get_u64(tb[FIBER_GROUP_A_ID]));
	if (!g)
		return -ENOSPC;
	g->pid = mnl_attr_get_u32(tb[FIBER_GROUP_A_PID]);
	/* A continuation has only the id, the pid and carriers. */
	if (tb[FIBER_GROUP_A_NR_CARRIERS]) {
		if (tb[FIBER_GROUP_A_COMM])
			snprintf(g->comm, sizeof(g->comm), "%s",
				 mnl_attr_get_str(tb[FIBER_GROUP_A_COMM]));
		g->nr_carriers = fiber_nl_u32(tb[FIBER_GROUP_A_NR_CARRIERS]);
		g->nr_running = fiber_nl_u32(tb[FIBER_GROUP_A_NR_RUNNING]);
		g->blocks = fiber_nl_u64(tb[FIBER_GROUP_A_BLOCKS]);
		g->wakeups = fiber_nl_u64(tb[FIBER_GROUP_A_WAKEUPS]);
		g->full_parts++;
	}
	if (!tb[FIBER_GROUP_A_CARRIERS])
		return 0;
	mnl_attr_for_each_nested(c, tb[FIBER_GROUP_A_CARRIERS]) {
		fiber_nl_table(c, NULL, ctb, FIBER_CARRIER_A_MAX);
		if (g->carriers < 256)
			g->tids[g->carriers] = fiber_nl_u32(ctb[FIBER_CARRIER_A_TID]);
		g->carriers++;
		g->user_words += !!ctb[FIBER_CARRIER_A_USER_WORD];
	}
	return 0;
}

struct stats {
	uint32_t nr_groups, nr_carriers;
	uint64_t blocks, claims, events_sent, events_dropped;
	uint32_t max_carriers, max_groups_per_user, events_per_sec;
	uint64_t features;
	int features_len;		/* its payload's length; -1: absent */
};

static int take_stats(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[FIBER_STATS_A_MAX + 1];
	struct stats *s = data;

	fiber_nl_table(NULL, nlh, tb, FIBER_STATS_A_MAX);
	if (fiber_nl_u32(tb[FIBER_STATS_A_ABI_VERSION]) != FIBER_ABI_VERSION)
		return -EPROTO;
	s->nr_groups = fiber_nl_u32(tb[FIBER_STATS_A_NR_GROUPS]);
	s->nr_carriers = fiber_nl_u32(tb[FIBER_STATS_A_NR_CARRIERS]);
	s->blocks = fiber_nl_u64(tb[FIBER_STATS_A_BLOCKS]);
	s->claims = fiber_nl_u64(tb[FIBER_STATS_A_CLAIMS]);
	s->events_sent = fiber_nl_u64(tb[FIBER_STATS_A_EVENTS_SENT]);
	s->events_dropped = fiber_nl_u64(tb[FIBER_STATS_A_EVENTS_DROPPED]);
	s->max_carriers = fiber_nl_u32(tb[FIBER_STATS_A_MAX_CARRIERS]);
	s->max_groups_per_user = fiber_nl_u32(tb[FIBER_STATS_A_MAX_GROUPS_PER_USER]);
	s->events_per_sec = fiber_nl_u32(tb[FIBER_STATS_A_EVENTS_PER_SEC]);
	s->features_len = tb[FIBER_STATS_A_FEATURES] ?
		(int)mnl_attr_get_payload_len(tb[FIBER_STATS_A_FEATURES]) : -1;
	s->features = s->features_len == 8 ?
		mnl_attr_get_u64(tb[FIBER_STATS_A_FEATURES]) : 0;
	return 0;
}

static int get_stats(struct fiber_nl *nl, struct stats *s)
{
	return fiber_nl(nl, FIBER_CMD_GET_STATS, 0, NULL, NULL, take_stats, s);
}

static int dump_groups(struct fiber_nl *nl, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	d->once = true;
	return fiber_nl(nl, FIBER_CMD_GET_GROUPS, NLM_F_DUMP, NULL, NULL,
			take_group, d);
}

static void put_pid(struct nlmsghdr *nlh, void *data)
{
	mnl_attr_put_u32(nlh, FIBER_GROUP_A_PID, *(uint32_t *)data);
}

static int dump_group_of(struct fiber_nl *nl, uint32_t pid, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	return fiber_nl(nl, FIBER_CMD_GET_GROUP, NLM_F_DUMP, put_pid, &pid,
			take_group, d);
}

/* Settings to send: a zero field is left out. */
struct settings {
	uint32_t max_carriers, max_groups_per_user, events_per_sec;
	int extra_type;			/* an attribute that is not a setting */
};

static void put_settings(struct nlmsghdr *nlh, void *data)
{
	const struct settings *s = data;

	if (s->max_carriers)
		mnl_attr_put_u32(nlh, FIBER_STATS_A_MAX_CARRIERS, s->max_carriers);
	if (s->max_groups_per_user)
		mnl_attr_put_u32(nlh, FIBER_STATS_A_MAX_GROUPS_PER_USER,
				 s->max_groups_per_user);
	if (s->events_per_sec)
		mnl_attr_put_u32(nlh, FIBER_STATS_A_EVENTS_PER_SEC, s->events_per_sec);
	if (s->extra_type)
		mnl_attr_put_u32(nlh, s->extra_type, 1);
}

static int set_config(struct fiber_nl *nl, struct settings *s)
{
	return fiber_nl(nl, FIBER_CMD_SET_CONFIG, 0, put_settings, s, NULL, NULL);
}

/* ---- carriers to look at -------------------------------------------------- */

struct carrier_thread {
	int fd;
	pthread_t thread;
	pid_t tid;
	atomic_int registered;
	atomic_int stop;
	atomic_int naps;		/* nanosleeps while registered */
	int ret;
};

/*
 * A registered thread: it naps @naps times (each nap a block), then waits
 * for carrier_stop() on a futex, which blocks once (and once per second).
 *
 * A nap is a block only if its timer is still pending when nanosleep()
 * gets to schedule().  200 us naps once expired first on the debug kernel
 * under QEMU, and a nap went uncounted; 5 ms leaves a margin that a vCPU
 * would have to stall for.
 */
static void *carrier_main(void *arg)
{
	struct timespec nap = { 0, 5000000 }, second = { 1, 0 };
	struct carrier_thread *t = arg;

	t->tid = gettid();
	t->ret = fiber_register(t->fd, 0, NULL);
	atomic_store(&t->registered, t->ret ? -1 : 1);
	if (t->ret)
		return NULL;
	for (; t->naps > 0 && !atomic_load(&t->stop); t->naps--)
		nanosleep(&nap, NULL);
	while (!atomic_load(&t->stop))
		syscall(SYS_futex, &t->stop, FUTEX_WAIT, 0, &second, NULL, 0);
	t->ret = fiber_unregister(t->fd);
	return NULL;
}

static int carrier_start(struct carrier_thread *t, int fd, int naps)
{
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->naps = naps;
	if (pthread_create(&t->thread, NULL, carrier_main, t))
		return -EAGAIN;
	while (!atomic_load(&t->registered))
		usleep(100);
	return atomic_load(&t->registered) == 1 ? 0 : t->ret;
}

static int carrier_stop(struct carrier_thread *t)
{
	atomic_store(&t->stop, 1);
	syscall(SYS_futex, &t->stop, FUTEX_WAKE, 1, NULL, NULL, 0);
	pthread_join(t->thread, NULL);
	return t->ret;
}

/* ---- the fixture ---------------------------------------------------------- */

FIXTURE(nl) {
	struct fiber_nl nl;
	bool have_nl;
	struct dump d;
};

FIXTURE_SETUP(nl)
{
	int ret;

	ret = fiber_nl_open(&self->nl);
	ASSERT_EQ(0, ret) TH_LOG("resolving the family: %s", strerror(-ret));
	self->have_nl = true;
}

FIXTURE_TEARDOWN(nl)
{
	if (self->have_nl)
		fiber_nl_close(&self->nl);
}

/* The events group is there exactly where the feature bit says so. */
TEST_F(nl, family_and_events_group_resolve)
{
	SKIPPED_IN_SETUP();
	EXPECT_NE(0, self->nl.family);
	if (fiber_features() & FIBER_FEATURE_EVENTS) {
		EXPECT_NE(0, self->nl.mcgrp_events);
	} else {
		EXPECT_EQ(0, self->nl.mcgrp_events);
	}
}

TEST_F(nl, stats_count_groups_and_carriers)
{
	struct stats before, during, after;
	struct carrier_thread t;
	int fd;

	SKIPPED_IN_SETUP();
	ASSERT_EQ(0, get_stats(&self->nl, &before));
	EXPECT_GE(before.max_carriers, 1);
	EXPECT_GE(before.max_groups_per_user, 1);
	EXPECT_GE(before.events_per_sec, 1);
	fd = fiber_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, carrier_start(&t, fd, 20));
	while (t.naps)
		usleep(1000);
	ASSERT_EQ(0, get_stats(&self->nl, &during));
	EXPECT_EQ(before.nr_groups + 1, during.nr_groups);
	EXPECT_EQ(before.nr_carriers + 1, during.nr_carriers);
	EXPECT_GE(during.blocks, before.blocks + 20);
	ASSERT_EQ(0, carrier_stop(&t));
	close(fd);
	/* The group is freed once its carrier is gone; its counts stay. */
	ASSERT_EQ(0, get_stats(&self->nl, &after));
	EXPECT_EQ(before.nr_groups, after.nr_groups);
	EXPECT_EQ(before.nr_carriers, after.nr_carriers);
	EXPECT_GE(after.blocks, during.blocks);
}

TEST_F(nl, groups_dump_shows_own_group)
{
	struct carrier_thread t;
	struct group_seen *g = NULL;
	char comm[16] = "";
	int fd, i;

	SKIPPED_IN_SETUP();
	prctl(PR_GET_NAME, comm);
	fd = fiber_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, carrier_start(&t, fd, 10));
	while (t.naps)
		usleep(1000);
	ASSERT_EQ(0, dump_groups(&self->nl, &self->d));
	EXPECT_FALSE(self->d.bad);
	EXPECT_FALSE(self->d.unordered);
	EXPECT_FALSE(self->d.dup);
	for (i = 0; i < self->d.n; i++)
		if (self->d.g[i].pid == (uint32_t)getpid())
			g = &self->d.g[i];
	ASSERT_NE(NULL, g);
	EXPECT_STREQ(comm, g->comm);
	EXPECT_EQ(1, g->nr_carriers);
	EXPECT_EQ(0, g->carriers);	/* no carriers in GET_GROUPS */
	EXPECT_GE(g->blocks, 10);

	/*
	 * Once the carrier is gone its counts are the group's, and every
	 * block it made has its wake-up (while it lived, its last block, on
	 * the futex, may still be asleep).
	 */
	ASSERT_EQ(0, carrier_stop(&t));
	ASSERT_EQ(0, dump_groups(&self->nl, &self->d));
	for (i = 0, g = NULL; i < self->d.n; i++)
		if (self->d.g[i].pid == (uint32_t)getpid())
			g = &self->d.g[i];
	ASSERT_NE(NULL, g);
	EXPECT_EQ(0, g->nr_carriers);
	EXPECT_GE(g->blocks, 10);
	EXPECT_EQ(g->blocks, g->wakeups);
	close(fd);
}

/*
 * 100 carriers.  Read with a page-sized buffer, as many tools do, they do
 * not fit one message: the kernel sizes a dump's messages to the reader's
 * buffer, and the parts must add up.
 */
TEST_F_TIMEOUT(nl, group_dump_lists_100_carriers, 120)
{
	static struct carrier_thread t[100];
	struct group_seen *g;
	struct fiber_nl small;
	int fd, i, j, found;

	SKIPPED_IN_SETUP();
	fd = fiber_open();
	ASSERT_LE(0, fd);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, carrier_start(&t[i], fd, 0));
	ASSERT_EQ(0, fiber_nl_open_sized(&small, 4096));
	ASSERT_EQ(0, dump_group_of(&small, getpid(), &self->d));
	EXPECT_FALSE(small.intr);
	fiber_nl_close(&small);
	ASSERT_EQ(1, self->d.n);
	g = &self->d.g[0];
	EXPECT_EQ(100, g->nr_carriers);
	EXPECT_EQ(100, g->carriers);
	EXPECT_GT(self->d.parts, 1) TH_LOG("expected the carriers to span messages");
	EXPECT_EQ(1, g->full_parts);	/* the continuations are short */
	for (i = 0, found = 0; i < 100; i++)
		for (j = 0; j < 100; j++)
			found += g->tids[j] == (uint32_t)t[i].tid;
	EXPECT_EQ(100, found);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, carrier_stop(&t[i]));
	close(fd);
}

/*
 * Two groups of one process, opened one after the other (consecutive ids),
 * the first too big for one message: the second must still come whole.
 */
TEST_F_TIMEOUT(nl, second_group_after_a_split_one_is_whole, 120)
{
	static struct carrier_thread t[100];
	struct fiber_nl small;
	int fd[2], i;

	SKIPPED_IN_SETUP();
	fd[0] = fiber_open();
	fd[1] = fiber_open();
	ASSERT_LE(0, fd[0]);
	ASSERT_LE(0, fd[1]);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, carrier_start(&t[i], fd[i < 70 ? 0 : 1], 0));
	ASSERT_EQ(0, fiber_nl_open_sized(&small, 4096));
	ASSERT_EQ(0, dump_group_of(&small, getpid(), &self->d));
	fiber_nl_close(&small);
	ASSERT_EQ(2, self->d.n);
	EXPECT_EQ(self->d.g[0].id + 1, self->d.g[1].id);
	EXPECT_EQ(70, self->d.g[0].carriers);
	EXPECT_EQ(30, self->d.g[1].carriers);
	EXPECT_EQ(30, self->d.g[1].nr_carriers);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, carrier_stop(&t[i]));
	close(fd[0]);
	close(fd[1]);
}

/* The module's counts are its own: writing the slot's copy changes nothing. */
TEST_F(nl, counters_cannot_be_forged)
{
	struct carrier_thread t;
	struct fiber_map m = { 0 };
	struct fiber_slot *slot;
	uint32_t i;
	int fd;

	SKIPPED_IN_SETUP();
	fd = fiber_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fiber_map(fd, &m));
	ASSERT_EQ(0, carrier_start(&t, fd, 10));
	while (t.naps)
		usleep(1000);
	for (i = 0; i < m.hdr->max_carriers; i++) {
		slot = fiber_slot_of(&m, i);
		if (slot->tid == (uint32_t)t.tid)
			break;
	}
	ASSERT_LT(i, m.hdr->max_carriers);
	/* The header cannot be written at all (mmap_test.c). */
	slot->blocks = 1ull << 60;
	ASSERT_EQ(0, dump_group_of(&self->nl, getpid(), &self->d));
	ASSERT_EQ(1, self->d.n);
	EXPECT_LE(10, self->d.g[0].blocks);
	EXPECT_GT(1ull << 40, self->d.g[0].blocks);
	ASSERT_EQ(0, carrier_stop(&t));
	munmap(m.base, m.size);
	close(fd);
}

/*
 * A group can outlive its owner, kept by a child's inherited descriptor.
 * It is not shown under the dead owner's pid, whose number another process
 * may get.
 */
TEST_F(nl, group_of_an_exited_owner_is_not_shown)
{
	pid_t owner, keeper = 0;
	int p[2], status, i;

	SKIPPED_IN_SETUP();
	ASSERT_EQ(0, pipe(p));
	owner = fork();
	ASSERT_LE(0, owner);
	if (!owner) {
		int fd = open(FIBER_DEVICE_PATH, O_RDWR);	/* inherited */

		if (fd < 0)
			_exit(1);
		if (!fork()) {
			/* The keeper: holds the descriptor until killed. */
			keeper = getpid();
			if (write(p[1], &keeper, sizeof(keeper)) != sizeof(keeper))
				_exit(1);
			pause();
			_exit(0);
		}
		_exit(0);
	}
	ASSERT_EQ(owner, waitpid(owner, &status, 0));
	ASSERT_EQ(sizeof(keeper), read(p[0], &keeper, sizeof(keeper)));
	EXPECT_EQ(-ESRCH, dump_group_of(&self->nl, owner, &self->d));
	ASSERT_EQ(0, dump_groups(&self->nl, &self->d));
	for (i = 0; i < self->d.n; i++)
		EXPECT_NE((uint32_t)owner, self->d.g[i].pid);
	kill(keeper, SIGKILL);
	close(p[0]);
	close(p[1]);
}

TEST_F(nl, process_with_two_groups)
{
	int fd1, fd2;

	SKIPPED_IN_SETUP();
	fd1 = fiber_open();
	fd2 = fiber_open();
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, dump_group_of(&self->nl, getpid(), &self->d));
	EXPECT_EQ(2, self->d.n);
	EXPECT_NE(self->d.g[0].id, self->d.g[1].id);
	close(fd1);
	close(fd2);
}

/*
 * 50 groups come and go all the time (10 processes of 5 threads) while we
 * dump: every dump must parse, list each group once, in id order, and be
 * marked interrupted whenever the list changed under it.  When the churn
 * stops, no group of the churners is left.
 */
static void churn(void)
{
	struct timespec ts = { 0, 100000 };

	for (;;) {
		int fd = fiber_open();

		if (fd < 0)
			continue;
		if (!fiber_register(fd, 0, NULL)) {
			nanosleep(&ts, NULL);
			fiber_unregister(fd);
		}
		close(fd);
	}
}

static void *churn_thread(void *arg)
{
	(void)arg;
	churn();
	return NULL;
}

/*
 * 3 s, but the fifth dump ends it: 32 to 81 s on the debug kernel when
 * the churners ran at the dumper's priority.
 */
TEST_F_TIMEOUT(nl, dump_consistent_while_50_groups_churn, 240)
{
	pid_t kids[10];
	int i, j, dumps = 0, intr = 0, seen_kids = 0;
	struct stats before, after;
	uint64_t end;

	SKIPPED_IN_SETUP();
	ASSERT_EQ(0, get_stats(&self->nl, &before));
	for (i = 0; i < 10; i++) {
		kids[i] = fork();
		ASSERT_LE(0, kids[i]);
		if (!kids[i]) {
			pthread_t th;

			/*
			 * At the lowest priority: 50 churners beside one
			 * dumper on a slow kernel must not starve the dumps.
			 */
			errno = 0;
			if (nice(19) == -1 && errno)
				_exit(1);
			for (j = 0; j < 4; j++)
				pthread_create(&th, NULL, churn_thread, NULL);
			churn();
		}
	}
	/* 3 s, and at least 5 dumps (a debug kernel is slow). */
	end = now_ns() + 3000 * MSEC;
	while (now_ns() < end || dumps < 5) {
		ASSERT_EQ(0, dump_groups(&self->nl, &self->d));
		dumps++;
		intr += self->nl.intr;
		EXPECT_FALSE(self->d.bad);
		EXPECT_FALSE(self->d.unordered);
		EXPECT_FALSE(self->d.dup);
		for (i = 0; i < self->d.n; i++)
			for (j = 0; j < 10; j++)
				seen_kids += self->d.g[i].pid == (uint32_t)kids[j];
		if (!_metadata->passed)
			break;
		/*
		 * Let the churners (at nice 19) run between dumps: on the
		 * debug kernel of a loaded host, back-to-back dumps left
		 * them so little that 78 dumps saw none of their groups.
		 */
		usleep(5000);
	}
	for (i = 0; i < 10; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	TH_LOG("%d dumps, %d interrupted, %d churning groups seen", dumps, intr,
	       seen_kids);
	EXPECT_GT(seen_kids, 0);
	/* Killed children's groups go as their threads' carriers are freed. */
	for (i = 0; i < 500; i++) {
		ASSERT_EQ(0, get_stats(&self->nl, &after));
		if (after.nr_groups == before.nr_groups)
			break;
		usleep(10000);
	}
	EXPECT_EQ(before.nr_groups, after.nr_groups);
	ASSERT_EQ(0, dump_groups(&self->nl, &self->d));
	for (i = 0; i < self->d.n; i++)
		for (j = 0; j < 10; j++)
			EXPECT_NE((uint32_t)kids[j], self->d.g[i].pid);
}

/* ---- errors --------------------------------------------------------------- */

static void put_u32_attr(struct nlmsghdr *nlh, void *data)
{
	const uint32_t *tv = data;	/* type, value */

	mnl_attr_put_u32(nlh, tv[0], tv[1]);
}

static void put_u8_pid(struct nlmsghdr *nlh, void *data)
{
	(void)data;
	mnl_attr_put_u8(nlh, FIBER_GROUP_A_PID, 1);
}

TEST_F(nl, bad_requests_get_clear_errors)
{
	uint32_t tv[2];
	int fd;

	SKIPPED_IN_SETUP();
	/* GET_GROUP without a pid. */
	EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_GET_GROUP, NLM_F_DUMP,
				    NULL, NULL, NULL, NULL));
	EXPECT_NE(NULL, strstr(self->nl.extack, "required")) TH_LOG("%s", self->nl.extack);

	/* A pid with no group; pid 1 (init) has none. */
	tv[0] = FIBER_GROUP_A_PID;
	tv[1] = 1;
	EXPECT_EQ(-ESRCH, fiber_nl(&self->nl, FIBER_CMD_GET_GROUP, NLM_F_DUMP,
				   put_u32_attr, tv, NULL, NULL));
	EXPECT_STREQ("that process has no fiber group", self->nl.extack);

	/* Pid 0 is out of the policy's range. */
	tv[1] = 0;
	EXPECT_EQ(-ERANGE, fiber_nl(&self->nl, FIBER_CMD_GET_GROUP, NLM_F_DUMP,
				    put_u32_attr, tv, NULL, NULL));
	EXPECT_NE(0, self->nl.extack[0]);

	/* The wrong length for a u32. */
	EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_GET_GROUP, NLM_F_DUMP,
				    put_u8_pid, NULL, NULL, NULL));
	EXPECT_NE(0, self->nl.extack[0]);

	/* An attribute GET_GROUP does not take, and an unknown one. */
	tv[0] = FIBER_GROUP_A_COMM;
	tv[1] = 1;
	EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_GET_GROUP, NLM_F_DUMP,
				    put_u32_attr, tv, NULL, NULL));
	tv[0] = FIBER_GROUP_A_MAX + 1;
	EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_GET_GROUP, NLM_F_DUMP,
				    put_u32_attr, tv, NULL, NULL));
	EXPECT_NE(0, self->nl.extack[0]);

	/* GET_GROUP is a dump only. */
	fd = fiber_open();
	ASSERT_LE(0, fd);
	tv[0] = FIBER_GROUP_A_PID;
	tv[1] = getpid();
	EXPECT_EQ(-EOPNOTSUPP, fiber_nl(&self->nl, FIBER_CMD_GET_GROUP, 0,
					put_u32_attr, tv, NULL, NULL));
	close(fd);

	/* Commands that take nothing refuse any attribute. */
	tv[0] = FIBER_STATS_A_NR_GROUPS;
	EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_GET_STATS, 0,
				    put_u32_attr, tv, NULL, NULL));
	tv[0] = FIBER_GROUP_A_PID;
	EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_GET_GROUPS, NLM_F_DUMP,
				    put_u32_attr, tv, NULL, NULL));

	/* Commands that do not exist, and the events command sent in. */
	EXPECT_EQ(-EOPNOTSUPP, fiber_nl(&self->nl, FIBER_CMD_MAX + 1, 0,
					NULL, NULL, NULL, NULL));
	EXPECT_EQ(-EOPNOTSUPP, fiber_nl(&self->nl, FIBER_CMD_EVENT, 0,
					NULL, NULL, NULL, NULL));
}

/* ---- settings ------------------------------------------------------------- */

TEST_F(nl, settings_change_and_are_checked)
{
	struct settings s = { 0 };
	struct stats st, orig;

	SKIPPED_IN_SETUP();
	NEED_CAP(CAP_SYS_ADMIN, "changing the module's settings");
	ASSERT_EQ(0, get_stats(&self->nl, &orig));

	s.events_per_sec = 1234;
	s.max_groups_per_user = orig.max_groups_per_user + 1;
	ASSERT_EQ(0, set_config(&self->nl, &s));
	ASSERT_EQ(0, get_stats(&self->nl, &st));
	EXPECT_EQ(1234, st.events_per_sec);
	EXPECT_EQ(orig.max_groups_per_user + 1, st.max_groups_per_user);

	/* Out of range: refused, and the valid setting with it is not made. */
	memset(&s, 0, sizeof(s));
	s.events_per_sec = 99;
	s.max_carriers = (1u << 20) + 1;
	EXPECT_EQ(-ERANGE, set_config(&self->nl, &s));
	EXPECT_NE(0, self->nl.extack[0]);
	ASSERT_EQ(0, get_stats(&self->nl, &st));
	EXPECT_EQ(1234, st.events_per_sec);
	EXPECT_EQ(orig.max_carriers, st.max_carriers);

	/* A counter is not a setting; nothing at all is no request. */
	memset(&s, 0, sizeof(s));
	s.events_per_sec = 99;
	s.extra_type = FIBER_STATS_A_BLOCKS;
	EXPECT_EQ(-EINVAL, set_config(&self->nl, &s));
	EXPECT_NE(NULL, strstr(self->nl.extack, "read-only")) TH_LOG("%s", self->nl.extack);
	memset(&s, 0, sizeof(s));
	EXPECT_EQ(-EINVAL, set_config(&self->nl, &s));
	EXPECT_STREQ("no setting given", self->nl.extack);

	/* The carrier limit reaches new groups. */
	memset(&s, 0, sizeof(s));
	s.max_carriers = 3;
	ASSERT_EQ(0, set_config(&self->nl, &s)) TH_LOG("max_carriers 3");
	{
		struct fiber_info info = { .size = sizeof(info) };
		int fd = fiber_open();

		ASSERT_LE(0, fd);
		EXPECT_EQ(0, fiber_sys(fd, FIBER_IOC_GET_INFO, &info));
		EXPECT_EQ(3, info.max_carriers);
		close(fd);
	}

	s.max_carriers = orig.max_carriers;
	s.max_groups_per_user = orig.max_groups_per_user;
	s.events_per_sec = orig.events_per_sec;
	ASSERT_EQ(0, set_config(&self->nl, &s));
}

/* One u64 attribute, and a valid setting beside it if events_per_sec is set. */
struct u64_attr {
	uint16_t type;
	uint64_t value;
	uint32_t events_per_sec;
};

static void put_u64_attr(struct nlmsghdr *nlh, void *data)
{
	const struct u64_attr *a = data;

	if (a->events_per_sec)
		mnl_attr_put_u32(nlh, FIBER_STATS_A_EVENTS_PER_SEC,
				 a->events_per_sec);
	mnl_attr_put_u64(nlh, a->type, a->value);
}

/*
 * The features are there for anyone, even a process without a group (the
 * child below never opens one; fiberinfo reads them so), say what GET_INFO
 * says, and cannot be written: not alone, not
 * beside a valid setting (which is then not made either), not as another
 * user, and not smuggled into a request that takes nothing.
 */
TEST_F(nl, features_are_read_only_and_for_anyone)
{
	struct u64_attr a = { .type = FIBER_STATS_A_FEATURES };
	struct fiber_info info = { .size = sizeof(info) };
	struct stats st, orig;
	pid_t pid;
	int status, fd, i;

	SKIPPED_IN_SETUP();
	ASSERT_EQ(0, get_stats(&self->nl, &orig));
	ASSERT_EQ(8, orig.features_len);
	fd = fiber_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fiber_sys(fd, FIBER_IOC_GET_INFO, &info));
	close(fd);
	EXPECT_EQ(info.features, orig.features);
	EXPECT_NE(0, orig.features & FIBER_FEATURE_GET_INFO);

	/* Each try: refused as read-only, and nothing changed. */
	for (i = 0; i < 4; i++) {
		a.value = i & 1 ? ~0ULL : 0;
		a.events_per_sec = i & 2 ? orig.events_per_sec + 1 : 0;
		EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_SET_CONFIG, 0,
					    put_u64_attr, &a, NULL, NULL));
		EXPECT_NE(NULL, strstr(self->nl.extack, "read-only"))
			TH_LOG("%s", self->nl.extack);
		ASSERT_EQ(0, get_stats(&self->nl, &st));
		EXPECT_EQ(orig.features, st.features);
		EXPECT_EQ(orig.events_per_sec, st.events_per_sec);
	}
	a.events_per_sec = 0;
	EXPECT_EQ(-EINVAL, fiber_nl(&self->nl, FIBER_CMD_GET_STATS, 0,
				    put_u64_attr, &a, NULL, NULL));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct fiber_nl nl;
		struct stats ns;

		/* Another user than the parent if it can be; anyone will do. */
		if (fiber_become_nobody_if_able())
			_exit(10);
		if (fiber_nl_open(&nl) || get_stats(&nl, &ns))
			_exit(11);
		if (ns.features_len != 8 || ns.features != orig.features)
			_exit(12);
		a.value = 0;
		if (fiber_nl(&nl, FIBER_CMD_SET_CONFIG, 0, put_u64_attr, &a,
			     NULL, NULL) >= 0)
			_exit(13);
		if (get_stats(&nl, &ns) || ns.features != orig.features)
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * As an unprivileged user: reads work, but not another user's carriers'
 * user words; settings and events do not.
 */
TEST_F(nl, unprivileged_user)
{
	struct carrier_thread t;
	pid_t pid, parent = getpid();
	int status, fd;

	SKIPPED_IN_SETUP();
	/* The child must be another user than the owner of the group. */
	NEED_TO_BECOME_NOBODY();
	fd = fiber_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, carrier_start(&t, fd, 0));
	ASSERT_EQ(0, dump_group_of(&self->nl, parent, &self->d));
	ASSERT_EQ(1, self->d.n);
	EXPECT_EQ(1, self->d.g[0].carriers);
	EXPECT_EQ(1, self->d.g[0].user_words);	/* root sees it */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct settings s = { .events_per_sec = 5 };
		struct fiber_nl nl;
		struct stats st;
		uint32_t grp;
		int i;

		if (fiber_become_nobody())
			_exit(10);
		if (fiber_nl_open(&nl))
			_exit(11);
		if (get_stats(&nl, &st))
			_exit(12);
		/* Root's group is not there for nobody: not listed ... */
		if (dump_groups(&nl, &self->d))
			_exit(13);
		for (i = 0; i < self->d.n; i++)
			if (self->d.g[i].pid == (uint32_t)parent)
				_exit(17);
		/* ... and asked for, it is as if it did not exist. */
		if (dump_group_of(&nl, parent, &self->d) != -ESRCH ||
		    strcmp(nl.extack, "that process has no fiber group"))
			_exit(18);
		if (set_config(&nl, &s) != -EPERM)
			_exit(14);
		if (strcmp(nl.extack, "changing fiber settings needs CAP_SYS_ADMIN"))
			_exit(15);
		/* Where there is an events group, it is not for nobody. */
		grp = nl.mcgrp_events;
		if (grp && (!setsockopt(mnl_socket_get_fd(nl.sock), SOL_NETLINK,
					NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) ||
			    errno != EPERM))
			_exit(16);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, carrier_stop(&t));
	close(fd);
}

/* ---- events --------------------------------------------------------------- */

struct events_seen {
	int block, claim, hold, grant;
	int ours;		/* about the tid we look for */
	uint32_t tid;
	uint64_t dropped;
};

static int take_event(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[FIBER_EVENT_A_MAX + 1];
	struct events_seen *e = data;
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);

	if (g->cmd != FIBER_CMD_EVENT)
		return 0;
	fiber_nl_table(NULL, nlh, tb, FIBER_EVENT_A_MAX);
	if (!tb[FIBER_EVENT_A_TYPE] || !tb[FIBER_EVENT_A_TID] ||
	    !tb[FIBER_EVENT_A_SEQ] || !tb[FIBER_EVENT_A_TIME_NS])
		return -EPROTO;
	switch (mnl_attr_get_u8(tb[FIBER_EVENT_A_TYPE])) {
	case FIBER_EVENT_TYPE_BLOCK: e->block++; break;
	case FIBER_EVENT_TYPE_CLAIM: e->claim++; break;
	case FIBER_EVENT_TYPE_HOLD: e->hold++; break;
	case FIBER_EVENT_TYPE_GRANT: e->grant++; break;
	default: return -EPROTO;
	}
	if (mnl_attr_get_u32(tb[FIBER_EVENT_A_TID]) == e->tid)
		e->ours++;
	if (tb[FIBER_EVENT_A_DROPPED])
		e->dropped += mnl_attr_get_u32(tb[FIBER_EVENT_A_DROPPED]);
	return 0;
}

/* Read events for @ms; returns how many messages came. */
static int read_events(struct fiber_nl *nl, int ms, struct events_seen *e)
{
	int fd = mnl_socket_get_fd(nl->sock), n = 0, len;
	struct timeval tv = { 0, 20000 };
	uint64_t end = now_ns() + ms * MSEC;
	const struct nlmsghdr *nlh;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (now_ns() < end) {
		len = recv(fd, nl->buf, sizeof(nl->buf), 0);
		if (len <= 0)
			continue;
		for (nlh = (void *)nl->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (take_event(nlh, e) < 0)
				return -EPROTO;
			n++;
		}
	}
	return n;
}

static int join_events(struct fiber_nl *nl)
{
	uint32_t grp = nl->mcgrp_events;

	return setsockopt(mnl_socket_get_fd(nl->sock), SOL_NETLINK,
			  NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) ? -errno : 0;
}

TEST_F(nl, events_follow_blocks_only_while_listened)
{
	struct events_seen e = { 0 };
	struct stats s0, s1, s2;
	struct fiber_nl ev;
	struct carrier_thread t;
	int fd, n;

	SKIPPED_IN_SETUP();
	NEED_EVENTS();
	NEED_CAP(CAP_NET_ADMIN, "listening to the events group");
	fd = fiber_open();
	ASSERT_LE(0, fd);

	/* Nobody listens: blocks produce no event, sent or dropped. */
	ASSERT_EQ(0, get_stats(&self->nl, &s0));
	ASSERT_EQ(0, carrier_start(&t, fd, 50));
	while (t.naps)
		usleep(1000);
	ASSERT_EQ(0, carrier_stop(&t));
	ASSERT_EQ(0, get_stats(&self->nl, &s1));
	EXPECT_EQ(s0.events_sent, s1.events_sent);
	EXPECT_EQ(s0.events_dropped, s1.events_dropped);

	/* A listener: every block of our carrier is told. */
	ASSERT_EQ(0, fiber_nl_open(&ev));
	ASSERT_EQ(0, join_events(&ev));
	ASSERT_EQ(0, carrier_start(&t, fd, 50));
	e.tid = t.tid;
	n = read_events(&ev, 1500, &e);
	ASSERT_EQ(0, carrier_stop(&t));
	fiber_nl_close(&ev);
	ASSERT_LE(50, n);
	EXPECT_LE(50, e.ours);
	EXPECT_LE(50, e.block);
	ASSERT_EQ(0, get_stats(&self->nl, &s2));
	EXPECT_LE(s1.events_sent + 50, s2.events_sent);
	close(fd);
}

TEST_F(nl, events_are_rate_limited)
{
	struct settings s = { .events_per_sec = 10 };
	struct events_seen e = { 0 };
	struct stats orig, after;
	struct carrier_thread t;
	struct fiber_nl ev;
	int fd, n;

	SKIPPED_IN_SETUP();
	NEED_EVENTS();
	NEED_CAP(CAP_SYS_ADMIN, "setting the rate limit");
	NEED_CAP(CAP_NET_ADMIN, "listening to the events group");
	ASSERT_EQ(0, get_stats(&self->nl, &orig));
	ASSERT_EQ(0, set_config(&self->nl, &s));
	fd = fiber_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fiber_nl_open(&ev));
	ASSERT_EQ(0, join_events(&ev));
	/*
	 * Whatever an earlier test left queued goes first, and only our own
	 * carrier's events count.
	 */
	read_events(&ev, 200, &e);
	memset(&e, 0, sizeof(e));
	ASSERT_EQ(0, carrier_start(&t, fd, 100000));
	e.tid = t.tid;
	read_events(&ev, 2500, &e);
	n = e.ours;
	ASSERT_EQ(0, carrier_stop(&t));
	fiber_nl_close(&ev);
	ASSERT_EQ(0, get_stats(&self->nl, &after));
	s.events_per_sec = orig.events_per_sec;
	ASSERT_EQ(0, set_config(&self->nl, &s));
	close(fd);

	/*
	 * The carrier blocks thousands of times a second.  2.5 s touch at
	 * most four one-second windows of 10 each; the rest are dropped,
	 * and the events that follow drops say so.
	 */
	EXPECT_LE(1, n);
	EXPECT_GE(40, n);
	EXPECT_LT(orig.events_dropped, after.events_dropped);
	EXPECT_LT(0, e.dropped) TH_LOG("no event said it followed dropped ones");
}

/*
 * The reader is the socket's opener.  A socket nobody opened, handed to a
 * root process that write()s the request to it (a setuid program writing
 * to an inherited descriptor, say), sees what nobody sees: not root's
 * group.  (A process that sends to the kernel with sendto(), naming the
 * destination, sends deliberately, and its own capabilities count, as
 * for every netlink family: netlink_capable().)
 */
TEST_F(nl, a_socket_reads_with_its_openers_credentials)
{
	struct carrier_thread t;
	int sv[2], status, fd;
	struct fiber_nl nl;
	pid_t pid;

	SKIPPED_IN_SETUP();
	/* To open a socket as nobody. */
	NEED_TO_BECOME_NOBODY();
	fd = fiber_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, carrier_start(&t, fd, 0));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Open as nobody, and pass the socket back. */
		char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { .iov_base = "s", .iov_len = 1 };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl, .msg_controllen = sizeof(ctl),
		};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		int s;

		if (fiber_become_nobody())
			_exit(10);
		s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
		if (s < 0)
			_exit(11);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &s, sizeof(int));
		_exit(sendmsg(sv[1], &mh, 0) == 1 ? 0 : 12);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status) TH_LOG("the child sending the fd failed");
	{
		char ctl[CMSG_SPACE(sizeof(int))], c;
		struct iovec iov = { .iov_base = &c, .iov_len = 1 };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl, .msg_controllen = sizeof(ctl),
		};
		int s;

		ASSERT_EQ(1, recvmsg(sv[0], &mh, 0));
		memcpy(&s, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
		/* Root writes on nobody's socket. */
		ASSERT_EQ(0, fiber_nl_open_fd(&nl, s));
		nl.use_write = true;
	}
	EXPECT_EQ(-ESRCH, dump_group_of(&nl, getpid(), &self->d));
	/* Root's own socket sees its group. */
	EXPECT_EQ(0, dump_group_of(&self->nl, getpid(), &self->d));
	EXPECT_EQ(1, self->d.n);
	fiber_nl_close(&nl);
	close(sv[0]);
	close(sv[1]);
	ASSERT_EQ(0, carrier_stop(&t));
	close(fd);
}

/*
 * A user who owns a network namespace may join the events group there
 * (CAP_NET_ADMIN in it is all joining asks), and hears nothing: events go
 * to the initial namespace.  The module of before also switched recording
 * on for every carrier on the host for that listener, up to the rate
 * limit, and dropped the rest: a batch that reached nobody now stops
 * recording for a second.
 */
TEST_F_TIMEOUT(nl, a_listener_in_another_netns_hears_and_costs_nothing, 60)
{
	struct settings s = { .events_per_sec = 10 };
	struct stats orig, before, after;
	int ready[2], done[2], status, fd;
	struct carrier_thread t;
	char c;
	pid_t pid;

	SKIPPED_IN_SETUP();
	NEED_EVENTS();
	NEED_CAP(CAP_SYS_ADMIN, "setting the rate limit");
	NEED_TO_BECOME_NOBODY();
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct events_seen e = { 0 };
		struct fiber_nl nl;

		close(ready[0]);
		close(done[1]);
		if (fiber_become_nobody())
			_exit(10);
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET)) {
			c = 's';	/* no user namespaces here */
			_exit(write(ready[1], &c, 1) == 1 ? 0 : 11);
		}
		if (fiber_nl_open(&nl) || join_events(&nl))
			_exit(12);
		c = 'j';
		if (write(ready[1], &c, 1) != 1)
			_exit(13);
		/*
		 * Listen until the parent is done: no event may come (other
		 * messages may: the ACK that resolving the family left).
		 */
		do {
			if (read_events(&nl, 100, &e) < 0)
				_exit(14);
			if (e.block + e.claim + e.hold + e.grant) {
				fprintf(stderr, "# the foreign listener heard %d blocks\n",
					e.block);
				_exit(15);
			}
		} while (poll(&(struct pollfd){ .fd = done[0], .events = POLLIN },
			      1, 0) != 1);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	if (c == 's') {
		waitpid(pid, NULL, 0);
		SKIP(return, "nobody may not make a user namespace here");
	}
	ASSERT_EQ(0, get_stats(&self->nl, &orig));
	ASSERT_EQ(0, set_config(&self->nl, &s));
	fd = fiber_open();
	ASSERT_LE(0, fd);
	/* The first blocks are recorded and sent to nobody... */
	ASSERT_EQ(0, carrier_start(&t, fd, 20));
	while (t.naps)
		usleep(1000);
	ASSERT_EQ(0, carrier_stop(&t));
	usleep(200 * 1000);
	ASSERT_EQ(0, get_stats(&self->nl, &before));
	/* ... and the next 400, in the quiet that follows, are not. */
	ASSERT_EQ(0, carrier_start(&t, fd, 400));
	while (t.naps)
		usleep(1000);
	ASSERT_EQ(0, get_stats(&self->nl, &after));
	ASSERT_EQ(0, carrier_stop(&t));
	close(fd);
	s.events_per_sec = orig.events_per_sec;
	EXPECT_EQ(0, set_config(&self->nl, &s));
	signal(SIGPIPE, SIG_IGN);	/* a child that failed is gone */
	write(done[1], "d", 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status) TH_LOG("the foreign listener: status %#x (15: it heard an event)",
				    status);
	/* A few batches a second at most: 10 events a second, 400 naps. */
	EXPECT_GT(100, after.events_dropped - before.events_dropped)
		TH_LOG("%llu events were recorded for a listener elsewhere and dropped",
		       (unsigned long long)(after.events_dropped - before.events_dropped));
}

/* Read a number from a cgroup file, or -1. */
static long long cgroup_read(const char *dir, const char *file)
{
	char path[160], buf[64] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtoll(buf, NULL, 10) : -1;
}

static int cgroup_write(const char *dir, const char *file, const char *text)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return fiber_write_text(path, text);
}

#define BIG_GROUPS	8
#define MOST_CARRIERS	1048576		/* the largest max_carriers (uapi) */

/*
 * What a group costs follows the slots it uses, not max_carriers: a
 * group mapped with the largest max_carriers and no carrier costs some
 * 1.2 MB (its bitmaps and page tables, 7 bits a slot), measured by its
 * memory cgroup (all of it is charged there).  The module of before also
 * allocated a carrier pointer for every possible slot: 8 MB more.
 */
TEST_F_TIMEOUT(nl, an_empty_group_costs_little_whatever_its_max_carriers, 60)
{
	struct settings s = { .max_carriers = MOST_CARRIERS };
	char dir[64], pid[16];
	long long before, after;
	int report[2], go[2], status;
	struct stats orig;
	pid_t child;
	char c;

	SKIPPED_IN_SETUP();
	NEED_CAP(CAP_SYS_ADMIN, "raising max_carriers");
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK))
		SKIP(return, "no cgroup v2 hierarchy at /sys/fs/cgroup");
	cgroup_write("/sys/fs/cgroup", "cgroup.subtree_control", "+memory");
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/fiber_mem_%d", getpid());
	if (mkdir(dir, 0755))
		SKIP(return, "cannot make a cgroup: %s", strerror(errno));
	if (cgroup_read(dir, "memory.current") < 0) {
		rmdir(dir);
		SKIP(return, "no memory controller in cgroup v2");
	}
	ASSERT_EQ(0, get_stats(&self->nl, &orig));
	ASSERT_EQ(0, set_config(&self->nl, &s));
	ASSERT_EQ(0, pipe(report));
	ASSERT_EQ(0, pipe(go));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		size_t size = 0;
		int i, fd;

		close(report[0]);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(10);
		/* Now in the cgroup: each group, mapped (frozen), stays. */
		c = 'r';
		if (write(report[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(11);
		for (i = 0; i < BIG_GROUPS; i++) {
			struct fiber_config cfg;

			fd = fiber_open();
			if (fd < 0 || fiber_configure(fd, FIBER_CONFIG_SET_MAX_CARRIERS,
						      0, 0, MOST_CARRIERS, &cfg))
				_exit(12);
			size = cfg.map_size;
			if (mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
				_exit(13);
		}
		c = 'd';
		if (write(report[1], &c, 1) != 1)
			_exit(14);
		pause();
		_exit(0);
	}
	close(report[1]);
	close(go[0]);
	snprintf(pid, sizeof(pid), "%d", child);
	ASSERT_EQ(0, cgroup_write(dir, "cgroup.procs", pid));
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(1, read(report[0], &c, 1));
	before = cgroup_read(dir, "memory.current");
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(1, read(report[0], &c, 1));
	EXPECT_EQ('d', c);
	after = cgroup_read(dir, "memory.current");
	kill(child, SIGKILL);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	s.max_carriers = orig.max_carriers;
	EXPECT_EQ(0, set_config(&self->nl, &s));
	/* The memory goes with the process: the cgroup empties. */
	usleep(100 * 1000);
	EXPECT_EQ(0, rmdir(dir));
	EXPECT_GT(2 * 1024 * 1024, (after - before) / BIG_GROUPS)
		TH_LOG("an empty group of %u slots costs %lld bytes",
		       MOST_CARRIERS, (after - before) / BIG_GROUPS);
}

/* The family, and the groups every case opens, are the module's. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
