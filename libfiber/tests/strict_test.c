// SPDX-License-Identifier: MIT
/*
 * Misuse, where Go panics: each one, run twice in a child of its own.
 * Without FIBER_STRICT the call returns its error and changes nothing
 * (the scenario checks both and exits 0).  With FIBER_STRICT=1 it aborts
 * with a report that names what went wrong, the fiber (or the thread),
 * the call and its object, the call site, and ends with the fiber dump;
 * the test reads it back.
 *
 * Before the misuse, each scenario says on stderr which fiber and thread
 * make it, on which object, from which function: the report must name
 * the same, and its call site must lie in that function.  The child is
 * a fork, not an exec, so its functions are at the parent's addresses.
 */
#include <alloca.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

static fiber_chan_t *chan;
static fiber_mutex_t mu = FIBER_MUTEX_INITIALIZER;
static fiber_cond_t cond = FIBER_COND_INITIALIZER;
static fiber_wg_t wg = FIBER_WG_INITIALIZER;
static fiber_once_t once = FIBER_ONCE_INITIALIZER;
static fiber_sem_t sem;

/* Who is about to misuse @obj, from function @fn. */
static void site(const void *obj, void (*fn)(void))
{
	fprintf(stderr, "site: fiber %llu thread %d obj %lx fn %lx\n",
		(unsigned long long)fiber_id(), (int)syscall(SYS_gettid),
		(unsigned long)(uintptr_t)obj, (unsigned long)(uintptr_t)fn);
	fflush(stderr);
}

#define SITE(obj, fn)	site(obj, (void (*)(void))(fn))

/* Until @n fibers other than the caller are parked. */
static void wait_parked(uint64_t n)
{
	while (stats_now().waiting < n)
		fiber_yield();
}

/* ---- channels ---- */

static int send_closed(int argc, char **argv)
{
	int v = 1;

	(void)argc, (void)argv;
	chan = fiber_chan_new(sizeof(int), 1);
	CHECK(chan && fiber_chan_close(chan) == 0);
	SITE(chan, send_closed);
	CHECK(fiber_chan_send(chan, &v) == -EPIPE);
	CHECK(fiber_chan_len(chan) == 0);
	CHECK(fiber_chan_recv(chan, &v) == 0 && v == 0);
	CHECK(fiber_chan_free(chan) == 0);
	return 0;
}

static void blocked_sender(void *arg)
{
	int v = 1;

	(void)arg;
	SITE(chan, blocked_sender);
	CHECK(fiber_chan_send(chan, &v) == -EPIPE);
}

/* A sender blocked when the channel closes: Go panics in the sender. */
static int send_blocked_then_closed(int argc, char **argv)
{
	(void)argc, (void)argv;
	chan = fiber_chan_new(sizeof(int), 0);
	CHECK(chan && fiber_go(blocked_sender, NULL) == 0);
	wait_parked(1);
	CHECK(fiber_chan_close(chan) == 0);
	wait_others();
	CHECK(fiber_chan_free(chan) == 0);
	return 0;
}

static int select_send_closed(int argc, char **argv)
{
	struct fiber_case cs[2] = {
		{ .op = FIBER_CASE_RECV, .chan = NULL },
		{ .op = FIBER_CASE_SEND },
	};
	int v = 1;

	(void)argc, (void)argv;
	chan = fiber_chan_new(sizeof(int), 1);
	CHECK(chan && fiber_chan_close(chan) == 0);
	cs[1].chan = chan;
	cs[1].elem = &v;
	SITE(chan, select_send_closed);
	CHECK(fiber_select(cs, 2, 0) == 1 && cs[1].result == -EPIPE);
	CHECK(fiber_chan_len(chan) == 0);
	CHECK(fiber_chan_free(chan) == 0);
	return 0;
}

static void blocked_selecter(void *arg)
{
	struct fiber_case c = { .op = FIBER_CASE_SEND };
	int v = 1;

	(void)arg;
	c.chan = chan;
	c.elem = &v;
	SITE(chan, blocked_selecter);
	CHECK(fiber_select(&c, 1, 0) == 0 && c.result == -EPIPE);
}

