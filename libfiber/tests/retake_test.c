// SPDX-License-Identifier: MIT
/*
 * Without the module (FIBER_KERNEL=off), sysmon takes the P of a thread
 * blocked in a plain system call by sending it a signal.  A handled
 * signal cuts some calls short with EINTR whatever SA_RESTART says
 * (nanosleep, poll, a socket read under SO_RCVTIMEO...), so by default
 * (FIBER_SIGNAL_RETAKE=restartable) sysmon signals only a thread blocked
 * in a call that the kernel restarts unseen, leaves the others their P
 * and counts them (signal_skips).  Each case runs on one P, with WORKERS
 * fibers queued behind the blocking one: they run during the block only
 * if its P was retaken.
 *
 * Cases: calls that would be cut short complete whole, and hold the P;
 * calls that restart (a pipe, a socket without a timeout, a pthread
 * mutex) are retaken and complete whole; =all interrupts and counts the
 * EINTRs; =off never signals; a call inside fiber_syscall_enter/exit is
 * handed off with no signal at all; the /proc files sysmon keeps for
 * threads it looked at are closed once those threads end; a bad setting
 * is an error.
 *
 * All of it is the fallback's: where the module is asked for
 * (FIBER_KERNEL=on, as fiber-vm --libfiber runs libfiber's tests on
 * fiber.ko) every case skips and says so, rather than pass on the
 * fallback in a run that claims the module.
 *
 * Under valgrind and qemu-user a signal reaches the program only at its
 * next system call, and a thread they make wait for their own locks
 * looks blocked in a futex wait, so a signal sysmon meant for a
 * restartable call can cut the next one short, or land just before it
 * (at the system call instruction, which costs nothing): there a call
 * that must not be cut short only has to be counted when it is
 * (docs/libfiber.md, "Which calls, and EINTR"), and what depends on
 * where the signal landed is not checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define WORKERS		20
#define SLEEP_MS	300
#define RELEASE_LIMIT_S	20

/* At the start of each case: skip where the module is asked for. */
#define FALLBACK_ONLY() do {						\
	const char *kernel_ = getenv("FIBER_KERNEL");			\
									\
	if (kernel_ && !strcmp(kernel_, "on"))				\
		SKIP(return, "sysmon's signal retake is the fallback's, "	\
		     "and FIBER_KERNEL=on asks for the module");		\
} while (0)

enum block {
	BLOCK_NANOSLEEP, BLOCK_USLEEP, BLOCK_POLL, BLOCK_SELECT,
	BLOCK_EPOLL, BLOCK_SOCKET_TIMEOUT,		/* cut short by a signal */
	BLOCK_PIPE, BLOCK_SOCKET, BLOCK_MUTEX,		/* restarted */
	BLOCK_NANOSLEEP_RETRY,				/* retries EINTR itself */
	BLOCK_SECTION,					/* announced */
};

static struct {
	enum block block;
	bool held;			/* its P is not expected to move */
	_Atomic int done;		/* workers finished */
	int done_at_return;
	int fds[2];			/* the pipe, or the socket pair */
	pthread_mutex_t mutex;
	int ret, err;
	int64_t took_ns;
	struct fiber_stats stats;	/* as the call returned */
} run;

/*
 * Does a signal reach us late: under valgrind (its preload is in
 * LD_PRELOAD), or under qemu-user (the kernel reports the host's number
 * for our own pread, not ours)?
 */
