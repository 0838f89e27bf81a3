// SPDX-License-Identifier: GPL-2.0
/*
 * An attacker's stress test, beside stress_test.c's honest one.  An
 * unprivileged process throws everything at its own group at once, for a
 * fixed time:
 *  - carriers register, block (sleeps, pipes, page faults), park, are
 *    held, unregister, and exit with and without unregistering;
 *  - sibling threads forge random slot words in every slot (every state,
 *    random sequence numbers), claim, and wake random slots;
 *  - children register and execve(), or fork and exit;
 *  - every fiber ioctl stops at its entry in a seccomp user-notify filter,
 *    whose supervisor answers after a random pause;
 *  - root's tracer stops random threads with ptrace and lets them go:
 *    each stop must complete, held or not.
 * Then the process is killed, and it must be gone at once: no task stuck
 * in the module.  The VM's runner then checks dmesg for any splat, kmemleak
 * for leaks, and that rmmod succeeds.
 */
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <dirent.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "harness_ext.h"
#include "nobody.h"

#define CARRIERS	4
#define FORGERS		2

/* How long the attack runs: FIBER_ADVERSARY_SECONDS, 20 by default. */
static unsigned int attack_seconds(void)
{
	const char *s = getenv("FIBER_ADVERSARY_SECONDS");

	return s && atoi(s) > 0 ? atoi(s) : 20;
}

static int gfd;
static struct fiber_map gmap;
static uint64_t deadline;

/* What the attack did, in memory shared with the test. */
static struct attack_stats {
	atomic_uint registrations, parks, notifications, children;
	atomic_uint most_waiting;	/* held carriers at once, sampled */
	int seccomp;			/* -errno if the filter failed */
} *stats;

static uint32_t rnd(uint32_t *seed)
{
	*seed = *seed * 1103515245 + 12345;
	return *seed >> 8;
}

/* A carrier's life: register, block in many ways, maybe unregister. */
static void *carrier_main(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg, me, nr;
	int p[2], i;
	char c;

	if (pipe(p))
		return NULL;
	while (now_ns() < deadline) {
		if (fiber_register(gfd, rnd(&seed), &me)) {
			usleep(1000);
			continue;
		}
		atomic_fetch_add(&stats->registrations, 1);
		for (i = rnd(&seed) % 16; i > 0; i--) {
			switch (rnd(&seed) % 5) {
			case 0: {
				struct timespec ts = { 0, rnd(&seed) % 200000 };

				nanosleep(&ts, NULL);
				break;
			}
			case 1: {
				struct pollfd pf = { .fd = p[0], .events = POLLIN };

				if (rnd(&seed) % 2)
					c = write(p[1], "x", 1);
				if (poll(&pf, 1, 1) == 1)
					c = read(p[0], &c, 1);
				break;
			}
			case 2:
				nr = 0;
				fiber_park_ms(gfd, 1, NULL, &nr);
				atomic_fetch_add(&stats->parks, 1);
				break;
			case 3: {
				char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

				if (m != MAP_FAILED) {
					m[0] = 1;
					munmap(m, 4096);
				}
				break;
			}
			default:
				sched_yield();
			}
		}
		/* Sometimes the thread just ends, registered. */
		if (rnd(&seed) % 8 == 0)
			break;
		fiber_unregister(gfd);
	}
	close(p[0]);
	close(p[1]);
	return NULL;
}

/* Forge every slot word, claim, and wake at random. */
static void *forger_main(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg, max = gmap.hdr->max_carriers;
	struct fiber_slot *s;
	uint32_t i;

	/* Slots on the first page only, once it exists: others are SIGBUS. */
	while (!__atomic_load_n(&gmap.hdr->nr_carriers, __ATOMIC_RELAXED))
		usleep(1000);
	while (now_ns() < deadline) {
		i = rnd(&seed) % (max < 32 ? max : 32);
		s = fiber_slot_of(&gmap, i);
		switch (rnd(&seed) % 4) {
		case 0:
			__atomic_store_n(&s->state,
					 FIBER_SLOT_WORD(rnd(&seed) % 8,
							 rnd(&seed) % 4 ?
							 FIBER_SLOT_SEQ(s->state) + rnd(&seed) % 3 :
							 (uint64_t)rnd(&seed) << 20),
					 __ATOMIC_RELAXED);
			break;
		case 1:
			slot_claim(s, FIBER_SLOT_SEQ(s->state));
			break;
		case 2:
			fiber_wake(gfd, i, rnd(&seed) % 4 ? 0 : FIBER_WAKE_ANY);
			break;
		default:
			s->user_word = ((uint64_t)rnd(&seed) << 32) | rnd(&seed);
		}
	}
	return NULL;
}

/* A child that registers, then becomes another program, or just exits. */
static void exec_or_exit(uint32_t *seed)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = fiber_open();

		if (fd >= 0 && rnd(seed) % 2 == 0)
			fiber_register(fd, 0, NULL);
		if (rnd(seed) % 2)
			execl("/bin/true", "true", (char *)NULL);
		_exit(0);
	}
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		atomic_fetch_add(&stats->children, 1);
	}
}

/*
 * Every fiber ioctl stops at its entry for the supervisor.  Its own
 * ioctls on the listener have another magic, and pass.
 */
static int install_notifier(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[1])),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FIBER_IOC_MAGIC << 8, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		       SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* Answer each notification after a random pause: "go on". */
static void supervise(int listener)
{
	struct seccomp_notif_resp resp;
	struct seccomp_notif req;
	uint32_t seed = getpid();

	for (;;) {
		memset(&req, 0, sizeof(req));
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			_exit(0);
		}
		usleep(rnd(&seed) % 300);
		memset(&resp, 0, sizeof(resp));
		resp.id = req.id;
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		if (!ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp))
			atomic_fetch_add(&stats->notifications, 1);
	}
}

