// SPDX-License-Identifier: GPL-2.0
/*
 * 64 carriers block and wake in every way they can (pipes, sleeps, futex
 * timeouts, yields) while 4 spares park, claim the blocked ones' Ps and
 * grant the held ones, for FIBER_STRESS_SECONDS (default: 10 s on the
 * debug kernel, 3 s elsewhere; the VM runner sets FIBER_VM_DEBUG).  At
 * the end the books must balance: every hold granted, nothing waiting,
 * parked or pending, every slot free.  The VM runner adds the kernel's
 * verdict: no splat, no leak.
 */
#include <linux/futex.h>
#include <sched.h>

#include "fiber_test.h"
#include "harness_ext.h"

#define NR_WORKERS	64
#define NR_SPARES	4

struct stress;

struct worker {
	struct stress *st;
	int pipe[2];
	uint32_t slot;
	unsigned int seed;
	long ops;
	int error;
	pthread_t thread;
};

struct spare {
	struct stress *st;
	long claims, grants, events;	/* grants: wakes sent to held slots */
	int error;
	pthread_t thread;
};

struct stress {
	int fd;
	struct fiber_map map;
	atomic_int stop;		/* workers stop */
	atomic_int stop_spares;
	atomic_int workers_live;
	atomic_int registered;		/* slots are touched only after all */
	uint32_t futex_word;
	struct worker w[NR_WORKERS];
	struct spare s[NR_SPARES];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct timespec ts;
	char c;

	if (fiber_register(w->st->fd, w->slot, &w->slot)) {
		w->error = 1;
		goto out;
	}
	atomic_fetch_add(&w->st->registered, 1);
	while (!atomic_load(&w->st->stop)) {
		switch (rand_r(&w->seed) % 5) {
		case 0:		/* fed by the feeder, or at stop */
			if (read(w->pipe[0], &c, 1) != 1)
				w->error = 2;
			break;
		case 1:
			ts.tv_sec = 0;
			ts.tv_nsec = (rand_r(&w->seed) % 200) * 1000;
			nanosleep(&ts, NULL);
			break;
		case 2:
			ts.tv_sec = 0;
			ts.tv_nsec = 50 * 1000;
			syscall(SYS_futex, &w->st->futex_word, FUTEX_WAIT_PRIVATE,
				0, &ts, NULL, 0);
			break;
		case 3:
			sched_yield();
			break;
		default:
			for (int i = rand_r(&w->seed) % 10000; i > 0; i--)
				__asm__ volatile("" ::: "memory");
		}
		/* User code runs only RUNNING: a held carrier waits for a grant. */
		if (slot_state(fiber_slot_of(&w->st->map, w->slot)) != FIBER_SLOT_RUNNING)
			w->error = 4;
		w->ops++;
	}
	if (fiber_unregister(w->st->fd))
		w->error = 3;
out:
	atomic_fetch_sub(&w->st->workers_live, 1);
	return NULL;
}

/* Grant every held carrier; return how many were granted. */
static long grant_waiting(struct stress *st, int *error)
{
	long n = 0;
	uint32_t i;

	for (i = 0; i < NR_WORKERS + NR_SPARES; i++) {
		struct fiber_slot *s = fiber_slot_of(&st->map, i);

		if (slot_state(s) != FIBER_SLOT_WAITING)
			continue;
		switch (fiber_wake(st->fd, i, 0)) {
		case 0:
			n++;
			break;
		case -ESRCH:	/* granted by another spare, and gone since */
			break;
		default:
			*error = 5;
		}
	}
	return n;
}

static void *spare_main(void *arg)
{
	struct spare *sp = arg;
	struct stress *st = sp->st;
	struct fiber_event ev[16];
	struct fiber_slot *own;
	uint32_t nr, i, me;
	int ret;

	if (fiber_register(st->fd, 0, &me)) {
		sp->error = 1;
		return NULL;
	}
	/*
	 * Slot pages exist once a carrier used them: wait for everyone
	 * before scanning slots (spinning: a registered thread that sleeps
	 * blocks).
	 */
	atomic_fetch_add(&st->registered, 1);
	while (atomic_load(&st->registered) < NR_WORKERS + NR_SPARES)
		;
	own = fiber_slot_of(&st->map, me);
	while (!atomic_load(&st->stop_spares)) {
		nr = 16;
		ret = fiber_park_ms(st->fd, 10, ev, &nr);
		if (ret && ret != -ETIMEDOUT) {
			sp->error = 2;
			break;
		}
		/*
		 * Spares block too (on their way into a park, say), and are
		 * claimed like anyone: back in user space they run, held
		 * and granted if they were.
		 */
		if (slot_state(own) != FIBER_SLOT_RUNNING)
			sp->error = 7;
		sp->events += nr;
		for (i = 0; i < nr; i++) {
			struct fiber_slot *s = fiber_slot_of(&st->map, ev[i].slot);

			if (ev[i].kind == FIBER_EVENT_BLOCKED) {
				sp->claims += slot_claim(s, ev[i].seq);
			} else if (ev[i].kind == FIBER_EVENT_READY) {
				ret = fiber_wake(st->fd, ev[i].slot, 0);
				sp->grants += ret == 0;
				if (ret && ret != -ESRCH)
					sp->error = 3;
			} else {
				sp->error = 4;
			}
		}
		/* A READY event already taken by another spare is fine. */
		if (ret == -ETIMEDOUT)
			sp->grants += grant_waiting(st, &sp->error);
	}
	if (fiber_unregister(st->fd))
		sp->error = 6;
	return NULL;
}

