/* SPDX-License-Identifier: MIT */
/*
 * The runtime's own mutex, for sched.lock: taken on every yield (the
 * global queue) and usually uncontended, so its fast path is one CAS to
 * lock and one exchange to unlock, inline.  Contended, it spins briefly
 * and then sleeps on a futex.  The state: 0 unlocked, 1 locked, 2 locked
 * and someone may sleep (Drepper, "Futexes Are Tricky", mutex 3).
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
}

#endif /* FIBER_LOCK_H */