static bool signals_come_late(void)
{
	const char *preload = getenv("LD_PRELOAD");
	char buf[256] = "";
	long nr = -1;
	int fd;

	if (preload && strstr(preload, "vgpreload"))
		return true;
	fd = open("/proc/thread-self/syscall", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (pread(fd, buf, sizeof(buf) - 1, 0) > 0)
		nr = strtol(buf, NULL, 10);
	close(fd);
	return nr != SYS_pread64;
}

/* Under those, an EINTR is allowed if it was counted.  Return: if so. */
static bool cut_short_late(struct __test_metadata *_metadata)
{
	if (run.ret >= 0 || run.err != EINTR || !signals_come_late())
		return false;
	TH_LOG("a signal that came late cut the call short; it must be counted");
	EXPECT_GE(run.stats.signal_eintrs, 1);
	return true;
}

static void worker(void *arg)
{
	volatile unsigned long x = (unsigned long)arg;
	int i;

	for (i = 0; i < 100000; i++)
		x = x * 6364136223846793005UL + 1;
	run.done++;
}

/*
 * A plain thread, not an M: ends a block whose P should be retaken once
 * the workers are done (or after RELEASE_LIMIT_S, and the case fails),
 * and one whose P should not after SLEEP_MS, as a timeout would.
 */
static void *releaser(void *arg)
{
	int i;

	(void)arg;
	if (!run.held) {
		for (i = 0; i < RELEASE_LIMIT_S * 1000 && run.done < WORKERS; i++)
			usleep(1000);
	} else {
		usleep(SLEEP_MS * 1000);
	}
	usleep(20 * 1000);	/* let it sleep again after a retake */
	switch (run.block) {
	case BLOCK_PIPE:
	case BLOCK_SOCKET:
	case BLOCK_SOCKET_TIMEOUT:
		CHECK(write(run.fds[1], "x", 1) == 1);
		break;
	case BLOCK_MUTEX:
		CHECK(pthread_mutex_unlock(&run.mutex) == 0);
		break;
	default:
		break;
	}
	return NULL;
}

/* Block the thread, as plain C code does; ret/err say how it ended. */
static void block(void)
{
	struct timespec ts = { .tv_sec = SLEEP_MS / 1000,
			       .tv_nsec = SLEEP_MS % 1000 * 1000000L };
	struct timeval tv = { .tv_sec = 5 };
	struct epoll_event ev;
	char c;
	int ep;

	errno = 0;
	switch (run.block) {
	case BLOCK_NANOSLEEP:
	case BLOCK_SECTION:
		run.ret = nanosleep(&ts, NULL);
		break;
	case BLOCK_USLEEP:
		run.ret = usleep(SLEEP_MS * 1000);
		break;
	case BLOCK_POLL:
		run.ret = poll(NULL, 0, SLEEP_MS);
		break;
	case BLOCK_SELECT:
		tv.tv_sec = 0;
		tv.tv_usec = SLEEP_MS * 1000;
		run.ret = select(0, NULL, NULL, NULL, &tv);
		break;
	case BLOCK_EPOLL:
		ep = epoll_create1(EPOLL_CLOEXEC);
		CHECK(ep >= 0);
		run.ret = epoll_wait(ep, &ev, 1, SLEEP_MS);
		run.err = errno;
		close(ep);
		errno = run.err;
		break;
	case BLOCK_SOCKET_TIMEOUT:
		CHECK(setsockopt(run.fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
				 sizeof(tv)) == 0);
		/* fall through */
	case BLOCK_PIPE:
	case BLOCK_SOCKET:
		run.ret = (int)read(run.fds[0], &c, 1);
		break;
	case BLOCK_MUTEX:
		run.ret = pthread_mutex_lock(&run.mutex);
		CHECK(run.ret == 0);
		pthread_mutex_unlock(&run.mutex);
		break;
	case BLOCK_NANOSLEEP_RETRY:
		while ((run.ret = nanosleep(&ts, &ts)) && errno == EINTR)
			;
		break;
	}
	run.err = errno;
}

static int main_block(int argc, char **argv)
{
	pthread_t rt;
	int64_t t0;
	long i;

	(void)argc, (void)argv;
	CHECK(stats_now().kernel == 0);
	if (run.block == BLOCK_PIPE)
		CHECK(pipe(run.fds) == 0);
	if (run.block == BLOCK_SOCKET || run.block == BLOCK_SOCKET_TIMEOUT)
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, run.fds) == 0);
	pthread_mutex_init(&run.mutex, NULL);
	if (run.block == BLOCK_MUTEX)
		CHECK(pthread_mutex_lock(&run.mutex) == 0);
	/*
	 * The releaser first: sysmon looks at our thread only while work
	 * waits, and what it would see in pthread_create() is no concern.
	 */
	CHECK(pthread_create(&rt, NULL, releaser, NULL) == 0);
	/* Queued behind us on our only P. */
	for (i = 0; i < WORKERS; i++)
		CHECK(fiber_go(worker, (void *)i) == 0);
	t0 = fiber_now();
	if (run.block == BLOCK_SECTION)
		fiber_syscall_enter();
	block();
	if (run.block == BLOCK_SECTION)
		fiber_syscall_exit();
	run.took_ns = fiber_now() - t0;
	run.done_at_return = run.done;
	run.stats = stats_now();
	CHECK(pthread_join(rt, NULL) == 0);
	wait_others();
	return 0;
}

/*
 * Run @b in a child with FIBER_SIGNAL_RETAKE=@mode (NULL: the default),
 * which sends back what happened through a pipe, and log it; the test
 * checks it.  Return: whether the child ran to the end.
 */
static int report_pipe[2];

static int main_block_report(int argc, char **argv)
{
	main_block(argc, argv);
	CHECK(write(report_pipe[1], &run, sizeof(run)) == (ssize_t)sizeof(run));
	return 0;
}

