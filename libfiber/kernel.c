// SPDX-License-Identifier: MIT
/*
 * Kernel-assisted mode: libfiber on /dev/fiber (uapi/linux/fiber.h).
 *
 * Every M is a carrier of one group, with a slot in memory shared with the
 * module.  Idle Ms, the spares, sleep in FIBER_IOC_PARK instead of on
 * their futex.  The whole protocol is three moves:
 *
 *  Block.  An M running a fiber sleeps in the kernel (a system call, a
 *    page fault, a futex).  The module marks its slot BLOCKED and wakes
 *    the spare parked last, whose PARK returns a BLOCKED event.
 *
 *  Claim.  The spare compares-and-swaps the slot from BLOCKED to CLAIMED,
 *    with the sequence number of the event.  If that succeeds the blocked
 *    M has not run a single instruction since the event, and cannot:
 *    hold-on-wake keeps it in the kernel until it is granted a P.  So the
 *    spare may take its P, exactly as sysmon takes the P of an M in a
 *    system call (syscall.c): the fiber is marked FIBER_SYSCALL, the P
 *    changes hands and the spare runs the P's queue.
 *
 *  Grant.  The blocked M wakes; the module holds it (WAITING) and counts
 *    it in fiber_shared.nr_waiting.  The next M to reach a scheduling
 *    point with a P sees that count, gives its P to the waiting M and
 *    parks in the same FIBER_IOC_SWITCH call.  The woken fiber goes on
 *    where it was, on the P it was given.  A spare woken by the READY
 *    event grants an idle P, if there is one, the same way.
 *
 * So at most fiber_maxprocs() Ms run fiber code at any time, and a fiber
 * blocks without taking its P along.  A system call that does not sleep
 * costs nothing: the module looks only at sleeps.
 *
 * What may not be claimed.  The claim takes m->p from under the blocked
 * M, so that M must not be in the middle of using it.  A fiber's own code
 * never touches m->p, but the runtime's does, so an M counts the runtime
 * locks it holds in m->locks (lock.h), and runtime paths that may sleep
 * while they rely on their P (allocating a stack, starting a thread,
 * stopping the world) hold m_acquire().  A spare claims only an M with a
 * fiber (not on its g0), a P and m->locks == 0; any other block is the
 * runtime's own, short, and ends without help.
 *
 * Races, and who settles them:
 *  - claim vs. the blocked M waking: the slot's CAS on its sequence
 *    number (the module's side of the table in uapi/linux/fiber.h);
 *  - two spares claiming one block: the same CAS;
 *  - two Ms granting one waiting M: m->granting, taken with a CAS by the
 *    granter and cleared by the next claim of that M (the grant itself is
 *    over by then: the M ran again);
 *  - a spare handed a P by startm() while it claims another: it passes
 *    the claimed P on with startm() and takes the one handed to it;
 *  - an M's first claim vs. a grant: an M is made with m->granting set,
 *    so it is grantable only once a claim has finished with it;
 *  - a wake-up still on its way when its M's thread ends (the M saw the
 *    key first): the slot is given up only once the waker's call has
 *    returned, counted in m->wakes_inflight (kernel_unregister_m);
 *  - a wake-up lost anyway: sysmon watches nr_pending and nr_waiting
 *    (kernel_sysmon) and wakes a spare or grants an idle P itself;
 *  - a held M that no M with a P can reach (a lock of the C library
 *    between them): sysmon lets it go without a P (kernel_unstick).
 *
 * The spare pool.  sysmon keeps fiber_maxprocs() spares, parked or on
 * their way back to the park (kernel_fill_spares), making new threads
 * off the hot path (on 6.1 clone() takes mmap_lock for writing, which
 * would stall the fibers of a claiming M), and a spare
 * that finds the pool empty after a claim kicks sysmon at once.  A spare
 * that sleeps FIBER_SPARE_IDLE_NS with more than that many parked exits.
 * The module's limit on carriers bounds the pool; past it an M runs
 * without assistance and libfiber says so once.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/fiber.h>

#include "runtime.h"

#define KERNEL_EVENTS		16
#define SPARE_IDLE_NS		5000000000LL
#define HOLD_STALL_NS		1000000000LL

bool kernel_on;				/* the module assists us */
const char *kernel_off_reason = "not started";
static int kfd = -1;
static void *kmap;
static size_t kmap_len;
static struct fiber_shared *kshared;
static uint32_t kmax;			/* slots in the mapping */
static struct fiber_m *_Atomic *kslot_m;	/* slot -> M */
static _Atomic uint32_t kslot_hi;	/* 1 + highest slot ever used */
static _Atomic uint32_t kgrant_start;	/* where the next scan begins */
static _Atomic bool klimit_said;
static uint64_t khandoff_delay;
static uint32_t khold = 1;
static uint32_t kmax_carriers;		/* FIBER_MAX_CARRIERS, 0: the module's */
static uint64_t kwake_delay;		/* FIBER_TEST_WAKE_DELAY, ns */

