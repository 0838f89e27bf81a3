// SPDX-License-Identifier: GPL-2.0
/*
 * fiber-kbench: what /dev/fiber costs, next to the plain futex wake-up it
 * competes with, measured side by side in one run.
 *
 * usage: fiber-kbench [-n ITERATIONS] [-p PASSES] [-w WARMUP] [-m MAX_CARRIERS]
 *                     [-c CONFIG]
 *
 *   -n, --iterations N  measured rounds of each benchmark (default 500)
 *   -p, --passes N      split them into N passes (default 5)
 *   -w, --warmup N      rounds run first in each pass, not counted
 *                       (default 20)
 *   -m, --max-carriers N  slots of each group (FIBER_IOC_CONFIGURE;
 *                       default: the module's default)
 *   -c, --config NAME   label of the run in the JSON line, [A-Za-z0-9._-]
 *                       (default: "smpN", plus "-idle-poll" with idle=poll)
 *
 * Benchmarks, each against its baseline:
 *
 *  block  A registered blocker takes t0 right before read() on an empty
 *         pipe; the module sees it sleep and wakes a spare parked in
 *         FIBER_IOC_PARK, which takes t1 as soon as the park returns with
 *         the FIBER_EVENT_BLOCKED event.  Baseline: thread A takes t0 and
 *         FUTEX_WAKEs thread B, which takes t1 once out of FUTEX_WAIT.
 *         Before each round the side that waits is seen asleep (state S
 *         in /proc), so every round pays for a real wake-up.
 *
 *  switch Two carriers ping-pong with FIBER_IOC_SWITCH; one round trip is
 *         two switches.  Baseline: two threads ping-pong with FUTEX_WAKE
 *         and FUTEX_WAIT on two words.
 *
 * Each pass runs the four (fresh threads, a fresh group), the baseline
 * and the module in turns, so that whatever slows the machine down for a
 * while (the host, under an emulator) weighs on both sides of a ratio.
 *
 * Nothing here claims the blocked carrier's P: the blocker comes back
 * RUNNING and is never held.  Registered threads never sleep outside the
 * measured calls (they spin with sched_yield(), which is no block), so the
 * only events are the ones measured; any other park return is counted as
 * spurious.  A round that makes no progress for STALL_S seconds ends the
 * run with the state of the slots (a lost wake-up).
 *
 * Output: a table (mean, p50, p90, p99 in ns, rounds over 1 ms, spurious
 * park returns; then the ratios fiber/futex), then one line of JSON with
 * the same numbers.  Exit 1 on any error, with a one-line message.
 *
 * Times are CLOCK_MONOTONIC, read in the threads themselves, so each
 * sample includes one clock read.  Under QEMU TCG only ratios taken in
 * the same run mean anything (docs/benchmarks.md).
 */
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <linux/futex.h>

#include "fiber_test.h"

#define PROG		"fiber-kbench"
#define STALL_S		20	/* seconds without progress: a lost wake-up */
#define STACK_SIZE	(256 * 1024)
#define NR_EVENTS	8
/* What a config name may hold: it goes into JSON and file names as is. */
#define NAME_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

static unsigned int iterations = 500, passes = 5, warmup = 20;
/* Slots per group: 0 leaves the module's default; the one used, once known. */
static unsigned int max_carriers, group_carriers;
/* Events a spare got about another slot or kind than it waited for. */
static atomic_ullong stray_events;

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint32_t load32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static long futex(uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL,
		       NULL, 0);
}

/* Sleep in FUTEX_WAIT until *@word is not 0; then clear it. */
static void futex_wait_set(uint32_t *word)
{
	while (!load32(word))
		if (futex(word, FUTEX_WAIT, 0) && errno != EAGAIN &&
		    errno != EINTR)
			die("FUTEX_WAIT: %s", strerror(errno));
	store32(word, 0);
}