static bool run_case(struct __test_metadata *_metadata, enum block b,
		     const char *mode)
{
	char err[1024];
	int status;

	memset(&run, 0, sizeof(run));
	run.block = b;
	run.held = b < BLOCK_PIPE || (mode && !strcmp(mode, "off"));
	setenv("FIBER_KERNEL", "off", 1);
	if (mode)
		setenv("FIBER_SIGNAL_RETAKE", mode, 1);
	if (pipe(report_pipe))
		return false;
	status = run_fiber_main_procs(main_block_report, 1, err, sizeof(err));
	close(report_pipe[1]);
	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("stderr: %s", err);
	if (!exited_with(status, 0))
		return false;
	EXPECT_EQ((ssize_t)sizeof(run), read(report_pipe[0], &run, sizeof(run)));
	close(report_pipe[0]);
	TH_LOG("returned %d (%s) after %lld ms, %d of %d workers done by then; signal retakes %llu, skips %llu, EINTRs %llu, handoffs %llu",
	       run.ret, run.ret < 0 ? strerror(run.err) : "ok",
	       (long long)(run.took_ns / 1000000), run.done_at_return, WORKERS,
	       (unsigned long long)run.stats.signal_retakes,
	       (unsigned long long)run.stats.signal_skips,
	       (unsigned long long)run.stats.signal_eintrs,
	       (unsigned long long)run.stats.handoffs);
	return true;
}

/*
 * A call the signal would cut short: it completes whole, the P stays
 * with it (the workers wait), and the stall is counted.  Return: whether
 * the call completed, for the caller to check its result.
 */
static bool expect_held(struct __test_metadata *_metadata, enum block b)
{
	if (!run_case(_metadata, b, NULL) || cut_short_late(_metadata))
		return false;
	EXPECT_NE(EINTR, run.err);
	EXPECT_GE(run.took_ns, SLEEP_MS * 1000000LL);
	/*
	 * Under valgrind and qemu a late signal may also land just before
	 * the call, at the system call instruction, and retake the P there:
	 * harmless, but then the rest need not hold.
	 */
	if (signals_come_late())
		return true;
	EXPECT_EQ(0, run.done_at_return);
	EXPECT_GE(run.stats.signal_skips, 1);
	EXPECT_EQ(0, run.stats.signal_retakes);
	EXPECT_EQ(0, run.stats.signal_eintrs);
	return true;
}

TEST(nanosleep_is_not_cut_short)
{
	FALLBACK_ONLY();
	if (expect_held(_metadata, BLOCK_NANOSLEEP))
		EXPECT_EQ(0, run.ret);
}

TEST(usleep_is_not_cut_short)
{
	FALLBACK_ONLY();
	if (expect_held(_metadata, BLOCK_USLEEP))
		EXPECT_EQ(0, run.ret);
}

TEST(poll_select_epoll_timeouts_are_not_cut_short)
{
	FALLBACK_ONLY();
	if (expect_held(_metadata, BLOCK_POLL))
		EXPECT_EQ(0, run.ret);
	if (expect_held(_metadata, BLOCK_SELECT))
		EXPECT_EQ(0, run.ret);
	if (expect_held(_metadata, BLOCK_EPOLL))
		EXPECT_EQ(0, run.ret);
}

TEST(a_socket_read_under_so_rcvtimeo_is_not_cut_short)
{
	FALLBACK_ONLY();
	/* The releaser's byte ends it, before the 5 s timeout. */
	if (expect_held(_metadata, BLOCK_SOCKET_TIMEOUT))
		EXPECT_EQ(1, run.ret);
}

/* A call the kernel restarts: retaken, the workers run, it completes. */
static void expect_retaken(struct __test_metadata *_metadata, enum block b)
{
	if (!run_case(_metadata, b, NULL))
		return;
	EXPECT_EQ(WORKERS, run.done_at_return);
	EXPECT_GE(run.stats.signal_retakes, 1);
	EXPECT_EQ(0, run.stats.signal_eintrs);
}

TEST(a_pipe_read_is_retaken_and_restarted)
{
	FALLBACK_ONLY();
	expect_retaken(_metadata, BLOCK_PIPE);
	EXPECT_EQ(1, run.ret);
}

TEST(a_socket_read_is_retaken_and_restarted)
{
	FALLBACK_ONLY();
	expect_retaken(_metadata, BLOCK_SOCKET);
	EXPECT_EQ(1, run.ret);
}

TEST(a_pthread_mutex_wait_is_retaken_and_restarted)
{
	FALLBACK_ONLY();
	expect_retaken(_metadata, BLOCK_MUTEX);
}

