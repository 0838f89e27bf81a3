// SPDX-License-Identifier: MIT
/*
 * Mutex (hammer across 8 Ps, starvation), condition variable,
 * WaitGroup with 100k fibers, once, semaphore, and their errors (their
 * misuses are in strict_test).
 */
#include <errno.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

#define HAMMERS	64
#define ROUNDS	2000

static fiber_mutex_t mu = FIBER_MUTEX_INITIALIZER;
static long counter;	/* protected by mu, deliberately not atomic */

static void hammer(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < scaled(ROUNDS); i++) {
		CHECK(fiber_mutex_lock(&mu) == 0);
		counter++;
		if (i % 3 == 0)
			fiber_yield();	/* hold it across a switch */
		CHECK(fiber_mutex_unlock(&mu) == 0);
	}
}

static int main_hammer(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < HAMMERS; i++)
		CHECK(fiber_go(hammer, NULL) == 0);
	wait_others();
	CHECK(counter == HAMMERS * scaled(ROUNDS));
	CHECK(fiber_mutex_trylock(&mu) == 0);
	CHECK(fiber_mutex_trylock(&mu) == -EBUSY);
	CHECK(fiber_mutex_unlock(&mu) == 0);
	return 0;
}

/*
 * Under valgrind, which runs one thread at a time, each hand-over of the
 * mutex between the 8 Ms is a futex wake and a thread switch: 9 s there,
 * against a tenth of a second natively.
 */
TEST(mutex_hammer_across_8_procs)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_hammer, 8, NULL, 0),
				0));
}
TEST_LIMIT(mutex_hammer_across_8_procs, 120)

/* One fiber re-takes the lock in a tight loop; a waiter still gets it. */
static _Atomic int stop_hog, waiter_got;

static void hog(void *arg)
{
	(void)arg;
	while (!stop_hog) {
		fiber_mutex_lock(&mu);
		for (volatile int i = 0; i < 1000; i++)
			;
		fiber_mutex_unlock(&mu);
	}
}

static void waiter(void *arg)
{
	(void)arg;
	fiber_mutex_lock(&mu);
	waiter_got = 1;
	fiber_mutex_unlock(&mu);
}

static int main_starve(int argc, char **argv)
{
	int64_t t0;

	(void)argc, (void)argv;
	CHECK(fiber_go(hog, NULL) == 0);
	fiber_yield();
	CHECK(fiber_go(waiter, NULL) == 0);
	t0 = fiber_now();
	while (!waiter_got && fiber_now() - t0 < 20LL * 1000000000)
		fiber_sleep(1000000);
	stop_hog = 1;
	CHECK(waiter_got);
	wait_others();
	return 0;
}

TEST(mutex_is_starvation_free)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_starve, 2, NULL, 0),
				0));
}

static fiber_cond_t cond = FIBER_COND_INITIALIZER;
static int ready_flag, woken;

static void cond_waiter(void *arg)
{
	(void)arg;
	fiber_mutex_lock(&mu);
	while (!ready_flag)
		CHECK(fiber_cond_wait(&cond, &mu) == 0);
	woken++;
	fiber_mutex_unlock(&mu);
}

static int main_cond(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < 20; i++)
		CHECK(fiber_go(cond_waiter, NULL) == 0);
	while (stats_now().waiting < 20)
		fiber_yield();
	fiber_mutex_lock(&mu);
	ready_flag = 1;
	CHECK(fiber_cond_signal(&cond) == 0);
	fiber_mutex_unlock(&mu);
	while (woken < 1)
		fiber_yield();
	fiber_mutex_lock(&mu);
	CHECK(fiber_cond_broadcast(&cond) == 0);
	fiber_mutex_unlock(&mu);
	wait_others();
	CHECK(woken == 20);
	return 0;
}

TEST(cond_signal_and_broadcast)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_cond, 4, NULL, 0), 0));
}

#define WG_FIBERS	100000
static fiber_wg_t wg = FIBER_WG_INITIALIZER;
static _Atomic long wg_ran;

static void wg_worker(void *arg)
{
	(void)arg;
	wg_ran++;
	CHECK(fiber_wg_done(&wg) == 0);
}

static int main_wg(int argc, char **argv)
{
	long i, n = many_fibers(WG_FIBERS);

	(void)argc, (void)argv;
	CHECK(fiber_wg_wait(&wg) == 0);	/* zero: returns at once */
	CHECK(fiber_wg_add(&wg, n) == 0);
	for (i = 0; i < n; i++)
		CHECK(fiber_go(wg_worker, NULL) == 0);
	CHECK(fiber_wg_wait(&wg) == 0);
	CHECK(wg_ran == n);
	return 0;
}

TEST(waitgroup_with_100k_fibers)
{
	EXPECT_TRUE(exited_with(run_fiber_main(main_wg), 0));
}

static fiber_once_t once = FIBER_ONCE_INITIALIZER;
static _Atomic int once_calls;

static void init_once(void)
{
	once_calls++;
	fiber_yield();	/* others must wait for it, not run it again */
}

static void once_user(void *arg)
{
	(void)arg;
	CHECK(fiber_once(&once, init_once) == 0);
	CHECK(once_calls == 1);
}

static int main_once(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < 50; i++)
		CHECK(fiber_go(once_user, NULL) == 0);
	wait_others();
	CHECK(once_calls == 1);
	return 0;
}

TEST(once_runs_exactly_once)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_once, 4, NULL, 0), 0));
}

static fiber_sem_t sem;
static _Atomic int inside, max_inside;

static void sem_user(void *arg)
{
	int i, n;

	(void)arg;
	for (i = 0; i < scaled(200); i++) {
		CHECK(fiber_sem_acquire(&sem) == 0);
		n = ++inside;
		if (n > max_inside)
			max_inside = n;
		fiber_yield();
		inside--;
		CHECK(fiber_sem_release(&sem) == 0);
	}
}

static int main_sem(int argc, char **argv)
{
	int i;

	(void)argc, (void)argv;
	CHECK(fiber_sem_init(&sem, -1) == -EINVAL);
	CHECK(fiber_sem_init(&sem, 3) == 0);
	for (i = 0; i < 20; i++)
		CHECK(fiber_go(sem_user, NULL) == 0);
	wait_others();
	CHECK(max_inside <= 3 && max_inside >= 1);
	CHECK(fiber_sem_tryacquire(&sem) == 0);
	CHECK(fiber_sem_tryacquire(&sem) == 0);
	CHECK(fiber_sem_tryacquire(&sem) == 0);
	CHECK(fiber_sem_tryacquire(&sem) == -EAGAIN);
	return 0;
}

TEST(semaphore_bounds_the_holders)
{
	EXPECT_TRUE(exited_with(run_fiber_main_procs(main_sem, 4, NULL, 0), 0));
}

TEST_HARNESS_MAIN
