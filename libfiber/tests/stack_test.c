// SPDX-License-Identifier: MIT
/*
 * Stacks: an overflow dies with a message naming the fiber and its stack
 * size, whether the guard is a guard region or (forced with
 * FIBER_STACK_GUARD=canary) a canary; FIBER_STACK_SIZE and
 * fiber_attr.stack_size set the size; bad attributes are refused; fibers
 * queued before they start run on the stacks of fibers that ended; a
 * fresh stack's first page is populated with one madvise, and where the
 * kernel has no MADV_POPULATE_WRITE stacks work as before.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

/* 1 KiB a frame: a million frames are far more than any fiber stack. */
static int recurse(volatile char *prev, int depth)
{
	volatile char frame[1024];

	frame[0] = prev ? prev[0] + 1 : 0;
	if (depth > 1000000)
		return frame[0];
	/* The canary is checked at the next switch: make one. */
	if (depth % 64 == 0)
		fiber_yield();
	return recurse(frame, depth + 1) + frame[1];
}

static void overflows(void *arg)
{
	(void)arg;
	/* Ids come from per-P blocks: say ours, for overflow_named(). */
	fprintf(stderr, "overflowing: fiber %llu\n",
		(unsigned long long)fiber_id());
	recurse(NULL, 0);
}

/* The report names the fiber that overflowed and its stack size. */
static bool overflow_named(const char *err, const char *what, size_t size)
{
	const char *p = strstr(err, "overflowing: fiber ");
	char want[128];

	if (!p)
		return false;
	snprintf(want, sizeof(want), "fiber %llu %s its stack of %zu bytes",
		 strtoull(p + strlen("overflowing: fiber "), NULL, 10), what,
		 size);
	return strstr(err, want) != NULL;
}

static int main_overflows(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go(overflows, NULL) == 0);
	for (;;)
		fiber_yield();
}

/*
 * In a TEST: @main_fn's fiber overflows; the process must abort with
 * the report (@what: "overflowed" or "overran", of a stack of @size).
 */
#define EXPECT_OVERFLOW_REPORT(main_fn, what, size) do {		\
	char err_[512];							\
	int status_ = run_fiber_main_err(main_fn, err_, sizeof(err_));	\
									\
	EXPECT_TRUE(WIFSIGNALED(status_) && WTERMSIG(status_) == SIGABRT) \
		TH_LOG("status %#x, stderr: %s", status_, err_);	\
	EXPECT_TRUE(overflow_named(err_, what, size))			\
		TH_LOG("stderr: %s", err_);				\
} while (0)

TEST(overflow_dies_with_a_message)
{
	unsetenv("FIBER_STACK_GUARD");
	EXPECT_OVERFLOW_REPORT(main_overflows, "overflowed", 262144);
}

static int main_copied_overflows(int argc, char **argv)
{
	struct fiber_attr copied = {
		.size = sizeof(copied), .flags = FIBER_ATTR_COPY_STACK,
	};

	(void)argc, (void)argv;
	CHECK(fiber_go_attr(&copied, overflows, NULL) == 0);
	for (;;)
		fiber_yield();
}

/* A copied fiber's shared stack is guarded like any other. */
TEST(overflow_of_a_copied_fiber_dies_with_a_message)
{
	unsetenv("FIBER_STACK_GUARD");
	EXPECT_OVERFLOW_REPORT(main_copied_overflows, "overflowed", 262144);
}

TEST(overflow_of_a_canary_stack_dies_with_a_message)
{
	setenv("FIBER_STACK_GUARD", "canary", 1);
	EXPECT_OVERFLOW_REPORT(main_overflows, "overran", 262144);
	unsetenv("FIBER_STACK_GUARD");
}

static int main_small_stack(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(stats_now().stack_size == 64 * 1024);
	CHECK(fiber_go(overflows, NULL) == 0);
	for (;;)
		fiber_yield();
}

TEST(fiber_stack_size_sets_the_default)
{
	setenv("FIBER_STACK_SIZE", "64k", 1);
	EXPECT_OVERFLOW_REPORT(main_small_stack, "overflowed", 65536);
	unsetenv("FIBER_STACK_SIZE");
}

static int main_bad_env(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(stats_now().stack_size == 256 * 1024);
	return 0;
}

TEST(bad_fiber_stack_size_is_reported_and_ignored)
{
	char err[512];

	setenv("FIBER_STACK_SIZE", "12q", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_err(main_bad_env, err,
						   sizeof(err)), 0));
	unsetenv("FIBER_STACK_SIZE");
	EXPECT_NE(NULL, strstr(err, "FIBER_STACK_SIZE=12q is not a size"))
		TH_LOG("stderr: %s", err);
}

static void uses_512k(void *arg)
{
	volatile char big[400 * 1024];

	(void)arg;
	memset((char *)big, 1, sizeof(big));
	CHECK(big[sizeof(big) - 1] == 1);
}

