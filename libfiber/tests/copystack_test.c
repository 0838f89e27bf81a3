// SPDX-License-Identifier: MIT
/*
 * Copied stacks (FIBER_ATTR_COPY_STACK): many fibers share a few stacks,
 * and each keeps its bytes across every kind of wait the runtime has.
 * Each test starts far more copied fibers than there are shared stacks
 * (16 per CPU), so their bytes are copied out and back.
 */
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

static const struct fiber_attr copied = {
	.size = sizeof(copied), .flags = FIBER_ATTR_COPY_STACK,
};

static long nfibers;
static fiber_chan_t *go_on, *done;

/* A pattern only fiber @id at depth @depth writes. */
static uint8_t pattern(long id, int depth, int i)
{
	return (uint8_t)(id * 31 + depth * 7 + i);
}

/*
 * Fill a frame with a pattern, recurse, then wait on a channel with the
 * frames of every level live; check them all once back.  The value
 * received goes to a local too: the sender copies it while we are parked.
 */
static long nested_wait(long id, int depth)
{
	uint8_t buf[200 + 64 * (id % 4)];
	long got = 0, sum = 0;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(id, depth, (int)i);
	if (depth > 0)
		sum = nested_wait(id, depth - 1);
	else
		CHECK(fiber_chan_recv(go_on, &got) == 1);
	for (i = 0; i < sizeof(buf); i++)
		CHECK(buf[i] == pattern(id, depth, (int)i));
	return sum + got;
}

static void nested_waiter(void *arg)
{
	long id = (long)(intptr_t)arg, got = nested_wait(id, (int)(id % 5));

	CHECK(fiber_chan_send(done, &got) == 0);
}

static int main_nested(int argc, char **argv)
{
	long i, v, sum = 0, want = 0;
	struct fiber_stats s;

	(void)argc, (void)argv;
	go_on = fiber_chan_new(sizeof(long), 0);
	done = fiber_chan_new(sizeof(long), 0);
	CHECK(go_on && done);
	for (i = 0; i < nfibers; i++)
		CHECK(fiber_go_attr(&copied, nested_waiter,
				    (void *)(intptr_t)i) == 0);
	for (i = 0; i < nfibers; i++) {
		v = i * 3 + 1;
		want += v;
		CHECK(fiber_chan_send(go_on, &v) == 0);
	}
	for (i = 0; i < nfibers; i++) {
		CHECK(fiber_chan_recv(done, &v) == 1);
		sum += v;
	}
	CHECK(sum == want);
	/* Far more fibers than shared stacks: their bytes were swapped. */
	s = stats_now();
	CHECK(s.shared_stacks >= 16 && s.shared_stacks < (uint64_t)nfibers);
	CHECK(s.stack_copies >= (uint64_t)nfibers);
	return 0;
}

/* Every fiber's frames, a few levels deep, survive a wait on a channel. */
TEST(each_fiber_keeps_its_frames_across_a_wait)
{
	/* Even under the checkers: 4 times the most shared stacks there are. */
	nfibers = scaled(many_fibers(20000));
	if (nfibers < 4096)
		nfibers = 4096;
	EXPECT_CLEAN_RUN(main_nested);
}

/* ---- every kind of wait ------------------------------------------------- */

static fiber_mutex_t mu = FIBER_MUTEX_INITIALIZER;
static fiber_cond_t cond = FIBER_COND_INITIALIZER;
static fiber_wg_t *wg;
static fiber_sem_t sem;
static long counter, generation;
static int pipefd[2];

struct big {
	long v[40];		/* bigger than a waiter: a value of its own */
};

static void every_wait(void *arg)
{
	long id = (long)(intptr_t)arg, gen, v = -1;
	char canary[96], byte = 0;
	struct big b;
	struct fiber_case cases[2] = {
		{ .op = FIBER_CASE_RECV, .chan = go_on, .elem = &b },
		{ .op = FIBER_CASE_TIMEOUT, .timeout_ns = 30000000000LL },
	};
	int i;

	memset(canary, (int)id, sizeof(canary));
	/* select, into a local, a value bigger than the waiter */
	CHECK(fiber_select(cases, 2, 0) == 0 && cases[0].result == 1);
	for (i = 0; i < 40; i++)
		CHECK(b.v[i] == i);
	/* a contended mutex */
	CHECK(fiber_mutex_lock(&mu) == 0);
	counter++;
	gen = generation;
	fiber_yield();
	CHECK(fiber_mutex_unlock(&mu) == 0);
	/* a condition, under that mutex */
	CHECK(fiber_mutex_lock(&mu) == 0);
	while (generation == gen)
		CHECK(fiber_cond_wait(&cond, &mu) == 0);
	CHECK(fiber_mutex_unlock(&mu) == 0);
	/* a semaphore, a sleep, a pipe through the netpoller */
	CHECK(fiber_sem_acquire(&sem) == 0);
	fiber_sleep(1000 + id % 1000);
	CHECK(fiber_read(pipefd[0], &byte, 1) == 1 && byte == 'x');
	CHECK(fiber_sem_release(&sem) == 0);
	/* a receive into a local, in a plain channel wait */
	CHECK(fiber_chan_recv(done, &v) == 1 && v == 7);
	for (i = 0; i < (int)sizeof(canary); i++)
		CHECK(canary[i] == (char)id);
	CHECK(fiber_wg_done(wg) == 0);
}