static struct fiber_slot *kslot(uint32_t i)
{
	return fiber_slot_at(kmap, i);
}

static _Atomic uint64_t *slot_state(uint32_t i)
{
	return (_Atomic uint64_t *)&kslot(i)->state;
}

/*
 * The header's counters are plain __u32 in the uapi, which also serves
 * C89 and the kernel; the module updates them atomically, and so they are
 * read here (gcc accepts atomic_load on a plain integer, clang rightly
 * does not).
 */
static uint32_t kshared_read(const __u32 *word)
{
	return atomic_load((const _Atomic uint32_t *)word);
}

/* The same, where a stale value only delays a hint. */
static uint32_t kshared_peek(const __u32 *word)
{
	return atomic_load_explicit((const _Atomic uint32_t *)word,
				    memory_order_relaxed);
}

/* ---- start-up ------------------------------------------------------------ */

/* Parse a duration: a number with ns (default), us, ms or s after it. */
static int parse_duration(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno)
		return -EINVAL;
	if (!*end || !strcmp(end, "ns"))
		*out = v;
	else if (!strcmp(end, "us"))
		*out = v * 1000ULL;
	else if (!strcmp(end, "ms"))
		*out = v * 1000000ULL;
	else if (!strcmp(end, "s"))
		*out = v * 1000000000ULL;
	else
		return -EINVAL;
	return 0;
}

/* Environment variable @name, if set, into *@out: a duration of at most 1s. */
static int read_env_duration(const char *name, uint64_t *out)
{
	const char *s = getenv(name);

	if (s && (parse_duration(s, out) || *out > 1000000000ULL)) {
		fprintf(stderr, "libfiber: %s=%s is not a duration of at most 1s (e.g. 20us)\n",
			name, s);
		return -EINVAL;
	}
	return 0;
}

/*
 * FIBER_HANDOFF_DELAY, FIBER_HOLD_ON_WAKE and FIBER_MAX_CARRIERS; bad
 * values are errors.  FIBER_TEST_WAKE_DELAY too, a test's (kernel_wake_m).
 */
static int kernel_read_env(void)
{
	const char *hold = getenv("FIBER_HOLD_ON_WAKE");
	const char *max = getenv("FIBER_MAX_CARRIERS");
	unsigned long v;
	char *end;

	if (read_env_duration("FIBER_HANDOFF_DELAY", &khandoff_delay) ||
	    read_env_duration("FIBER_TEST_WAKE_DELAY", &kwake_delay))
		return -EINVAL;
	if (hold) {
		if (strcmp(hold, "0") && strcmp(hold, "1")) {
			fprintf(stderr, "libfiber: FIBER_HOLD_ON_WAKE=%s is neither 0 nor 1\n",
				hold);
			return -EINVAL;
		}
		khold = hold[0] == '1';
	}
	if (max) {
		errno = 0;
		v = strtoul(max, &end, 10);
		if (!*max || *end || errno || v < 2 || v > UINT32_MAX) {
			fprintf(stderr, "libfiber: FIBER_MAX_CARRIERS=%s is not a number of threads from 2 up\n",
				max);
			return -EINVAL;
		}
		kmax_carriers = (uint32_t)v;
	}
	return 0;
}

