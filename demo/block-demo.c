// SPDX-License-Identifier: GPL-2.0
/*
 * block-demo: the module's main job, narrated.  A carrier thread blocks in
 * read() on a pipe; a parked spare is woken at once with the event, claims
 * the blocked carrier's P, and hands it back when the carrier wakes and is
 * held.  Part of `make demo`.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "fiber_test.h"

static struct fiber_map map;
static int group, pipefd[2];
static uint32_t blocker_slot;
static atomic_int blocker_registered, blocker_back, blocker_release;
static uint64_t t_block;

static const char *state_name(unsigned int s)
{
	static const char *names[] = {
		"FREE", "RUNNING", "BLOCKED", "CLAIMED", "WAITING", "PARKED",
	};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void *blocker(void *arg)
{
	char c;

	(void)arg;
	if (fiber_register(group, 0, &blocker_slot))
		return NULL;
	atomic_store(&blocker_registered, 1);
	t_block = now_ns();
	if (read(pipefd[0], &c, 1) == 1)	/* sleeps in the kernel */
		atomic_store(&blocker_back, 1);
	while (!atomic_load(&blocker_release))
		;
	fiber_unregister(group);
	return NULL;
}

int main(void)
{
	struct fiber_event ev[4];
	struct fiber_slot *s;
	uint32_t me, nr = 4;
	uint64_t t_woke, seq;
	pthread_t t;
	int ret;

	group = fiber_open();
	if (group < 0) {
		fprintf(stderr, "block-demo: %s\n", group == -ENOENT ?
			"the fiber module is not loaded" : strerror(-group));
		return 1;
	}
	if (fiber_map(group, &map) || pipe(pipefd) ||
	    fiber_register(group, 0, &me)) {
		fprintf(stderr, "block-demo: setup failed\n");
		return 1;
	}
	printf("  spare (slot %u) parks in FIBER_IOC_PARK\n", me);
	pthread_create(&t, NULL, blocker, NULL);

	ret = fiber_park_ms(group, 5000, ev, &nr);
	t_woke = now_ns();
	if (ret || nr != 1) {
		fprintf(stderr, "block-demo: park: %s, %u events\n",
			strerror(-ret), nr);
		return 1;
	}
	s = fiber_slot_of(&map, blocker_slot);
	printf("  carrier (slot %u) called read() on an empty pipe and slept\n",
	       blocker_slot);
	printf("  spare woke %llu us later (emulated time) with event {slot %u, BLOCKED, seq %llu}\n",
	       (unsigned long long)(t_woke - t_block) / 1000, ev[0].slot,
	       (unsigned long long)ev[0].seq);
	seq = ev[0].seq;
	if (!slot_claim(s, seq)) {
		fprintf(stderr, "block-demo: claim failed\n");
		return 1;
	}
	printf("  spare claimed its P: slot says %s; the spare runs its fibers now\n",
	       state_name(slot_state(s)));
	fiber_unregister(group);	/* the demo's spare is done */

	if (write(pipefd[1], "x", 1) != 1)
		return 1;
	while (slot_state(s) != FIBER_SLOT_WAITING)
		;
	usleep(20 * 1000);
	printf("  data arrives: the carrier wakes, but has no P: slot says %s,\n"
	       "  and it is held in the kernel (back in user space: %s)\n",
	       state_name(slot_state(s)), atomic_load(&blocker_back) ? "yes" : "no");
	ret = fiber_wake(group, blocker_slot, 0);
	while (!ret && !atomic_load(&blocker_back))
		;
	printf("  FIBER_IOC_WAKE grants it a P: it returns from read() (%s)\n",
	       ret == 0 && atomic_load(&blocker_back) ? "yes" : "no");
	printf("  counters: blocks %llu, claims %llu, holds %llu; group: %llu notified, %llu granted\n",
	       (unsigned long long)s->blocks, (unsigned long long)s->claims,
	       (unsigned long long)s->holds,
	       (unsigned long long)map.hdr->notifications,
	       (unsigned long long)map.hdr->grants);
	atomic_store(&blocker_release, 1);
	pthread_join(t, NULL);
	return 0;
}