static int select_blocked_then_closed(int argc, char **argv)
{
	(void)argc, (void)argv;
	chan = fiber_chan_new(sizeof(int), 0);
	CHECK(chan && fiber_go(blocked_selecter, NULL) == 0);
	wait_parked(1);
	CHECK(fiber_chan_close(chan) == 0);
	wait_others();
	CHECK(fiber_chan_free(chan) == 0);
	return 0;
}

static int close_closed(int argc, char **argv)
{
	int v = 7;

	(void)argc, (void)argv;
	chan = fiber_chan_new(sizeof(int), 1);
	CHECK(chan && fiber_chan_send(chan, &v) == 0);
	CHECK(fiber_chan_close(chan) == 0);
	SITE(chan, close_closed);
	CHECK(fiber_chan_close(chan) == -EPIPE);
	/* Still closed, its value still there. */
	CHECK(fiber_chan_recv(chan, &v) == 1 && v == 7);
	CHECK(fiber_chan_recv(chan, &v) == 0);
	CHECK(fiber_chan_free(chan) == 0);
	return 0;
}

static int close_nil(int argc, char **argv)
{
	(void)argc, (void)argv;
	SITE(NULL, close_nil);
	CHECK(fiber_chan_close(NULL) == -EINVAL);
	return 0;
}

static void receiver(void *arg)
{
	int v = 0;

	(void)arg;
	CHECK(fiber_chan_recv(chan, &v) == 1 && v == 42);
}

/* Freeing a channel a fiber waits on: it is left alone, still working. */
static int free_in_use(int argc, char **argv)
{
	int v = 42;

	(void)argc, (void)argv;
	chan = fiber_chan_new(sizeof(int), 0);
	CHECK(chan && fiber_go(receiver, NULL) == 0);
	wait_parked(1);
	SITE(chan, free_in_use);
	CHECK(fiber_chan_free(chan) == -EBUSY);
	CHECK(fiber_chan_send(chan, &v) == 0);
	wait_others();
	CHECK(fiber_chan_free(chan) == 0);
	CHECK(fiber_chan_free(NULL) == 0);
	return 0;
}

/* ---- sync ---- */

static int unlock_unlocked(int argc, char **argv)
{
	(void)argc, (void)argv;
	SITE(&mu, unlock_unlocked);
	CHECK(fiber_mutex_unlock(&mu) == -EPERM);
	CHECK(fiber_mutex_trylock(&mu) == 0);	/* still unlocked */
	CHECK(fiber_mutex_unlock(&mu) == 0);
	return 0;
}

static int cond_wait_unlocked(int argc, char **argv)
{
	(void)argc, (void)argv;
	SITE(&mu, cond_wait_unlocked);
	CHECK(fiber_cond_wait(&cond, &mu) == -EPERM);
	CHECK(fiber_mutex_trylock(&mu) == 0);	/* still unlocked */
	CHECK(fiber_mutex_unlock(&mu) == 0);
	CHECK(fiber_cond_broadcast(&cond) == 0);	/* and nobody queued */
	return 0;
}

/*
 * A copied fiber (FIBER_ATTR_COPY_STACK) waits on its own stack's wg.
 * alloca: a plain local may be in ASan's fake stack instead.
 */
static void wg_on_own_stack_fiber(void *arg)
{
	fiber_wg_t *own = alloca(sizeof(*own));

	(void)arg;
	memset(own, 0, sizeof(*own));	/* FIBER_WG_INITIALIZER */
	CHECK(fiber_wg_add(own, 1) == 0);
	SITE(own, wg_on_own_stack_fiber);
	CHECK(fiber_wg_wait(own) == -EFAULT);
}

static int wg_on_own_stack(int argc, char **argv)
{
	struct fiber_attr copied = {
		.size = sizeof(copied), .flags = FIBER_ATTR_COPY_STACK,
	};

	(void)argc, (void)argv;
	CHECK(fiber_go_attr(&copied, wg_on_own_stack_fiber, NULL) == 0);
	wait_others();
	return 0;
}