/*
 * The attacker process, as nobody where root may become it.  Exit codes
 * say what failed to start.
 */
static void attacker(void)
{
	pthread_t t[CARRIERS + FORGERS];
	uint32_t seed = getpid();
	int listener, i;

	if (fiber_become_nobody_if_able())
		_exit(10);
	prctl(PR_SET_DUMPABLE, 1);
	gfd = fiber_open();
	if (gfd < 0 || fiber_map(gfd, &gmap))
		_exit(11);
	listener = install_notifier();
	stats->seccomp = listener < 0 ? -errno : 0;
	if (listener >= 0 && fork() == 0)
		supervise(listener);
	for (i = 0; i < CARRIERS; i++)
		pthread_create(&t[i], NULL, carrier_main, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < FORGERS; i++)
		pthread_create(&t[CARRIERS + i], NULL, forger_main,
			       (void *)(uintptr_t)(i + 100));
	while (now_ns() < deadline) {
		unsigned int waiting = gmap.hdr->nr_waiting;

		if (waiting > atomic_load(&stats->most_waiting))
			atomic_store(&stats->most_waiting, waiting);
		exec_or_exit(&seed);
		/* A carrier that ended is replaced. */
		for (i = 0; i < CARRIERS; i++) {
			if (pthread_tryjoin_np(t[i], NULL) == 0)
				pthread_create(&t[i], NULL, carrier_main,
					       (void *)(uintptr_t)rnd(&seed));
		}
		usleep(20 * 1000);
	}
	/* Held threads stay held: the test kills the process. */
	pause();
	_exit(0);
}

/* Stop thread @tid with ptrace and let it go.  0, or -1 if it never stopped. */
static int stop_and_go(pid_t tid)
{
	uint64_t end = now_ns() + 5000 * MSEC;
	int status;
	pid_t r;

	if (ptrace(PTRACE_SEIZE, tid, 0, 0))
		return 0;	/* gone already */
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0)) {
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return 0;
	}
	do {
		r = waitpid(tid, &status, __WALL | WNOHANG);
		if (r == tid && WIFSTOPPED(status))
			break;
		if (r == tid || (r < 0 && errno == ECHILD))
			return 0;	/* exited */
		usleep(1000);
	} while (now_ns() < end);
	if (now_ns() >= end)
		return -1;
	usleep(500);
	ptrace(PTRACE_DETACH, tid, 0, 0);
	return 0;
}

/* A random thread of process @pid, or 0. */
static pid_t some_thread(pid_t pid, uint32_t *seed)
{
	pid_t tids[64], tid = 0;
	struct dirent *e;
	char path[64];
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < 64)
		if (e->d_name[0] != '.')
			tids[n++] = atoi(e->d_name);
	closedir(d);
	if (n)
		tid = tids[rnd(seed) % n];
	return tid;
}

TEST(an_attacker_with_every_trick_crashes_nothing_and_leaves_nothing)
{
	unsigned int seconds = attack_seconds();
	uint32_t seed = 1, stops = 0, stuck = 0;
	int status, fd;
	pid_t pid, r;

	fd = fiber_open();
	ASSERT_LE(0, fd);
	close(fd);
	stats = mmap(NULL, sizeof(*stats), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, stats);
	deadline = now_ns() + seconds * 1000 * MSEC;
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		setpgid(0, 0);
		attacker();
	}
	setpgid(pid, pid);
	/* Root's tracer: stop random threads until the time is up. */
	while (now_ns() < deadline) {
		pid_t tid = some_thread(pid, &seed);

		if (tid && geteuid() == 0) {
			if (stop_and_go(tid))
				stuck++;
			else
				stops++;
		}
		usleep(rnd(&seed) % 20000);
	}
	TH_LOG("%u s: %u registrations, %u parks, %u seccomp stops, %u children, up to %u held at once; %u ptrace stops, %u threads that never stopped",
	       seconds, atomic_load(&stats->registrations), atomic_load(&stats->parks),
	       atomic_load(&stats->notifications), atomic_load(&stats->children),
	       atomic_load(&stats->most_waiting), stops, stuck);
	/* The attack really ran: an attack that did nothing proves nothing. */
	EXPECT_LT(0, atomic_load(&stats->registrations));
	if (stats->seccomp)
		TH_LOG("no seccomp user-notify stops: %s (CONFIG_SECCOMP_FILTER?)",
		       strerror(-stats->seccomp));
	else
		EXPECT_LT(0, atomic_load(&stats->notifications));
	EXPECT_EQ(0, stuck);
	/* Killed, it must be gone at once: nothing is stuck in the module. */
	ASSERT_EQ(0, kill(-pid, SIGKILL));
	for (int i = 0; i < 1000 && !(r = waitpid(pid, &status, WNOHANG)); i++)
		usleep(10 * 1000);
	EXPECT_EQ(pid, r) TH_LOG("the attacker did not die within 10 s of SIGKILL");
	EXPECT_TRUE(WIFSIGNALED(status) || WIFEXITED(status));
	if (WIFEXITED(status))
		EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("the attacker could not start");
	/* The module still serves a fresh group. */
	fd = fiber_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fiber_register(fd, 0, NULL));
	EXPECT_EQ(0, fiber_unregister(fd));
	close(fd);
}

TEST_LIMIT(an_attacker_with_every_trick_crashes_nothing_and_leaves_nothing, 120)

/* The attack is on the module: without it there is nothing to attack. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
