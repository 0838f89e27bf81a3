// SPDX-License-Identifier: MIT
/*
 * Fiber stacks, and how an overflow is caught.
 *
 * Every stack is anonymous memory mapped with MAP_NORESERVE: the kernel
 * backs it only where it is touched, so a parked fiber costs the pages it
 * used (usually one) however large its stack.  Below each stack lies a
 * FIBER_GUARD_SIZE guard region that faults on access; the SIGSEGV handler
 * (on a per-thread alternate stack, since the fiber's is exhausted) sees
 * that the address lies in the running fiber's guard and dies with a
 * message naming the fiber and its stack size.
 *
 * One million live fibers.  A guard made with mprotect() splits the
 * mapping: each guarded stack costs two kernel VMAs, and a process may
 * have vm.max_map_count of them (65530 by default), so guard pages alone
 * would stop at about 32000 fibers.  Hence:
 *
 *  - Default-size stacks are slots carved from large arenas (one mapping
 *    for up to 4096 stacks), never unmapped, recycled through a free list.
 *  - On Linux 6.13 and later the guard is installed with
 *    madvise(MADV_GUARD_INSTALL), which marks page-table entries and does
 *    not split the mapping: an arena stays one VMA however many guards it
 *    has, and the number of fibers is bounded only by memory.
 *  - On older kernels guards are made with mprotect() while the stacks
 *    so guarded stay within a quarter of vm.max_map_count.  Past that
 *    budget new stacks get a canary instead: a known word at the lowest
 *    address of the stack, checked each time the fiber switches out.  An
 *    overrun is then reported at the fiber's next switch, which is not
 *    silent, but the neighbouring stack may already be damaged; and the
 *    canary costs one more touched page per fiber.  fiber_stats() counts
 *    stacks by kind of guard.
 *  - Stacks of other sizes (fiber_go_attr) get a mapping of their own.
 *
 * A slot's guard is installed when a fiber first runs on it
 * (fiber_stack_prepare), not when the slot is taken: a fiber made but not
 * started may give its slot away untouched (fiber.c, "The first frame"),
 * and a guard costs a system call, page tables and, on older kernels, a
 * share of the mprotect budget.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "runtime.h"
#include "sanitizer.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define ARENA_SLOTS_MIN		16
#define ARENA_SLOTS_MAX		4096

struct free_slot {
	void *base;
	uint8_t guard;
};

static struct {
	pthread_mutex_t lock;
	size_t default_size;		/* FIBER_STACK_SIZE or the default */
	size_t slot;			/* guard + default stack */
	char *arena_next;		/* next fresh slot */
	size_t arena_left;		/* fresh slots left in the arena */
	size_t next_arena_slots;
	struct free_slot *free;
	size_t nfree, cap;
	_Atomic int mode;		/* GUARD_MADVISE until it fails */
	_Atomic bool no_populate;	/* MADV_POPULATE_WRITE failed: < 5.14 */
	_Atomic bool no_batch;		/* process_madvise failed: < 6.15 */
	_Atomic long mprotect_left;	/* budget of mprotect guards */
	_Atomic uint64_t count[GUARD_CANARY + 1];
	_Atomic uint64_t mapped;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.mode = GUARD_MADVISE,
};

static size_t page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

static size_t page_align(size_t n)
{
	return (n + page_size() - 1) & ~(page_size() - 1);
}

static long read_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	long n = 65530;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 65530;
		fclose(f);
	}
	return n;
}

