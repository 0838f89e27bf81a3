// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetimes: threads and processes that exit while registered, execve(),
 * closing the group under parked and held carriers, and module removal
 * while anything lives.
 */
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "harness_ext.h"
#include "group_fixture.h"
#include "nobody.h"
#include "uffd.h"

/*
 * After execve(): this same program, run again with "--after-exec FD".
 * glibc passes argc and argv to constructors, so this runs before the
 * harness's main().
 */
static int after_exec(int fd)
{
	struct fiber_info info = { .size = sizeof(info) };
	int fresh;

	if (count_ebadfd(fd) != 7)
		return 10;
	if (ioctl(fd, FIBER_IOC_GET_INFO, &info))
		return 11;
	/* The thread's carrier from before execve() is inert; it goes away
	 * when the thread registers with a new group. */
	fresh = fiber_open();
	if (fresh < 0)
		return 12;
	if (fiber_register(fresh, 0, NULL))
		return 13;
	if (fiber_unregister(fresh))
		return 14;
	return 0;
}

static void __attribute__((constructor)) after_exec_mode(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--after-exec"))
		exit(after_exec(atoi(argv[2])));
}

/* A carrier that blocks in read() on a pipe. */
struct reader {
	int fd;
	int pipe[2];
	uint32_t slot;
	atomic_int registered;
	atomic_int returned;
	atomic_int release;
	pthread_t thread;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char c;

	if (fiber_register(r->fd, 0, &r->slot))
		return (void *)1;
	atomic_store(&r->registered, 1);
	if (read(r->pipe[0], &c, 1) != 1)
		return (void *)2;
	atomic_store(&r->returned, 1);
	while (!atomic_load(&r->release))
		usleep(1000);
	return NULL;
}

static int reader_start(struct reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	if (pipe(r->pipe) || pthread_create(&r->thread, NULL, reader_main, r))
		return -1;
	while (!atomic_load(&r->registered))
		usleep(100);
	return 0;
}

struct parker {
	int fd;
	int ret;
	uint32_t slot;
	uint64_t ms;
	int forever;		/* park again whenever woken */
	atomic_int done;
};

static void *parker_main(void *arg)
{
	struct parker *p = arg;
	struct fiber_event ev[8];
	uint32_t nr;

	if (fiber_register(p->fd, 0, &p->slot))
		return (void *)1;
	do {
		nr = 8;
		p->ret = fiber_park_ms(p->fd, p->ms, ev, &nr);
	} while (p->forever);
	atomic_store(&p->done, 1);
	return NULL;
}

static void *register_and_exit(void *arg)
{
	return (void *)(intptr_t)fiber_register(*(int *)arg, 0, NULL);
}

