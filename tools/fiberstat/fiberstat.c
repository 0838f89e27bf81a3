// SPDX-License-Identifier: GPL-2.0
/*
 * fiberstat: look at the fiber module's groups, carriers, totals and
 * events over its generic netlink family, and change its settings.
 *
 * usage: fiberstat [--json] [show PID | stats | watch [-i SECS] [-n COUNT]
 *        | watch --events [-n COUNT] [--timeout SECS] | set KEY VALUE]
 *        fiberstat -h | --help | --version
 *
 * This file is the command line: arguments, one function per subcommand.
 * netlink.c talks to the kernel, parse.c reads its messages, output.c
 * prints them.  Exit status: 0, 1 for an error (one "fiberstat: ..." line
 * on stderr), 2 for a bad command line (the usage line).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include <linux/fiber.h>

#include "netlink.h"
#include "output.h"
#include "parse.h"

#ifndef FIBER_VERSION
#error "FIBER_VERSION is not defined: build with -DFIBER_VERSION='\"x.y.z\"' (the Makefile passes the contents of VERSION)"
#endif

/* The "" makes anything but a string literal a compile error. */
static const char version[] = "" FIBER_VERSION;

static const char usage_line[] =
	"usage: fiberstat [--json] [show PID | stats | watch [-i SECS] [-n COUNT] | watch --events [-n COUNT] [--timeout SECS] | set KEY VALUE]";

static int usage(void)
{
	fprintf(stderr, "%s\n", usage_line);
	return 2;
}

/* The settings `set` knows, and their attributes (all u32). */
static const struct {
	const char *key;
	uint16_t attr;
} settings[] = {
	{ "max_carriers", FIBER_STATS_A_MAX_CARRIERS },
	{ "max_groups_per_user", FIBER_STATS_A_MAX_GROUPS_PER_USER },
	{ "events_per_sec", FIBER_STATS_A_EVENTS_PER_SEC },
};

#define N_SETTINGS	(sizeof(settings) / sizeof(settings[0]))

/* --help: the usage line, then a line or two per command and option. */
static void help(void)
{
	size_t k;

	printf("%s\n\n", usage_line);
	printf("Look at the fiber module's groups, carriers, totals and events over its\n"
	       "generic netlink family, and change its settings.\n\n");
	printf("  (no command)       one line per group\n"
	       "  show PID           the groups of process PID, with their carriers\n"
	       "  stats              module-wide totals and settings\n"
	       "  watch              the group table every -i SECS (default 1) seconds,\n"
	       "                     -n COUNT times (default: until interrupted)\n"
	       "  watch --events     one line per event, -n COUNT of them; --timeout SECS\n"
	       "                     gives up when none came; needs CAP_NET_ADMIN\n"
	       "  set KEY VALUE      change a setting; needs CAP_SYS_ADMIN. KEY is one of\n"
	       "                    ");
	for (k = 0; k < N_SETTINGS; k++)
		printf(" %s", settings[k].key);
	printf("\n\n");
	printf("  --json             print JSON (with any command but set)\n"
	       "  -h, --help         print this help and exit\n"
	       "  --version          print the version of fiberstat and exit\n\n"
	       "See fiberstat(8).\n");
}

/*
 * Decimal digits only: strtoul() alone would take "-1", " 7", "0x10" and
 * an empty string, none of which a user means as a number here.
 */
static int parse_u32(const char *s, uint32_t *v)
{
	unsigned long long n;
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || n > UINT32_MAX)
		return -1;
	*v = (uint32_t)n;
	return 0;
}