/* Parse a size like "64k", "1m" or "262144".  Return: 0 if invalid. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long n;

	if (!s || !*s)
		return 0;
	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K':
		n <<= 10, end++;
		break;
	case 'm': case 'M':
		n <<= 20, end++;
		break;
	}
	return *end ? 0 : (size_t)n;
}

void fiber_stack_init(void)
{
	const char *env = getenv("FIBER_STACK_SIZE");
	size_t size = FIBER_STACK_DEFAULT;

	if (env) {
		size = parse_size(env);
		if (size < FIBER_STACK_MIN || size > FIBER_STACK_MAX) {
			fprintf(stderr,
				"libfiber: FIBER_STACK_SIZE=%s is not a size between %d and %zu bytes; using %d\n",
				env, FIBER_STACK_MIN, FIBER_STACK_MAX,
				FIBER_STACK_DEFAULT);
			size = FIBER_STACK_DEFAULT;
		}
	}
	/* For tests and experiments: force a weaker kind of guard. */
	env = getenv("FIBER_STACK_GUARD");
	if (env && !strcmp(env, "mprotect"))
		atomic_store(&pool.mode, GUARD_MPROTECT);
	else if (env && !strcmp(env, "canary"))
		atomic_store(&pool.mode, GUARD_CANARY);
	/* Valgrind does not know process_madvise, and says so: no batches. */
	if (vg_running())
		atomic_store(&pool.no_batch, true);
	pool.default_size = page_align(size);
	pool.slot = FIBER_GUARD_SIZE + pool.default_size;
	pool.next_arena_slots = ARENA_SLOTS_MIN;
	atomic_store(&pool.mprotect_left, read_max_map_count() / 4);
}

size_t fiber_stack_default_size(void)
{
	return pool.default_size;
}

/* The size a stack asked for as @size (0: the default) really gets. */
size_t fiber_stack_actual_size(size_t size)
{
	return size ? page_align(size) : pool.default_size;
}

/*
 * Does the guard at @lo really fault?  Emulators (qemu-user) accept any
 * madvise() and do nothing, so the first guard is tested: the kernel
 * reading it for write(2) must fail with EFAULT.
 */
static bool guard_works(const char *lo)
{
	static _Atomic int verdict;	/* 0 unknown, 1 works, 2 does not */
	int fds[2], v = atomic_load(&verdict);

	if (v)
		return v == 1;
	if (pipe2(fds, O_CLOEXEC))
		return true;	/* cannot tell; trust the kernel */
	v = write(fds[1], lo, 1) < 0 && errno == EFAULT ? 1 : 2;
	close(fds[0]);
	close(fds[1]);
	atomic_store(&verdict, v);
	return v == 1;
}

/* Make [@lo, @lo + FIBER_GUARD_SIZE) fault.  Return: the guard kind. */
static uint8_t guard_install(char *lo)
{
	if (atomic_load(&pool.mode) == GUARD_CANARY)
		return GUARD_CANARY;
	if (atomic_load(&pool.mode) == GUARD_MADVISE) {
		if (!madvise(lo, FIBER_GUARD_SIZE, MADV_GUARD_INSTALL) &&
		    guard_works(lo))
			return GUARD_MADVISE;
		/* EINVAL: a kernel before 6.13.  Never try again. */
		atomic_store(&pool.mode, GUARD_MPROTECT);
	}
	if (atomic_fetch_sub(&pool.mprotect_left, 1) > 0 &&
	    !mprotect(lo, FIBER_GUARD_SIZE, PROT_NONE))
		return GUARD_MPROTECT;
	return GUARD_CANARY;
}

