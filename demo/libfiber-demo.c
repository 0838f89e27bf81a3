// SPDX-License-Identifier: GPL-2.0
/*
 * make demo's main act: on one P, a compute fiber reports its progress
 * while eight fibers make plain blocking calls (read() on a pipe, a
 * nanosleep, a libc condition variable), with no wrapper around them.
 * The same program runs with FIBER_KERNEL=on and =off; demo/fiber-demo
 * runs both and prints the numbers side by side.
 *
 * First the compute fiber runs alone for SOLO_MS to measure its speed;
 * then the blockers start and it runs for MIXED_MS more.  Its speed in
 * the mixed phase, as a share of the solo speed, is what blocking costs
 * the P.  With the module that share stays near 100%: a blocked fiber's P
 * goes to a spare at once.  Without it, every call holds the P until
 * sysmon notices, and the nanosleeps until they end (a signal would cut
 * them short: FIBER_SIGNAL_RETAKE in docs/libfiber.md).
 *
 * usage: libfiber-demo [--carriers]   (--carriers: print the module's
 * view of the process, its carrier slots, in the middle of the run)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/fiber.h>

#include "fiber.h"

#define SOLO_MS		600
#define MIXED_MS	1500
#define BLOCKERS	8

static _Atomic bool stop_blockers;
static _Atomic long chunks, blocking_calls;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int pipefd[2];
static bool show_carriers;
static fiber_wg_t blockers_done;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One unit of work: about 50 us on a 2020s core, much more under TCG. */
static void chunk(void)
{
	volatile uint64_t x = 1;
	int i;

	for (i = 0; i < 20000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	atomic_fetch_add(&chunks, 1);
}

/* Run chunks for @ms; print progress every 250 ms.  Return: chunks/s. */
static double compute_for(int ms, const char *phase)
{
	int64_t start = now_ns(), end = start + (int64_t)ms * 1000000, tick = start;
	long before = atomic_load(&chunks), at_tick = before;

	while (now_ns() < end) {
		chunk();
		fiber_yield();		/* a scheduling point, as real code has */
		if (now_ns() - tick >= 250000000) {
			long c = atomic_load(&chunks);

			printf("    %-6s compute: %6ld chunks in the last 250 ms, %ld blocking calls so far\n",
			       phase, c - at_tick, atomic_load(&blocking_calls));
			fflush(stdout);
			at_tick = c;
			tick = now_ns();
		}
	}
	return (atomic_load(&chunks) - before) * 1e9 / (double)(now_ns() - start);
}

static void *feeder(void *arg)
{
	(void)arg;
	/* Every 2 ms: a byte into the pipe, a broadcast on the cond. */
	while (!atomic_load(&stop_blockers)) {
		usleep(2000);
		if (write(pipefd[1], "x", 1) != 1)
			break;
		pthread_mutex_lock(&mutex);
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&mutex);
	}
	return NULL;
}

static void blocker(void *arg)
{
	struct timespec ts = { .tv_nsec = 1000000 }, until;
	long kind = (long)(intptr_t)arg % 3;
	char c;

	while (!atomic_load(&stop_blockers)) {
		switch (kind) {
		case 0:
			if (read(pipefd[0], &c, 1) != 1)
				goto out;	/* the pipe was closed */
			break;
		case 1:
			nanosleep(&ts, NULL);
			break;
		case 2:
			/* Until the next broadcast, at most 5 ms. */
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 5000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_mutex_lock(&mutex);
			pthread_cond_timedwait(&cond, &mutex, &until);
			pthread_mutex_unlock(&mutex);
			break;
		}
		atomic_fetch_add(&blocking_calls, 1);
		fiber_yield();		/* and some fiber work between calls */
	}
out:
	fiber_wg_done(&blockers_done);
}

static const char *slot_state(unsigned int s)
{
	const char *name = fiber_slot_state_name(s);

	return name ? name : "?";
}