static int main_every_wait(int argc, char **argv)
{
	struct big b;
	long i, v = 7;
	int64_t deadline;

	(void)argc, (void)argv;
	for (i = 0; i < 40; i++)
		b.v[i] = i;
	go_on = fiber_chan_new(sizeof(struct big), 0);
	done = fiber_chan_new(sizeof(long), 0);
	wg = calloc(1, sizeof(*wg));	/* not on our stack: see fiber.h */
	CHECK(go_on && done && wg);
	CHECK(fiber_sem_init(&sem, 3) == 0);
	CHECK(pipe2(pipefd, O_NONBLOCK) == 0);
	CHECK(fiber_wg_add(wg, nfibers) == 0);
	for (i = 0; i < nfibers; i++)
		CHECK(fiber_go_attr(&copied, every_wait,
				    (void *)(intptr_t)i) == 0);
	for (i = 0; i < nfibers; i++)
		CHECK(fiber_chan_send(go_on, &b) == 0);
	/* All queued on the condition (or about to): wake them. */
	deadline = 0;
	for (;;) {
		CHECK(fiber_mutex_lock(&mu) == 0);
		v = counter;
		CHECK(fiber_mutex_unlock(&mu) == 0);
		if (v == nfibers)
			break;
		fiber_sleep(1000000);
		CHECK(++deadline < 60000);
	}
	CHECK(fiber_mutex_lock(&mu) == 0);
	generation++;
	CHECK(fiber_cond_broadcast(&cond) == 0);
	CHECK(fiber_mutex_unlock(&mu) == 0);
	for (i = 0; i < nfibers; i++)
		CHECK(fiber_write(pipefd[1], "x", 1) == 1);
	v = 7;
	for (i = 0; i < nfibers; i++)
		CHECK(fiber_chan_send(done, &v) == 0);
	CHECK(fiber_wg_wait(wg) == 0);
	return 0;
}

/*
 * select (into a local, with a timeout armed), mutex, cond, semaphore,
 * sleep, netpoll and WaitGroup: the runtime keeps what others touch
 * while a copied fiber waits off its stack.  Two Ps, so a fiber often
 * resumes on another thread than the one it parked on.
 */
TEST(every_runtime_wait_keeps_the_stack_whole)
{
	nfibers = scaled(many_fibers(3000));
	EXPECT_CLEAN_RUN_PROCS(main_every_wait, 2);
}

/* ---- memory ------------------------------------------------------------- */

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	CHECK(f);
	CHECK(fscanf(f, "%ld %ld", &pages, &rss) == 2);
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

static void parks(void *arg)
{
	long v;

	(void)arg;
	CHECK(fiber_chan_recv(go_on, &v) == 0);	/* closed */
}

static int main_memory(int argc, char **argv)
{
	long i, before, per;

	(void)argc, (void)argv;
	go_on = fiber_chan_new(sizeof(long), 0);
	CHECK(go_on);
	before = rss_bytes();
	for (i = 0; i < nfibers; i++)
		CHECK(fiber_go_attr(&copied, parks, NULL) == 0);
	while (fiber_num() < nfibers + 1)
		fiber_yield();
	fiber_yield();
	per = (rss_bytes() - before) / nfibers;
	printf("# %ld bytes per parked copied fiber\n", per);
	/* A fiber with a stack of its own costs a page at least. */
	CHECK(per < 4096);
	CHECK(fiber_chan_close(go_on) == 0);
	wait_others();
	return 0;
}

/*
 * What the mode is for: a parked fiber keeps what its stack uses, well
 * under the page a stack of its own costs.  Not under the checkers,
 * whose shadow memory and red zones are the cost measured there.
 */
TEST(a_parked_copied_fiber_costs_less_than_a_page)
{
	if (getenv("FIBER_TEST_FIBERS"))
		SKIP(return, "a checker's run (FIBER_TEST_FIBERS): the memory measured would be its own");
	nfibers = 100000;
	EXPECT_CLEAN_RUN(main_memory);
}

/* ---- attributes ----------------------------------------------------------- */

static void nothing(void *arg)
{
	(void)arg;
}