TEST_F(group, a_thread_that_exits_registered_frees_its_slot)
{
	pthread_t t;
	void *ret;
	int i;

	for (i = 0; i < 20; i++) {
		ASSERT_EQ(0, pthread_create(&t, NULL, register_and_exit, &self->fd));
		pthread_join(t, &ret);
		ASSERT_EQ(NULL, ret);
	}
	/* Freed after the thread's last switch, off the scheduler path. */
	EXPECT_TRUE(wait_u32(&self->map.hdr->nr_carriers, 0, 5000));
	EXPECT_EQ(FIBER_SLOT_FREE, slot_state(fiber_slot_of(&self->map, 0)));
	EXPECT_EQ(0, fiber_register(self->fd, 0, NULL));
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

static uint32_t nr_groups(void)
{
	struct fiber_info info = { .size = sizeof(info) };
	int fd = fiber_open();

	if (fd < 0 || ioctl(fd, FIBER_IOC_GET_INFO, &info))
		return ~0u;
	close(fd);
	return info.nr_groups - 1;
}

TEST(a_process_that_exits_with_parked_blocked_and_held_carriers)
{
	uint32_t before;
	int status;
	pid_t pid;

	before = nr_groups();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct parker p = { .ms = 0, .forever = 1 };
		struct reader blocked, held;
		struct fiber_map m;
		struct fiber_slot *s;
		pthread_t t;
		int fd = fiber_open();

		if (fd < 0 || fiber_map(fd, &m))
			_exit(1);
		p.fd = fd;
		if (pthread_create(&t, NULL, parker_main, &p) ||
		    reader_start(&blocked, fd) || reader_start(&held, fd))
			_exit(2);
		s = fiber_slot_of(&m, held.slot);
		while (slot_state(s) != FIBER_SLOT_BLOCKED)
			usleep(100);
		slot_claim(s, FIBER_SLOT_SEQ(slot_word(s)));
		if (write(held.pipe[1], "x", 1) != 1)
			_exit(3);
		while (slot_state(s) != FIBER_SLOT_WAITING ||
		       shared_u32(&m.hdr->nr_parked) != 1)
			usleep(100);
		exit(0);	/* every thread dies with the process */
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* Its group goes away once its carriers are freed. */
	for (int i = 0; i < 50 && nr_groups() != before; i++)
		usleep(100 * 1000);
	EXPECT_EQ(before, nr_groups());
}

TEST(execve_leaves_the_group_unusable_and_the_carrier_inert)
{
	char fdarg[16];
	int status, fd;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *argv[] = { "lifecycle_test", "--after-exec", fdarg, NULL };

		/* The child's own group; no O_CLOEXEC, so execve() keeps it. */
		fd = open(FIBER_DEVICE_PATH, O_RDWR);
		if (fd < 0 || fiber_register(fd, 0, NULL))
			_exit(20);
		snprintf(fdarg, sizeof(fdarg), "%d", fd);
		execv("/proc/self/exe", argv);
		_exit(21);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * A carrier claimed while it sleeps inside execve() itself: its argv
 * string sits on a userfaultfd page, so execve() faults on it, and a
 * second thread claims the sleeping carrier before resolving the fault.
 * The new program knows nothing of the group and nobody would grant it a
 * P, so it must not be held; it runs after_exec() and exits 0.  The child
 * exits 30-32 if the claim did not happen as planned, 40 without
 * userfaultfd.
 */
struct exec_claim {
	struct uffd_page up;
	struct fiber_slot *slot;
};

static void *exec_claimer_main(void *arg)
{
	struct exec_claim *x = arg;
	struct pollfd pfd = { .fd = x->up.uffd, .events = POLLIN };
	struct uffd_msg msg;
	uint64_t word;

	/*
	 * The fault is queued just before execve() goes to sleep on it;
	 * the carrier is BLOCKED once it does, until the fault is resolved.
	 */
	if (poll(&pfd, 1, 5000) != 1 ||
	    read(x->up.uffd, &msg, sizeof(msg)) != sizeof(msg))
		_exit(30);
	if (!wait_state(x->slot, FIBER_SLOT_BLOCKED, 5000))
		_exit(31);
	word = slot_word(x->slot);
	if (FIBER_SLOT_STATE(word) != FIBER_SLOT_BLOCKED ||
	    !slot_claim(x->slot, FIBER_SLOT_SEQ(word)))
		_exit(31);
	if (uffd_page_fill(&x->up, "--after-exec", sizeof("--after-exec")))
		_exit(32);
	return NULL;
}

static int exec_while_claimed(void)
{
	char fdarg[16];
	char *argv[] = { "lifecycle_test", NULL, fdarg, NULL };
	struct exec_claim x;
	struct fiber_map map;
	uint32_t slot;
	pthread_t t;
	int fd;

	/* No O_CLOEXEC: the group outlives execve() in the new program. */
	fd = open(FIBER_DEVICE_PATH, O_RDWR);
	if (fd < 0 || fiber_map(fd, &map))
		return 20;
	if (uffd_probe())
		return 40;
	if (uffd_page_open(&x.up))
		return 21;
	if (fiber_register(fd, 0, &slot))
		return 22;
	x.slot = fiber_slot_of(&map, slot);
	if (pthread_create(&t, NULL, exec_claimer_main, &x))
		return 23;
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	argv[1] = x.up.area;
	execv("/proc/self/exe", argv);
	return 24;
}

TEST(execve_while_claimed_is_not_held_in_the_new_program)
{
	int status = 0, i;
	pid_t pid, got = 0;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(exec_while_claimed());
	for (i = 0; i < 1000 && !got; i++) {
		got = waitpid(pid, &status, WNOHANG);
		if (!got)
			usleep(10 * 1000);
	}
	if (!got) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	ASSERT_TRUE(got) TH_LOG("the new program is still held after 10 s");
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 40)
		SKIP(return, "userfaultfd for kernel faults is not available");
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(group, closing_the_last_fd_wakes_parked_carriers_with_ebadf)
{
	struct parker p = { .fd = self->fd, .ms = 0, .ret = 1 };
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, parker_main, &p));
	ASSERT_TRUE(wait_u32(&self->map.hdr->nr_parked, 1, 2000));
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	pthread_join(t, NULL);
	EXPECT_EQ(-EBADF, p.ret);
}

TEST_F(group, a_dup_keeps_the_group_alive)
{
	struct parker p = { .fd = self->fd, .ms = 300, .ret = 1 };
	int dup_fd = dup(self->fd);
	pthread_t t;

	ASSERT_LE(0, dup_fd);
	ASSERT_EQ(0, pthread_create(&t, NULL, parker_main, &p));
	ASSERT_TRUE(wait_u32(&self->map.hdr->nr_parked, 1, 2000));
	ASSERT_EQ(0, close(dup_fd));
	pthread_join(t, NULL);
	EXPECT_EQ(-ETIMEDOUT, p.ret);
}