/* Seconds: digits with an optional fraction ("0.5"), more than zero. */
static int parse_secs(const char *s, double *v)
{
	size_t digits = strspn(s, "0123456789");
	char *end;

	if (s[digits] == '.')
		digits += 1 + strspn(s + digits + 1, "0123456789");
	if (!*s || digits != strlen(s) || !strcmp(s, "."))
		return -1;
	*v = strtod(s, &end);
	/* A day is plenty, and keeps the milliseconds within an int. */
	if (*end || *v <= 0 || *v > 86400)
		return -1;
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One line for an error of the kernel's, preferring its own words. */
static int fail(const struct fs_nl *nl, int err, const char *what)
{
	if (nl && nl->err == err && nl->errmsg[0])
		fprintf(stderr, "fiberstat: %s\n", nl->errmsg);
	else if (err == -EBADMSG)
		fprintf(stderr, "fiberstat: %s: the kernel sent a message this tool cannot read\n",
			what);
	else if (err == -EAGAIN)
		fprintf(stderr, "fiberstat: %s: groups kept changing during the dump; try again\n",
			what);
	else
		fprintf(stderr, "fiberstat: %s: %s\n", what, strerror(-err));
	return 1;
}

static int open_family(struct fs_nl *nl)
{
	int ret = fs_nl_open(nl);

	if (ret == -ENOENT) {
		/* The controller tried to load it (the family's alias). */
		fprintf(stderr, "fiberstat: the fiber module is not loaded and could not be loaded\n");
		return 1;
	}
	if (ret)
		return fail(NULL, ret, "netlink");
	return 0;
}

/* ---- groups -------------------------------------------------------- */

struct groups {
	struct fs_group *v;
	size_t n, cap;
};

static void groups_reset(void *data)
{
	struct groups *gs = data;
	size_t i;

	for (i = 0; i < gs->n; i++)
		fs_group_free(&gs->v[i]);
	free(gs->v);
	memset(gs, 0, sizeof(*gs));
}

static int groups_add(const struct nlmsghdr *nlh, uint8_t cmd,
		      const void *attrs, size_t len, void *data)
{
	struct groups *gs = data;
	struct fs_group g, *v;
	int ret;

	(void)nlh;
	(void)cmd;
	ret = fs_parse_group(attrs, len, &g);
	if (ret)
		return ret;
	/* A group too big for one message goes on in the next one. */
	if (gs->n && gs->v[gs->n - 1].id == g.id)
		return fs_group_merge(&gs->v[gs->n - 1], &g);
	if (gs->n == gs->cap) {
		size_t cap = gs->cap ? gs->cap * 2 : 16;

		v = realloc(gs->v, cap * sizeof(*v));
		if (!v) {
			fs_group_free(&g);
			return -ENOMEM;
		}
		gs->v = v;
		gs->cap = cap;
	}
	gs->v[gs->n++] = g;
	return 0;
}

static int by_slot(const void *a, const void *b)
{
	const struct fs_carrier *x = a, *y = b;

	return (x->slot > y->slot) - (x->slot < y->slot);
}

static int fetch_groups(struct fs_nl *nl, struct groups *gs)
{
	memset(gs, 0, sizeof(*gs));
	return fs_nl_request(nl, FIBER_CMD_GET_GROUPS, 1, NULL, groups_add,
			     groups_reset, gs);
}

static int cmd_groups(struct fs_nl *nl, int json)
{
	struct groups gs;
	int ret = fetch_groups(nl, &gs);

	if (ret) {
		groups_reset(&gs);
		return fail(nl, ret, "listing groups");
	}
	if (json)
		out_groups_json(gs.v, gs.n, 0);
	else
		out_groups_table(gs.v, gs.n);
	groups_reset(&gs);
	return 0;
}

/*
 * show PID: the request carries the pid, and the kernel answers with the
 * groups of that process and their carriers, perhaps over many messages.
 * The callbacks share one data pointer, so the pid rides along behind the
 * groups: a pointer to the struct is a pointer to its first member, which
 * is what groups_add() and groups_reset() take.
 */
struct show_req {
	struct groups gs;
	uint32_t pid;
};

static void put_pid(struct nlmsghdr *nlh, void *data)
{
	const struct show_req *req = data;

	mnl_attr_put_u32(nlh, FIBER_GROUP_A_PID, req->pid);
}

static int cmd_show(struct fs_nl *nl, uint32_t pid, int json)
{
	struct show_req req = { .pid = pid };
	char what[32];
	size_t i;
	int ret;

	snprintf(what, sizeof(what), "pid %u", pid);
	ret = fs_nl_request(nl, FIBER_CMD_GET_GROUP, 1, put_pid, groups_add,
			    groups_reset, &req);
	if (!ret && !req.gs.n)
		ret = -ESRCH;	/* a kernel that answers with an empty dump */
	if (ret) {
		groups_reset(&req.gs);
		return fail(nl, ret, what);
	}
	for (i = 0; i < req.gs.n; i++)
		if (req.gs.v[i].nr)
			qsort(req.gs.v[i].carriers, req.gs.v[i].nr,
			      sizeof(*req.gs.v[i].carriers), by_slot);
	if (json)
		out_groups_json(req.gs.v, req.gs.n, 1);
	else
		out_groups_detail(req.gs.v, req.gs.n, mono_ns());
	groups_reset(&req.gs);
	return 0;
}

/* ---- stats and set ------------------------------------------------- */

static int cmd_stats(struct fs_nl *nl, int json)
{
	struct fs_stats stats;
	int ret;

	ret = fs_nl_get_stats(nl, &stats);
	if (ret)
		return fail(nl, ret, "reading the totals");
	if (json)
		out_stats_json(&stats);
	else
		out_stats_text(&stats);
	return 0;
}

struct setting {
	uint16_t attr;
	uint32_t value;
};

static void put_setting(struct nlmsghdr *nlh, void *data)
{
	const struct setting *s = data;

	mnl_attr_put_u32(nlh, s->attr, s->value);
}

static int cmd_set(struct fs_nl *nl, uint16_t attr, uint32_t value,
		   const char *key)
{
	struct setting s = { .attr = attr, .value = value };
	char what[64];
	int ret;

	/* The reply is the new totals; a silent success is enough. */
	ret = fs_nl_request(nl, FIBER_CMD_SET_CONFIG, 0, put_setting, NULL,
			    NULL, &s);
	if (ret) {
		snprintf(what, sizeof(what), "set %s", key);
		return fail(nl, ret, what);
	}
	return 0;
}

/* ---- watch --------------------------------------------------------- */

static void sleep_secs(double secs)
{
	struct timespec ts = {
		.tv_sec = (time_t)secs,
		.tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9),
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The table (or JSON) again every @interval seconds, @count times (0: ever). */
static int cmd_watch(struct fs_nl *nl, double interval, uint32_t count,
		     int json)
{
	/* Clearing the screen is for people; a pipe gets plain refreshes. */
	int tty = isatty(STDOUT_FILENO);
	uint32_t i;
	int ret;

	for (i = 0; !count || i < count; i++) {
		if (i)
			sleep_secs(interval);
		if (tty)
			printf("\033[H\033[2J");
		ret = cmd_groups(nl, json);
		if (ret)
			return ret;
		if (fflush(stdout))
			return 1;
	}
	return 0;
}

struct events_req {
	uint32_t count;		/* events wanted; 0: no end */
	uint32_t seen;
	int json;
};

/* Returning 1 (not an error) stops fs_nl_wait() once enough were seen. */
static int event_msg(const struct nlmsghdr *nlh, uint8_t cmd,
		     const void *attrs, size_t len, void *data)
{
	struct events_req *req = data;
	struct fs_event e;

	(void)nlh;
	if (cmd != FIBER_CMD_EVENT)
		return 0;
	if (fs_parse_event(attrs, len, &e)) {
		fprintf(stderr, "fiberstat: skipped an event this tool cannot read\n");
		return 0;
	}
	if (req->json)
		out_event_json(&e);
	else
		out_event_text(&e);
	fflush(stdout);
	req->seen++;
	return req->count && req->seen >= req->count;
}

static int cmd_events(struct fs_nl *nl, uint32_t count, double timeout,
		      const char *timeout_arg, int json)
{
	struct events_req req = { .count = count, .json = json };
	uint64_t deadline = 0;
	int ret;

	ret = fs_nl_join_events(nl);
	if (ret == -EPERM || ret == -EACCES) {
		fprintf(stderr, "fiberstat: listening to events needs CAP_NET_ADMIN\n");
		return 1;
	}
	if (ret == -ENOENT) {
		fprintf(stderr, "fiberstat: the fiber module has no \"%s\" multicast group\n",
			FIBER_GENL_MCGRP_EVENTS);
		return 1;
	}
	if (ret)
		return fail(NULL, ret, "joining the events group");

	for (;;) {
		uint32_t before = req.seen;
		int ms = -1;

		/* The timeout runs from the start or from the last event. */
		if (timeout > 0) {
			uint64_t now = mono_ns();

			if (!deadline)
				deadline = now + (uint64_t)(timeout * 1e9);
			ms = now >= deadline ? 0 :
			     (int)((deadline - now + 999999) / 1000000);
		}
		ret = fs_nl_wait(nl, ms, event_msg, &req);
		if (ret == 1)
			return 0;
		if (ret == -ETIMEDOUT) {
			fprintf(stderr, "fiberstat: no event within %s s\n",
				timeout_arg);
			return 1;
		}
		if (ret == -ENOBUFS) {
			/* We were too slow; say so and carry on listening. */
			fprintf(stderr, "fiberstat: some events were lost (receive buffer full)\n");
			ret = 0;
		}
		if (ret && ret != -EINTR)
			return fail(NULL, ret, "receiving events");
		if (req.seen != before)
			deadline = 0;
	}
}

/* ---- command line -------------------------------------------------- */

/* What the command line asked for, checked before the kernel is asked. */
enum command { CMD_GROUPS, CMD_SHOW, CMD_STATS, CMD_WATCH, CMD_SET };

struct args {
	enum command cmd;
	int json;
	uint32_t pid;
	double interval;
	uint32_t count;
	int events;
	double timeout;
	const char *timeout_arg;
	uint16_t attr;
	uint32_t value;
	const char *key;
};

/* watch's options, after the word "watch". */
static int parse_watch(int argc, char **argv, struct args *a)
{
	int have_interval = 0, i;

	for (i = 0; i < argc; i++) {
		const char *opt = argv[i], *val = argv[i + 1];

		if (!strcmp(opt, "--events")) {
			a->events = 1;
			continue;
		}
		/* The rest all take a value. */
		if (i + 1 >= argc)
			return -1;
		if (!strcmp(opt, "-i") || !strcmp(opt, "--interval")) {
			if (parse_secs(val, &a->interval))
				return -1;
			have_interval = 1;
		} else if (!strcmp(opt, "-n") || !strcmp(opt, "--count")) {
			if (parse_u32(val, &a->count) || !a->count)
				return -1;
		} else if (!strcmp(opt, "--timeout")) {
			if (parse_secs(val, &a->timeout))
				return -1;
			a->timeout_arg = val;
		} else {
			return -1;
		}
		i++;
	}
	/* An interval means nothing to events, a timeout nothing to tables. */
	if ((a->events && have_interval) || (!a->events && a->timeout_arg))
		return -1;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	char **rest;
	int n = 0, i;
	size_t k;

	memset(a, 0, sizeof(*a));
	a->interval = 1;
	/* --json may stand anywhere: take it out, then read the rest. */
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return -1;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			a->json = 1;
		else
			rest[n++] = argv[i];
	}

	if (n == 0) {
		a->cmd = CMD_GROUPS;
	} else if (!strcmp(rest[0], "show") && n == 2 &&
		   !parse_u32(rest[1], &a->pid) && a->pid) {
		a->cmd = CMD_SHOW;
	} else if (!strcmp(rest[0], "stats") && n == 1) {
		a->cmd = CMD_STATS;
	} else if (!strcmp(rest[0], "watch") &&
		   !parse_watch(n - 1, rest + 1, a)) {
		a->cmd = CMD_WATCH;
	} else if (!strcmp(rest[0], "set") && n == 3 && !a->json &&
		   !parse_u32(rest[2], &a->value)) {
		a->cmd = CMD_SET;
		for (k = 0; k < N_SETTINGS; k++)
			if (!strcmp(rest[1], settings[k].key))
				break;
		if (k == N_SETTINGS) {
			free(rest);
			return -1;
		}
		a->attr = settings[k].attr;
		a->key = settings[k].key;
	} else {
		free(rest);
		return -1;
	}
	free(rest);
	return 0;
}

int main(int argc, char **argv)
{
	struct fs_nl nl;
	struct args a;
	int ret = 0;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		help();
		goto out;
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("fiberstat %s\n", version);
		goto out;
	}
	if (parse_args(argc, argv, &a))
		return usage();

	ret = open_family(&nl);
	if (ret)
		return ret;
	switch (a.cmd) {
	case CMD_GROUPS:
		ret = cmd_groups(&nl, a.json);
		break;
	case CMD_SHOW:
		ret = cmd_show(&nl, a.pid, a.json);
		break;
	case CMD_STATS:
		ret = cmd_stats(&nl, a.json);
		break;
	case CMD_WATCH:
		/* Each refresh or event should show up at once in a pipe too. */
		setvbuf(stdout, NULL, _IOLBF, 0);
		if (a.events)
			ret = cmd_events(&nl, a.count, a.timeout, a.timeout_arg,
					 a.json);
		else
			ret = cmd_watch(&nl, a.interval, a.count, a.json);
		break;
	case CMD_SET:
		ret = cmd_set(&nl, a.attr, a.value, a.key);
		break;
	}
	fs_nl_close(&nl);
out:
	/* A full disk or a closed pipe must not look like success. */
	if (fflush(stdout) || ferror(stdout)) {
		if (!ret)
			fprintf(stderr, "fiberstat: writing the output: %s\n",
				strerror(errno));
		ret = 1;
	}
	return ret;
}
