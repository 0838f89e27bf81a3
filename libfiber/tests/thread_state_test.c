// SPDX-License-Identifier: MIT
/*
 * A locked fiber's changes to its thread stay on that thread (Go 1.10's
 * rule): a fiber locks its thread and changes its state - its working
 * directory after unshare(CLONE_FS), its UTS namespace, its signal mask -
 * then exits (or parks) while locked.  The threads started after that
 * must have the process's state, not that thread's: a new thread is a
 * copy of the one that creates it, so libfiber has such threads started
 * by a clean template thread.
 *
 * The scenario is made so that, without the template, the tainted thread
 * itself is bound to start the next M: on one P, main blocks in a
 * system-call section, sysmon hands the P to a new M (M1) to run fiber A,
 * and A, locked to M1, taints it and starts fiber B.  With main's thread
 * blocked there is no idle M, so when A exits (or parks) while locked,
 * M1 hands the P with B on it to a new M, started at that moment.  B
 * checks its own thread; then main raises fiber_maxprocs() to 4 and
 * blocks 8 fibers in system calls, so that more Ms start (from B's M if
 * it were tainted), and each of those fibers checks its thread too.
 * Last, every thread of the process is checked through /proc, where the
 * state is visible (the working directory and the UTS namespace; a
 * signal mask there is the checker's under valgrind and qemu).
 *
 * Then the template's failure: when no thread can be started, fiber_main
 * says so, and an M the template cannot start gives its P and fibers
 * back, so that the program goes on on the threads it has.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

/* The child's exit status when the host does not allow the scenario. */
#define EXIT_SKIP	4
#define LATER_FIBERS	8
#define TAINT_SIGNAL	SIGUSR2

enum taint { TAINT_CWD, TAINT_SIGMASK, TAINT_UTS };

static struct {
	enum taint taint;
	bool park;			/* A parks while locked, then exits */
	int release[2];			/* B writes it: main stops waiting */
	char orig_cwd[PATH_MAX], dir[PATH_MAX];
	char orig_host[256], orig_uts[64];
	fiber_chan_t *a_wakes;
	_Atomic pid_t a_tid;
	_Atomic int later_ok;
	_Atomic bool b_ran;
} st;

static pid_t gettid_now(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The UTS namespace of thread @tid, as /proc names it ("uts:[N]"). */
static void uts_of(pid_t tid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/ns/uts", (int)tid);
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
}

/*
 * Has the calling thread the state the process started with?  If not,
 * say so on stderr for @who (NULL: quietly).
 */
static bool thread_is_clean(const char *who)
{
	char cwd[PATH_MAX] = "?", host[256] = "?", what[2 * PATH_MAX + 64];
	sigset_t mask;

	switch (st.taint) {
	case TAINT_CWD:
		if (getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, st.orig_cwd))
			return true;
		snprintf(what, sizeof(what), "works in %s, not %s", cwd,
			 st.orig_cwd);
		break;
	case TAINT_SIGMASK:
		CHECK(pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0);
		if (!sigismember(&mask, TAINT_SIGNAL))
			return true;
		snprintf(what, sizeof(what), "blocks SIGUSR2");
		break;
	case TAINT_UTS:
		if (!gethostname(host, sizeof(host)) && !strcmp(host, st.orig_host))
			return true;
		snprintf(what, sizeof(what), "is host %s, not %s", host,
			 st.orig_host);
		break;
	}
	if (who)
		fprintf(stderr, "%s: thread %d %s\n", who, (int)gettid_now(),
			what);
	return false;
}

static void taint_my_thread(void)
{
	sigset_t set;

	switch (st.taint) {
	case TAINT_CWD:
		CHECK(unshare(CLONE_FS) == 0);
		CHECK(chdir(st.dir) == 0);
		break;
	case TAINT_SIGMASK:
		sigemptyset(&set);
		sigaddset(&set, TAINT_SIGNAL);
		CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
		break;
	case TAINT_UTS:
		if (unshare(CLONE_NEWUTS)) {
			fprintf(stderr, "unshare(CLONE_NEWUTS): %s (needs CAP_SYS_ADMIN; a threaded process cannot enter a user namespace for it)\n",
				strerror(errno));
			exit(EXIT_SKIP);
		}
		CHECK(sethostname("fiber-tainted", 13) == 0);
		break;
	}
	CHECK(!thread_is_clean(NULL));
}

static void fiber_b(void *arg)
{
	int one = 1;

	(void)arg;
	CHECK(gettid_now() != st.a_tid);
	CHECK(thread_is_clean("B, on the M started when A left its thread"));
	if (st.park)
		CHECK(fiber_chan_send(st.a_wakes, &one) == 0);
	CHECK(write(st.release[1], "x", 1) == 1);
}