TEST_F(group, closing_the_last_fd_releases_held_carriers_and_silences_all)
{
	struct fiber_slot *s;
	struct reader r;
	uint64_t notified;

	ASSERT_EQ(0, reader_start(&r, self->fd));
	s = fiber_slot_of(&self->map, r.slot);
	ASSERT_TRUE(wait_state(s, FIBER_SLOT_BLOCKED, 2000));
	ASSERT_TRUE(slot_claim(s, FIBER_SLOT_SEQ(slot_word(s))));
	ASSERT_EQ(1, write(r.pipe[1], "x", 1));
	ASSERT_TRUE(wait_state(s, FIBER_SLOT_WAITING, 2000));
	usleep(50 * 1000);
	EXPECT_EQ(0, atomic_load(&r.returned));

	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	/* Released without a P: it says WAITING still. */
	for (int i = 0; i < 2000 && !atomic_load(&r.returned); i++)
		usleep(1000);
	EXPECT_EQ(1, atomic_load(&r.returned));
	EXPECT_EQ(FIBER_SLOT_WAITING, slot_state(s));

	/* Its sleeps (usleep in reader_main) are no longer blocks. */
	notified = self->map.hdr->notifications;
	usleep(50 * 1000);
	EXPECT_EQ(notified, self->map.hdr->notifications);
	atomic_store(&r.release, 1);
	pthread_join(r.thread, NULL);
}

/*
 * The attacker of the test below, as uid 65534: register, tell the tracer
 * where the slot's state word is, stop for it, and unregister.  Exit 0 if
 * UNREGISTER worked and freed the slot, 20 and up where a step failed.
 */
static void __attribute__((noreturn)) unregister_traced(int to_tracer)
{
	struct fiber_map m;
	uintptr_t word;
	uint32_t slot;
	int fd;

	/* Dumpable again, as any process may make itself: traceable. */
	if (fiber_become_nobody() || prctl(PR_SET_DUMPABLE, 1))
		_exit(20);
	fd = fiber_open();
	if (fd < 0 || fiber_map(fd, &m) || fiber_register(fd, 0, &slot))
		_exit(21);
	word = (uintptr_t)&fiber_slot_of(&m, slot)->state;
	if (write(to_tracer, &word, sizeof(word)) != sizeof(word) ||
	    ptrace(PTRACE_TRACEME, 0, NULL, NULL) || raise(SIGUSR1))
		_exit(22);
	if (fiber_unregister(fd))
		_exit(23);
	if (slot_state(fiber_slot_of(&m, slot)) != FIBER_SLOT_FREE)
		_exit(24);
	_exit(0);
}

/* The voluntary context switches of thread @tid of this process, or -1. */
static long voluntary_switches(pid_t tid)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "\nvoluntary_ctxt_switches:");
	return p ? strtol(p + 25, NULL, 10) : -1;
}

struct sleeper {
	int fd;
	pid_t tid;
	atomic_int registered;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	s->tid = gettid_();
	if (fiber_register(s->fd, 0, NULL))
		return (void *)1;
	atomic_store(&s->registered, 1);
	for (;;)
		pause();
	return NULL;
}

static void on_usr2(int sig)
{
	(void)sig;
}

/*
 * A group that dies wakes only the carriers asleep in its own waits.  One
 * asleep on anything else (here pause()) is not woken for nothing: each
 * such wake-up is a voluntary switch more when it sleeps again.  The
 * module of before woke every carrier of the group.
 */
TEST(closing_the_last_fd_wakes_no_carrier_asleep_elsewhere)
{
	struct sigaction sa = { .sa_handler = on_usr2 };
	struct sleeper s = { 0 };
	pthread_t t;
	long before, after;

	s.fd = fiber_open();
	ASSERT_LE(0, s.fd);
	ASSERT_EQ(0, sigaction(SIGUSR2, &sa, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, sleeper_main, &s));
	while (!atomic_load(&s.registered))
		usleep(1000);
	usleep(100 * 1000);		/* asleep in pause() for good */
	before = voluntary_switches(s.tid);
	ASSERT_LE(0, before);
	ASSERT_EQ(0, close(s.fd));
	usleep(200 * 1000);
	after = voluntary_switches(s.tid);
	EXPECT_EQ(before, after) TH_LOG("the sleeper woke %ld times", after - before);
	/* It is still a thread that a signal wakes as usual. */
	ASSERT_EQ(0, pthread_kill(t, SIGUSR2));
	usleep(100 * 1000);
	EXPECT_LT(after, voluntary_switches(s.tid));
	pthread_cancel(t);
	pthread_join(t, NULL);
}