/* Open, check and map /dev/fiber.  Return: 0 or -errno, with *why set. */
static int kernel_open(const char **why)
{
	struct fiber_info info = { .size = sizeof(info) };
	struct fiber_config cfg = { .size = sizeof(cfg) };
	int ret;

	*why = "cannot open " FIBER_DEVICE_PATH;
	kfd = open(FIBER_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		return -errno;
	*why = "FIBER_IOC_GET_INFO failed";
	if (ioctl(kfd, FIBER_IOC_GET_INFO, &info))
		goto fail_errno;
	*why = "the module speaks another ABI version";
	ret = -EPROTO;
	if (info.abi_version != FIBER_ABI_VERSION ||
	    info.slot_size != sizeof(struct fiber_slot))
		goto fail;
	*why = "the module lacks carriers or hold-on-wake";
	ret = -EOPNOTSUPP;
	if ((info.features & (FIBER_FEATURE_CARRIERS | FIBER_FEATURE_HOLD)) !=
	    (FIBER_FEATURE_CARRIERS | FIBER_FEATURE_HOLD))
		goto fail;
	/*
	 * The module always holds a claimed M: that is what makes the claim
	 * safe (kernel_claim).  FIBER_HOLD_ON_WAKE=0 is libfiber's policy:
	 * release such an M at once, without a P (kernel_release).
	 */
	cfg.flags = FIBER_CONFIG_SET_HOLD;
	cfg.hold_on_wake = 1;
	if (kmax_carriers) {
		/* At most the module's own limit. */
		cfg.flags |= FIBER_CONFIG_SET_MAX_CARRIERS;
		cfg.max_carriers = kmax_carriers < info.max_carriers ?
				   kmax_carriers : info.max_carriers;
	}
	if (info.features & FIBER_FEATURE_DELAY) {
		cfg.flags |= FIBER_CONFIG_SET_DELAY;
		cfg.handoff_delay_ns = khandoff_delay;
	}
	*why = "FIBER_IOC_CONFIGURE failed";
	if (ioctl(kfd, FIBER_IOC_CONFIGURE, &cfg))
		goto fail_errno;
	kmax = cfg.max_carriers;
	kslot_m = calloc(kmax, sizeof(*kslot_m));
	*why = "out of memory";
	ret = -ENOMEM;
	if (!kslot_m)
		goto fail;
	*why = "cannot map the shared slots";
	kmap_len = cfg.map_size;
	kmap = mmap(NULL, kmap_len, PROT_READ | PROT_WRITE, MAP_SHARED, kfd, 0);
	if (kmap == MAP_FAILED)
		goto fail_errno;
	kshared = kmap;
	*why = "the shared header is not the module's";
	ret = -EPROTO;
	if (kshared->magic != FIBER_SHARED_MAGIC)
		goto fail;
	return 0;

fail_errno:
	ret = -errno;
fail:
	if (kmap && kmap != MAP_FAILED)
		munmap(kmap, kmap_len);
	kmap = NULL;
	kshared = NULL;
	free(kslot_m);
	kslot_m = NULL;
	close(kfd);
	kfd = -1;
	return ret;
}

int kernel_init(void)
{
	const char *mode = getenv("FIBER_KERNEL"), *why;
	bool must;
	int ret;

	if (!mode || !*mode)
		mode = "auto";
	if (!strcmp(mode, "off")) {
		kernel_off_reason = "FIBER_KERNEL=off";
		return 0;
	}
	must = !strcmp(mode, "on");
	if (!must && strcmp(mode, "auto")) {
		fprintf(stderr, "libfiber: FIBER_KERNEL=%s is not one of auto, on, off\n",
			mode);
		return -EINVAL;
	}
	ret = kernel_read_env();
	if (ret)
		return ret;
	ret = kernel_open(&why);
	if (ret) {
		if (must) {
			fprintf(stderr, "libfiber: FIBER_KERNEL=on, but %s: %s\n",
				why, strerror(-ret));
			return ret;
		}
		kernel_off_reason = ret == -ENOENT ?
			"no " FIBER_DEVICE_PATH " (module not loaded)" : why;
		if (fiber_debug)
			fprintf(stderr, "libfiber: without the module (%s: %s); sysmon retakes Ps\n",
				why, strerror(-ret));
		return 0;
	}
	kernel_on = true;
	kernel_off_reason = NULL;
	return 0;
}

const void *fiber_kernel_shared(unsigned int *nr_slots)
{
	if (nr_slots)
		*nr_slots = kshared ? atomic_load(&kslot_hi) : 0;
	return kshared;
}

/* ---- carriers ------------------------------------------------------------ */

/* Said once: past the limit, every new thread would say it again. */
static void kernel_limit_reached(void)
{
	if (!atomic_exchange(&klimit_said, true))
		fprintf(stderr, "libfiber: %u threads are registered with the fiber module, its limit for this process (FIBER_MAX_CARRIERS or the max_carriers parameter): no more spares, and blocking calls past it hold their processor\n",
			kmax);
}

void kernel_register_m(struct fiber_m *m)
{
	struct fiber_register reg = { .size = sizeof(reg) };
	uint32_t hi;

	m->kslot = NULL;
	if (!kernel_on)
		return;
	if (ioctl(kfd, FIBER_IOC_REGISTER, &reg)) {
		if (errno == ENOSPC)
			kernel_limit_reached();
		else
			fprintf(stderr, "libfiber: M%d could not register with the fiber module: %s\n",
				m->id, strerror(errno));
		atomic_fetch_add(&sched.nunassisted, 1);
		return;
	}
	m->kslot_id = reg.slot;
	m->kslot = kslot(reg.slot);
	atomic_store(&kslot_m[reg.slot], m);
	hi = atomic_load(&kslot_hi);
	while (hi < reg.slot + 1 &&
	       !atomic_compare_exchange_weak(&kslot_hi, &hi, reg.slot + 1))
		;
}

/*
 * Give up @m's slot: @m's thread is ending (mexit, a spare retiring).
 *
 * A wake-up aimed at @m may still be on its way.  m_wake() sets the key
 * before its WAKE, and @m, out of its park for another reason (an event,
 * a time-out), may see the key first, take the P, run a locked fiber
 * that exits and end here, all before that WAKE reaches the module.
 * Unregistered, the WAKE would find no carrier in the slot (ESRCH, fatal
 * for the waker: lock_test's the_program_ends_while_threads_of_locked_
 * fibers_end exited 2 so, on 6.1 and the debug kernel) or, once a new M
 * took the slot, wake that one: a held M woken so goes on without a P.
 * So the slot stays ours until the waker's call has returned.  The M's
 * struct outlives its thread (sched.allm), so the waker's count is safe
 * to touch afterwards.
 */
void kernel_unregister_m(struct fiber_m *m)
{
	struct fiber_unregister unreg = { .size = sizeof(unreg) };

	if (!m->kslot)
		return;
	while (atomic_load(&m->wakes_inflight))
		sched_yield();
	atomic_store(&kslot_m[m->kslot_id], NULL);
	m->kslot = NULL;
	ioctl(kfd, FIBER_IOC_UNREGISTER, &unreg);
}

/* Wake @m, which sleeps in kernel_sleep_for_p() (m->park is set). */
void kernel_wake_m(struct fiber_m *m)
{
	struct fiber_wake w = { .size = sizeof(w), .slot = m->kslot_id };

	/*
	 * FIBER_TEST_WAKE_DELAY: wait before the WAKE, m_wake()'s key
	 * already set, so that a test meets the window that
	 * kernel_unregister_m() closes.
	 */
	if (__builtin_expect(kwake_delay != 0, 0))
		fiber_spin_ns((int64_t)kwake_delay);
	/*
	 * A carrier not parked yet keeps the wake-up owed, so its next
	 * PARK returns at once: nothing is lost in between.
	 */
	if (ioctl(kfd, FIBER_IOC_WAKE, &w))
		fiber_fatal("FIBER_IOC_WAKE of M%d: %s", m->id, strerror(errno));
}

/* ---- claim --------------------------------------------------------------- */

/*
 * A BLOCKED event for slot @ev->slot: take the blocked M's P.  Return:
 * the P, now ours to acquire, or NULL.
 */
static struct fiber_p *kernel_claim(struct fiber_m *m,
				    const struct fiber_event *ev)
{
	uint64_t old = FIBER_SLOT_WORD(FIBER_SLOT_BLOCKED, ev->seq);
	struct fiber_m *bm;
	struct fiber_p *p;
	struct fiber *g;
	uint32_t s;

	if (ev->slot >= kmax)
		return NULL;
	bm = atomic_load(&kslot_m[ev->slot]);
	if (!bm || bm == m || atomic_load(slot_state(ev->slot)) != old)
		return NULL;
	/*
	 * Read after seeing the slot BLOCKED with this sequence number,
	 * and stable until bm runs again: the CAS below fails if it did.
	 */
	g = bm->curg;
	if (!g || atomic_load_explicit(&bm->locks, memory_order_relaxed))
		return NULL;
	/*
	 * Nor while a wake-up aimed at it is in flight (m_wake): wait for
	 * the waker's ioctl to return (the event is ours alone, so it must
	 * not be dropped), as long as the block lasts.
	 */
	while (atomic_load(&bm->wakes_inflight)) {
		if (atomic_load(slot_state(ev->slot)) != old)
			return NULL;
		sched_yield();
	}
	p = bm->p;
	if (!p) {
		/*
		 * In a fiber_syscall_enter() section: its P waits in
		 * P_SYSCALL, and sysmon's retake needs no claim.  Do it now.
		 */
		p = bm->oldp;
		s = P_SYSCALL;
		if (!p || !atomic_compare_exchange_strong(&p->status, &s, P_IDLE))
			return NULL;
		atomic_fetch_add(&p->syscalltick, 1);
		atomic_fetch_add(&sched.nhandoffs, 1);
		fiber_event(handoff, TRACE_HANDOFF, p->id, bm->id);
		return p;
	}
	if (!atomic_compare_exchange_strong(slot_state(ev->slot), &old,
					    FIBER_SLOT_WORD(FIBER_SLOT_CLAIMED, ev->seq)))
		return NULL;
	/* As if bm's fiber had called fiber_syscall_enter(), and lost its P. */
	atomic_store(&g->status, FIBER_SYSCALL);
	bm->oldp = p;
	bm->p = NULL;
	kernel_set_user_word(bm, NULL);
	p->m = NULL;
	atomic_store(&p->status, P_IDLE);
	atomic_fetch_add(&p->syscalltick, 1);
	atomic_store(&bm->granting, 0);
	atomic_fetch_add(&sched.nclaims, 1);
	fiber_probe(claim, bm->id, p->id);
	if (trace_on()) {
		/* fiber.ko stamped the block before it queued the event. */
		trace_record_ns(TRACE_BLOCK, (int64_t)kslot(ev->slot)->last_block_ns,
				(uint64_t)bm->id);
		trace_record(TRACE_CLAIM, (uint64_t)bm->id, (uint64_t)p->id);
	}
	return p;
}

/* ---- grant --------------------------------------------------------------- */

/* A held M to grant a P to, with its m->granting taken; or NULL. */
static struct fiber_m *kernel_pick_waiting(void)
{
	uint32_t hi = atomic_load(&kslot_hi), start, k, i, zero;
	struct fiber_m *wm;

	if (!hi)
		return NULL;
	start = atomic_fetch_add_explicit(&kgrant_start, 1,
					  memory_order_relaxed) % hi;
	for (k = 0; k < hi; k++) {
		i = (start + k) % hi;
		if (FIBER_SLOT_STATE(atomic_load(slot_state(i))) != FIBER_SLOT_WAITING)
			continue;
		wm = atomic_load(&kslot_m[i]);
		zero = 0;
		if (!wm || !atomic_compare_exchange_strong(&wm->granting, &zero, 1))
			continue;
		/* Only a grant ends WAITING, and grants need the flag. */
		if (FIBER_SLOT_STATE(atomic_load(slot_state(i))) == FIBER_SLOT_WAITING)
			return wm;
		atomic_store(&wm->granting, 0);
	}
	return NULL;
}

/* Give @p to held M @wm, which continues its fiber when woken. */
static void kernel_give(struct fiber_m *wm, struct fiber_p *p)
{
	acquirep(wm, p);
	wm->oldp = NULL;
	atomic_store(&wm->curg->status, FIBER_RUNNING);
	atomic_fetch_add(&sched.ngrants, 1);
	fiber_probe(grant, wm->id, p->id);
	/* fiber.ko stamped the wake-up that began its hold. */
	fiber_trace(TRACE_GRANT, (uint64_t)(uint32_t)wm->id | (uint64_t)p->id << 32,
		    wm->kslot->last_wake_ns);
}

/*
 * FIBER_HOLD_ON_WAKE=0: let every held M go on at once, without a P.  Its
 * fiber is in a system-call section since the claim, so it takes a P at
 * its next scheduling point (leave_syscall), or parks without one.
 * Return: whether any was let go.
 */
static bool kernel_release(void)
{
	struct fiber_m *wm;
	bool did = false;

	while ((wm = kernel_pick_waiting())) {
		kernel_wake_m(wm);
		did = true;
	}
	return did;
}

/*
 * An idle P for a held M, if both exist (a READY event, or sysmon).
 * Return: whether one was granted.
 */
bool kernel_grant_idle(void)
{
	struct fiber_m *wm;
	struct fiber_p *p;

	if (!kernel_on || !kshared_read(&kshared->nr_waiting))
		return false;
	if (!khold)
		return kernel_release();
	if (!atomic_load(&sched.npidle) || atomic_load(&sched.gcwaiting))
		return false;
	wm = kernel_pick_waiting();
	if (!wm)
		return false;
	fiber_lock(&sched.lock);
	p = atomic_load(&sched.gcwaiting) ? NULL : pidleget();
	fiber_unlock(&sched.lock);
	if (!p) {
		atomic_store(&wm->granting, 0);
		return false;
	}
	kernel_give(wm, p);
	kernel_wake_m(wm);
	return true;
}

/*
 * Held Ms that no grant will reach.  A claim takes an M wherever its
 * fiber slept, and that may be inside the C library with one of its
 * locks held: malloc() asleep in brk() or mmap() with its arena's lock.
 * The runtime calls malloc() too, on g0 and under its own locks (a
 * copied fiber's bytes, a P's timer heap), where no spare may claim the
 * M.  So an M holding a P can sleep on that lock where nobody takes its
 * P, while the M holding the lock waits, held, for a P that only an M at
 * a scheduling point gives: each waits for the other, for ever.  Seen
 * in copystack_test on fiber.ko: main's M held after a brk() in malloc,
 * one M with a P in a futex wait for malloc's lock, the other for a
 * runtime lock the first held.
 *
 * sysmon breaks it.  While Ms wait for a P, a P whose M has slept in the
 * kernel in one block for HOLD_STALL_NS gets one of them let go without
 * a P, as FIBER_HOLD_ON_WAKE=0
 * lets every one go (kernel_release): it runs on to its next scheduling
 * point, releasing what it held, and takes a P there or parks.  The
 * mission's bound holds: the M with that P is asleep, and the M let go
 * runs holding none.  One per P and stall.  A claimable sleep is claimed
 * at once, so that P's M sleeps in a runtime lock's wait, or holding
 * one, which lasts moments unless it is this knot: a second, far past
 * the 100 ms a loaded host's vCPU may stall a lock's holder (at 10 ms,
 * runtime_stress_test on 6.12 saw 6 held Ms let go in 10 s, none of
 * them stuck for good).
 * Return: whether one was let go.
 */
static bool kernel_unstick(void)
{
	int n = atomic_load(&sched.nprocs), i;
	struct fiber_sysmon_view *v;
	struct fiber_m *m, *wm;
	struct fiber_p *p;
	int64_t now;
	uint64_t w;

	if (!khold || !kshared_read(&kshared->nr_waiting))
		return false;
	now = fiber_nanotime();
	for (i = 0; i < n; i++) {
		p = sched.allp[i];
		v = &p->sysmon;
		/* Racy, as sysmon's other looks: at worst one M goes early. */
		m = atomic_load(&p->status) == P_RUNNING ? p->m : NULL;
		w = m && m->kslot ? atomic_load(slot_state(m->kslot_id)) : 0;
		if (!w || FIBER_SLOT_STATE(w) != FIBER_SLOT_BLOCKED) {
			v->kblock = 0;
			continue;
		}
		if (w != v->kblock) {
			v->kblock = w;
			v->kblockwhen = now;
			continue;
		}
		if (now - v->kblockwhen < HOLD_STALL_NS)
			continue;
		wm = kernel_pick_waiting();
		if (!wm)
			return false;
		atomic_fetch_add(&sched.nunstuck, 1);
		if (fiber_debug)
			fprintf(stderr, "libfiber: M%d held while the M of P %d has slept %lld us in the kernel: let go without a P\n",
				wm->id, p->id, (long long)(now - v->kblockwhen) / 1000);
		v->kblockwhen = now;
		kernel_wake_m(wm);
		return true;
	}
	return false;
}

/* ---- parking ------------------------------------------------------------- */

/* A spare that slept long exits if the pool is bigger than it must be. */
static bool kernel_spare_retire(struct fiber_m *m)
{
	bool idle = false;

	if (m->id == 0 || m->lockedg ||
	    kshared_read(&kshared->nr_parked) <= (uint32_t)atomic_load(&sched.nprocs))
		return false;
	fiber_lock(&sched.lock);
	if (!atomic_load(&m->park.key) && midle_remove(m)) {
		idle = true;
		sched.mcount--;
		m->dead = true;
	}
	fiber_unlock(&sched.lock);
	if (!idle)
		return false;
	m->spare = false;
	atomic_fetch_sub(&sched.nspares, 1);
	kernel_unregister_m(m);
	atomic_fetch_add(&sched.nretired, 1);
	m_thread_exit(m);
}

/*
 * Events returned to @m, asleep without a P.  A claimed P makes it a
 * running M, so it leaves the idle list first: else an M coming back
 * from a system call could find no P, go idle, and see every M idle
 * (checkdead) while we hold one.  If startm() took it off the list
 * already, a P is on its way to it, and claimed ones go to other Ms.
 * Return: whether @m holds a P now.
 */
static bool kernel_events(struct fiber_m *m, const struct fiber_event *ev,
			  uint32_t n)
{
	struct fiber_p *p;
	bool idle;
	uint32_t i;

	fiber_lock(&sched.lock);
	idle = midle_remove(m);
	fiber_unlock(&sched.lock);
	for (i = 0; i < n; i++) {
		if (ev[i].kind == FIBER_EVENT_READY) {
			kernel_grant_idle();
			continue;
		}
		if (ev[i].kind != FIBER_EVENT_BLOCKED)
			continue;
		/* Delivered to us alone: a P we cannot run goes to another M. */
		p = kernel_claim(m, &ev[i]);
		if (p && idle && !m->p)
			acquirep(m, p);
		else if (p)
			startm(p, false);
	}
	if (m->p) {
		if (kshared_read(&kshared->nr_parked) == 0)
			sysmon_kick();
		return true;
	}
	if (idle) {
		fiber_lock(&sched.lock);
		midle_put(m);
		checkdead();
		fiber_unlock(&sched.lock);
	}
	return false;
}

/* PARK, or SWITCH to @grant_to.  Return: the events written to @ev. */
static uint32_t kernel_park(struct fiber_m *m, struct fiber_m *grant_to,
			    struct fiber_event *ev)
{
	struct fiber_switch sw = { .size = sizeof(sw) };
	struct fiber_park pk = { .size = sizeof(pk) };

	if (grant_to) {
		sw.slot = grant_to->kslot_id;
		sw.events = (uintptr_t)ev;
		sw.nr_events = KERNEL_EVENTS;
		if (!ioctl(kfd, FIBER_IOC_SWITCH, &sw))
			return sw.nr_events;
		/* EINTR, ETIMEDOUT: the wake-up went out; our park ended. */
		if (errno != EINTR && errno != ETIMEDOUT)
			fiber_fatal("FIBER_IOC_SWITCH to M%d: %s", grant_to->id,
				    strerror(errno));
		return 0;
	}
	pk.events = (uintptr_t)ev;
	pk.nr_events = KERNEL_EVENTS;
	if (m->id != 0)
		pk.timeout_ns = (uint64_t)(fiber_nanotime() + SPARE_IDLE_NS);
	if (!ioctl(kfd, FIBER_IOC_PARK, &pk))
		return pk.nr_events;
	if (errno == ETIMEDOUT)
		kernel_spare_retire(m);
	else if (errno != EINTR)
		fiber_fatal("FIBER_IOC_PARK: %s%s", strerror(errno),
			    errno == EBADF ? " (the program closed libfiber's /dev/fiber descriptor)" : "");
	return 0;
}

/*
 * Sleep in the module until a P is ours: one handed over by startm() (in
 * m->nextp, with m->park set) or one we claimed from a blocked M.  If
 * @grant_to is not NULL, first give it our P in the same call
 * (FIBER_IOC_SWITCH): whatever else happened, the held M waits for that
 * wake-up, and a wake-up owed to us just makes our park return at once.
 * On g0, without a P; on return m->p is set.  All along we are a spare,
 * counted in sched.nspares (see kernel_fill_spares), in the park or not.
 */
static void kernel_sleep(struct fiber_m *m, struct fiber_m *grant_to)
{
	struct fiber_event ev[KERNEL_EVENTS];
	uint32_t n;

	/* A new spare (newm) was counted when it was started. */
	if (!m->spare) {
		m->spare = true;
		atomic_fetch_add(&sched.nspares, 1);
	}
	for (;;) {
		if (!grant_to && atomic_load(&m->park.key)) {
			note_clear(&m->park);
			acquirep(m, m->nextp);
			m->nextp = NULL;
			break;
		}
		n = kernel_park(m, grant_to, ev);
		grant_to = NULL;
		if (n && kernel_events(m, ev, n))
			break;
	}
	m->spare = false;
	atomic_fetch_sub(&sched.nspares, 1);
}

void kernel_sleep_for_p(struct fiber_m *m)
{
	kernel_sleep(m, NULL);
}

/*
 * At a scheduling point (on g0, holding a P, no fiber): if an M is held
 * waiting for a P, give it ours and park in its place.  Return: whether
 * we did; we hold a P again either way.
 */
bool kernel_handoff(struct fiber_m *m)
{
	struct fiber_m *wm;
	struct fiber_p *p;

	if (!m->kslot || atomic_load(&sched.gcwaiting))
		return false;
	if (!khold) {
		kernel_release();
		return false;
	}
	wm = kernel_pick_waiting();
	if (!wm)
		return false;
	if (m->spinning) {
		/*
		 * find_runnable() counted us as looking for work, and a
		 * wakep() may have left it to us: let another look.
		 */
		m->spinning = false;
		atomic_fetch_sub(&sched.nmspinning, 1);
		wakep();
	}
	p = releasep(m);
	kernel_give(wm, p);
	fiber_lock(&sched.lock);
	midle_put(m);
	fiber_unlock(&sched.lock);
	kernel_sleep(m, wm);
	return true;
}

bool kernel_waiting(void)
{
	return kernel_on &&
	       kshared_peek(&kshared->nr_waiting);
}

/* ---- sysmon's part ------------------------------------------------------- */

/*
 * Start spares until fiber_maxprocs() of them exist: started and not
 * parked yet, parked, or out of the park and on their way back.
 * Return: whether it started any.
 *
 * The pool is counted by libfiber (sched.nspares), not by the module's
 * fiber_shared.nr_parked, which counts only the spares asleep in
 * FIBER_IOC_PARK at this instant.  Spares leave the park all the time
 * without leaving the pool, and any sleep outside it is a block like any
 * other carrier's:
 *
 *	spare S1				spare S2
 *	PARK returns a BLOCKED event
 *	kernel_events: fiber_lock(&sched.lock)
 *	  contended: futex wait		->	module: S1 BLOCKED, wake S2
 *						PARK returns S1's event
 *						kernel_events: fiber_lock()
 *						  futex wait -> wake S3 ...
 *
 * Each spare's block wakes the spare parked last, so one contended lock
 * (or mmap_lock, taken for writing by every clone and by a popen() of
 * another thread) empties the park while every spare is still on
 * sched.midle, about to claim nothing (an M on g0) and park again.  A
 * sysmon round in that window saw nr_parked == 0 and started want new
 * spares, whose own clones block the spares again: on a slow kernel the
 * pool grew by tens of threads a second and never came back, since a
 * spare retires only after FIBER_SPARE_IDLE_NS asleep.  Counting the
 * spares themselves, from newm() until kernel_sleep() returns with a P,
 * makes a round that falls in that window start none.
 */
bool kernel_fill_spares(void)
{
	int want = atomic_load(&sched.nprocs), have;
	bool did = false;

	if (!kernel_on)
		return false;
	have = atomic_load(&sched.nspares);
	while (have < want) {
		if (sched.mcount >= (int)kmax) {
			kernel_limit_reached();
			break;
		}
		if (newm(NULL, false))
			break;
		have++;
		did = true;
	}
	return did;
}

bool kernel_sysmon(void)
{
	static uint64_t last_pending;
	struct fiber_wake w = { .size = sizeof(w), .flags = FIBER_WAKE_ANY };
	bool did;

	if (!kernel_on)
		return false;
	did = kernel_fill_spares();
	/* Events queued twice in a row with spares parked: wake one. */
	if (kshared_read(&kshared->nr_pending) && kshared_read(&kshared->nr_parked)) {
		if (last_pending == kshared->notifications) {
			ioctl(kfd, FIBER_IOC_WAKE, &w);
			did = true;
		}
		last_pending = kshared->notifications;
	} else {
		last_pending = 0;
	}
	if (kernel_grant_idle())
		did = true;
	else if (kernel_unstick())
		did = true;
	return did;
}

/* ---- diagnostics --------------------------------------------------------- */

static const char *slot_state_name(unsigned int s)
{
	const char *name = fiber_slot_state_name(s);

	return name ? name : "?";
}

void kernel_dump(int fd)
{
	uint32_t i, hi = atomic_load(&kslot_hi);
	struct fiber_slot *s;

	if (!kernel_on) {
		dprintf(fd, "libfiber: kernel assistance off (%s)\n",
			kernel_off_reason);
		return;
	}
	dprintf(fd, "libfiber: kernel assistance on: %u carriers, %u parked, %u waiting, %llu block notifications, %llu grants, %llu held Ms let go by sysmon\n",
		kshared->nr_carriers, kshared->nr_parked, kshared->nr_waiting,
		(unsigned long long)kshared->notifications,
		(unsigned long long)kshared->grants,
		(unsigned long long)atomic_load(&sched.nunstuck));
	for (i = 0; i < hi; i++) {
		s = kslot(i);
		if (FIBER_SLOT_STATE(s->state) == FIBER_SLOT_FREE)
			continue;
		dprintf(fd, "carrier %u tid %u [%s] P%lld blocks %llu claims %llu holds %llu\n",
			i, s->tid, slot_state_name(FIBER_SLOT_STATE(s->state)),
			(long long)s->user_word - 1,
			(unsigned long long)s->blocks,
			(unsigned long long)s->claims,
			(unsigned long long)s->holds);
	}
}

void kernel_stats(struct fiber_stats *s)
{
	s->kernel = kernel_on;
	s->carriers = kernel_on ? kshared->nr_carriers : 0;
	s->kernel_spares = kernel_on ? kshared->nr_parked : 0;
	s->kernel_claims = atomic_load(&sched.nclaims);
	s->kernel_grants = atomic_load(&sched.ngrants);
	s->signal_retakes = atomic_load(&sched.nsignal_retakes);
	s->threads_retired = atomic_load(&sched.nretired);
	s->threads_unassisted = (uint32_t)atomic_load(&sched.nunassisted);
}
