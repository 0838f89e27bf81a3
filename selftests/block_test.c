// SPDX-License-Identifier: GPL-2.0
/*
 * Block detection: a carrier that sleeps in the kernel is seen at once and
 * a parked spare is woken; preemption, parking and short blocks under a
 * handoff delay are not blocks worth an event.
 */
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>

#include "fiber_test.h"
#include "harness_ext.h"
#include "group_fixture.h"
#include "uffd.h"

/* A carrier thread that blocks in read() on a pipe until it is fed. */
struct blocker {
	int fd;
	int pipe[2];
	uint32_t slot;
	atomic_int registered;
	atomic_int returned;
	atomic_int release;	/* may unregister and exit */
	pthread_t thread;
};

static void *blocker_main(void *arg)
{
	struct blocker *b = arg;
	char c;

	if (fiber_register(b->fd, 0, &b->slot))
		return (void *)1;
	atomic_store(&b->registered, 1);
	if (read(b->pipe[0], &c, 1) != 1)
		return (void *)2;
	atomic_store(&b->returned, 1);
	while (!atomic_load(&b->release))
		;	/* spin: sleeping would be a block */
	return fiber_unregister(b->fd) ? (void *)3 : NULL;
}

static int blocker_start(struct blocker *b, int fd)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	if (pipe(b->pipe))
		return -errno;
	if (pthread_create(&b->thread, NULL, blocker_main, b))
		return -EAGAIN;
	while (!atomic_load(&b->registered))
		usleep(100);
	return 0;
}

static int blocker_finish(struct blocker *b)
{
	void *ret;

	if (write(b->pipe[1], "x", 1) != 1)
		return -errno;
	atomic_store(&b->release, 1);
	pthread_join(b->thread, &ret);
	close(b->pipe[0]);
	close(b->pipe[1]);
	return ret ? -EIO : 0;
}

/* A spare: registers, waits to be told, then parks once. */
struct spare {
	int fd;
	uint32_t slot;
	uint64_t timeout_ms;
	struct fiber_event ev[8];
	uint32_t nr;
	int ret;
	atomic_int registered;
	atomic_int go;
	atomic_int done;
	pthread_t thread;
};

static void *spare_main(void *arg)
{
	struct spare *s = arg;

	if (fiber_register(s->fd, 0, &s->slot))
		return (void *)1;
	atomic_store(&s->registered, 1);
	while (!atomic_load(&s->go))
		usleep(100);
	s->nr = 8;
	s->ret = fiber_park_ms(s->fd, s->timeout_ms, s->ev, &s->nr);
	atomic_store(&s->done, 1);
	return fiber_unregister(s->fd) ? (void *)3 : NULL;
}

static int spare_start(struct spare *s, int fd, uint64_t timeout_ms, int go)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->timeout_ms = timeout_ms;
	atomic_store(&s->go, go);
	if (pthread_create(&s->thread, NULL, spare_main, s))
		return -EAGAIN;
	while (!atomic_load(&s->registered))
		usleep(100);
	return 0;
}

static int spare_join(struct spare *s)
{
	void *ret;

	atomic_store(&s->go, 1);
	pthread_join(s->thread, &ret);
	return ret ? -EIO : 0;
}

TEST_F(group, pipe_read_block_produces_one_event_and_wakes_the_parked_spare)
{
	struct fiber_shared *hdr = self->map.hdr;
	struct fiber_slot *slot;
	struct blocker b;
	struct spare s;

	ASSERT_EQ(0, spare_start(&s, self->fd, 5000, 1));
	ASSERT_TRUE(wait_u32(&hdr->nr_parked, 1, 2000));
	ASSERT_EQ(0, blocker_start(&b, self->fd));
	slot = fiber_slot_of(&self->map, b.slot);

	/* The spare wakes with exactly the blocker's event. */
	while (!atomic_load(&s.done))
		usleep(200);
	EXPECT_EQ(0, s.ret);
	ASSERT_EQ(1, s.nr);
	EXPECT_EQ(b.slot, s.ev[0].slot);
	EXPECT_EQ(FIBER_EVENT_BLOCKED, s.ev[0].kind);
	EXPECT_EQ(1, s.ev[0].seq);
	EXPECT_EQ(FIBER_SLOT_WORD(FIBER_SLOT_BLOCKED, 1), slot_word(slot));
	EXPECT_EQ(1, slot->blocks);
	EXPECT_EQ(0, atomic_load(&b.returned));
	EXPECT_EQ(0, shared_u32(&hdr->nr_pending));
	EXPECT_EQ(1, hdr->notifications);

	/* Fed, it runs again: RUNNING, same sequence, one wake-up. */
	ASSERT_EQ(0, spare_join(&s));
	ASSERT_EQ(1, write(b.pipe[1], "x", 1));
	while (!atomic_load(&b.returned))
		usleep(200);
	EXPECT_EQ(FIBER_SLOT_WORD(FIBER_SLOT_RUNNING, 1), slot_word(slot));
	EXPECT_EQ(1, slot->wakeups);
	EXPECT_LE(slot->last_block_ns, slot->last_wake_ns);
	atomic_store(&b.release, 1);
	pthread_join(b.thread, NULL);
	EXPECT_EQ(1, hdr->notifications);
}