static void futex_set_wake(uint32_t *word)
{
	store32(word, 1);
	if (futex(word, FUTEX_WAKE, 1) < 0)
		die("FUTEX_WAKE: %s", strerror(errno));
}

/* /proc/self/task/TID/stat of @tid, kept open: pread() re-reads it. */
static int open_stat(pid_t tid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	return fd;
}

/* Is the thread whose stat @fd is asleep (state S)? */
static bool thread_sleeping(int fd)
{
	char buf[512], *p;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void spin_until(atomic_int *v, int want)
{
	while (atomic_load(v) != want)
		sched_yield();
}

/* ---- running a benchmark: two threads and a watchdog ------------------- */

struct bench {
	const char *name;
	unsigned int rounds;	/* warm-up + measured */
	uint64_t *samples;	/* one per round */
	atomic_uint progress;	/* rounds done */
	atomic_int started;	/* threads ready to go */
	atomic_ullong spurious;	/* park returns with nothing to do */
	void (*diag)(struct bench *b);
	void *priv;
	sem_t done;
};

static void bench_init(struct bench *b, const char *name, void *priv,
		       void (*diag)(struct bench *b), unsigned int rounds)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	b->priv = priv;
	b->diag = diag;
	b->rounds = warmup + rounds + 1;
	b->samples = calloc(b->rounds, sizeof(*b->samples));
	if (!b->samples)
		die("out of memory");
	/* Touch them now: no page fault (a block) in the measured loop. */
	memset(b->samples, 0xff, b->rounds * sizeof(*b->samples));
	if (sem_init(&b->done, 0, 0))
		die("sem_init: %s", strerror(errno));
}

static pthread_t bench_thread(struct bench *b, void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	if (pthread_create(&t, &attr, fn, b))
		die("%s: pthread_create failed", b->name);
	pthread_attr_destroy(&attr);
	return t;
}

/* Wait for @n threads to post b->done; die if the rounds stop moving. */
static void bench_wait(struct bench *b, pthread_t *t, int n)
{
	unsigned int last = 0;
	time_t still = time(NULL);
	struct timespec ts;
	int i;

	for (i = 0; i < n;) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!sem_timedwait(&b->done, &ts)) {
			i++;
			continue;
		}
		if (atomic_load(&b->progress) != last) {
			last = atomic_load(&b->progress);
			still = time(NULL);
		} else if (time(NULL) - still >= STALL_S) {
			fflush(stdout);
			fprintf(stderr, PROG ": %s: no progress for %d s at round %u of %u\n",
				b->name, STALL_S, last, b->rounds);
			if (b->diag)
				b->diag(b);
			exit(1);
		}
	}
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	sem_destroy(&b->done);
}

