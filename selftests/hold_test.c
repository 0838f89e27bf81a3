// SPDX-License-Identifier: GPL-2.0
/*
 * What stops a held carrier.  A carrier held for a grant (claim_test.c)
 * runs no user code, but it must still stop when the system stops tasks:
 * SIGSTOP, ptrace, the cgroup v2 and v1 freezers.  Any user can get a
 * thread of their own held by forging CLAIMED in their slot, so each test
 * holds a thread of a child that has become nobody, stops it from the
 * parent, lets it go, and checks that it is still held afterwards: it
 * returns only when granted, and a signal sent to it meanwhile is
 * delivered only then.  The module of before these tests held such a
 * thread in TASK_KILLABLE: no stop ever completed.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "harness_ext.h"
#include "claim_worker.h"
#include "nobody.h"

/* How long a stop may take before the test calls it never. */
#define STOP_MS		10000

static atomic_int usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_store(&usr1_seen, 1);
}

/* A child process with one thread held, and the pipes that drive it. */
struct held {
	pid_t pid;
	pid_t tid;
	int cmd;		/* write 'g': check, grant, exit 0 */
	int sent;		/* write 'u': SIGUSR1 was sent to the thread */
	bool done;		/* the child was reaped */
};

/*
 * The child: as nobody, a carrier blocks, the main thread claims it as
 * a spare would, and it is held.  On 'g' it must still be held, with
 * SIGUSR1 (if the parent sent one) not yet handled; then it is granted,
 * and SIGUSR1 must arrive.  Exit codes say which step failed.
 */
static void held_child(int cmd, int report, int sent_usr1_fd)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct fiber_map m;
	struct worker w;
	char c = 0;
	int fd;

	if (getuid() == 0 && fiber_become_nobody())
		_exit(10);
	if (sigaction(SIGUSR1, &sa, NULL))
		_exit(11);
	fd = fiber_open();
	if (fd < 0 || fiber_map(fd, &m) || worker_start(&w, fd, &m, 1))
		_exit(12);
	if (!wait_state(w.s, FIBER_SLOT_BLOCKED, STOP_MS) ||
	    !slot_claim(w.s, FIBER_SLOT_SEQ(slot_word(w.s))) ||
	    write(w.pipe[1], "x", 1) != 1 ||
	    !wait_state(w.s, FIBER_SLOT_WAITING, STOP_MS))
		_exit(13);
	if (write(report, &w.tid, sizeof(w.tid)) != sizeof(w.tid))
		_exit(14);
	if (read(cmd, &c, 1) != 1 || c != 'g')
		_exit(15);
	/* Still held, whatever happened to it meanwhile. */
	usleep(50 * 1000);
	if (slot_state(w.s) != FIBER_SLOT_WAITING ||
	    atomic_load(&w.done_rounds) || atomic_load(&usr1_seen)) {
		fprintf(stderr, "# held thread: slot state %u, %d rounds done, SIGUSR1 %s\n",
			slot_state(w.s), atomic_load(&w.done_rounds),
			atomic_load(&usr1_seen) ? "handled" : "pending");
		_exit(16);
	}
	if (fiber_wake(fd, w.slot, 0))
		_exit(17);
	if (!wait_u32((uint32_t *)&w.done_rounds, 1, STOP_MS))
		_exit(18);
	if (read(sent_usr1_fd, &c, 1) == 1 &&
	    !wait_u32((uint32_t *)&usr1_seen, 1, STOP_MS))
		_exit(19);
	_exit(worker_join(&w) ? 20 : 0);
}

/* Start a held child; 0 or -errno. */
static int held_start(struct held *h)
{
	int cmd[2], report[2], usr1[2];

	memset(h, 0, sizeof(*h));
	h->cmd = h->sent = -1;
	if (pipe(cmd) || pipe(report) || pipe(usr1))
		return -errno;
	h->pid = fork();
	if (h->pid < 0)
		return -errno;
	if (h->pid == 0) {
		close(cmd[1]);
		close(report[0]);
		close(usr1[1]);
		held_child(cmd[0], report[1], usr1[0]);
	}
	close(cmd[0]);
	close(report[1]);
	close(usr1[0]);
	h->cmd = cmd[1];
	h->sent = usr1[1];
	if (read(report[0], &h->tid, sizeof(h->tid)) != sizeof(h->tid))
		h->tid = 0;
	close(report[0]);
	return h->tid ? 0 : -ECHILD;
}