/* The module's view: the shared header and each carrier's slot. */
static void print_carriers(void)
{
	const struct fiber_shared *sh;
	const struct fiber_slot *s;
	unsigned int n, i;
	char p[24];

	sh = fiber_kernel_shared(&n);
	if (!sh)
		return;
	printf("    the module's view of this process (its shared slots, mid-run):\n");
	printf("      %u carriers, %u parked, %u held waiting for a P; %llu block notifications, %llu grants\n",
	       sh->nr_carriers, sh->nr_parked, sh->nr_waiting,
	       (unsigned long long)sh->notifications,
	       (unsigned long long)sh->grants);
	printf("      slot  tid    state     P    blocks  claims  holds\n");
	for (i = 0; i < n; i++) {
		s = fiber_slot_at(sh, i);
		if (FIBER_SLOT_STATE(s->state) == FIBER_SLOT_FREE)
			continue;
		if (s->user_word)
			snprintf(p, sizeof(p), "P%llu",
				 (unsigned long long)s->user_word - 1);
		else
			snprintf(p, sizeof(p), "-");
		printf("      %4u  %-5u  %-8s  %-3s %6llu  %6llu  %5llu\n", i,
		       s->tid, slot_state(FIBER_SLOT_STATE(s->state)), p,
		       (unsigned long long)s->blocks,
		       (unsigned long long)s->claims,
		       (unsigned long long)s->holds);
	}
}

static int demo_main(int argc, char **argv)
{
	struct fiber_stats st = { .size = sizeof(st) };
	double solo, mixed;
	pthread_t t;
	long i;

	(void)argc;
	(void)argv;
	if (fiber_stats(&st))
		return 1;
	printf("  FIBER_KERNEL=%s: %s, %d P\n", getenv("FIBER_KERNEL") ?: "auto",
	       st.kernel ? "the module assists libfiber" : "no module: sysmon retakes Ps",
	       fiber_maxprocs(0));
	solo = compute_for(SOLO_MS, "alone");
	if (pipe(pipefd) || pthread_create(&t, NULL, feeder, NULL))
		return 1;
	fiber_wg_add(&blockers_done, BLOCKERS);
	for (i = 0; i < BLOCKERS; i++)
		if (fiber_go(blocker, (void *)(intptr_t)i))
			return 1;
	mixed = compute_for(MIXED_MS / 2, "mixed");
	if (show_carriers)
		print_carriers();
	mixed = (mixed + compute_for(MIXED_MS / 2, "mixed")) / 2;
	atomic_store(&stop_blockers, true);
	pthread_join(t, NULL);
	close(pipefd[1]);			/* readers see EOF */
	fiber_wg_wait(&blockers_done);
	if (fiber_stats(&st))
		return 1;
	printf("  => compute ran at %.0f%% of its solo speed while %ld blocking calls were made\n",
	       100.0 * mixed / solo, atomic_load(&blocking_calls));
	if (st.kernel)
		printf("     Ps claimed from blocked threads: %llu, given back: %llu; %u threads\n",
		       (unsigned long long)st.kernel_claims,
		       (unsigned long long)st.kernel_grants, st.threads);
	else
		printf("     sysmon caught threads blocked %llu times, and retook their P %llu times; it left %llu sleeps their P (a signal would cut them short); %u threads\n",
		       (unsigned long long)st.signal_retakes,
		       (unsigned long long)st.handoffs,
		       (unsigned long long)st.signal_skips, st.threads);
	printf("RESULT %s utilisation=%.3f blocking_calls=%ld\n",
	       st.kernel ? "module" : "fallback", mixed / solo,
	       atomic_load(&blocking_calls));
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	show_carriers = argc > 1 && !strcmp(argv[1], "--carriers");
	fiber_maxprocs(1);
	ret = fiber_main(demo_main, argc, argv);
	fprintf(stderr, "libfiber-demo: fiber_main: %s\n", strerror(-ret));
	return 1;
}