static int wg_add_negative(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_wg_add(&wg, 1) == 0);
	SITE(&wg, wg_add_negative);
	CHECK(fiber_wg_add(&wg, -2) == -EINVAL);
	/* Unchanged: one done brings it to zero. */
	CHECK(fiber_wg_done(&wg) == 0);
	CHECK(fiber_wg_wait(&wg) == 0);
	return 0;
}

static int wg_done_negative(int argc, char **argv)
{
	(void)argc, (void)argv;
	SITE(&wg, wg_done_negative);
	CHECK(fiber_wg_done(&wg) == -EINVAL);
	CHECK(fiber_wg_wait(&wg) == 0);		/* still zero */
	return 0;
}

static int go_nil(int argc, char **argv)
{
	(void)argc, (void)argv;
	SITE(NULL, go_nil);
	CHECK(fiber_go(NULL, NULL) == -EINVAL);
	CHECK(fiber_num() == 1);
	return 0;
}

static int go_attr_nil(int argc, char **argv)
{
	struct fiber_attr attr = { .size = sizeof(attr) };

	(void)argc, (void)argv;
	SITE(NULL, go_attr_nil);
	CHECK(fiber_go_attr(&attr, NULL, NULL) == -EINVAL);
	CHECK(fiber_num() == 1);
	return 0;
}

static int defer_nil(int argc, char **argv)
{
	(void)argc, (void)argv;
	SITE(NULL, defer_nil);
	CHECK(fiber_defer(NULL, NULL) == -EINVAL);
	return 0;
}

static int scope_nil(int argc, char **argv)
{
	(void)argc, (void)argv;
	{
		SITE(NULL, scope_nil);
		FIBER_SCOPED_DEFER(NULL, NULL);
		/* Nothing to call at the block's end, nor at the fiber's. */
	}
	return 0;
}

static int once_calls;

static void count_once(void)
{
	once_calls++;
}

static int once_nil(int argc, char **argv)
{
	(void)argc, (void)argv;
	SITE(&once, once_nil);
	CHECK(fiber_once(&once, NULL) == -EINVAL);
	/* Not spent: the next call with a function runs it. */
	CHECK(fiber_once(&once, count_once) == 0 && once_calls == 1);
	return 0;
}

/* ---- outside a fiber: a plain thread started by the main fiber ---- */

static void nothing(void *arg)
{
	(void)arg;
}

static void outside_send(void)
{
	int v = 1;

	SITE(chan, outside_send);
	CHECK(fiber_chan_send(chan, &v) == -ESRCH);
}

static void outside_recv(void)
{
	int v = 1;

	SITE(chan, outside_recv);
	CHECK(fiber_chan_recv(chan, &v) == -ESRCH);
}

static void outside_select(void)
{
	static struct fiber_case c = { .op = FIBER_CASE_TIMEOUT };

	SITE(&c, outside_select);
	CHECK(fiber_select(&c, 1, 0) == -ESRCH);
}

/* The main fiber holds mu: the lock would have to wait. */
static void outside_lock(void)
{
	SITE(&mu, outside_lock);
	CHECK(fiber_mutex_lock(&mu) == -ESRCH);
}

static void outside_cond_wait(void)
{
	SITE(&cond, outside_cond_wait);
	CHECK(fiber_cond_wait(&cond, &mu) == -ESRCH);
}

static void outside_wg_wait(void)
{
	SITE(&wg, outside_wg_wait);
	CHECK(fiber_wg_wait(&wg) == -ESRCH);
}

static void outside_sem_acquire(void)
{
	SITE(&sem, outside_sem_acquire);
	CHECK(fiber_sem_acquire(&sem) == -ESRCH);
}

static void outside_go(void)
{
	SITE((void *)nothing, outside_go);
	CHECK(fiber_go(nothing, NULL) == -ESRCH);
}

static void outside_defer(void)
{
	SITE((void *)nothing, outside_defer);
	CHECK(fiber_defer(nothing, NULL) == -ESRCH);
}