struct stats {
	uint64_t p50, p90, p99, mean;
	unsigned int over_1ms;	/* rounds that took more than a millisecond */
	unsigned long long spurious;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v[@n]. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned int p)
{
	size_t rank = (n * p + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

/* The measured rounds of one benchmark, over all passes. */
struct series {
	uint64_t *v;
	size_t n;
	unsigned long long spurious;
};

/* Keep the measured rounds of @b (the warm-up ones are dropped). */
static void series_add(struct series *s, struct bench *b)
{
	size_t n = b->rounds - 1 - warmup;

	s->v = realloc(s->v, (s->n + n) * sizeof(*s->v));
	if (!s->v)
		die("out of memory");
	memcpy(s->v + s->n, b->samples + warmup, n * sizeof(*s->v));
	s->n += n;
	s->spurious += atomic_load(&b->spurious);
	free(b->samples);
	b->samples = NULL;
}

static struct stats series_stats(struct series *r)
{
	uint64_t sum = 0;
	struct stats s;
	size_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < r->n; i++) {
		sum += r->v[i];
		s.over_1ms += r->v[i] > MSEC;
	}
	qsort(r->v, r->n, sizeof(*r->v), cmp_u64);
	s.p50 = percentile(r->v, r->n, 50);
	s.p90 = percentile(r->v, r->n, 90);
	s.p99 = percentile(r->v, r->n, 99);
	s.mean = sum / r->n;
	s.spurious = r->spurious;
	free(r->v);
	r->v = NULL;
	return s;
}

/* ---- a fiber group -------------------------------------------------------- */

struct group {
	int fd;
	struct fiber_map map;
	uint32_t slot[2];
	pid_t tid[2];
};

static void group_open(struct group *g)
{
	int ret;

	struct fiber_config cfg;

	memset(g, 0, sizeof(*g));
	g->fd = fiber_open();
	if (g->fd < 0)
		die("%s: %s", FIBER_DEVICE_PATH, strerror(-g->fd));
	ret = fiber_configure(g->fd, max_carriers ? FIBER_CONFIG_SET_MAX_CARRIERS : 0,
			      0, 0, max_carriers, &cfg);
	if (ret)
		die("FIBER_IOC_CONFIGURE (max_carriers %u): %s", max_carriers,
		    strerror(-ret));
	group_carriers = cfg.max_carriers;
	ret = fiber_map(g->fd, &g->map);
	if (ret)
		die("mapping the group: %s", strerror(-ret));
}

static void group_close(struct group *g)
{
	munmap(g->map.base, g->map.size);
	close(g->fd);
}

static void group_register(struct group *g, int i, const char *who)
{
	int ret = fiber_register(g->fd, 0, &g->slot[i]);

	if (ret)
		die("%s: FIBER_IOC_REGISTER: %s", who, strerror(-ret));
	__atomic_store_n(&g->tid[i], gettid_(), __ATOMIC_RELEASE);
}

static void group_unregister(struct group *g, const char *who)
{
	int ret = fiber_unregister(g->fd);

	if (ret)
		die("%s: FIBER_IOC_UNREGISTER: %s", who, strerror(-ret));
}

static const char *state_name(unsigned int state)
{
	static const char *const names[] = {
		"FREE", "RUNNING", "BLOCKED", "CLAIMED", "WAITING", "PARKED",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

static void group_diag(struct group *g, const char *const who[2])
{
	struct fiber_shared *h = g->map.hdr;
	int i;

	for (i = 0; i < 2; i++) {
		struct fiber_slot *s = fiber_slot_of(&g->map, g->slot[i]);
		uint64_t w = slot_word(s);

		fprintf(stderr, "  %s: slot %u %s seq %llu, blocks %llu, wakeups %llu\n",
			who[i], g->slot[i], state_name(FIBER_SLOT_STATE(w)),
			(unsigned long long)FIBER_SLOT_SEQ(w),
			(unsigned long long)s->blocks,
			(unsigned long long)s->wakeups);
	}
	fprintf(stderr, "  group: %u parked, %u pending, %llu notifications\n",
		shared_u32(&h->nr_parked), shared_u32(&h->nr_pending),
		(unsigned long long)h->notifications);
}

/* ---- block -> spare running, with the module ------------------------------ */

struct block_fiber {
	struct group g;		/* slot[0]: the spare, slot[1]: the blocker */
	int pipe[2];
	int spare_stat;		/* the spare's /proc stat, for the blocker */
	uint32_t armed;		/* round + 1 the blocker is blocking for */
	uint64_t t0;
};

static const char *const block_who[2] = { "spare", "blocker" };

static void *block_spare(void *arg)
{
	struct bench *b = arg;
	struct block_fiber *f = b->priv;
	struct fiber_event ev[NR_EVENTS];
	unsigned int r = 0;
	uint32_t nr, i;
	uint64_t t1;
	bool mine;
	int ret;

	group_register(&f->g, 0, "spare");
	atomic_fetch_add(&b->started, 1);
	spin_until(&b->started, 2);
	while (r < b->rounds) {
		nr = NR_EVENTS;
		ret = fiber_park_ms(f->g.fd, 0, ev, &nr);
		t1 = now_ns();
		if (ret)
			die("spare: FIBER_IOC_PARK: %s", strerror(-ret));
		mine = false;
		for (i = 0; i < nr; i++) {
			if (ev[i].slot == f->g.slot[1] &&
			    ev[i].kind == FIBER_EVENT_BLOCKED)
				mine = true;
			else
				atomic_fetch_add(&stray_events, 1);
		}
		if (!mine || load32(&f->armed) != r + 1) {
			/* A wake-up with no event, or a block before read(). */
			atomic_fetch_add(&b->spurious, 1);
			continue;
		}
		b->samples[r] = t1 - __atomic_load_n(&f->t0, __ATOMIC_ACQUIRE);
		store32(&f->armed, 0);
		atomic_store(&b->progress, ++r);
		/* Feed the pipe: the blocker runs again, RUNNING (no claim). */
		if (write(f->pipe[1], "x", 1) != 1)
			die("spare: write: %s", strerror(errno));
	}
	group_unregister(&f->g, "spare");
	sem_post(&b->done);
	return NULL;
}

static void *block_blocker(void *arg)
{
	struct bench *b = arg;
	struct block_fiber *f = b->priv;
	struct fiber_shared *h = f->g.map.hdr;
	unsigned int r;
	char c;

	group_register(&f->g, 1, "blocker");
	atomic_fetch_add(&b->started, 1);
	spin_until(&b->started, 2);
	for (r = 0; r < b->rounds; r++) {
		/* The spare is parked and asleep, not on its way there. */
		while (shared_u32(&h->nr_parked) != 1 ||
		       !thread_sleeping(f->spare_stat))
			sched_yield();
		__atomic_store_n(&f->t0, now_ns(), __ATOMIC_RELEASE);
		store32(&f->armed, r + 1);
		if (read(f->pipe[0], &c, 1) != 1)
			die("blocker: read: %s", strerror(errno));
	}
	group_unregister(&f->g, "blocker");
	sem_post(&b->done);
	return NULL;
}

static void block_fiber_diag(struct bench *b)
{
	struct block_fiber *f = b->priv;

	fprintf(stderr, "  blocker armed for round %u\n", load32(&f->armed));
	group_diag(&f->g, block_who);
}

static void run_block_fiber(struct series *out, unsigned int rounds)
{
	struct bench bench, *b = &bench;
	struct block_fiber f = { 0 };
	pthread_t t[2];

	group_open(&f.g);
	if (pipe(f.pipe))
		die("pipe: %s", strerror(errno));
	bench_init(b, "block/fiber", &f, block_fiber_diag, rounds);
	t[0] = bench_thread(b, block_spare);
	while (!__atomic_load_n(&f.g.tid[0], __ATOMIC_ACQUIRE))
		sched_yield();
	/* Opened here, unregistered: opening may sleep. */
	f.spare_stat = open_stat(f.g.tid[0]);
	t[1] = bench_thread(b, block_blocker);
	bench_wait(b, t, 2);
	close(f.spare_stat);
	close(f.pipe[0]);
	close(f.pipe[1]);
	group_close(&f.g);
	series_add(out, b);
}

/* ---- block -> spare running, the futex baseline --------------------------- */

struct block_futex {
	uint32_t wake;		/* the waiter sleeps on it */
	uint32_t back;		/* the waker sleeps on it until the round ends */
	uint32_t ready;		/* round + 1 the waiter waits for */
	pid_t waiter_tid;
	int waiter_stat;
	uint64_t t0;
};

static void *block_futex_waiter(void *arg)
{
	struct bench *b = arg;
	struct block_futex *f = b->priv;
	unsigned int r;
	uint64_t t1;

	__atomic_store_n(&f->waiter_tid, gettid_(), __ATOMIC_RELEASE);
	for (r = 0; r < b->rounds; r++) {
		store32(&f->ready, r + 1);
		futex_wait_set(&f->wake);
		t1 = now_ns();
		b->samples[r] = t1 - __atomic_load_n(&f->t0, __ATOMIC_ACQUIRE);
		atomic_store(&b->progress, r + 1);
		futex_set_wake(&f->back);
	}
	sem_post(&b->done);
	return NULL;
}

static void *block_futex_waker(void *arg)
{
	struct bench *b = arg;
	struct block_futex *f = b->priv;
	unsigned int r;

	for (r = 0; r < b->rounds; r++) {
		while (load32(&f->ready) != r + 1 ||
		       !thread_sleeping(f->waiter_stat))
			sched_yield();
		__atomic_store_n(&f->t0, now_ns(), __ATOMIC_RELEASE);
		futex_set_wake(&f->wake);
		futex_wait_set(&f->back);
	}
	sem_post(&b->done);
	return NULL;
}

static void run_block_futex(struct series *out, unsigned int rounds)
{
	struct bench bench, *b = &bench;
	struct block_futex f = { 0 };
	pthread_t t[2];

	bench_init(b, "block/futex", &f, NULL, rounds);
	t[0] = bench_thread(b, block_futex_waiter);
	while (!__atomic_load_n(&f.waiter_tid, __ATOMIC_ACQUIRE))
		sched_yield();
	f.waiter_stat = open_stat(f.waiter_tid);
	t[1] = bench_thread(b, block_futex_waker);
	bench_wait(b, t, 2);
	close(f.waiter_stat);
	series_add(out, b);
}

/*
 * ---- switch round trip, with the module ---------------------------------
 *
 * Round trip r: the pinger sets turn to 2r + 1 and switches to the ponger,
 * which sets it to 2r + 2 and switches back.  Each side checks the turn
 * when it wakes: a return with the turn unchanged is spurious (the side
 * parks again), so a switch that does not wake its target is seen as a
 * stall, not as a fast round trip.  Both pass an events buffer, as a
 * runtime would, so that an unexpected event is taken (and counted), not
 * left queued to make every later park return at once.  A sample is the
 * time from the start of one round trip to the start of the next.
 */
struct switch_fiber {
	struct group g;		/* slot[0]: the pinger, slot[1]: the ponger */
	uint32_t turn;
	uint32_t stop;
};

static const char *const switch_who[2] = { "pinger", "ponger" };

static void *switch_pinger(void *arg)
{
	struct bench *b = arg;
	struct switch_fiber *f = b->priv;
	struct fiber_event ev[NR_EVENTS];
	struct fiber_slot *pong;
	uint64_t t, prev = 0;
	unsigned int r;
	uint32_t nr;
	int ret;

	group_register(&f->g, 0, "pinger");
	atomic_fetch_add(&b->started, 1);
	spin_until(&b->started, 2);
	pong = fiber_slot_of(&f->g.map, f->g.slot[1]);
	while (slot_state(pong) != FIBER_SLOT_PARKED)
		sched_yield();
	for (r = 0; r < b->rounds; r++) {
		t = now_ns();
		if (r)
			b->samples[r - 1] = t - prev;
		prev = t;
		store32(&f->turn, 2 * r + 1);
		nr = NR_EVENTS;
		ret = fiber_switch_ms(f->g.fd, f->g.slot[1], 0, ev, &nr);
		atomic_fetch_add(&stray_events, nr);
		while (!ret && load32(&f->turn) != 2 * r + 2) {
			atomic_fetch_add(&b->spurious, 1);
			nr = NR_EVENTS;
			ret = fiber_park_ms(f->g.fd, 0, ev, &nr);
			atomic_fetch_add(&stray_events, nr);
		}
		if (ret)
			die("pinger: FIBER_IOC_SWITCH: %s", strerror(-ret));
		atomic_store(&b->progress, r + 1);
	}
	store32(&f->stop, 1);
	ret = fiber_wake(f->g.fd, f->g.slot[1], 0);
	if (ret)
		die("pinger: FIBER_IOC_WAKE: %s", strerror(-ret));
	group_unregister(&f->g, "pinger");
	sem_post(&b->done);
	return NULL;
}

static void *switch_ponger(void *arg)
{
	struct bench *b = arg;
	struct switch_fiber *f = b->priv;
	struct fiber_event ev[NR_EVENTS];
	uint32_t nr = NR_EVENTS, turn;
	int ret;

	group_register(&f->g, 1, "ponger");
	atomic_fetch_add(&b->started, 1);
	spin_until(&b->started, 2);
	ret = fiber_park_ms(f->g.fd, 0, ev, &nr);
	for (;;) {
		if (ret)
			die("ponger: FIBER_IOC_PARK/SWITCH: %s", strerror(-ret));
		atomic_fetch_add(&stray_events, nr);
		if (load32(&f->stop))
			break;
		turn = load32(&f->turn);
		nr = NR_EVENTS;
		if (turn & 1) {
			store32(&f->turn, turn + 1);
			ret = fiber_switch_ms(f->g.fd, f->g.slot[0], 0, ev, &nr);
		} else {
			atomic_fetch_add(&b->spurious, 1);
			ret = fiber_park_ms(f->g.fd, 0, ev, &nr);
		}
	}
	group_unregister(&f->g, "ponger");
	sem_post(&b->done);
	return NULL;
}

static void switch_fiber_diag(struct bench *b)
{
	struct switch_fiber *f = b->priv;
	uint32_t turn = load32(&f->turn);

	fprintf(stderr, "  turn %u: the %s should be running\n", turn,
		turn & 1 ? "ponger" : "pinger");
	group_diag(&f->g, switch_who);
}

static void run_switch_fiber(struct series *out, unsigned int rounds)
{
	struct bench bench, *b = &bench;
	struct switch_fiber f = { 0 };
	pthread_t t[2];

	group_open(&f.g);
	bench_init(b, "switch/fiber", &f, switch_fiber_diag, rounds);
	t[0] = bench_thread(b, switch_pinger);
	t[1] = bench_thread(b, switch_ponger);
	bench_wait(b, t, 2);
	group_close(&f.g);
	series_add(out, b);
}

/* ---- switch round trip, the futex baseline -------------------------------- */

struct switch_futex {
	uint32_t ping, pong, stop;
};

static void *switch_futex_pinger(void *arg)
{
	struct bench *b = arg;
	struct switch_futex *f = b->priv;
	uint64_t t, prev = 0;
	unsigned int r;

	for (r = 0; r < b->rounds; r++) {
		t = now_ns();
		if (r)
			b->samples[r - 1] = t - prev;
		prev = t;
		futex_set_wake(&f->pong);
		futex_wait_set(&f->ping);
		atomic_store(&b->progress, r + 1);
	}
	store32(&f->stop, 1);
	futex_set_wake(&f->pong);
	sem_post(&b->done);
	return NULL;
}

static void *switch_futex_ponger(void *arg)
{
	struct bench *b = arg;
	struct switch_futex *f = b->priv;

	for (;;) {
		futex_wait_set(&f->pong);
		if (load32(&f->stop))
			break;
		futex_set_wake(&f->ping);
	}
	sem_post(&b->done);
	return NULL;
}

static void run_switch_futex(struct series *out, unsigned int rounds)
{
	struct bench bench, *b = &bench;
	struct switch_futex f = { 0 };
	pthread_t t[2];

	bench_init(b, "switch/futex", &f, NULL, rounds);
	t[1] = bench_thread(b, switch_futex_ponger);
	t[0] = bench_thread(b, switch_futex_pinger);
	bench_wait(b, t, 2);
	series_add(out, b);
}

/* ---- main ------------------------------------------------------------------ */

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static void print_header(const char *title)
{
	printf("%-38s %9s %9s %9s %9s %6s %8s\n", title, "mean", "p50",
	       "p90", "p99", ">1ms", "spurious");
}

static void print_row(const char *label, const struct stats *s, bool fiber)
{
	printf("  %-36s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %6u",
	       label, s->mean, s->p50, s->p90, s->p99, s->over_1ms);
	if (fiber)
		printf(" %8llu", s->spurious);
	printf("\n");
}

static void print_ratio(const struct stats *a, const struct stats *b)
{
	printf("  %-36s %9.2f %9.2f %9.2f %9.2f\n", "ratio fiber/futex",
	       ratio(a->mean, b->mean), ratio(a->p50, b->p50),
	       ratio(a->p90, b->p90), ratio(a->p99, b->p99));
}

/* The JSON line: flat, one key per number. */
static const char *json_sep = "{";

static void json_str(const char *key, const char *v)
{
	printf("%s\"%s\":\"%s\"", json_sep, key, v);
	json_sep = ",";
}

static void json_u64(const char *key, uint64_t v)
{
	printf("%s\"%s\":%" PRIu64, json_sep, key, v);
	json_sep = ",";
}

static void json_ratio(const char *key, uint64_t a, uint64_t b)
{
	printf("%s\"%s\":%.3f", json_sep, key, ratio(a, b));
	json_sep = ",";
}

static void json_stats(const char *prefix, const struct stats *s, bool fiber)
{
	char key[64];

	snprintf(key, sizeof(key), "%s_p50_ns", prefix);
	json_u64(key, s->p50);
	snprintf(key, sizeof(key), "%s_p90_ns", prefix);
	json_u64(key, s->p90);
	snprintf(key, sizeof(key), "%s_p99_ns", prefix);
	json_u64(key, s->p99);
	snprintf(key, sizeof(key), "%s_mean_ns", prefix);
	json_u64(key, s->mean);
	snprintf(key, sizeof(key), "%s_over_1ms", prefix);
	json_u64(key, s->over_1ms);
	if (fiber) {
		snprintf(key, sizeof(key), "%s_spurious", prefix);
		json_u64(key, s->spurious);
	}
}

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: " PROG " [-n ITERATIONS] [-p PASSES] [-w WARMUP] [-m MAX_CARRIERS] [-c CONFIG]\n");
	exit(status);
}

static unsigned int parse_count(const char *s, unsigned int min)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < min || v > 10000000)
		die("bad count '%s'", s);
	return v;
}