static int main_attr(int argc, char **argv)
{
	struct fiber_attr attr = { .size = sizeof(attr), .stack_size = 512 * 1024 };
	struct {
		struct fiber_attr a;
		uint64_t future;
	} bigger = { { .size = sizeof(bigger) }, 0 };

	(void)argc, (void)argv;
	CHECK(fiber_go_attr(&attr, uses_512k, NULL) == 0);
	wait_others();
	/* Errors. */
	attr.stack_size = 4096;
	CHECK(fiber_go_attr(&attr, uses_512k, NULL) == -EINVAL);
	attr.stack_size = (size_t)2 << 30;
	CHECK(fiber_go_attr(&attr, uses_512k, NULL) == -EINVAL);
	attr.stack_size = 0;
	attr.size = 4;
	CHECK(fiber_go_attr(&attr, uses_512k, NULL) == -EINVAL);
	/* A newer caller's struct: fine if zero beyond ours. */
	bigger.a.stack_size = 512 * 1024;
	CHECK(fiber_go_attr(&bigger.a, uses_512k, NULL) == 0);
	bigger.future = 1;
	CHECK(fiber_go_attr(&bigger.a, uses_512k, NULL) == -EINVAL);
	wait_others();
	return 0;
}

TEST(attr_sets_the_stack_size_and_is_checked)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_attr), 0));
}

TEST(attr_outside_the_runtime_is_esrch)
{
	struct fiber_attr attr = { .size = sizeof(attr) };

	EXPECT_EQ(-ESRCH, fiber_go_attr(&attr, uses_512k, NULL));
}

/* ---- which stack a fiber starts on --------------------------------------- */

#define QUEUED_FIBERS	20000L
static long queued_ran;

static void counts(void *arg)
{
	(void)arg;
	queued_ran++;
}

/*
 * Fibers made on one P while main does not yield take no stack until
 * they start, and each starts on the warm stack the one before it left,
 * so one stack, or a few, serve them all.  Some may run before main is
 * done (sysmon preempting a long loop of fiber_go(), or on fiber.ko a
 * spare carrier taking the P while main's thread faults): they end at
 * once and leave their stacks warm all the same.  A
 * stack is guarded when it is prepared for a fiber to run on: the guards
 * count the stacks used, and those a P prepared ahead in its batch (16,
 * libfiber/stack.h) where the kernel takes batches.
 */
#define STACK_BATCH	16

static int main_queued(int argc, char **argv)
{
	long i, n = many_fibers(QUEUED_FIBERS);
	struct fiber_stats s;
	uint64_t used;

	(void)argc, (void)argv;
	for (i = 0; i < n; i++)
		CHECK(fiber_go(counts, NULL) == 0);
	wait_others();
	CHECK(queued_ran == n);
	s = stats_now();
	used = s.stacks_guard_madvise + s.stacks_guard_mprotect +
	       s.stacks_canary;
	printf("# %ld fibers ran on %llu stacks (%llu mapped)\n", n,
	       (unsigned long long)used,
	       (unsigned long long)(s.stack_mapped_bytes /
				    (s.stack_size + 16 * 1024)));
	fflush(stdout);
	CHECK(used <= 4 + STACK_BATCH);
	return 0;
}

TEST(fibers_queued_together_start_on_the_stacks_of_those_that_ended)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_queued, 1, NULL, 0),
				0));
}

/* ---- populating fresh stacks ------------------------------------------- */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif
#define POPULATE_FIBERS		2000
#define EXIT_NO_SECCOMP		4

/*
 * Every populate of the process, madvise(MADV_POPULATE_WRITE) of one
 * stack or process_madvise() of a batch, traps to on_sigsys, which
 * counts it and the stacks it names and makes it return @populate_ret
 * (0 or -EINVAL) without doing it: the first touch then faults, as on a
 * kernel that has no such advice.  With @no_batches, process_madvise()
 * fails with ENOSYS, as before Linux 5.10, so every stack is prepared
 * alone.
 */
static atomic_long populate_calls, populated_stacks;
static long populate_ret;
static bool no_batches, populate_batches;

#define PIDFD_SELF_THREAD_GROUP	(-10001)

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	long n = 1;

	(void)sig;
#if defined(__x86_64__)
	if (si->si_syscall == SYS_process_madvise)
		n = uc->uc_mcontext.gregs[REG_RDX];
	uc->uc_mcontext.gregs[REG_RAX] = populate_ret;
#elif defined(__aarch64__)
	if (si->si_syscall == SYS_process_madvise)
		n = (long)uc->uc_mcontext.regs[2];
	uc->uc_mcontext.regs[0] = populate_ret;
#endif
	atomic_fetch_add(&populate_calls, 1);
	atomic_fetch_add(&populated_stacks, n);
}

static int trap_populate(void)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_madvise, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[3])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MADV_POPULATE_WRITE, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_filter fail_batches =
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	struct sigaction sa = { .sa_sigaction = on_sigsys,
				.sa_flags = SA_SIGINFO };

	if (no_batches)		/* in place of the advice's load */
		prog[5] = fail_batches;

	if (sigaction(SIGSYS, &sa, NULL))
		return -errno;
	return seccomp_install(prog, sizeof(prog) / sizeof(prog[0]));
}

