// SPDX-License-Identifier: GPL-2.0
/*
 * make bench-vm's libfiber side, run inside the VM once with the module
 * (FIBER_KERNEL=on) and once without (FIBER_KERNEL=off); go/vmbench.go
 * does the same in Go.  Each case prints "RESULT <case> <value>" lines
 * that bench/bench-vm.sh gathers into bench/results-vm.json.
 *
 *   block    block -> P running again: on one P, fiber A queues fiber B,
 *            notes the time and blocks in read() on a pipe; B notes the
 *            time it starts (then writes the pipe).  The difference is
 *            how long the P sat idle behind a blocked fiber.
 *   util     on two Ps, 4 fibers compute in chunks while 4 others block in
 *            nanosleep(1 ms) in a loop: compute speed beside the blockers
 *            as a share of its speed alone.
 *   syscall  ns per getppid() in a loop on a fiber: a system call that
 *            never blocks (registered carrier vs not).
 *   switch   ns per round trip of two threads handing a futex back and
 *            forth, both registered as carriers or neither: every round
 *            trip is two blocks, each seen by the module's notifier.
 *
 * TCG emulates the CPU, so only ratios within one VM run mean anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/fiber.h>

#include "fiber.h"

#define BLOCK_ROUNDS	400
#define BLOCK_WARMUP	20
#define UTIL_MS		1500
#define UTIL_FIBERS	4
#define SYSCALL_LOOPS	100000
#define SWITCH_ROUNDS	20000

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void die(const char *what)
{
	fprintf(stderr, "vm-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void go_or_die(void (*fn)(void *arg), void *arg)
{
	int ret = fiber_go(fn, arg);

	if (ret) {
		errno = -ret;
		die("fiber_go");
	}
}

/* ---- block -> running ----------------------------------------------------- */

static int pipefd[2];
static _Atomic int64_t block_t0;
static int64_t block_lat[BLOCK_ROUNDS + BLOCK_WARMUP];
static fiber_wg_t b_done;

static void block_b(void *arg)
{
	block_lat[(intptr_t)arg] = now_ns() - block_t0;
	if (write(pipefd[1], "x", 1) != 1)
		die("write");
	fiber_wg_done(&b_done);
}

static void bench_block(void)
{
	int n = BLOCK_ROUNDS + BLOCK_WARMUP;
	intptr_t i;
	char c;

	if (pipe(pipefd))
		die("pipe");
	for (i = 0; i < n; i++) {
		fiber_wg_add(&b_done, 1);
		go_or_die(block_b, (void *)i);	/* next on our only P */
		block_t0 = now_ns();
		if (read(pipefd[0], &c, 1) != 1)
			die("read");
		fiber_wg_wait(&b_done);
	}
	qsort(block_lat + BLOCK_WARMUP, BLOCK_ROUNDS, sizeof(int64_t), cmp_i64);
	printf("RESULT block_to_run_p50 %lld\n",
	       (long long)block_lat[BLOCK_WARMUP + BLOCK_ROUNDS / 2]);
	printf("RESULT block_to_run_p99 %lld\n",
	       (long long)block_lat[BLOCK_WARMUP + BLOCK_ROUNDS * 99 / 100]);
}

/* ---- utilisation with half the fibers blocking ---------------------------- */

static _Atomic long chunks, sleeps;
static _Atomic bool stop;
static fiber_wg_t util_done;

static void compute(void *arg)
{
	volatile uint64_t x = 1;
	int i;

	(void)arg;
	while (!atomic_load(&stop)) {
		for (i = 0; i < 20000; i++)
			x = x * 6364136223846793005ULL + 1;
		atomic_fetch_add(&chunks, 1);
		fiber_yield();
	}
	fiber_wg_done(&util_done);
}

static void sleeper(void *arg)
{
	struct timespec ts = { .tv_nsec = 1000000 };

	(void)arg;
	while (!atomic_load(&stop)) {
		nanosleep(&ts, NULL);
		atomic_fetch_add(&sleeps, 1);
		fiber_yield();
	}
	fiber_wg_done(&util_done);
}

/*
 * Context switches, and user and system CPU time in ns, of every thread
 * of the process, dead ones included.
 */
static void process_usage(long *switches, int64_t *user, int64_t *sys)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage");
	*switches = ru.ru_nvcsw + ru.ru_nivcsw;
	*user = ru.ru_utime.tv_sec * 1000000000LL + ru.ru_utime.tv_usec * 1000LL;
	*sys = ru.ru_stime.tv_sec * 1000000000LL + ru.ru_stime.tv_usec * 1000LL;
}

/*
 * Compute speed (chunks/s) over UTIL_MS, with or without the sleepers.
 * With them, also what each sleep cost: the OS context switches of the
 * whole process, and the module's claims and grants, per sleep.
 */
