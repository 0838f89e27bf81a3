// SPDX-License-Identifier: GPL-2.0
/*
 * The mission on one P: a fiber makes a plain blocking call (no wrapper,
 * no fiber_syscall_enter) right after queueing 100 fibers that compute,
 * and they must all finish while it is blocked.  Blocks: read() on a
 * pipe, nanosleep(), a page fault held by userfaultfd, flock() held by
 * another process, a contended libc mutex.  And, with the module, a held
 * M with a lock that the M holding the P needs (at the end).
 *
 * Each case runs twice: with the module (FIBER_KERNEL=on: a spare claims
 * the P at once, and the invariant sampler checks the slots all along)
 * and without it (FIBER_KERNEL=off: sysmon's signal retakes the P).
 * Without the module a page fault cannot be seen at all, as in Go, so
 * that case says SKIP there; and a signal would cut nanosleep() short,
 * so sysmon leaves it its P unless told to interrupt any call
 * (FIBER_SIGNAL_RETAKE=all, which that case sets: it retries on EINTR;
 * libfiber/tests/retake_test.c checks the default).
 *
 * A releaser thread (a plain pthread, not an M) ends the block once the
 * computing fibers are done, or after RELEASE_TIMEOUT_S, which fails the
 * test.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_check.h"
#include "uffd.h"

#define COMPUTERS		100
#define RELEASE_TIMEOUT_S	30
#define NANOSLEEP_S		3

enum block_kind { BLOCK_PIPE, BLOCK_NANOSLEEP, BLOCK_UFFD, BLOCK_FLOCK, BLOCK_MUTEX };

/* One run: lives in the child process that calls fiber_main(). */
static struct {
	enum block_kind kind;
	bool module;
	_Atomic int done;		/* computing fibers finished */
	_Atomic bool blocking;		/* the blocker is about to block */
	_Atomic bool releaser_ready;
	_Atomic bool timed_out;
	int done_at_wake;
	int eintr;			/* nanosleep() interrupted */
	int pipefd[2];
	int uffd;
	char *area;
	const char *lockpath;
	int holder_ctl;			/* a byte here makes the holder unlock */
	pthread_mutex_t mutex;
	fiber_wg_t wg;
	struct invariant inv;
} run;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void compute(void *arg)
{
	volatile uint64_t x = (uintptr_t)arg;
	long i;

	for (i = 0; i < 300000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	atomic_fetch_add(&run.done, 1);
}

static void *releaser(void *arg)
{
	double deadline = now_s() + RELEASE_TIMEOUT_S;

	(void)arg;
	if (run.kind == BLOCK_MUTEX)
		pthread_mutex_lock(&run.mutex);
	atomic_store(&run.releaser_ready, true);
	while ((!atomic_load(&run.blocking) ||
		atomic_load(&run.done) < COMPUTERS) && now_s() < deadline)
		usleep(1000);
	if (atomic_load(&run.done) < COMPUTERS)
		atomic_store(&run.timed_out, true);
	/* Let the blocker really sleep before it is released. */
	usleep(20000);
	switch (run.kind) {
	case BLOCK_PIPE:
		CHECK(write(run.pipefd[1], "x", 1) == 1);
		break;
	case BLOCK_UFFD: {
		struct uffdio_zeropage zp = {
			.range = { .start = (uintptr_t)run.area,
				   .len = (uint64_t)sysconf(_SC_PAGESIZE) },
		};

		CHECK(ioctl(run.uffd, UFFDIO_ZEROPAGE, &zp) == 0);
		break;
	}
	case BLOCK_FLOCK:
		CHECK(write(run.holder_ctl, "x", 1) == 1);
		break;
	case BLOCK_MUTEX:
		pthread_mutex_unlock(&run.mutex);
		break;
	case BLOCK_NANOSLEEP:
		break;
	}
	return NULL;
}

static void blocker(void *arg)
{
	struct timespec ts = { .tv_sec = NANOSLEEP_S };
	long i;
	int fd;
	char c;

	(void)arg;
	/* Queued behind us on our only P: they run only if we let it go. */
	for (i = 0; i < COMPUTERS; i++)
		CHECK(fiber_go(compute, (void *)i) == 0);
	fd = run.kind == BLOCK_FLOCK ? open(run.lockpath, O_RDWR) : -1;
	atomic_store(&run.blocking, true);
	switch (run.kind) {
	case BLOCK_PIPE:
		CHECK(read(run.pipefd[0], &c, 1) == 1);
		break;
	case BLOCK_NANOSLEEP:
		/*
		 * With the module nothing interrupts it.  Without, sysmon's
		 * signal does (FIBER_SIGNAL_RETAKE=all), and nanosleep()
		 * never restarts after a handled signal: retry with the
		 * time left, as POSIX asks of any program that handles
		 * signals.
		 */
		while (nanosleep(&ts, &ts)) {
			CHECK(errno == EINTR && !run.module);
			run.eintr++;
		}
		break;
	case BLOCK_UFFD:
		c = *(volatile char *)run.area;
		CHECK(c == 0);
		break;
	case BLOCK_FLOCK:
		CHECK(fd >= 0);
		CHECK(flock(fd, LOCK_EX) == 0);
		close(fd);
		break;
	case BLOCK_MUTEX:
		CHECK(pthread_mutex_lock(&run.mutex) == 0);
		pthread_mutex_unlock(&run.mutex);
		break;
	}
	run.done_at_wake = atomic_load(&run.done);
	fiber_wg_done(&run.wg);
}

/* A page whose first touch sleeps until the releaser fills it. */
static void uffd_setup(void)
{
	struct uffd_page p;

	CHECK(uffd_page_open(&p) == 0);
	run.uffd = p.uffd;
	run.area = p.area;
}

static int block_main(int argc, char **argv)
{
	struct fiber_stats s;
	pthread_t rt;

	(void)argc;
	(void)argv;
	if (run.kind == BLOCK_UFFD)
		uffd_setup();
	s = stats_now();
	CHECK(s.kernel == run.module);
	if (run.module)
		CHECK(invariant_start(&run.inv, 1));
	CHECK(pthread_create(&rt, NULL, releaser, NULL) == 0);
	while (!atomic_load(&run.releaser_ready))
		fiber_yield();
	fiber_wg_add(&run.wg, 1);
	CHECK(fiber_go(blocker, NULL) == 0);
	fiber_wg_wait(&run.wg);
	pthread_join(rt, NULL);
	wait_others();
	s = stats_now();
	fprintf(stderr, "# [%d] %d of %d computed during the block (%d EINTR); claims %llu grants %llu handoffs %llu signal retakes %llu, %u threads\n",
		getpid(), run.done_at_wake, COMPUTERS, run.eintr,
		(unsigned long long)s.kernel_claims,
		(unsigned long long)s.kernel_grants,
		(unsigned long long)s.handoffs,
		(unsigned long long)s.signal_retakes, s.threads);
	CHECK(!atomic_load(&run.timed_out));
	CHECK(run.done_at_wake == COMPUTERS);
	if (run.module) {
		CHECK(invariant_stop(&run.inv) == 0);
		CHECK(s.kernel_claims >= 1);
		CHECK(s.kernel_claims == s.kernel_grants);
	} else {
		CHECK(s.signal_retakes + s.handoffs >= 1);
	}
	return 0;
}

FIXTURE(runtime) {
	pid_t holder;
	int holder_ctl;
	char lockpath[64];
};

RUNTIME_MODES(runtime);

FIXTURE_SETUP(runtime)
{
	self->holder = -1;
	RUNTIME_MODE_SETUP();
	memset(&run, 0, sizeof(run));
	run.module = !strcmp(variant->mode, "on");
	run.uffd = -1;
	pthread_mutex_init(&run.mutex, NULL);
}

FIXTURE_TEARDOWN(runtime)
{
	if (self->holder > 0) {
		kill(self->holder, SIGKILL);
		waitpid(self->holder, NULL, 0);
	}
}

/*
 * Run the scenario on one P in a child.  Return: its wait status (0 if it
 * exited with 0).
 */
static int run_scenario(enum block_kind kind)
{
	run.kind = kind;
	return run_fiber_main_procs(block_main, 1, NULL, 0);
}

TEST_F_TIMEOUT(runtime, pipe_read, 120)
{
	SKIPPED_IN_SETUP();
	ASSERT_EQ(0, pipe(run.pipefd));
	EXPECT_EQ(0, run_scenario(BLOCK_PIPE));
}

TEST_F_TIMEOUT(runtime, nanosleep, 120)
{
	SKIPPED_IN_SETUP();
	/* The default leaves a sleep its P rather than cut it short. */
	setenv("FIBER_SIGNAL_RETAKE", "all", 1);
	EXPECT_EQ(0, run_scenario(BLOCK_NANOSLEEP));
}

TEST_F_TIMEOUT(runtime, page_fault, 120)
{
	int err;

	SKIPPED_IN_SETUP();
	if (!run.module)
		SKIP(return, "without the module a page fault is invisible to the runtime (as in Go)");
	/* The scenario sets it up in its own process: fork drops it. */
	err = uffd_probe();
	if (err)
		SKIP(return, "userfaultfd: %s", strerror(-err));
	EXPECT_EQ(0, run_scenario(BLOCK_UFFD));
}

TEST_F_TIMEOUT(runtime, flock, 120)
{
	int ready[2], ctl[2], fd;
	char c;

	SKIPPED_IN_SETUP();

	snprintf(self->lockpath, sizeof(self->lockpath), "/tmp/runtime-flock-%d",
		 getpid());
	fd = open(self->lockpath, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(ctl));
	self->holder = fork();
	ASSERT_LE(0, self->holder);
	if (self->holder == 0) {
		/* Another process holds the lock until told to let go. */
		fd = open(self->lockpath, O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX))
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(ctl[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(ctl[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	run.lockpath = self->lockpath;
	run.holder_ctl = ctl[1];
	EXPECT_EQ(0, run_scenario(BLOCK_FLOCK));
	unlink(self->lockpath);
}

TEST_F_TIMEOUT(runtime, libc_mutex, 120)
{
	SKIPPED_IN_SETUP();
	EXPECT_EQ(0, run_scenario(BLOCK_MUTEX));
}

/*
 * A held M with a lock that the M holding the P needs.  The runtime
 * calls realloc() under its own locks (a P's timer heap grows under its
 * timer lock), where no spare may claim the M; and a claim may take an
 * M inside malloc(), asleep with the arena's lock held (seen in
 * libfiber's copystack_test on fiber.ko: main's M held after a brk() in
 * malloc, the M with the P asleep on the arena's lock).  Here realloc()
 * first takes a lock of ours, as malloc's: fiber X takes it and sleeps
 * on a userfaultfd page, a spare claims the P and runs Y, whose
 * fiber_sleep() makes the P's timer heap, and realloc() sleeps on the
 * lock under the timer lock.  Once the page is filled X's M is held
 * until an M gives it a P, and the only one is asleep waiting for X:
 * without sysmon letting X's M go without a P (libfiber/kernel.c,
 * kernel_unstick), neither ever runs again.
 */
static struct {
	_Atomic bool armed;		/* realloc() takes the lock */
	_Atomic bool x_locked;		/* X holds it */
	_Atomic bool waited;		/* realloc() waited for it */
	pthread_mutex_t lock;
	struct uffd_page page;
	fiber_wg_t wg;
} held = { .lock = PTHREAD_MUTEX_INITIALIZER };

void *__real_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size);

/*
 * libfiber's realloc(): the Makefile links this program with
 * --wrap=realloc, so libfiber.a's calls come here (a definition of
 * realloc() itself would clash with a static libc's malloc.o).
 */
void *__wrap_realloc(void *ptr, size_t size)
{
	if (atomic_load(&held.armed) && atomic_load(&held.x_locked)) {
		atomic_store(&held.waited, true);
		pthread_mutex_lock(&held.lock);
		pthread_mutex_unlock(&held.lock);
	}
	return __real_realloc(ptr, size);
}

static void holds_the_lock(void *arg)
{
	(void)arg;
	CHECK(pthread_mutex_lock(&held.lock) == 0);
	atomic_store(&held.x_locked, true);
	CHECK(*(volatile char *)held.page.area == 0);
	atomic_store(&held.x_locked, false);
	CHECK(pthread_mutex_unlock(&held.lock) == 0);
	fiber_wg_done(&held.wg);
}

static void makes_a_timer(void *arg)
{
	(void)arg;
	atomic_store(&held.armed, true);
	fiber_sleep(1000000);
	atomic_store(&held.armed, false);
	fiber_wg_done(&held.wg);
}

/* A plain thread: fill the page once realloc() waits, or after 10 s. */
static void *fills_the_page(void *arg)
{
	double deadline = now_s() + 10;

	(void)arg;
	while (!atomic_load(&held.waited) && now_s() < deadline)
		usleep(1000);
	usleep(20000);
	CHECK(uffd_page_fill(&held.page, "", 0) == 0);
	return NULL;
}

/* A plain thread: a scenario still running after 20 s is stuck. */
static void *watchdog(void *arg)
{
	(void)arg;
	sleep(20);
	fprintf(stderr, "stuck for 20 s (realloc %s):\n",
		held.waited ? "waited" : "never waited");
	fiber_dump(2);
	_exit(3);
}

static int held_main(int argc, char **argv)
{
	pthread_t filler, dog;

	(void)argc, (void)argv;
	CHECK(uffd_page_open(&held.page) == 0);
	CHECK(pthread_create(&dog, NULL, watchdog, NULL) == 0);
	CHECK(pthread_create(&filler, NULL, fills_the_page, NULL) == 0);
	fiber_wg_add(&held.wg, 2);
	CHECK(fiber_go(holds_the_lock, NULL) == 0);
	/* X runs, takes the lock and sleeps; a spare takes the P to us. */
	while (!atomic_load(&held.x_locked))
		fiber_yield();
	CHECK(fiber_go(makes_a_timer, NULL) == 0);
	fiber_wg_wait(&held.wg);
	CHECK(pthread_join(filler, NULL) == 0);
	/* Else the P had a timer heap already: nothing was tested. */
	CHECK(atomic_load(&held.waited));
	return 0;
}

TEST(a_held_m_whose_lock_the_p_needs_is_let_go)
{
	char err[4096];
	int ret;

	RUNTIME_REQUIRE_MODULE();
	ret = uffd_probe();
	if (ret)
		SKIP(return, "userfaultfd: %s", strerror(-ret));
	EXPECT_TRUE(exited_with(run_fiber_main_procs(held_main, 1, err,
						     sizeof(err)), 0))
		TH_LOG("stderr: %s", err);
}

/*
 * No FIBER_NEEDS_DEVICE(): without the module its fallback variants (sysmon's retake) block the same ways,
 * and the module's cases skip one by one.
 */
TEST_HARNESS_MAIN