/* "poll" if the kernel runs with idle=poll, else "default". */
static const char *idle_mode(void)
{
	static char cmdline[4096];
	FILE *f = fopen("/proc/cmdline", "r");
	const char *p;

	if (!f)
		return "unknown";
	if (!fgets(cmdline, sizeof(cmdline), f))
		cmdline[0] = '\0';
	fclose(f);
	for (p = cmdline; (p = strstr(p, "idle=")); p += 5)
		if ((p == cmdline || p[-1] == ' ') && !strncmp(p + 5, "poll", 4))
			return "poll";
	return "default";
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, 'n' },
		{ "passes", required_argument, NULL, 'p' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "max-carriers", required_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fiber_info info = { .size = sizeof(info) };
	struct series rbfu = { 0 }, rbfi = { 0 }, rsfu = { 0 }, rsfi = { 0 };
	struct stats bfu, bfi, sfu, sfi;
	unsigned int pass, rounds;
	char config[128] = "";
	const char *idle;
	struct utsname u;
	long cpus;
	int fd, opt;

	while ((opt = getopt_long(argc, argv, "n:p:w:m:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			iterations = parse_count(optarg, 1);
			break;
		case 'p':
			passes = parse_count(optarg, 1);
			break;
		case 'w':
			warmup = parse_count(optarg, 0);
			break;
		case 'm':
			max_carriers = parse_count(optarg, 2);
			break;
		case 'c':
			if (!*optarg || strlen(optarg) >= sizeof(config) ||
			    strspn(optarg, NAME_CHARS) != strlen(optarg))
				die("bad config name '%s'", optarg);
			strcpy(config, optarg);
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	if (passes > iterations)
		passes = iterations;

	fd = fiber_open();
	if (fd == -ENOENT)
		die("%s is missing: the fiber module is not loaded",
		    FIBER_DEVICE_PATH);
	if (fd < 0)
		die("%s: %s", FIBER_DEVICE_PATH, strerror(-fd));
	if (fiber_sys(fd, FIBER_IOC_GET_INFO, &info))
		die("FIBER_IOC_GET_INFO: %s", strerror(errno));
	close(fd);
	if (!(info.features & FIBER_FEATURE_CARRIERS))
		die("the module has no carriers (features 0x%llx)",
		    (unsigned long long)info.features);
	group_carriers = max_carriers ? max_carriers : info.max_carriers;

	uname(&u);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	idle = idle_mode();
	if (!config[0])
		snprintf(config, sizeof(config), "smp%ld%s", cpus,
			 strcmp(idle, "poll") ? "" : "-idle-poll");
	/* Best effort: no page fault of code or data in a measured call. */
	mlockall(MCL_CURRENT);

	printf("fiber-kbench: %s, %s %s, %ld CPUs, idle=%s\n", config,
	       u.sysname, u.release, cpus, idle);
	printf("%u rounds of each, in %u passes after %u warm-up rounds each; CLOCK_MONOTONIC\n",
	       iterations, passes, warmup);
	printf("groups of %u slots (max_carriers)\n\n", group_carriers);

	for (pass = 0; pass < passes; pass++) {
		rounds = iterations / passes + (pass < iterations % passes);
		/* Every other pass, the module goes first. */
		if (pass & 1) {
			run_block_fiber(&rbfi, rounds);
			run_block_futex(&rbfu, rounds);
			run_switch_fiber(&rsfi, rounds);
			run_switch_futex(&rsfu, rounds);
		} else {
			run_block_futex(&rbfu, rounds);
			run_block_fiber(&rbfi, rounds);
			run_switch_futex(&rsfu, rounds);
			run_switch_fiber(&rsfi, rounds);
		}
	}
	bfu = series_stats(&rbfu);
	bfi = series_stats(&rbfi);
	sfu = series_stats(&rsfu);
	sfi = series_stats(&rsfi);

	print_header("block -> other thread running (ns)");
	print_row("fiber: blocker read(), spare parked", &bfi, true);
	print_row("futex: FUTEX_WAKE, waiter in WAIT", &bfu, false);
	print_ratio(&bfi, &bfu);
	printf("\n");
	print_header("switch round trip (ns)");
	print_row("fiber: FIBER_IOC_SWITCH ping-pong", &sfi, true);
	print_row("futex: FUTEX_WAKE + FUTEX_WAIT", &sfu, false);
	print_ratio(&sfi, &sfu);
	if (atomic_load(&stray_events))
		printf("  note: %llu unexpected events (blocks outside the measured calls)\n",
		       atomic_load(&stray_events));
	printf("\n");

	json_str("bench", "kbench");
	json_str("config", config);
	json_str("kernel", u.release);
	json_u64("cpus", cpus);
	json_str("idle", idle);
	json_u64("iterations", iterations);
	json_u64("passes", passes);
	json_u64("warmup", warmup);
	json_u64("max_carriers", group_carriers);
	json_stats("block_wake", &bfi, true);
	json_stats("futex_wake", &bfu, false);
	json_ratio("block_wake_ratio_p50", bfi.p50, bfu.p50);
	json_stats("switch_rt", &sfi, true);
	json_stats("futex_rt", &sfu, false);
	json_u64("switch_rt_ns", sfi.mean);
	json_u64("futex_rt_ns", sfu.mean);
	json_ratio("switch_rt_ratio", sfi.mean, sfu.mean);
	json_ratio("switch_rt_ratio_p50", sfi.p50, sfu.p50);
	json_u64("stray_events", atomic_load(&stray_events));
	printf("}\n");
	return 0;
}