/*
 * A fiber gets its stack when it first runs.  The last of @populate_n
 * to start closes @all_started, which the others wait on: none ends
 * before all have started, so each starts on a fresh stack, whatever
 * runs them when (sysmon preempting main, a spare carrier of fiber.ko
 * while main faults), rather than on the stack of one that ended.
 */
static fiber_chan_t *all_started;
static atomic_long populate_started;
static long populate_n;

static void touches_its_stack(void *arg)
{
	volatile char buf[8 * 1024];
	char v;

	(void)arg;
	buf[0] = 1;
	buf[sizeof(buf) - 1] = buf[0];
	if (atomic_fetch_add(&populate_started, 1) + 1 == populate_n)
		CHECK(fiber_chan_close(all_started) == 0);
	CHECK(fiber_chan_recv(all_started, &v) == 0);
	CHECK(buf[sizeof(buf) - 1] == 1);
}

/*
 * Does this kernel take batches: process_madvise() of ourselves with
 * MADV_GUARD_INSTALL and MADV_POPULATE_WRITE (Linux 6.15+)?
 */
static bool kernel_takes_batches(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec guard = { p, page }, top = { p + page, page };
	bool ok;

	if (p == MAP_FAILED)
		return false;
	ok = syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, &guard, 1,
		     MADV_GUARD_INSTALL, 0) == page &&
	     syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, &top, 1,
		     MADV_POPULATE_WRITE, 0) == page;
	munmap(p, 2 * page);
	return ok;
}

static int main_populate(int argc, char **argv)
{
	struct fiber_stats s;
	long calls, stacks, guards, i, n = scaled(POPULATE_FIBERS);
	bool batches = populate_batches;

	(void)argc, (void)argv;
	all_started = fiber_chan_new(1, 0);
	CHECK(all_started);
	populate_n = n;
	for (i = 0; i < n; i++)
		CHECK(fiber_go(touches_its_stack, NULL) == 0);
	wait_others();
	s = stats_now();
	calls = atomic_load(&populate_calls);
	stacks = atomic_load(&populated_stacks);
	guards = (long)(s.stacks_guard_madvise + s.stacks_guard_mprotect +
			s.stacks_canary);
	printf("# %ld populate calls for %ld stacks, %ld guarded (%s guards%s)\n",
	       calls, stacks, guards, s.stacks_canary ? "canary" : "page",
	       batches ? ", in batches" : "");
	fflush(stdout);
	if (populate_ret) {
		CHECK(calls == 1);	/* EINVAL once: never again */
		return 0;
	}
	/* Each fresh stack's top page, and the canary's; */
	CHECK(stacks >= n && stacks <= 2 * guards);
	/* one call for each, or one for each batch of 16. */
	if (batches)
		CHECK(calls <= stacks / 8);
	else
		CHECK(calls == stacks);
	return 0;
}

/*
 * Run main_populate in a child whose populate calls return @ret; with
 * @batches_off, one whose process_madvise() fails.
 */
static int run_populate(long ret, bool batches_off)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		populate_ret = ret;
		no_batches = batches_off;
		/* libfiber batches where page guards are the kernel's. */
		populate_batches = !batches_off && kernel_takes_batches() &&
				   !getenv("FIBER_STACK_GUARD");
		if (trap_populate())
			_exit(EXIT_NO_SECCOMP);
		setenv("FIBER_STRICT", "1", 1);
		fiber_maxprocs(1);	/* one M: no two calls race the flag */
		if (fiber_main(main_populate, 0, NULL))
			_exit(99);
		_exit(98);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

#define EXPECT_POPULATE(ret, batches_off) do {				\
	int status;							\
									\
	if (test_slow())						\
		SKIP(return, "valgrind implements no seccomp filters");	\
	status = run_populate(ret, batches_off);			\
	if (exited_with(status, EXIT_NO_SECCOMP))			\
		SKIP(return, "no seccomp filters here");		\
	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("status %#x", status); \
} while (0)

TEST(fresh_stacks_are_populated_in_batches_where_the_kernel_can)
{
	EXPECT_POPULATE(0, false);
}

TEST(without_batches_each_fresh_stack_is_populated_with_one_call)
{
	EXPECT_POPULATE(0, true);
}

TEST(a_fresh_canary_stack_is_populated_too)
{
	setenv("FIBER_STACK_GUARD", "canary", 1);
	EXPECT_POPULATE(0, false);
	unsetenv("FIBER_STACK_GUARD");
}

TEST(without_populate_stacks_fault_in_and_it_is_tried_once)
{
	EXPECT_POPULATE(-EINVAL, false);
}

TEST(without_populate_or_batches_it_is_tried_once_too)
{
	EXPECT_POPULATE(-EINVAL, true);
}

TEST(without_populate_canary_stacks_work_too)
{
	setenv("FIBER_STACK_GUARD", "canary", 1);
	EXPECT_POPULATE(-EINVAL, false);
	unsetenv("FIBER_STACK_GUARD");
}

TEST_HARNESS_MAIN