static void fiber_a(void *arg)
{
	int v;

	(void)arg;
	fiber_lock_thread();
	st.a_tid = gettid_now();
	taint_my_thread();
	CHECK(fiber_go(fiber_b, NULL) == 0);
	if (st.park) {
		/* Our thread sleeps; B runs on another, started now. */
		CHECK(fiber_chan_recv(st.a_wakes, &v) == 1);
		CHECK(gettid_now() == st.a_tid);
	}
}	/* exits locked: the thread ends */

/* Blocks in a system call, so that the runtime needs another M. */
static void later(void *arg)
{
	(void)arg;
	fiber_syscall_enter();
	usleep(30 * 1000);
	fiber_syscall_exit();
	if (thread_is_clean("a fiber started after A exited"))
		st.later_ok++;
}

/*
 * Wait for B (or the watcher) to write the release pipe: in a
 * system-call section, or with @plain in a plain blocking call, which
 * only the module sees.
 */
static void wait_release_as(bool plain)
{
	struct pollfd pfd = { .fd = st.release[0], .events = POLLIN };
	int64_t t0 = fiber_now();
	int r;

	if (!plain)
		fiber_syscall_enter();
	do
		r = poll(&pfd, 1, 20000);
	while (r < 0 && errno == EINTR && fiber_now() - t0 < 20000000000LL);
	if (!plain)
		fiber_syscall_exit();
	CHECK(r == 1);
}

static void wait_release(void)
{
	wait_release_as(false);
}

/* Every thread of the process, as /proc shows it, has the first state. */
static void check_all_threads(void)
{
	char path[PATH_MAX + 64], buf[PATH_MAX];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	ssize_t n;
	int tid, seen = 0;

	CHECK(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		tid = atoi(e->d_name);
		CHECK(tid != st.a_tid);
		seen++;
		if (st.taint == TAINT_CWD) {
			snprintf(path, sizeof(path), "/proc/self/task/%d/cwd", tid);
			n = readlink(path, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = 0;
			if (strcmp(buf, st.orig_cwd))
				fprintf(stderr, "thread %d works in %s\n", tid, buf);
			CHECK(!strcmp(buf, st.orig_cwd));
		} else if (st.taint == TAINT_UTS) {
			uts_of(tid, buf, sizeof(buf));
			if (strcmp(buf, st.orig_uts))
				fprintf(stderr, "thread %d is in %s\n", tid, buf);
			CHECK(!strcmp(buf, st.orig_uts));
		}
	}
	closedir(d);
	/* main's, B's, sysmon's, the template's, and the later Ms. */
	CHECK(seen >= 4);
}

static int main_taint(int argc, char **argv)
{
	char path[64];
	int i;

	(void)argc, (void)argv;
	CHECK(getcwd(st.orig_cwd, sizeof(st.orig_cwd)));
	CHECK(gethostname(st.orig_host, sizeof(st.orig_host)) == 0);
	uts_of(gettid_now(), st.orig_uts, sizeof(st.orig_uts));
	/* Only the UTS case needs namespaces (the VM's debug kernel has none). */
	if (!st.orig_uts[0] && st.taint == TAINT_UTS) {
		fprintf(stderr, "no /proc/self/task/TID/ns/uts: a kernel without UTS namespaces\n");
		exit(EXIT_SKIP);
	}
	snprintf(st.dir, sizeof(st.dir), "/tmp/fiber-taint-XXXXXX");
	CHECK(mkdtemp(st.dir));
	CHECK(pipe(st.release) == 0);
	st.a_wakes = fiber_chan_new(sizeof(int), 0);
	CHECK(st.a_wakes);

	CHECK(fiber_go(fiber_a, NULL) == 0);
	/* Our only P goes to a new M for A once we block. */
	wait_release();
	CHECK(thread_is_clean("main, after A exited"));

	/* A's thread ends; only then is the list of threads final. */
	wait_others();
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)st.a_tid);
	for (i = 0; i < 500 && access(path, F_OK) == 0; i++)
		fiber_sleep(10 * 1000 * 1000);
	CHECK(access(path, F_OK) != 0);

	/* More Ms, started after all this. */
	CHECK(fiber_maxprocs(4) == 1);
	for (i = 0; i < LATER_FIBERS; i++)
		CHECK(fiber_go(later, NULL) == 0);
	wait_others();
	CHECK(st.later_ok == LATER_FIBERS);
	check_all_threads();
	CHECK(rmdir(st.dir) == 0);
	return 0;
}

