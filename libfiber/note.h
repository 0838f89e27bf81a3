/* SPDX-License-Identifier: MIT */
/*
 * A one-shot event an OS thread sleeps on (Go's "note"), on a private
 * futex.  One thread sleeps, one wakes it; clear it before reuse, and only
 * when nobody can be sleeping or waking on it.
 */
#ifndef FIBER_NOTE_H
#define FIBER_NOTE_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct fiber_note {
	_Atomic uint32_t key;
};

static inline void note_clear(struct fiber_note *n)
{
	atomic_store(&n->key, 0);
}

static inline void note_wakeup(struct fiber_note *n)
{
	atomic_store(&n->key, 1);
	syscall(SYS_futex, &n->key, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleep until woken; a signal or a spurious wake-up just sleeps again. */
static inline void note_sleep(struct fiber_note *n)
{
	while (!atomic_load(&n->key))
		syscall(SYS_futex, &n->key, FUTEX_WAIT_PRIVATE, 0, NULL,
			NULL, 0);
}

/* Sleep at most @ns nanoseconds.  Return: whether it was woken. */
static inline bool note_tsleep(struct fiber_note *n, int64_t ns)
{
	struct timespec ts = {
		.tv_sec = ns / 1000000000,
		.tv_nsec = ns % 1000000000,
	};

	if (!atomic_load(&n->key))
		syscall(SYS_futex, &n->key, FUTEX_WAIT_PRIVATE, 0, &ts, NULL,
			0);
	return atomic_load(&n->key);
}

#endif /* FIBER_NOTE_H */