/* Runs registered, never sleeping, once all spinners are registered. */
struct spinners {
	int fd;
	atomic_int registered;
	atomic_int go;
};

static void *spinner_main(void *arg)
{
	struct spinners *sp = arg;
	uint32_t slot;
	uint64_t end;

	if (fiber_register(sp->fd, 0, &slot))
		return (void *)1;
	atomic_fetch_add(&sp->registered, 1);
	while (!atomic_load(&sp->go))
		;
	end = now_ns() + 300 * MSEC;
	while (now_ns() < end)
		;
	return fiber_unregister(sp->fd) ? (void *)2 : NULL;
}

TEST_F(group, preemption_alone_is_not_a_block)
{
	struct spinners sp = { .fd = self->fd };
	pthread_t t[3];
	int i;

	/*
	 * Three spinners on two vCPUs preempt each other all the time.  They
	 * start together once all threads exist, so that no one waits for
	 * mmap_lock while the next thread's stack is mapped: that would be
	 * a real block.
	 */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, spinner_main, &sp));
	while (atomic_load(&sp.registered) < 3)
		usleep(100);
	atomic_store(&sp.go, 1);
	for (i = 0; i < 3; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		EXPECT_EQ(NULL, ret);
	}
	EXPECT_EQ(0, self->map.hdr->notifications);
	EXPECT_EQ(0, shared_u32(&self->map.hdr->nr_pending));
}