static void run_taint(struct __test_metadata *_metadata, enum taint taint,
		      bool park)
{
	char err[2048];
	int status;

	memset(&st, 0, sizeof(st));
	st.taint = taint;
	st.park = park;
	status = run_fiber_main_procs(main_taint, 1, err, sizeof(err));
	if (exited_with(status, EXIT_SKIP))
		SKIP(return, "%.900s", err);
	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("stderr: %s", err);
}

TEST(working_directory_of_a_thread_left_locked)
{
	run_taint(_metadata, TAINT_CWD, false);
}

TEST(working_directory_of_a_thread_parked_locked)
{
	run_taint(_metadata, TAINT_CWD, true);
}

TEST(signal_mask_of_a_thread_left_locked)
{
	run_taint(_metadata, TAINT_SIGMASK, false);
}

TEST(signal_mask_of_a_thread_parked_locked)
{
	run_taint(_metadata, TAINT_SIGMASK, true);
}

TEST(uts_namespace_of_a_thread_left_locked)
{
	run_taint(_metadata, TAINT_UTS, false);
}

/* ---- when no thread can be started --------------------------------------- */

/*
 * From now on no thread of the process can start another one: clone3()
 * is "not implemented" (glibc then uses clone()), and clone() of a
 * thread fails with EAGAIN, as at the limit on threads.  Return: 0, or
 * -errno where seccomp filters cannot be set (qemu-user has none).
 */
static int forbid_threads(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};

	return seccomp_install(prog, sizeof(prog) / sizeof(prog[0]));
}

static int main_unreached(int argc, char **argv)
{
	(void)argc, (void)argv;
	return 1;
}

TEST(fiber_main_says_when_it_cannot_start_its_threads)
{
	int status, err;
	pid_t pid;

	if (test_slow())
		SKIP(return, "valgrind implements no seccomp filters");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		err = forbid_threads();
		if (err)
			_exit(EXIT_SKIP);
		err = fiber_main(main_unreached, 0, NULL);
		_exit(err == -EAGAIN ? 0 : 10 + (err < 0 ? -err : 0));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (exited_with(status, EXIT_SKIP))
		SKIP(return, "no seccomp filters here");
	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("status %#x", status);
}

/* A plain thread: releases main once an M failed to start. */
static void *watch_failures(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 20000 && stats_now().thread_create_failures == 0; i++)
		usleep(1000);
	CHECK(write(st.release[1], "x", 1) == 1);
	return NULL;
}

static void fiber_b_counts(void *arg)
{
	(void)arg;
	st.b_ran = true;
}

static void fiber_a_forbids(void *arg)
{
	(void)arg;
	fiber_lock_thread();
	st.a_tid = gettid_now();
	if (forbid_threads()) {
		fprintf(stderr, "seccomp: %s\n", strerror(errno));
		exit(EXIT_SKIP);
	}
	CHECK(fiber_go(fiber_b_counts, NULL) == 0);
}	/* exits locked: the template must start an M for B, and cannot */

static int main_template_fails(int argc, char **argv)
{
	pthread_t watcher;

	(void)argc, (void)argv;
	CHECK(pipe(st.release) == 0);
	CHECK(pthread_create(&watcher, NULL, watch_failures, NULL) == 0);
	CHECK(fiber_go(fiber_a_forbids, NULL) == 0);
	/*
	 * With the module, a plain block, which the spare claims.  In a
	 * system-call section sysmon's retake could take the P first and
	 * start an M for A (one past the carrier limit, below), leaving the
	 * spare idle for B when A exits: no thread would have to start.
	 */
	wait_release_as(stats_now().kernel);
	CHECK(stats_now().thread_create_failures >= 1);
	/* B was given back to the global queue: we run it ourselves. */
	wait_others();
	CHECK(st.b_ran);
	CHECK(pthread_join(watcher, NULL) == 0);
	return 0;
}

TEST(an_m_the_template_cannot_start_gives_its_work_back)
{
	char err[1024];
	int status;

	if (test_slow())
		SKIP(return, "valgrind implements no seccomp filters");
	memset(&st, 0, sizeof(st));
	/*
	 * With the module, sysmon keeps a spare M per P, so when A exits an
	 * idle M may well be there to run B, no thread need be started, and
	 * none fails within the watcher's 20 s (seen in the VM).  Two
	 * carriers, main's M and the one spare that claims the P when main
	 * blocks, leave none: the premise of the scenario.  Without the
	 * module the setting is ignored.
	 */
	setenv("FIBER_MAX_CARRIERS", "2", 1);
	status = run_fiber_main_procs(main_template_fails, 1, err, sizeof(err));
	unsetenv("FIBER_MAX_CARRIERS");
	if (exited_with(status, EXIT_SKIP))
		SKIP(return, "%.900s", err);
	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("stderr: %s", err);
}

TEST_HARNESS_MAIN