static int stress_seconds(void)
{
	const char *s = getenv("FIBER_STRESS_SECONDS");

	if (s)
		return atoi(s);
	s = getenv("FIBER_VM_DEBUG");
	return s && !strcmp(s, "1") ? 10 : 3;
}

FIXTURE(stress) {
	struct stress *st;
};

FIXTURE_SETUP(stress)
{
	int fd = fiber_open();

	ASSERT_LE(0, fd);
	self->st = calloc(1, sizeof(*self->st));
	ASSERT_NE(NULL, self->st);
	self->st->fd = fd;
	ASSERT_EQ(0, fiber_map(fd, &self->st->map));
}

FIXTURE_TEARDOWN(stress)
{
	if (self->st)
		close(self->st->fd);
	free(self->st);
}

TEST_F_TIMEOUT(stress, carriers_block_and_wake_while_spares_claim_and_grant, 300)
{
	struct stress *st = self->st;
	struct fiber_shared *hdr = st->map.hdr;
	long ops = 0, claims = 0, grants = 0, holds = 0, events = 0;
	unsigned int seed = 1;
	uint64_t end;
	int i;

	for (i = 0; i < NR_SPARES; i++) {
		st->s[i].st = st;
		ASSERT_EQ(0, pthread_create(&st->s[i].thread, NULL, spare_main,
					    &st->s[i]));
	}
	atomic_store(&st->workers_live, NR_WORKERS);
	for (i = 0; i < NR_WORKERS; i++) {
		st->w[i].st = st;
		st->w[i].seed = i + 1;
		ASSERT_EQ(0, pipe(st->w[i].pipe));
		ASSERT_EQ(0, pthread_create(&st->w[i].thread, NULL, worker_main,
					    &st->w[i]));
	}

	/* The feeder: this thread, unregistered, wakes readers at random. */
	end = now_ns() + stress_seconds() * 1000 * MSEC;
	while (now_ns() < end) {
		ASSERT_EQ(1, write(st->w[rand_r(&seed) % NR_WORKERS].pipe[1], "x", 1));
		syscall(SYS_futex, &st->futex_word, FUTEX_WAKE_PRIVATE, 1,
			NULL, NULL, 0);
		usleep(50);
	}
	atomic_store(&st->stop, 1);
	/* Every reader gets a byte; the spares still grant held carriers. */
	for (i = 0; i < NR_WORKERS; i++)
		ASSERT_EQ(1, write(st->w[i].pipe[1], "x", 1));
	for (i = 0; i < NR_WORKERS; i++) {
		pthread_join(st->w[i].thread, NULL);
		EXPECT_EQ(0, st->w[i].error) TH_LOG("worker %d", i);
		ops += st->w[i].ops;
	}
	atomic_store(&st->stop_spares, 1);
	for (i = 0; i < NR_SPARES; i++) {
		pthread_join(st->s[i].thread, NULL);
		EXPECT_EQ(0, st->s[i].error) TH_LOG("spare %d", i);
		claims += st->s[i].claims;
		grants += st->s[i].grants;
		events += st->s[i].events;
	}
	TH_LOG("%ld operations, %llu blocks notified, %ld events, %ld claims, %ld wakes",
	       ops, (unsigned long long)hdr->notifications, events, claims, grants);

	/* The books balance. */
	holds = (long)hdr->grants;
	EXPECT_LT(0, ops);
	EXPECT_LT(0, hdr->notifications);
	EXPECT_LT(0, claims);
	EXPECT_EQ(claims, holds) TH_LOG("each won claim is one hold and one grant");
	EXPECT_EQ(0, shared_u32(&hdr->nr_waiting));
	EXPECT_EQ(0, shared_u32(&hdr->nr_parked));
	EXPECT_EQ(0, shared_u32(&hdr->nr_pending));
	EXPECT_EQ(0, shared_u32(&hdr->nr_carriers));
	for (i = 0; i < NR_WORKERS + NR_SPARES; i++)
		EXPECT_EQ(FIBER_SLOT_FREE, slot_state(fiber_slot_of(&st->map, i)));
}

/* The carriers and spares are the module's. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