/* Let the child check and grant its carrier; its exit status, or -1. */
static int held_finish(struct held *h)
{
	int status;

	close(h->sent);		/* no more signals: the child stops looking */
	h->sent = -1;
	if (write(h->cmd, "g", 1) != 1)
		return -1;
	close(h->cmd);
	h->cmd = -1;
	if (waitpid(h->pid, &status, 0) != h->pid)
		return -1;
	h->done = true;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void held_kill(struct held *h)
{
	if (h->done)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	h->done = true;
}

/* The state letter of thread @tid of @pid in /proc, or 0. */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * The state of the held thread once it has switched out.  The module
 * marks the slot WAITING just before the thread goes to sleep, so for a
 * moment (long under TCG on a loaded host) /proc may still say R.
 */
static char settled_state(pid_t pid, pid_t tid)
{
	char st;
	int i;

	for (i = 0; i < 500 && (st = thread_state(pid, tid)) == 'R'; i++)
		usleep(10 * 1000);
	return st;
}

/* waitpid() with WNOHANG until it reports, for at most @ms. */
static pid_t wait_ms(pid_t pid, int *status, int options, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MSEC;
	pid_t r;

	do {
		r = waitpid(pid, status, options | WNOHANG);
		if (r)
			return r;
		usleep(1000);
	} while (now_ns() < end);
	return 0;
}

/* Poll file @path until it contains @want, for at most @ms. */
static bool file_has(const char *path, const char *want, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MSEC;
	char buf[512];
	ssize_t n;
	int fd;

	do {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		if (strstr(buf, want))
			return true;
		usleep(1000);
	} while (now_ns() < end);
	return false;
}

/*
 * A stop is reported (to waitpid(), or in cgroup.events) a moment before
 * the stopped thread has switched out.  One cancelled in that moment lets
 * the held thread out for a few microseconds (module/carrier.c), which a
 * test of the stop itself must not trip on: give it time to switch out.
 */
static void settle(void)
{
	usleep(100 * 1000);
}

/* Send SIGUSR1 to the held thread and tell the child it was sent. */
static int send_usr1(struct held *h)
{
	if (syscall(SYS_tgkill, h->pid, h->tid, SIGUSR1))
		return -errno;
	return write(h->sent, "u", 1) == 1 ? 0 : -EIO;
}

/* Every test starts with a child whose thread is held. */
FIXTURE(held) {
	struct held h;
};

FIXTURE_SETUP(held)
{
	/* Root's child becomes nobody (held_child()); others are already. */
	if (!geteuid())
		NEED_TO_BECOME_NOBODY();
	ASSERT_EQ(0, held_start(&self->h));
}

FIXTURE_TEARDOWN(held)
{
	if (self->h.pid > 0)
		held_kill(&self->h);
}

/*
 * Held, a thread sleeps interruptibly: it does not load the system (the
 * load average counts uninterruptible sleep).
 */
TEST_F(held, a_held_thread_does_not_count_as_load)
{
	SKIPPED_IN_SETUP();
	EXPECT_EQ('S', settled_state(self->h.pid, self->h.tid));
	EXPECT_EQ(0, held_finish(&self->h));
}

/*
 * kill -STOP stops a process whose thread is held, SIGCONT lets it go on,
 * and the thread is still held after: a plain signal sent while it was
 * held and stopped waits for the grant.
 */
TEST_F(held, sigstop_stops_a_held_thread_and_it_stays_held)
{
	struct held *h = &self->h;
	int status;

	SKIPPED_IN_SETUP();
	ASSERT_EQ(0, send_usr1(h));
	ASSERT_EQ(0, kill(h->pid, SIGSTOP));
	ASSERT_EQ(h->pid, wait_ms(h->pid, &status, WUNTRACED, STOP_MS))
		TH_LOG("SIGSTOP did not stop the process in %d ms", STOP_MS);
	EXPECT_TRUE(WIFSTOPPED(status));
	EXPECT_EQ('T', thread_state(h->pid, h->tid));
	settle();
	ASSERT_EQ(0, kill(h->pid, SIGCONT));
	EXPECT_EQ(h->pid, wait_ms(h->pid, &status, WCONTINUED, STOP_MS));
	EXPECT_EQ(0, held_finish(h));
}

/* A debugger attaches to a held thread: PTRACE_INTERRUPT stops it. */
TEST_F(held, ptrace_stops_a_held_thread_and_it_stays_held)
{
	struct held *h = &self->h;
	/* Room for any architecture's general registers. */
	unsigned long regs[64];
	struct iovec iov = { .iov_base = regs, .iov_len = sizeof(regs) };
	int status;

	SKIPPED_IN_SETUP();
	ASSERT_EQ(0, send_usr1(h));
	/* Yama's ptrace_scope 2 or 3 keeps ptrace to CAP_SYS_PTRACE, or none. */
	if (ptrace(PTRACE_SEIZE, h->tid, 0, 0)) {
		ASSERT_EQ(EPERM, errno);
		SKIP(return, "may not ptrace its own child here (kernel.yama.ptrace_scope?)");
	}
	ASSERT_EQ(0, ptrace(PTRACE_INTERRUPT, h->tid, 0, 0));
	ASSERT_EQ(h->tid, wait_ms(h->tid, &status, __WALL, STOP_MS))
		TH_LOG("PTRACE_INTERRUPT did not stop the thread in %d ms", STOP_MS);
	ASSERT_TRUE(WIFSTOPPED(status));
	EXPECT_EQ(PTRACE_EVENT_STOP, status >> 16);
	/*
	 * The debugger can look at it, as at any stopped thread: its
	 * registers, by regset (arm64 has no PTRACE_PEEKUSER: EIO).
	 */
	EXPECT_EQ(0, ptrace(PTRACE_GETREGSET, h->tid, NT_PRSTATUS, &iov));
	EXPECT_LT(0, iov.iov_len);
	ASSERT_EQ(0, ptrace(PTRACE_DETACH, h->tid, 0, 0));
	EXPECT_EQ(0, held_finish(h));
}

/*
 * Put the held child in cgroup @dir, freeze it by writing @freeze to
 * @control, see @frozen in @state, thaw it with @thaw, see @thawed; then
 * the child must find its thread still held.
 */
static void freeze_and_thaw(struct __test_metadata *_metadata, struct held *h,
			    const char *dir, const char *control,
			    const char *freeze, const char *thaw,
			    const char *state, const char *frozen,
			    const char *thawed)
{
	char path[160], pid[16];
	bool ok;

	snprintf(pid, sizeof(pid), "%d", h->pid);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	ASSERT_EQ(0, fiber_write_text(path, pid));
	snprintf(path, sizeof(path), "%s/%s", dir, control);
	ASSERT_EQ(0, fiber_write_text(path, freeze));
	snprintf(path, sizeof(path), "%s/%s", dir, state);
	ok = file_has(path, frozen, STOP_MS);
	EXPECT_TRUE(ok) TH_LOG("the cgroup was not %s in %d ms", frozen, STOP_MS);
	settle();
	snprintf(path, sizeof(path), "%s/%s", dir, control);
	EXPECT_EQ(0, fiber_write_text(path, thaw));
	snprintf(path, sizeof(path), "%s/%s", dir, state);
	EXPECT_TRUE(file_has(path, thawed, STOP_MS));
	if (ok) {
		EXPECT_EQ(0, held_finish(h));
	} else {
		held_kill(h);	/* before the cgroup goes */
	}
}

/* The cgroup v2 freezer freezes a cgroup with a held thread in it. */
TEST_F(held, cgroup_freeze_completes_with_a_held_thread)
{
	char dir[64], path[96];

	SKIPPED_IN_SETUP();
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK))
		SKIP(return, "no cgroup v2 hierarchy at /sys/fs/cgroup");
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/fiber_hold_%d", getpid());
	if (mkdir(dir, 0755))
		SKIP(return, "cannot make a cgroup: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
	if (access(path, F_OK)) {
		rmdir(dir);
		SKIP(return, "this kernel's cgroup v2 has no freezer");
	}
	freeze_and_thaw(_metadata, &self->h, dir, "cgroup.freeze", "1", "0",
			"cgroup.events", "frozen 1", "frozen 0");
	held_kill(&self->h);	/* if an assertion left it */
	EXPECT_EQ(0, rmdir(dir));
}

/*
 * The cgroup v1 freezer freezes the way system suspend does (the kernel's
 * freezer, try_to_freeze()), so it stands for suspend too, which a test
 * cannot enter.
 */
TEST_F(held, cgroup_v1_freezer_freezes_a_held_thread)
{
	char mnt[] = "/tmp/fiber_freezer_XXXXXX", dir[96];
	int err;

	SKIPPED_IN_SETUP();
	ASSERT_NE(NULL, mkdtemp(mnt));
	if (mount("freezer", mnt, "cgroup", 0, "freezer")) {
		err = errno;
		rmdir(mnt);
		SKIP(return, "cannot mount the cgroup v1 freezer: %s",
		     strerror(err));
	}
	snprintf(dir, sizeof(dir), "%s/fiber_hold", mnt);
	ASSERT_EQ(0, mkdir(dir, 0755));
	freeze_and_thaw(_metadata, &self->h, dir, "freezer.state", "FROZEN",
			"THAWED", "freezer.state", "FROZEN", "THAWED");
	held_kill(&self->h);
	EXPECT_EQ(0, rmdir(dir));
	EXPECT_EQ(0, umount(mnt));
	EXPECT_EQ(0, rmdir(mnt));
}

/* Every case holds a carrier. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
