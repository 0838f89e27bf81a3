/* SPDX-License-Identifier: MIT */
/*
 * The runtime's own mutex, for sched.lock: taken on every yield (the
 * global queue) and usually uncontended, so its fast path is one CAS to
 * lock and one exchange to unlock, inline.  Contended, it spins briefly
 * and then sleeps on a futex.  The state: 0 unlocked, 1 locked, 2 locked
 * and someone may sleep (Drepper, "Futexes Are Tricky", mutex 3).
 *
 * An M holding one counts it in m->locks (fiber_lock_count), so that its
 * P is not taken from it if it sleeps meanwhile: a P taken from an M in
 * the middle of the scheduler's code would have two owners, and an M
 * held in the kernel with a lock others need could deadlock them.
 */
#ifndef FIBER_LOCK_H
#define FIBER_LOCK_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

struct fiber_lock {
	_Atomic uint32_t state;
};

void fiber_lock_slow(struct fiber_lock *l);
void fiber_lock_count(int delta);	/* sched.c: the calling M's m->locks */

/* Tell the CPU we are spinning. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

static inline void fiber_lock(struct fiber_lock *l)
{
	uint32_t unlocked = 0;

	fiber_lock_count(1);
	if (!atomic_compare_exchange_strong_explicit(&l->state, &unlocked, 1,
						     memory_order_acquire,
						     memory_order_relaxed))
		fiber_lock_slow(l);
}

static inline void fiber_unlock(struct fiber_lock *l)
{
	if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
		syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL,
			NULL, 0);
	fiber_lock_count(-1);
}

#endif /* FIBER_LOCK_H */