/* A fiber is inside fiber_once(): a second caller would have to wait. */
static void outside_once(void)
{
	SITE(&once, outside_once);
	CHECK(fiber_once(&once, count_once) == -ESRCH);
}

static fiber_chan_t *release;

static void hold_once(void)
{
	CHECK(fiber_chan_recv(release, NULL) == 0);
}

static void once_holder(void *arg)
{
	(void)arg;
	CHECK(fiber_once(&once, hold_once) == 0);
}

static void (*outside_fn)(void);	/* set by the test before the fork */

static void *outside_thread(void *arg)
{
	(void)arg;
	outside_fn();
	return NULL;
}

static int outside(int argc, char **argv)
{
	pthread_t t;

	(void)argc, (void)argv;
	chan = fiber_chan_new(sizeof(int), 0);
	release = fiber_chan_new(0, 0);
	CHECK(chan && release && fiber_mutex_lock(&mu) == 0);
	CHECK(fiber_go(once_holder, NULL) == 0);
	wait_parked(1);
	/* Blocks this fiber's thread: nothing else needs it meanwhile. */
	CHECK(pthread_create(&t, NULL, outside_thread, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(fiber_mutex_unlock(&mu) == 0);
	CHECK(fiber_chan_close(release) == 0);
	wait_others();
	CHECK(once_calls == 0);
	CHECK(fiber_chan_free(release) == 0);
	CHECK(fiber_chan_free(chan) == 0);
	return 0;
}

/* ---- the tests ---- */

FIXTURE(misuse) {
	char err[16384];
};

FIXTURE_VARIANT(misuse) {
	int (*main_fn)(int argc, char **argv);
	void (*outside)(void);	/* main_fn is outside(): on a thread */
	const char *what, *call, *kind, *err;
};

#define MISUSE_CASE(name, fn, what_, call_, kind_, err_)		\
	FIXTURE_VARIANT_ADD(misuse, name) {				\
		.main_fn = fn, .what = what_, .call = call_,		\
		.kind = kind_, .err = err_,				\
	}
#define OUTSIDE_CASE(name, fn, what_, call_, kind_)			\
	FIXTURE_VARIANT_ADD(misuse, name) {				\
		.main_fn = outside, .outside = fn, .what = what_,	\
		.call = call_, .kind = kind_, .err = "ESRCH",		\
	}

MISUSE_CASE(send_closed, send_closed, "send on closed channel",
	    "fiber_chan_send", "channel", "EPIPE");
MISUSE_CASE(send_blocked_then_closed, send_blocked_then_closed,
	    "send on closed channel", "fiber_chan_send", "channel", "EPIPE");
MISUSE_CASE(select_send_closed, select_send_closed, "send on closed channel",
	    "fiber_select", "channel", "EPIPE");
MISUSE_CASE(select_blocked_then_closed, select_blocked_then_closed,
	    "send on closed channel", "fiber_select", "channel", "EPIPE");
MISUSE_CASE(close_closed, close_closed, "close of closed channel",
	    "fiber_chan_close", "channel", "EPIPE");
MISUSE_CASE(close_nil, close_nil, "close of nil channel", "fiber_chan_close",
	    "channel", "EINVAL");
MISUSE_CASE(free_in_use, free_in_use, "free of channel with waiting fibers",
	    "fiber_chan_free", "channel", "EBUSY");
MISUSE_CASE(unlock_unlocked, unlock_unlocked, "sync: unlock of unlocked mutex",
	    "fiber_mutex_unlock", "mutex", "EPERM");
MISUSE_CASE(cond_wait_unlocked, cond_wait_unlocked,
	    "sync: unlock of unlocked mutex", "fiber_cond_wait", "mutex", "EPERM");
MISUSE_CASE(wg_on_own_stack, wg_on_own_stack,
	    "WaitGroup wait on a copied fiber's own stack", "fiber_wg_wait",
	    "WaitGroup", "EFAULT");
MISUSE_CASE(wg_add_negative, wg_add_negative, "sync: negative WaitGroup counter",
	    "fiber_wg_add", "WaitGroup", "EINVAL");
MISUSE_CASE(wg_done_negative, wg_done_negative,
	    "sync: negative WaitGroup counter", "fiber_wg_done", "WaitGroup",
	    "EINVAL");
MISUSE_CASE(go_nil, go_nil, "go of nil func value", "fiber_go", "function",
	    "EINVAL");
MISUSE_CASE(go_attr_nil, go_attr_nil, "go of nil func value", "fiber_go_attr",
	    "function", "EINVAL");
MISUSE_CASE(defer_nil, defer_nil, "defer of nil func value", "fiber_defer",
	    "function", "EINVAL");
MISUSE_CASE(scope_nil, scope_nil, "defer of nil func value",
	    "fiber_scope_enter", "function", "EINVAL");
MISUSE_CASE(once_nil, once_nil, "once of nil func value", "fiber_once", "once",
	    "EINVAL");
OUTSIDE_CASE(send_outside, outside_send, "channel send outside a fiber",
	     "fiber_chan_send", "channel");
OUTSIDE_CASE(recv_outside, outside_recv, "channel receive outside a fiber",
	     "fiber_chan_recv", "channel");
OUTSIDE_CASE(select_outside, outside_select, "select outside a fiber",
	     "fiber_select", "cases");
OUTSIDE_CASE(lock_outside, outside_lock, "wait for a mutex outside a fiber",
	     "fiber_mutex_lock", "mutex");
OUTSIDE_CASE(cond_wait_outside, outside_cond_wait,
	     "wait for a condition outside a fiber", "fiber_cond_wait", "cond");
OUTSIDE_CASE(wg_wait_outside, outside_wg_wait, "WaitGroup wait outside a fiber",
	     "fiber_wg_wait", "WaitGroup");
OUTSIDE_CASE(sem_acquire_outside, outside_sem_acquire,
	     "semaphore wait outside a fiber", "fiber_sem_acquire", "semaphore");
OUTSIDE_CASE(once_outside, outside_once, "wait for a once outside a fiber",
	     "fiber_once", "once");
OUTSIDE_CASE(go_outside, outside_go, "go outside a fiber", "fiber_go",
	     "function");
OUTSIDE_CASE(defer_outside, outside_defer, "defer outside a fiber",
	     "fiber_defer", "function");

FIXTURE_SETUP(misuse)
{
	struct rlimit none = { 0, 0 };

	/* The strict runs abort: no core files. */
	ASSERT_EQ(0, setrlimit(RLIMIT_CORE, &none));
	outside_fn = variant->outside;
}

FIXTURE_TEARDOWN(misuse)
{
}

TEST_F(misuse, returns_the_error_without_strict)
{
	int status = run_fiber_main_as(variant->main_fn, 2, "0", self->err,
				       sizeof(self->err));

	EXPECT_TRUE(exited_with(status, 0))
		TH_LOG("status %#x, stderr:\n%s", status, self->err);
}

TEST_F(misuse, aborts_with_a_report_under_strict)
{
	unsigned long long id;
	unsigned long obj, fn, pc;
	char want[512];
	const char *p;
	Dl_info info;
	int status, tid;

	status = run_fiber_main_as(variant->main_fn, 2, "1", self->err,
				   sizeof(self->err));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)
		TH_LOG("status %#x, stderr:\n%s", status, self->err);
	p = strstr(self->err, "site: ");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(4, sscanf(p, "site: fiber %llu thread %d obj %lx fn %lx",
			    &id, &tid, &obj, &fn));

	/* What, in Go's words. */
	snprintf(want, sizeof(want), "libfiber: panic: %s\n", variant->what);
	EXPECT_NE(NULL, strstr(self->err, want)) TH_LOG("%s", self->err);

	/* Who, the call and its object. */
	if (id)
		p = want + snprintf(want, sizeof(want), "\nfiber %llu: ", id);
	else
		p = want + snprintf(want, sizeof(want),
				    "\nthread %d (not a fiber): ", tid);
	if (obj)
		snprintf((char *)p, sizeof(want) - (p - want), "%s(%s %p)\n",
			 variant->call, variant->kind, (void *)obj);
	else
		snprintf((char *)p, sizeof(want) - (p - want), "%s(%s NULL)\n",
			 variant->call, variant->kind);
	EXPECT_NE(NULL, strstr(self->err, want)) TH_LOG("want %s in:\n%s",
						       want, self->err);

	/* Where: a return address into the function that made the call. */
	p = strstr(self->err, "\tcalled from 0x");
	ASSERT_NE(NULL, p) TH_LOG("%s", self->err);
	pc = strtoul(p + strlen("\tcalled from "), NULL, 16);
	EXPECT_TRUE(pc > fn && pc < fn + 4096)
		TH_LOG("call site %#lx, function at %#lx", pc, fn);
	/* In words, where dladdr() knows the program (not a static one). */
	if (dladdr((void *)fn, &info) && info.dli_fname && *info.dli_fname) {
		snprintf(want, sizeof(want), "%s+0x%lx", info.dli_fname,
			 pc - (unsigned long)info.dli_fbase);
		EXPECT_NE(NULL, strstr(p, want)) TH_LOG("want %s in:\n%s",
						       want, self->err);
	}
	snprintf(want, sizeof(want), "without it, -%s is returned\n",
		 variant->err);
	EXPECT_NE(NULL, strstr(self->err, want)) TH_LOG("%s", self->err);

	/*
	 * Then the fiber dump, with the culprit running.  Or in a system
	 * call: sysmon's signal retake (syscall.c) may have taken its P
	 * while its thread slept in a futex, and the fiber's books say so
	 * until it next enters the scheduler.  Under valgrind that happens
	 * whenever valgrind leaves the thread waiting for its turn.
	 */
	EXPECT_NE(NULL, strstr(self->err, "\nlibfiber: ")) TH_LOG("%s", self->err);
	snprintf(want, sizeof(want), "\nfiber %llu [", id ? id : 1);
	p = strstr(self->err, want);
	EXPECT_NE(NULL, p) TH_LOG("%s", self->err);
	if (p && id) {
		p += strlen(want);
		EXPECT_TRUE(!strncmp(p, "running]", 8) ||
			    !strncmp(p, "syscall]", 8))
			TH_LOG("%s", self->err);
	}
}

/* Unset or empty is off; anything but 0 and 1 stops fiber_main(). */
TEST(strict_setting)
{
	char err[4096];
	int status;

	status = run_fiber_main_as(send_closed, 1, "", err, sizeof(err));
	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("%s", err);
	status = run_fiber_main_as(send_closed, 1, "yes", err, sizeof(err));
	EXPECT_TRUE(exited_with(status, 99)) TH_LOG("%s", err);
	EXPECT_NE(NULL, strstr(err, "FIBER_STRICT=yes: expected 0 or 1"))
		TH_LOG("%s", err);
}

/* Before fiber_main(), a misuse reads FIBER_STRICT itself. */
TEST(strict_before_fiber_main)
{
	struct rlimit none = { 0, 0 };
	int status, fds[2];
	char err[4096];
	size_t got;
	ssize_t n;
	pid_t pid;

	ASSERT_EQ(0, setrlimit(RLIMIT_CORE, &none));
	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		dup2(fds[1], 2);
		setenv("FIBER_STRICT", "1", 1);
		fiber_chan_close(NULL);
		_exit(0);
	}
	close(fds[1]);
	for (got = 0; got < sizeof(err) - 1; got += (size_t)n)
		if ((n = read(fds[0], err + got, sizeof(err) - 1 - got)) <= 0)
			break;
	err[got] = 0;
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)
		TH_LOG("status %#x: %s", status, err);
	EXPECT_NE(NULL, strstr(err, "libfiber: panic: close of nil channel\n"))
		TH_LOG("%s", err);
	EXPECT_NE(NULL, strstr(err, "(not a fiber): fiber_chan_close(channel NULL)\n"))
		TH_LOG("%s", err);
}

TEST_HARNESS_MAIN