static int main_attrs(int argc, char **argv)
{
	struct fiber_attr a = copied;
	struct fiber_attr old = { .size = offsetof(struct fiber_attr, flags),
				  .flags = 0xdead };

	(void)argc, (void)argv;
	a.stack_size = 64 * 1024;
	CHECK(fiber_go_attr(&a, nothing, NULL) == -EINVAL);
	a = copied;
	a.flags |= 0x80;
	CHECK(fiber_go_attr(&a, nothing, NULL) == -EINVAL);
	/* A struct from before @flags: the field is not read. */
	CHECK(fiber_go_attr(&old, nothing, NULL) == 0);
	CHECK(fiber_go_attr(&copied, nothing, NULL) == 0);
	wait_others();
	return 0;
}

/*
 * A stack size with FIBER_ATTR_COPY_STACK, or an unknown flag, is
 * refused; a caller built before @flags existed is not read past its
 * struct.
 */
TEST(bad_copied_attributes_are_refused)
{
	EXPECT_CLEAN_RUN(main_attrs);
}

/* ---- the rule, checked ---------------------------------------------------- */

static _Atomic int refused;

/*
 * The objects are on the stack for sure: alloca.  A plain local may be
 * elsewhere, in ASan's fake stack (detect_stack_use_after_return).
 */
struct own_objects {
	fiber_mutex_t mu;
	fiber_cond_t cond;
	fiber_wg_t wg;
	fiber_sem_t sem;
};

static void waits_on_its_own_stack(void *arg)
{
	struct own_objects *o = alloca(sizeof(*o));

	(void)arg;
	memset(o, 0, sizeof(*o));	/* each one's initializer: zeroes */
	CHECK(fiber_wg_add(&o->wg, 1) == 0);
	CHECK(fiber_wg_wait(&o->wg) == -EFAULT);
	CHECK(fiber_sem_init(&o->sem, 0) == 0);
	CHECK(fiber_sem_acquire(&o->sem) == -EFAULT);
	CHECK(fiber_mutex_lock(&o->mu) == 0);	/* uncontended: nobody waits */
	CHECK(fiber_mutex_lock(&o->mu) == -EFAULT);
	CHECK(fiber_cond_wait(&o->cond, &o->mu) == -EFAULT);
	CHECK(fiber_mutex_unlock(&o->mu) == 0);
	refused = 1;
}

static int main_own_stack(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_go_attr(&copied, waits_on_its_own_stack, NULL) == 0);
	wait_others();
	CHECK(refused);
	return 0;
}

/*
 * A copied fiber that would wait on a mutex, condition, WaitGroup or
 * semaphore on its own stack (which its waker would then write to while
 * another fiber's bytes may be there) is refused with -EFAULT, and
 * FIBER_STRICT=1 stops the program with a report.
 */
TEST(waiting_on_an_object_on_its_own_stack_is_refused)
{
	char err[1024];

	EXPECT_TRUE(exited_with(run_fiber_main_lax(main_own_stack), 0));
	EXPECT_FALSE(exited_with(run_fiber_main_err(main_own_stack, err,
						    sizeof(err)), 0));
	EXPECT_NE(NULL, strstr(err, "WaitGroup wait on a copied fiber's own stack"))
		TH_LOG("stderr: %s", err);
}

/* ---- threads and exits -------------------------------------------------- */

static void locked_copied(void *arg)
{
	long v;

	(void)arg;
	fiber_lock_thread();
	CHECK(fiber_chan_recv(go_on, &v) == 1);
	fiber_yield();
	fiber_unlock_thread();
	CHECK(fiber_chan_send(done, &v) == 0);
}

static void short_lived(void *arg)
{
	long v = (long)(intptr_t)arg;

	if (v % 2)
		fiber_yield();
	CHECK(fiber_chan_send(done, &v) == 0);
}

static int main_mixed(int argc, char **argv)
{
	long i, v, sum = 0, want = 0;

	(void)argc, (void)argv;
	go_on = fiber_chan_new(sizeof(long), 0);
	done = fiber_chan_new(sizeof(long), 64);
	CHECK(go_on && done);
	for (i = 0; i < 40; i++)
		CHECK(fiber_go_attr(&copied, locked_copied, NULL) == 0);
	for (i = 0; i < nfibers; i++) {
		want += i;
		CHECK(fiber_go_attr(i % 3 ? &copied : NULL, short_lived,
				    (void *)(intptr_t)i) == 0);
	}
	for (i = 0; i < 40; i++) {
		v = 1000000 + i;
		want += v;
		CHECK(fiber_chan_send(go_on, &v) == 0);
	}
	for (i = 0; i < nfibers + 40; i++) {
		CHECK(fiber_chan_recv(done, &v) == 1);
		sum += v;
	}
	CHECK(sum == want);
	return 0;
}

/*
 * Copied fibers wired to threads, fibers that exit at once (their shared
 * stack is free again), and fibers with stacks of their own, together
 * on four Ps.
 */
TEST(copied_fibers_lock_threads_and_exit_beside_others)
{
	nfibers = scaled(many_fibers(50000));
	EXPECT_CLEAN_RUN_PROCS(main_mixed, 4);
}

TEST_HARNESS_MAIN
