// SPDX-License-Identifier: GPL-2.0
/*
 * Printing what parse.c produced.  Text is for a terminal: a command name
 * is any bytes its owner chose, so control characters are shown as '?'
 * rather than sent to the terminal.  JSON must be valid whatever the bytes:
 * strings are escaped, and bytes that are not UTF-8 are escaped as the
 * code point of the same value, so no byte is lost or left raw.
 */
#include <stdio.h>
#include <string.h>

#include <linux/fiber.h>

#include "output.h"

typedef unsigned long long ull;

static const char *const event_names[] = {
	[FIBER_EVENT_TYPE_BLOCK] = "block",
	[FIBER_EVENT_TYPE_CLAIM] = "claim",
	[FIBER_EVENT_TYPE_HOLD] = "hold",
	[FIBER_EVENT_TYPE_GRANT] = "grant",
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

const char *out_event_name(unsigned int type)
{
	return type < ARRAY_SIZE(event_names) ? event_names[type] : NULL;
}

/* A name, or the number itself for a value newer than this tool. */
static const char *name_or_number(const char *name, unsigned int v,
				  char *buf, size_t size)
{
	if (name)
		return name;
	snprintf(buf, size, "%u", v);
	return buf;
}

/* @s with control characters made harmless, for a terminal. */
static const char *printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++) {
		unsigned char c = s[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	return buf;
}

/* Length of the valid UTF-8 sequence at @s, or 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	/* A NUL ends the string before any continuation byte check passes. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past Unicode's end. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void json_string(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putchar('"');
	while (*s) {
		size_t n = utf8_len(s);

		if (*s == '"' || *s == '\\') {
			printf("\\%c", *s);
		} else if (*s < 0x20 || *s == 0x7f || !n) {
			printf("\\u%04x", *s);
			n = 1;
		} else {
			fwrite(s, 1, n, stdout);
		}
		s += n ? n : 1;
	}
	putchar('"');
}

void out_groups_table(const struct fs_group *g, size_t n)
{
	char comm[FS_COMM_MAX];
	size_t i;

	printf("%7s %-16s %5s %8s %4s %4s %4s %4s %4s %4s %10s %10s %10s\n",
	       "PID", "COMM", "ID", "CARRIERS", "RUN", "BLK", "CLM", "WAIT",
	       "PARK", "PEND", "BLOCKS", "CLAIMS", "GRANTS");
	for (i = 0; i < n; i++, g++)
		printf("%7u %-16s %5llu %8u %4u %4u %4u %4u %4u %4u %10llu %10llu %10llu\n",
		       g->pid, printable(g->comm, comm, sizeof(comm)),
		       (ull)g->id, g->nr_carriers, g->nr_running, g->nr_blocked,
		       g->nr_claimed, g->nr_waiting, g->nr_parked, g->nr_pending,
		       (ull)g->counters.blocks, (ull)g->counters.claims,
		       (ull)g->counters.grants);
}

/* "1.234s ago" for a CLOCK_MONOTONIC time, "-" for never. */
static const char *ago(uint64_t t, uint64_t now, char *buf, size_t size)
{
	uint64_t d;

	if (!t)
		return "-";
	/* A time ahead of ours (it was sampled after we read the clock). */
	d = now > t ? now - t : 0;
	snprintf(buf, size, "%llu.%03llus ago", (ull)(d / 1000000000),
		 (ull)(d % 1000000000 / 1000000));
	return buf;
}

/* The user word in hex, or "-" when the kernel did not show it to us. */
static const char *user_word(const struct fs_carrier *c, char *buf,
			     size_t size)
{
	if (!c->has_user_word)
		return "-";
	snprintf(buf, size, "0x%016llx", (ull)c->user_word);
	return buf;
}

void out_groups_detail(const struct fs_group *g, size_t n, uint64_t now_ns)
{
	char comm[FS_COMM_MAX], num[16], b1[32], b2[32], uw[24];
	const struct fs_carrier *c;
	size_t i, j;

	for (i = 0; i < n; i++, g++) {
		if (i)
			putchar('\n');
		printf("group %llu: pid %u (%s) uid %u%s\n", (ull)g->id, g->pid,
		       printable(g->comm, comm, sizeof(comm)), g->uid,
		       g->dead ? ", dead (closed by its owner)" : "");
		printf("  config:   max_carriers %u, handoff_delay_ns %llu, hold_on_wake %u\n",
		       g->max_carriers, (ull)g->handoff_delay_ns, g->hold_on_wake);
		printf("  carriers: %u (running %u, blocked %u, claimed %u, waiting %u, parked %u), %u events pending\n",
		       g->nr_carriers, g->nr_running, g->nr_blocked, g->nr_claimed,
		       g->nr_waiting, g->nr_parked, g->nr_pending);
		printf("  counters: blocks %llu, notifications %llu, claims %llu, holds %llu, grants %llu, wakeups %llu, park_timeouts %llu\n",
		       (ull)g->counters.blocks, (ull)g->counters.notifications,
		       (ull)g->counters.claims, (ull)g->counters.holds,
		       (ull)g->counters.grants, (ull)g->counters.wakeups,
		       (ull)g->counters.park_timeouts);
		printf("  %5s %7s %-8s %8s %18s %8s %8s %8s %8s %14s %14s\n",
		       "SLOT", "TID", "STATE", "SEQ", "USER_WORD", "BLOCKS",
		       "WAKEUPS", "CLAIMS", "HOLDS", "LAST BLOCK", "LAST WAKE");
		for (j = 0, c = g->carriers; j < g->nr; j++, c++)
			printf("  %5u %7u %-8s %8llu %18s %8llu %8llu %8llu %8llu %14s %14s\n",
			       c->slot, c->tid,
			       name_or_number(fiber_slot_state_name(c->state), c->state,
					      num, sizeof(num)),
			       (ull)c->seq, user_word(c, uw, sizeof(uw)),
			       (ull)c->blocks,
			       (ull)c->wakeups, (ull)c->claims, (ull)c->holds,
			       ago(c->last_block_ns, now_ns, b1, sizeof(b1)),
			       ago(c->last_wake_ns, now_ns, b2, sizeof(b2)));
	}
}

static void json_counters(const struct fs_counters *c)
{
	printf("{\"blocks\": %llu, \"notifications\": %llu, \"claims\": %llu, \"holds\": %llu, \"grants\": %llu, \"wakeups\": %llu, \"park_timeouts\": %llu}",
	       (ull)c->blocks, (ull)c->notifications, (ull)c->claims,
	       (ull)c->holds, (ull)c->grants, (ull)c->wakeups,
	       (ull)c->park_timeouts);
}

static void json_carrier(const struct fs_carrier *c)
{
	char num[16];

	printf("{\"slot\": %u, \"tid\": %u, \"state\": ", c->slot, c->tid);
	json_string(name_or_number(fiber_slot_state_name(c->state), c->state, num,
				   sizeof(num)));
	printf(", \"seq\": %llu, \"user_word\": ", (ull)c->seq);
	if (c->has_user_word)
		printf("%llu", (ull)c->user_word);
	else
		printf("null");	/* not ours to see: see fiberstat(8) */
	printf(", \"blocks\": %llu, \"wakeups\": %llu, \"claims\": %llu, \"holds\": %llu, \"last_block_ns\": %llu, \"last_wake_ns\": %llu}",
	       (ull)c->blocks, (ull)c->wakeups,
	       (ull)c->claims, (ull)c->holds, (ull)c->last_block_ns,
	       (ull)c->last_wake_ns);
}

void out_groups_json(const struct fs_group *g, size_t n, int carriers)
{
	size_t i, j;

	printf("{\"groups\": [");
	for (i = 0; i < n; i++, g++) {
		printf("%s{\"id\": %llu, \"pid\": %u, \"comm\": ", i ? ", " : "",
		       (ull)g->id, g->pid);
		json_string(g->comm);
		printf(", \"uid\": %u, \"dead\": %s, \"max_carriers\": %u, \"handoff_delay_ns\": %llu, \"hold_on_wake\": %u, \"nr_carriers\": %u",
		       g->uid, g->dead ? "true" : "false", g->max_carriers,
		       (ull)g->handoff_delay_ns, g->hold_on_wake, g->nr_carriers);
		printf(", \"states\": {\"running\": %u, \"blocked\": %u, \"claimed\": %u, \"waiting\": %u, \"parked\": %u}, \"nr_pending\": %u, \"counters\": ",
		       g->nr_running, g->nr_blocked, g->nr_claimed, g->nr_waiting,
		       g->nr_parked, g->nr_pending);
		json_counters(&g->counters);
		if (carriers) {
			printf(", \"carriers\": [");
			for (j = 0; j < g->nr; j++) {
				if (j)
					printf(", ");
				json_carrier(&g->carriers[j]);
			}
			putchar(']');
		}
		putchar('}');
	}
	printf("]}\n");
}

void out_stats_text(const struct fs_stats *s)
{
	const struct fs_counters *c = &s->counters;

	printf("abi version:          %u\n", s->abi_version);
	printf("groups:               %u\n", s->nr_groups);
	printf("carriers:             %u\n", s->nr_carriers);
	printf("blocks:               %llu\n", (ull)c->blocks);
	printf("notifications:        %llu\n", (ull)c->notifications);
	printf("claims:               %llu\n", (ull)c->claims);
	printf("holds:                %llu\n", (ull)c->holds);
	printf("grants:               %llu\n", (ull)c->grants);
	printf("wakeups:              %llu\n", (ull)c->wakeups);
	printf("park timeouts:        %llu\n", (ull)c->park_timeouts);
	printf("events sent:          %llu\n", (ull)s->events_sent);
	printf("events dropped:       %llu\n", (ull)s->events_dropped);
	printf("max_carriers:         %u\n", s->max_carriers);
	printf("max_groups_per_user:  %u\n", s->max_groups_per_user);
	printf("events_per_sec:       %u\n", s->events_per_sec);
}

void out_stats_json(const struct fs_stats *s)
{
	printf("{\"abi_version\": %u, \"nr_groups\": %u, \"nr_carriers\": %u, \"counters\": ",
	       s->abi_version, s->nr_groups, s->nr_carriers);
	json_counters(&s->counters);
	printf(", \"events_sent\": %llu, \"events_dropped\": %llu, \"max_carriers\": %u, \"max_groups_per_user\": %u, \"events_per_sec\": %u}\n",
	       (ull)s->events_sent, (ull)s->events_dropped, s->max_carriers,
	       s->max_groups_per_user, s->events_per_sec);
}

void out_event_text(const struct fs_event *e)
{
	char num[16];

	printf("%-5s pid %u tid %u slot %u seq %llu time %llu.%09llu",
	       name_or_number(out_event_name(e->type), e->type, num, sizeof(num)),
	       e->pid, e->tid, e->slot, (ull)e->seq,
	       (ull)(e->time_ns / 1000000000), (ull)(e->time_ns % 1000000000));
	if (e->dropped)
		printf(" dropped %u", e->dropped);
	putchar('\n');
}

void out_event_json(const struct fs_event *e)
{
	char num[16];

	printf("{\"type\": ");
	json_string(name_or_number(out_event_name(e->type), e->type, num,
				   sizeof(num)));
	printf(", \"pid\": %u, \"tid\": %u, \"slot\": %u, \"seq\": %llu, \"time_ns\": %llu, \"dropped\": %u}\n",
	       e->pid, e->tid, e->slot, (ull)e->seq, (ull)e->time_ns, e->dropped);
}