TEST(mode_all_retakes_everything_and_counts_the_eintrs)
{
	FALLBACK_ONLY();
	if (!run_case(_metadata, BLOCK_NANOSLEEP_RETRY, "all"))
		return;
	EXPECT_EQ(0, run.ret);
	EXPECT_EQ(WORKERS, run.done_at_return);
	EXPECT_GE(run.stats.signal_retakes, 1);
	/* A late signal may land before the call instead (see the top). */
	if (!signals_come_late())
		EXPECT_GE(run.stats.signal_eintrs, 1);
	EXPECT_EQ(0, run.stats.signal_skips);
}

TEST(mode_off_sends_no_signal)
{
	FALLBACK_ONLY();
	if (!run_case(_metadata, BLOCK_PIPE, "off"))
		return;
	EXPECT_EQ(1, run.ret);
	EXPECT_EQ(0, run.done_at_return);
	EXPECT_EQ(0, run.stats.signal_retakes);
	EXPECT_EQ(0, run.stats.signal_skips);
}

TEST(an_announced_call_is_handed_off_without_a_signal)
{
	FALLBACK_ONLY();
	if (!run_case(_metadata, BLOCK_SECTION, NULL) || cut_short_late(_metadata))
		return;
	EXPECT_EQ(0, run.ret);
	EXPECT_GE(run.took_ns, SLEEP_MS * 1000000LL);
	EXPECT_EQ(WORKERS, run.done_at_return);
	EXPECT_GE(run.stats.handoffs, 1);
	if (signals_come_late())
		return;
	EXPECT_EQ(0, run.stats.signal_retakes);
	EXPECT_EQ(0, run.stats.signal_eintrs);
}

/*
 * sysmon keeps a /proc file open for each M it has looked at.  An M whose
 * locked fiber exits ends its thread; its file must not stay open, or a
 * program whose locked fibers come and go runs out of fds.  Each round:
 * a fiber locks its thread and blocks in a pipe read with a worker
 * queued behind it, sysmon looks and retakes its P, the read returns and
 * the fiber exits, locked.  The files are closed within sysmon's next
 * once-a-second pass.
 */
#define ENDED_ROUNDS	10

static int open_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static void locked_reader(void *arg)
{
	char c;

	(void)arg;
	fiber_lock_thread();
	CHECK(read(run.fds[0], &c, 1) == 1);
	/* Exits locked: its thread ends. */
}

static int main_ended_threads(int argc, char **argv)
{
	uint64_t retakes;
	int round, before, after = 0, i;

	(void)argc, (void)argv;
	CHECK(stats_now().kernel == 0);
	CHECK(pipe(run.fds) == 0);
	before = open_fds();
	for (round = 0; round < ENDED_ROUNDS; round++) {
		retakes = stats_now().signal_retakes;
		CHECK(fiber_go(locked_reader, NULL) == 0);
		CHECK(fiber_go(worker, NULL) == 0);
		/* Until sysmon has looked at the reader's thread and retaken. */
		for (i = 0; i < RELEASE_LIMIT_S * 1000 &&
			    stats_now().signal_retakes == retakes; i++)
			fiber_sleep(1000000);
		CHECK(stats_now().signal_retakes > retakes);
		CHECK(write(run.fds[1], "x", 1) == 1);
		wait_others();
	}
	/*
	 * Each of those threads had a file, closed by now or within
	 * sysmon's next pass.  Live Ms may keep theirs (one or two here).
	 */
	for (i = 0; i < 100; i++) {
		after = open_fds();
		if (after - before < ENDED_ROUNDS / 2)
			break;
		fiber_sleep(50 * 1000000);
	}
	printf("# fds open: %d before, %d after %d ended threads\n", before,
	       after, ENDED_ROUNDS);
	CHECK(after - before < ENDED_ROUNDS / 2);
	return 0;
}

TEST(the_files_of_ended_threads_are_closed)
{
	FALLBACK_ONLY();
	setenv("FIBER_KERNEL", "off", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_ended_threads, 1,
						     NULL, 0), 0));
}

static int main_unreached(int argc, char **argv)
{
	(void)argc, (void)argv;
	return 1;
}

TEST(a_bad_setting_is_an_error)
{
	char err[512];

	FALLBACK_ONLY();
	setenv("FIBER_SIGNAL_RETAKE", "sometimes", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_err(main_unreached, err,
						   sizeof(err)), 99));
	EXPECT_STREQ("libfiber: FIBER_SIGNAL_RETAKE=sometimes is not one of restartable, all, off\n",
		     err);
}

TEST_HARNESS_MAIN