TEST_F(group, a_parked_carrier_never_produces_block_events)
{
	uint32_t slot, nr = 0;

	ASSERT_EQ(0, fiber_register(self->fd, 0, &slot));
	EXPECT_EQ(-ETIMEDOUT, fiber_park_ms(self->fd, 50, NULL, &nr));
	EXPECT_EQ(0, fiber_slot_of(&self->map, slot)->blocks);
	EXPECT_EQ(0, self->map.hdr->notifications);
	EXPECT_EQ(FIBER_SLOT_RUNNING, slot_state(fiber_slot_of(&self->map, slot)));
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

TEST_F(group, an_event_waits_for_the_next_park)
{
	struct fiber_event ev[4];
	uint32_t me, nr = 4;
	struct blocker b;
	uint64_t t0;

	/*
	 * The main thread registers only once the blocker blocked: a
	 * registered thread that waits would be a blocker too.
	 */
	ASSERT_EQ(0, blocker_start(&b, self->fd));
	ASSERT_TRUE(wait_u32(&self->map.hdr->nr_pending, 1, 2000));
	ASSERT_EQ(0, fiber_register(self->fd, 0, &me));
	/* Nobody was parked; the next park returns at once with it. */
	t0 = now_ns();
	EXPECT_EQ(0, fiber_park_ms(self->fd, 5000, ev, &nr));
	EXPECT_LT(now_ns() - t0, 2000 * MSEC);
	ASSERT_EQ(1, nr);
	EXPECT_EQ(b.slot, ev[0].slot);
	EXPECT_EQ(FIBER_EVENT_BLOCKED, ev[0].kind);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	EXPECT_EQ(0, blocker_finish(&b));
}

TEST_F(group, events_not_returned_stay_queued)
{
	struct fiber_event ev[4];
	uint32_t me, nr = 0;
	struct blocker b;

	ASSERT_EQ(0, blocker_start(&b, self->fd));
	ASSERT_TRUE(wait_u32(&self->map.hdr->nr_pending, 1, 2000));
	ASSERT_EQ(0, fiber_register(self->fd, 0, &me));
	/* No room: the park returns at once and keeps the event. */
	EXPECT_EQ(0, fiber_park_ms(self->fd, 5000, NULL, &nr));
	EXPECT_EQ(0, nr);
	EXPECT_EQ(1, shared_u32(&self->map.hdr->nr_pending));
	nr = 4;
	EXPECT_EQ(0, fiber_park_ms(self->fd, 5000, ev, &nr));
	EXPECT_EQ(1, nr);
	EXPECT_EQ(b.slot, ev[0].slot);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	EXPECT_EQ(0, blocker_finish(&b));
}

TEST_F(group, an_event_is_withdrawn_when_its_carrier_wakes)
{
	struct fiber_event ev[4];
	uint32_t me, nr = 4;
	struct blocker b;

	ASSERT_EQ(0, blocker_start(&b, self->fd));
	ASSERT_TRUE(wait_u32(&self->map.hdr->nr_pending, 1, 2000));
	/* The blocker wakes (and stays registered) before anyone looks. */
	ASSERT_EQ(1, write(b.pipe[1], "x", 1));
	while (!atomic_load(&b.returned))
		usleep(200);
	EXPECT_EQ(0, shared_u32(&self->map.hdr->nr_pending));
	/* There is nothing to claim, so nothing wakes a parked spare. */
	ASSERT_EQ(0, fiber_register(self->fd, 0, &me));
	EXPECT_EQ(-ETIMEDOUT, fiber_park_ms(self->fd, 50, ev, &nr));
	EXPECT_EQ(0, nr);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	atomic_store(&b.release, 1);
	pthread_join(b.thread, NULL);
}

/* Sleeps in nanosleep() for the time given, registered. */
struct sleeper {
	int fd;
	uint32_t slot;
	uint64_t ms;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	struct timespec ts = {
		.tv_sec = s->ms / 1000,
		.tv_nsec = (s->ms % 1000) * MSEC,
	};

	if (fiber_register(s->fd, 0, &s->slot))
		return (void *)1;
	nanosleep(&ts, NULL);
	return fiber_unregister(s->fd) ? (void *)2 : NULL;
}

/*
 * A block lasts until the thread runs again, not until it is woken: a VM
 * whose vCPU the host does not run for a while sees every block that
 * spans the stall as long.  Stalls of over 100 ms happen when the host is
 * loaded (make check-loaded), so the delay is a second, which none comes
 * near.
 */
TEST_F(group, handoff_delay_notifies_only_long_blocks)
{
	struct sleeper quick = { .fd = self->fd, .ms = 2 };
	struct sleeper slow = { .fd = self->fd, .ms = 2000 };
	struct fiber_event ev[4];
	uint32_t me, nr = 4;
	pthread_t t;

	ASSERT_EQ(0, fiber_configure(self->fd, FIBER_CONFIG_SET_DELAY,
				     1000 * MSEC, 0, 0, NULL));

	/* 2 ms is under the 1 s delay: no event. */
	ASSERT_EQ(0, pthread_create(&t, NULL, sleeper_main, &quick));
	pthread_join(t, NULL);
	EXPECT_EQ(0, self->map.hdr->notifications);
	ASSERT_EQ(0, fiber_register(self->fd, 0, &me));
	EXPECT_EQ(-ETIMEDOUT, fiber_park_ms(self->fd, 1100, ev, &nr));

	/* 2 s is over it: one event, while it still sleeps. */
	nr = 4;
	ASSERT_EQ(0, pthread_create(&t, NULL, sleeper_main, &slow));
	EXPECT_EQ(0, fiber_park_ms(self->fd, 10000, ev, &nr));
	EXPECT_EQ(1, nr);
	EXPECT_EQ(FIBER_EVENT_BLOCKED, ev[0].kind);
	EXPECT_EQ(1, self->map.hdr->notifications);
	pthread_join(t, NULL);
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

/*
 * A page fault that sleeps is a block like any other.  userfaultfd makes
 * the fault wait, deterministically, until this test resolves it.
 */
struct faulter {
	int fd;
	char *area;
	uint32_t slot;
	atomic_int registered;
	atomic_int done;
};

static void *faulter_main(void *arg)
{
	struct faulter *f = arg;
	char c;

	if (fiber_register(f->fd, 0, &f->slot))
		return (void *)1;
	atomic_store(&f->registered, 1);
	c = *(volatile char *)f->area;	/* faults, waits for UFFDIO_COPY */
	atomic_store(&f->done, 1);
	if (c != 'u')
		return (void *)2;
	return fiber_unregister(f->fd) ? (void *)3 : NULL;
}

TEST_F(group, a_blocking_page_fault_produces_an_event)
{
	struct fiber_event ev[4];
	struct faulter f = { .fd = self->fd };
	struct uffd_page up;
	struct uffd_msg msg;
	uint32_t me, nr = 4;
	struct pollfd pfd;
	pthread_t t;
	void *ret;
	int err;

	err = uffd_probe();
	if (err)
		SKIP(return, "userfaultfd: %s", strerror(-err));
	ASSERT_EQ(0, uffd_page_open(&up));
	f.area = up.area;

	ASSERT_EQ(0, pthread_create(&t, NULL, faulter_main, &f));

	/* The fault is pending in userfaultfd, and the module saw it. */
	pfd.fd = up.uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 5000));
	ASSERT_EQ(sizeof(msg), read(up.uffd, &msg, sizeof(msg)));
	EXPECT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);
	ASSERT_EQ(0, fiber_register(self->fd, 0, &me));
	EXPECT_EQ(0, fiber_park_ms(self->fd, 5000, ev, &nr));
	ASSERT_EQ(1, nr);
	EXPECT_EQ(f.slot, ev[0].slot);
	EXPECT_EQ(FIBER_EVENT_BLOCKED, ev[0].kind);
	EXPECT_EQ(FIBER_SLOT_BLOCKED, slot_state(fiber_slot_of(&self->map, f.slot)));
	EXPECT_EQ(0, atomic_load(&f.done));
	EXPECT_EQ(0, fiber_unregister(self->fd));

	/* Resolve it; the faulter runs on. */
	ASSERT_EQ(0, uffd_page_fill(&up, "u", 1));
	pthread_join(t, &ret);
	EXPECT_EQ(NULL, ret);
	uffd_page_close(&up);
}

/* Every case blocks a carrier of a group. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
