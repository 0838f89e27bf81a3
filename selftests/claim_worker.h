/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A carrier to claim: a registered thread that blocks in read() on a pipe,
 * round after round, so that a test playing the spare can claim it, wake
 * it and watch it held.  Include after fiber_test.h.
 */
#ifndef FIBER_SELFTEST_CLAIM_WORKER_H
#define FIBER_SELFTEST_CLAIM_WORKER_H

/* A carrier that blocks in read() on a pipe, again and again. */
struct worker {
	int fd;
	int pipe[2];
	uint32_t slot;
	int rounds;			/* reads to do */
	atomic_int registered;
	atomic_int done_rounds;		/* reads that returned */
	atomic_int release;
	uint64_t state_after[1];	/* slot word seen after the first read */
	uint64_t last_after;		/* ... after the latest read */
	pthread_t thread;
	pid_t tid;
	struct fiber_map *map;
	struct fiber_slot *s;
};

static inline void *worker_main(void *arg)
{
	struct worker *w = arg;
	char c;
	int i;

	w->tid = gettid_();
	if (fiber_register(w->fd, 0, &w->slot))
		return (void *)1;
	w->s = fiber_slot_of(w->map, w->slot);
	atomic_store(&w->registered, 1);
	for (i = 0; i < w->rounds; i++) {
		if (read(w->pipe[0], &c, 1) != 1)
			return (void *)2;
		w->last_after = slot_word(w->s);
		if (i == 0)
			w->state_after[0] = w->last_after;
		/* Hold-on-wake off: come back without a P, take it back. */
		if (FIBER_SLOT_STATE(w->last_after) == FIBER_SLOT_CLAIMED) {
			__u64 word = w->last_after;

			__atomic_compare_exchange_n(&w->s->state, &word,
				FIBER_SLOT_WORD(FIBER_SLOT_RUNNING, FIBER_SLOT_SEQ(word)),
				0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		}
		atomic_fetch_add(&w->done_rounds, 1);
	}
	/* Spin: a registered thread that sleeps would block. */
	while (!atomic_load(&w->release))
		;
	return fiber_unregister(w->fd) ? (void *)3 : NULL;
}

static inline int worker_start(struct worker *w, int fd, struct fiber_map *m,
			int rounds)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->rounds = rounds;
	w->map = m;
	if (pipe(w->pipe))
		return -errno;
	if (pthread_create(&w->thread, NULL, worker_main, w))
		return -EAGAIN;
	while (!atomic_load(&w->registered))
		usleep(100);
	return 0;
}

static inline int worker_join(struct worker *w)
{
	void *ret;

	atomic_store(&w->release, 1);
	pthread_join(w->thread, &ret);
	close(w->pipe[0]);
	close(w->pipe[1]);
	return ret ? -EIO : 0;
}

#endif /* FIBER_SELFTEST_CLAIM_WORKER_H */