/* A fresh default-size slot's base (guard included), or NULL. */
static char *arena_carve(void)
{
	size_t n;
	char *p;

	if (!pool.arena_left) {
		n = pool.next_arena_slots;
		p = mmap(NULL, n * pool.slot, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		atomic_fetch_add(&pool.mapped, n * pool.slot);
		pool.arena_next = p;
		pool.arena_left = n;
		if (n < ARENA_SLOTS_MAX)
			pool.next_arena_slots = n * 2;
	}
	p = pool.arena_next;
	pool.arena_next += pool.slot;
	pool.arena_left--;
	return p;
}

/*
 * The pool's lock is a runtime lock (runtime.h): counted in m->locks, so
 * that no spare claims its holder.  Uncounted, an M claimed while it held
 * it (asleep in arena_carve()'s mmap behind mmap_lock, from fiber_get())
 * was held until granted a P, while the Ms that had the Ps waited for the
 * lock, unclaimable (m_acquire()'d in fiber_first_frame()), and never
 * gave a P up: runtime_stress_test hung so under a sched_ext scheduler.
 */
static void pool_lock(void)
{
	fiber_lock_count(1);
	pthread_mutex_lock(&pool.lock);
}

static void pool_unlock(void)
{
	pthread_mutex_unlock(&pool.lock);
	fiber_lock_count(-1);
}

/*
 * Give @st a stack of @size bytes (0: the default).
 * Return: 0, -EINVAL for a size out of range, -ENOMEM.
 */
int fiber_stack_alloc(struct fiber_stack *st, size_t size)
{
	struct free_slot slot = { NULL, GUARD_NONE };
	char *lo;

	if (size && (size < FIBER_STACK_MIN || size > FIBER_STACK_MAX))
		return -EINVAL;
	size = fiber_stack_actual_size(size);
	if (size == pool.default_size) {
		pool_lock();
		if (pool.nfree)
			slot = pool.free[--pool.nfree];
		else
			slot.base = arena_carve();
		pool_unlock();
		if (!slot.base)
			return -ENOMEM;
		st->pooled = true;
	} else {
		lo = mmap(NULL, FIBER_GUARD_SIZE + size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (lo == MAP_FAILED)
			return -ENOMEM;
		atomic_fetch_add(&pool.mapped, FIBER_GUARD_SIZE + size);
		slot.base = lo;
		st->pooled = false;
	}
	/*
	 * A stack of its own mapping gets its guard now.  A pool slot gets
	 * it when first prepared for a fiber that runs: a fiber made but
	 * not started may never use it (fiber_first_frame), and the guard
	 * costs a system call and page tables.
	 */
	if (slot.guard == GUARD_NONE && !st->pooled) {
		slot.guard = guard_install(slot.base);
		atomic_fetch_add(&pool.count[slot.guard], 1);
	}
	st->base = (char *)slot.base + FIBER_GUARD_SIZE;
	st->size = size;
	st->guard = slot.guard;
	st->dirty = false;	/* fresh, or given back when freed */
	st->vg_id = vg_stack_register(st->base, size);
	return 0;
}

/*
 * Back the page at @page before anyone touches it.  A fresh stack's
 * first touch is a page fault, and a fault costs several times what one
 * madvise(MADV_POPULATE_WRITE) of the same page costs wherever the CPU
 * is virtualised with shadow or paravirtual page tables (13 us against
 * 2.6 us on the machines this was measured on; docs/performance.md).
 * On bare metal the two cost about the same.  Linux 5.14+; older
 * kernels say EINVAL once and the first touch faults as before.  Any
 * other failure (no memory) is left for that touch to meet.
 */
static void stack_populate(void *page)
{
	if (atomic_load_explicit(&pool.no_populate, memory_order_relaxed))
		return;
	if (madvise(page, page_size(), MADV_POPULATE_WRITE) && errno == EINVAL)
		atomic_store(&pool.no_populate, true);
}

/*
 * Ready @st for a new fiber.  A pool slot used for the first time gets
 * its guard.  A stack whose pages were given back (fresh, or scavenged
 * while on the free list) gets its top page, where the first frame goes,
 * populated, and the canary page below if it has one; the canary is
 * re-armed, as the scavenger cleared it.
 */
void fiber_stack_prepare(struct fiber_stack *st)
{
	if (st->guard == GUARD_NONE) {
		st->guard = guard_install((char *)st->base - FIBER_GUARD_SIZE);
		atomic_fetch_add(&pool.count[st->guard], 1);
	}
	san_unpoison_stack(st->base, st->size);
	if (!st->dirty) {
		stack_populate((char *)st->base + st->size - page_size());
		if (st->guard == GUARD_CANARY && st->size > page_size())
			stack_populate(st->base);
	}
	if (st->guard == GUARD_CANARY)
		*(uint64_t *)st->base = FIBER_CANARY ^ (uintptr_t)st->base;
	st->dirty = true;
}

/*
 * Batches.  A fresh slot costs two system calls before a fiber can run
 * on it: the guard, and the populate of its top page.  On these machines
 * a system call costs more than a microsecond to enter, so a burst of
 * fibers that each need a fresh stack (a million that start and park, or
 * the peak of skynet) spends a third of what the stack costs in getting
 * into the kernel.  process_madvise(2) takes a vector of ranges: one
 * call installs the guards of a whole batch of slots, one more populates
 * their top pages.  So a P that needs a fresh stack prepares
 * FIBER_STACK_BATCH at once and keeps the rest in its cache; the fiber's
 * own cold slot goes back to the pool for the next batch.
 *
 * Linux 6.13 lets a process advise itself any advice through
 * process_madvise(), and names itself without a pidfd since 6.15
 * (PIDFD_SELF, which a fork cannot leave pointing at the parent); guards
 * by madvise (MADV_GUARD_INSTALL) need 6.13 as well.  Elsewhere the first
 * try fails, batches are never tried again, and every slot is prepared
 * alone as before.  A cache holds at most FIBER_STACK_BATCH - 1 touched
 * pages per P; a P that GOMAXPROCS removes keeps them for its return.
 */
#define PIDFD_SELF_PROCESS	(-10001)	/* PIDFD_SELF_THREAD_GROUP */

static long advise_vector(const struct iovec *iov, size_t n, int advice)
{
	return syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, iov, n, advice,
		       0);
}

/*
 * Guard and populate the @n stacks of @st in two calls.  Return: false if
 * the kernel cannot (then nothing was changed that matters: a guard
 * installed twice is one guard).
 */
static bool prepare_batch(struct fiber_stack *st, int n)
{
	struct iovec guards[FIBER_STACK_BATCH], tops[FIBER_STACK_BATCH];
	size_t len = 0;
	int i, ng = 0, nt = 0;

	for (i = 0; i < n; i++) {
		if (st[i].guard == GUARD_NONE) {
			guards[ng].iov_base = (char *)st[i].base - FIBER_GUARD_SIZE;
			guards[ng++].iov_len = FIBER_GUARD_SIZE;
			len += FIBER_GUARD_SIZE;
		}
		if (!st[i].dirty) {
			tops[nt].iov_base = (char *)st[i].base + st[i].size -
					    page_size();
			tops[nt++].iov_len = page_size();
		}
	}
	if (ng && (advise_vector(guards, ng, MADV_GUARD_INSTALL) != (long)len ||
		   !guard_works(guards[0].iov_base)))
		return false;
	for (i = 0; i < n; i++) {
		if (st[i].guard == GUARD_NONE) {
			st[i].guard = GUARD_MADVISE;
			atomic_fetch_add(&pool.count[GUARD_MADVISE], 1);
		}
	}
	/*
	 * As stack_populate: EINVAL (no such advice) once, never again;
	 * any other failure (no memory) is left for the first touch.
	 */
	if (nt && !atomic_load_explicit(&pool.no_populate, memory_order_relaxed) &&
	    advise_vector(tops, nt, MADV_POPULATE_WRITE) < 0) {
		if (errno == EINVAL)
			atomic_store(&pool.no_populate, true);
		else if (errno != ENOMEM)	/* no batches after all */
			atomic_store(&pool.no_batch, true);
	}
	/* Poisoning is fiber_stack_prepare()'s, when one is taken. */
	for (i = 0; i < n; i++)
		st[i].dirty = true;
	return true;
}

/*
 * Give cold stack @st (a default-size slot that would cost system calls
 * to prepare) a prepared one from cache @c instead, refilling @c with a
 * batch if it is empty; @st's slot goes back to the pool, untouched.
 * The caller owns @c.  Return: false if batches do not work here (the
 * caller prepares @st alone).
 */
bool fiber_stack_take_prepared(struct fiber_stack_cache *c,
			       struct fiber_stack *st)
{
	struct fiber_stack cold;
	int n = 0, i;

	if (atomic_load_explicit(&pool.no_batch, memory_order_relaxed) ||
	    atomic_load_explicit(&pool.mode, memory_order_relaxed) !=
		    GUARD_MADVISE)
		return false;
	if (!c->n) {
		struct fiber_stack batch[FIBER_STACK_BATCH] = { 0 };

		batch[n++] = *st;
		while (n < FIBER_STACK_BATCH && !fiber_stack_alloc(&batch[n], 0))
			n++;
		if (!prepare_batch(batch, n)) {
			atomic_store(&pool.no_batch, true);
			for (i = 1; i < n; i++)
				fiber_stack_free(&batch[i]);
			return false;
		}
		*st = batch[0];
		for (i = 1; i < n; i++)
			c->st[c->n++] = batch[i];
		return true;
	}
	cold = *st;
	*st = c->st[--c->n];
	fiber_stack_free(&cold);
	return true;
}

void fiber_stack_free(struct fiber_stack *st)
{
	struct free_slot slot, *grown;
	size_t cap;

	if (!st->base)
		return;
	slot.base = (char *)st->base - FIBER_GUARD_SIZE;
	slot.guard = st->guard;
	vg_stack_deregister(st->vg_id);
	st->base = NULL;
	if (!st->pooled) {
		munmap(slot.base, FIBER_GUARD_SIZE + st->size);
		atomic_fetch_sub(&pool.mapped, FIBER_GUARD_SIZE + st->size);
		atomic_fetch_sub(&pool.count[slot.guard], 1);
		if (slot.guard == GUARD_MPROTECT)
			atomic_fetch_add(&pool.mprotect_left, 1);
		return;
	}
	/* Give the memory back; the slot and its guard stay for reuse. */
	if (st->dirty)
		madvise((char *)slot.base + FIBER_GUARD_SIZE, st->size,
			MADV_DONTNEED);
	pool_lock();
	if (pool.nfree == pool.cap) {
		cap = pool.cap ? pool.cap * 2 : 256;
		grown = realloc(pool.free, cap * sizeof(*grown));
		if (!grown) {
			/* Lose the slot rather than fail: it stays mapped. */
			pool_unlock();
			return;
		}
		pool.free = grown;
		pool.cap = cap;
	}
	pool.free[pool.nfree++] = slot;
	pool_unlock();
}

/* Return the pages of an unused stack to the kernel; keep the mapping. */
void fiber_stack_scavenge(struct fiber_stack *st)
{
	if (st->base && st->dirty) {
		madvise(st->base, st->size, MADV_DONTNEED);
		st->dirty = false;
	}
}

void fiber_stack_counts(struct fiber_stack_counts *out)
{
	out->madvise = atomic_load(&pool.count[GUARD_MADVISE]);
	out->mprotect = atomic_load(&pool.count[GUARD_MPROTECT]);
	out->canary = atomic_load(&pool.count[GUARD_CANARY]);
	out->mapped_bytes = atomic_load(&pool.mapped);
}

/* ---- overflow reports --------------------------------------------------- */

static struct sigaction old_segv;

/*
 * SIGSEGV: if the address is in the running fiber's guard, report the
 * overflow and abort; otherwise put back the handler that was there
 * before us and return, so that the fault recurs and goes to it.
 */
static void segv_handler(int sig, siginfo_t *info, void *uctx)
{
	struct fiber_m *m = this_m();
	struct fiber *g = m ? m->curg : NULL;
	char msg[256];
	int n;

	(void)sig, (void)uctx;
	dump_segv();	/* returns unless a dump was reading a stack */
	if (g && fiber_stack_in_guard(&g->stack, info->si_addr)) {
		n = snprintf(msg, sizeof(msg),
			     "libfiber: fatal error: fiber %llu overflowed its stack of %zu bytes (fault at %p); set FIBER_STACK_SIZE or fiber_attr.stack_size\n",
			     (unsigned long long)g->id, g->stack.size,
			     info->si_addr);
		if (write(2, msg, (size_t)n) < 0)
			_exit(2);
		abort();
	}
	sigaction(SIGSEGV, &old_segv, NULL);
}

/* Report an overrun found by the canary check, and abort. */
_Noreturn void fiber_stack_overrun_fatal(struct fiber *g)
{
	fflush(stdout);
	fprintf(stderr,
		"libfiber: fatal error: fiber %llu overran its stack of %zu bytes (canary destroyed); set FIBER_STACK_SIZE or fiber_attr.stack_size\n",
		(unsigned long long)g->id, g->stack.size);
	abort();
}

int stack_overflow_handler_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSEGV, &sa, &old_segv) ? -errno : 0;
}

#define SIGSTACK_SIZE	(64 * 1024)

/* The calling thread (M @m) handles signals on a stack of its own. */
int stack_sigaltstack_init(struct fiber_m *m)
{
	stack_t ss = { .ss_size = SIGSTACK_SIZE };

	ss.ss_sp = mmap(NULL, SIGSTACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ss.ss_sp == MAP_FAILED)
		return -ENOMEM;
	if (sigaltstack(&ss, NULL)) {
		munmap(ss.ss_sp, SIGSTACK_SIZE);
		return -errno;
	}
	m->sigstack = ss.ss_sp;
	return 0;
}