static double util_phase(bool sleepers)
{
	struct fiber_stats s0 = { .size = sizeof(s0) }, s1 = s0;
	long before, sleeps0, csw0, csw1;
	int64_t start, user0, sys0, user1, sys1, t;
	double n;
	int i;

	atomic_store(&stop, false);
	fiber_wg_add(&util_done, UTIL_FIBERS * (sleepers ? 2 : 1));
	for (i = 0; i < UTIL_FIBERS; i++) {
		go_or_die(compute, NULL);
		if (sleepers)
			go_or_die(sleeper, NULL);
	}
	before = atomic_load(&chunks);
	sleeps0 = atomic_load(&sleeps);
	process_usage(&csw0, &user0, &sys0);
	if (fiber_stats(&s0))
		die("fiber_stats");
	start = now_ns();
	fiber_sleep((int64_t)UTIL_MS * 1000000);
	atomic_store(&stop, true);
	if (fiber_stats(&s1))
		die("fiber_stats");
	n = (double)(atomic_load(&sleeps) - sleeps0);
	process_usage(&csw1, &user1, &sys1);
	t = now_ns() - start;
	/* The whole process's CPU time, as a share of the CPUs' time. */
	printf("RESULT util_%s_user_share %.3f\n", sleepers ? "mixed" : "solo",
	       (double)(user1 - user0) / ((double)t * sysconf(_SC_NPROCESSORS_ONLN)));
	printf("RESULT util_%s_sys_share %.3f\n", sleepers ? "mixed" : "solo",
	       (double)(sys1 - sys0) / ((double)t * sysconf(_SC_NPROCESSORS_ONLN)));
	if (sleepers && n > 0) {
		printf("RESULT util_sleeps_per_s %.0f\n", n * 1e9 / (double)t);
		printf("RESULT util_switches_per_sleep %.2f\n",
		       (double)(csw1 - csw0) / n);
		printf("RESULT util_claims_per_sleep %.2f\n",
		       (double)(s1.kernel_claims - s0.kernel_claims) / n);
		printf("RESULT util_grants_per_sleep %.2f\n",
		       (double)(s1.kernel_grants - s0.kernel_grants) / n);
	}
	fiber_wg_wait(&util_done);
	return (atomic_load(&chunks) - before) * 1e9 / (double)(now_ns() - start);
}

static void bench_util(void)
{
	double solo = util_phase(false), mixed = util_phase(true);

	printf("RESULT utilisation_half_blocking %.3f\n", mixed / solo);
}

/* ---- a system call that never blocks -------------------------------------- */

static void bench_syscall(void)
{
	int64_t best = INT64_MAX, t;
	int pass, i;

	for (pass = 0; pass < 5; pass++) {
		t = now_ns();
		for (i = 0; i < SYSCALL_LOOPS; i++)
			syscall(SYS_getppid);
		t = now_ns() - t;
		if (t < best)
			best = t;
	}
	printf("RESULT syscall_ns %.1f\n", (double)best / SYSCALL_LOOPS);
}

/* ---- OS context switches of (un)registered threads ------------------------ */

static _Atomic uint32_t turn;
static int devfd = -1;

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	while (atomic_load(w) == val)
		syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_set(_Atomic uint32_t *w, uint32_t val)
{
	atomic_store(w, val);
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void maybe_register(void)
{
	struct fiber_register reg = { .size = sizeof(reg) };

	if (devfd >= 0 && ioctl(devfd, FIBER_IOC_REGISTER, &reg))
		die("FIBER_IOC_REGISTER");
}

static void *ponger(void *arg)
{
	int i;

	(void)arg;
	maybe_register();
	for (i = 0; i < SWITCH_ROUNDS; i++) {
		futex_wait(&turn, 0);
		futex_set(&turn, 0);
	}
	return NULL;
}

static void bench_switch(bool registered)
{
	int64_t t;
	pthread_t pt;
	cpu_set_t one;
	int i;

	if (registered) {
		devfd = open(FIBER_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		if (devfd < 0)
			die(FIBER_DEVICE_PATH);
	}
	/* One CPU: every hand-off is a real switch, never a spin. */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	if (pthread_create(&pt, NULL, ponger, NULL))
		die("pthread_create");
	maybe_register();
	t = now_ns();
	for (i = 0; i < SWITCH_ROUNDS; i++) {
		futex_set(&turn, 1);
		futex_wait(&turn, 1);
	}
	t = now_ns() - t;
	pthread_join(pt, NULL);
	printf("RESULT switch_ns %.1f\n", (double)t / SWITCH_ROUNDS);
}

/* ---- main --------------------------------------------------------------------- */

static const char *which;

static int bench_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!strcmp(which, "block"))
		bench_block();
	else if (!strcmp(which, "util"))
		bench_util();
	else if (!strcmp(which, "syscall"))
		bench_syscall();
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	which = argc == 2 ? argv[1] : "";
	if (!strcmp(which, "switch")) {
		const char *k = getenv("FIBER_KERNEL");

		bench_switch(k && !strcmp(k, "on"));
		return 0;
	}
	if (strcmp(which, "block") && strcmp(which, "util") &&
	    strcmp(which, "syscall")) {
		fprintf(stderr, "usage: vm-bench block|util|syscall|switch\n");
		return 2;
	}
	fiber_maxprocs(!strcmp(which, "util") ? 2 : 1);
	ret = fiber_main(bench_main, argc, argv);
	fprintf(stderr, "vm-bench: fiber_main: %s\n", strerror(-ret));
	return 1;
}