/*
 * A hold queued during the very ioctl that unregisters its carrier runs
 * on the way out of that ioctl, after the carrier is gone.  A tracer stops
 * the carrier at UNREGISTER's entry (a block: the stop sleeps) and claims
 * its slot, as a spare would; when the carrier resumes, its switch-in
 * finds the claim and queues the hold, and UNREGISTER then ends the
 * registration.  The carrier must come back from UNREGISTER unheld, with
 * no use of the freed carrier: KASAN and slab poisoning on the debug
 * kernel watch the hold, which once ran on freed memory.
 */
TEST(a_hold_queued_by_the_unregistering_ioctl_touches_no_freed_carrier)
{
	struct __ptrace_syscall_info info;
	int p[2], status;
	uintptr_t addr;
	long word;
	pid_t pid;

	/* The carrier drops to nobody, so that it is an attacker. */
	NEED_TO_BECOME_NOBODY();
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		unregister_traced(p[1]);
	/* A child that failed before it wrote must not leave read() waiting. */
	close(p[1]);
	ASSERT_EQ(sizeof(addr), read(p[0], &addr, sizeof(addr)))
		TH_LOG("the carrier failed to start");
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status) && WSTOPSIG(status) == SIGUSR1);
	ASSERT_EQ(0, ptrace(PTRACE_SETOPTIONS, pid, NULL,
			    PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));

	/* Syscall stops until UNREGISTER's entry; the SIGUSR1 is dropped. */
	for (;;) {
		ASSERT_EQ(0, ptrace(PTRACE_SYSCALL, pid, NULL, NULL));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("status %#x", status);
		if (WSTOPSIG(status) != (SIGTRAP | 0x80))
			continue;
		ASSERT_LT(0, ptrace(PTRACE_GET_SYSCALL_INFO, pid,
				    (void *)sizeof(info), &info));
		if (info.op == PTRACE_SYSCALL_INFO_ENTRY &&
		    info.entry.nr == __NR_ioctl &&
		    info.entry.args[1] == FIBER_IOC_UNREGISTER)
			break;
	}

	/*
	 * The stop is a block (BLOCKED, a new sequence number): claim it.
	 * A slot still RUNNING gets a claim with a sequence number of its
	 * own, which the switch-in takes just the same.
	 */
	errno = 0;
	word = ptrace(PTRACE_PEEKDATA, pid, (void *)addr, NULL);
	ASSERT_EQ(0, errno);
	if (FIBER_SLOT_STATE(word) == FIBER_SLOT_BLOCKED)
		word = FIBER_SLOT_WORD(FIBER_SLOT_CLAIMED, FIBER_SLOT_SEQ(word));
	else
		word = FIBER_SLOT_WORD(FIBER_SLOT_CLAIMED, FIBER_SLOT_SEQ(word) + 1);
	ASSERT_EQ(0, ptrace(PTRACE_POKEDATA, pid, (void *)addr, (void *)word));
	ASSERT_EQ(0, ptrace(PTRACE_DETACH, pid, NULL, NULL));

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the carrier ended with status %#x", status);
	close(p[0]);
}

/* delete_module(2): O_NONBLOCK makes a busy module fail at once. */
static int try_rmmod(void)
{
	return syscall(SYS_delete_module, "fiber", O_NONBLOCK) ? -errno : 0;
}

struct lingerer {
	int fd;
	atomic_int registered;
	atomic_int release;
};

static void *register_and_linger(void *arg)
{
	struct lingerer *l = arg;

	if (fiber_register(l->fd, 0, NULL))
		return (void *)1;
	atomic_store(&l->registered, 1);
	while (!atomic_load(&l->release))
		usleep(1000);
	return NULL;
}

TEST_F(group, rmmod_is_refused_while_a_group_or_a_carrier_lives)
{
	struct lingerer l = { .fd = self->fd };
	pthread_t t;

	NEED_CAP(CAP_SYS_MODULE, "delete_module()");
	EXPECT_EQ(-EWOULDBLOCK, try_rmmod());

	/* The group's file is gone; the registered thread still pins it. */
	ASSERT_EQ(0, pthread_create(&t, NULL, register_and_linger, &l));
	while (!atomic_load(&l.registered))
		usleep(100);
	ASSERT_EQ(0, munmap(self->map.base, self->map.size));
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_EQ(-EWOULDBLOCK, try_rmmod());
	atomic_store(&l.release, 1);
	pthread_join(t, NULL);
}

/* Every case lives and dies with a group. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
