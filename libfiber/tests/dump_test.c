// SPDX-License-Identifier: MIT
/*
 * fiber_dump() and the dump on a signal (FIBER_DUMP_SIGNAL,
 * FIBER_DUMP_ACTION): every fiber with its state, wait reason, time
 * waited, a backtrace that names the function it parked in, and its
 * creator; the program's own handler wins; a forked child is not dumped
 * through its parent; bad settings stop fiber_main with -EINVAL.
 *
 * The functions named here are static, or not exported (no -rdynamic):
 * dladdr() cannot name them, and the dump reads the program's .symtab,
 * in the dynamic and the static (aarch64) builds alike.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

/* A call followed by this keeps its caller's frame (no jump instead). */
#define NO_TAIL_CALL()	__asm__ volatile("" ::: "memory")

static int ready_fd = -1;		/* the child tells the parent */
static fiber_chan_t *never;
static fiber_mutex_t held = FIBER_MUTEX_INITIALIZER;

__attribute__((noinline)) static void parked_in_recv(void *arg)
{
	long v;

	(void)arg;
	fiber_chan_recv(never, &v);
	NO_TAIL_CALL();
}

__attribute__((noinline)) static void parked_in_sleep(void *arg)
{
	(void)arg;
	fiber_sleep(3600LL * 1000000000);
	NO_TAIL_CALL();
}

__attribute__((noinline)) static void parked_in_lock(void *arg)
{
	(void)arg;
	fiber_mutex_lock(&held);
	NO_TAIL_CALL();
}

/* Three parked fibers, then tell the parent, and wait to be dumped. */
static int main_parked(int argc, char **argv)
{
	struct fiber_stats s = stats_now();

	(void)argc, (void)argv;
	never = fiber_chan_new(sizeof(long), 0);
	CHECK(never);
	fiber_mutex_lock(&held);
	CHECK(fiber_go(parked_in_recv, NULL) == 0);
	CHECK(fiber_go(parked_in_sleep, NULL) == 0);
	CHECK(fiber_go(parked_in_lock, NULL) == 0);
	do {
		fiber_sleep(1000000);
		s = stats_now();
	} while (s.waiting < 3);
	CHECK(write(ready_fd, "r", 1) == 1);
	/* The parent reads our dumps, then closes its end: we exit. */
	for (;;) {
		char c;

		if (fiber_read(ready_fd, &c, 1) <= 0)
			break;
	}
	return 0;
}

struct child {
	pid_t pid;
	int err;	/* its stderr */
	int ctl;	/* our end of its ready_fd */
};

/* Start main_parked in a child with @env ("NAME=value" or NULL) set. */
static int child_start(struct child *c, const char *env1, const char *env2,
		       void (*before)(void))
{
	int errp[2], sv[2];

	fflush(NULL);
	if (pipe(errp) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		dup2(errp[1], 2);
		close(errp[0]);
		close(sv[0]);
		ready_fd = sv[1];
		/* SIGQUIT's default action must not leave a core behind. */
		setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
		unsetenv("FIBER_DUMP_SIGNAL");
		unsetenv("FIBER_DUMP_ACTION");
		if (env1)
			putenv((char *)env1);
		if (env2)
			putenv((char *)env2);
		if (before)
			before();
		_exit(fiber_main(main_parked, 0, NULL) == -EINVAL ? 97 : 99);
	}
	close(errp[1]);
	close(sv[1]);
	c->err = errp[0];
	c->ctl = sv[0];
	return 0;
}

static bool child_ready(struct child *c)
{
	char r;

	return read(c->ctl, &r, 1) == 1 && r == 'r';
}

/*
 * Read its stderr until @want appears after offset @got (or EOF).  @buf
 * holds it all.  Return: the new length.
 */
static size_t read_until(struct child *c, char *buf, size_t len, size_t got,
			 const char *want)
{
	size_t from = got;
	ssize_t n;

	buf[got] = 0;
	while (got < len - 1 && (!want || !strstr(buf + from, want)) &&
	       (n = read(c->err, buf + got, len - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = 0;
	}
	buf[got] = 0;
	return got;
}

static int child_wait(struct child *c)
{
	int status = -1;

	close(c->ctl);
	waitpid(c->pid, &status, 0);
	close(c->err);
	return status;
}

/* The entry of fiber @what ("chan receive"...) names @name in its frames. */
static bool entry_names(const char *out, const char *what, const char *name)
{
	char head[64];
	const char *e, *end;
	char entry[4096];
	size_t n;

	snprintf(head, sizeof(head), "[waiting, %s, ", what);
	e = strstr(out, head);
	if (!e)
		return false;
	end = strstr(e, "created by");
	if (!end)
		return false;
	n = (size_t)(end - e) < sizeof(entry) - 1 ? (size_t)(end - e) : sizeof(entry) - 1;
	memcpy(entry, e, n);
	entry[n] = 0;
	return strstr(entry, name) && strstr(entry, "\t#2 ");
}

static char out[1 << 16];

/*
 * A child with @env1, @env2 and @before, parked and ready, sent @sig:
 * its status, once it ended, and its standard error in out.
 */
static int signalled_child(const char *env1, const char *env2,
			   void (*before)(void), int sig)
{
	struct child c;

	if (child_start(&c, env1, env2, before))
		return -1;
	if (!child_ready(&c) || kill(c.pid, sig)) {
		kill(c.pid, SIGKILL);
		child_wait(&c);
		return -1;
	}
	read_until(&c, out, sizeof(out), 0, NULL);
	return child_wait(&c);
}

TEST(sigquit_dumps_every_fiber_and_exits_2)
{
	int status = signalled_child(NULL, NULL, NULL, SIGQUIT);

	EXPECT_TRUE(exited_with(status, 2)) TH_LOG("status %#x:\n%s", status, out);
	EXPECT_TRUE(strstr(out, "libfiber: QUIT: dump of every fiber, then exit(2)") != NULL);
	EXPECT_TRUE(entry_names(out, "chan receive", "in parked_in_recv+0x")) TH_LOG("%s", out);
	EXPECT_TRUE(entry_names(out, "sleep", "in parked_in_sleep+0x")) TH_LOG("%s", out);
	EXPECT_TRUE(entry_names(out, "mutex", "in parked_in_lock+0x")) TH_LOG("%s", out);
	/* The library's own frames are named too. */
	EXPECT_TRUE(entry_names(out, "mutex", "in fiber_park+0x")) TH_LOG("%s", out);
	/* The creator is a function of the program, not a raw address. */
	EXPECT_TRUE(strstr(out, "created by fiber 1 at main_parked+0x") != NULL) TH_LOG("%s", out);
}

TEST(continue_dumps_again_on_each_signal)
{
	struct child c;
	size_t got;
	int status;

	ASSERT_EQ(0, child_start(&c, "FIBER_DUMP_SIGNAL=USR1",
				 "FIBER_DUMP_ACTION=continue", NULL));
	ASSERT_TRUE(child_ready(&c));
	ASSERT_EQ(0, kill(c.pid, SIGUSR1));
	got = read_until(&c, out, sizeof(out), 0, "kernel assistance");
	EXPECT_TRUE(strstr(out, "libfiber: USR1: dump of every fiber\n") != NULL) TH_LOG("%s", out);
	ASSERT_EQ(0, kill(c.pid, SIGUSR1));
	/* The second dump: a second header after the first. */
	read_until(&c, out, sizeof(out), got, "kernel assistance");
	status = child_wait(&c);
	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("status %#x:\n%s", status, out);
	EXPECT_TRUE(strstr(strstr(out, "USR1: dump") + 1, "USR1: dump") != NULL) TH_LOG("%s", out);
}

static void quit_handler(int sig)
{
	(void)sig;
	(void)!write(2, "own handler\n", 12);
	_exit(7);
}

static void own_handler(void)
{
	signal(SIGQUIT, quit_handler);
}

TEST(the_programs_own_handler_wins)
{
	int status = signalled_child(NULL, NULL, own_handler, SIGQUIT);

	EXPECT_TRUE(exited_with(status, 7)) TH_LOG("status %#x:\n%s", status, out);
	EXPECT_FALSE(strstr(out, "dump of every fiber") != NULL);
}

static void ignore_quit(void)
{
	signal(SIGQUIT, SIG_IGN);
}

/* A shell's background job starts with SIGQUIT ignored: still dumped. */
TEST(an_ignored_sigquit_is_taken_as_go_does)
{
	int status = signalled_child(NULL, NULL, ignore_quit, SIGQUIT);

	EXPECT_TRUE(exited_with(status, 2)) TH_LOG("status %#x:\n%s", status, out);
}

TEST(off_leaves_the_default_action)
{
	int status = signalled_child("FIBER_DUMP_SIGNAL=off", NULL, NULL, SIGQUIT);

	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGQUIT)
		TH_LOG("status %#x:\n%s", status, out);
	EXPECT_FALSE(strstr(out, "dump of every fiber") != NULL);
}

TEST(bad_settings_stop_fiber_main)
{
	static const char *const bad[][2] = {
		{ "FIBER_DUMP_SIGNAL=KILL", NULL },
		{ "FIBER_DUMP_SIGNAL=SEGV", NULL },
		{ "FIBER_DUMP_SIGNAL=NOSUCH", NULL },
		{ "FIBER_DUMP_SIGNAL=999", NULL },
		{ "FIBER_DUMP_SIGNAL=-3", NULL },
		{ NULL, "FIBER_DUMP_ACTION=sometimes" },
	};
	struct child c;
	unsigned int i;
	int status;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, child_start(&c, bad[i][0], bad[i][1], NULL));
		read_until(&c, out, sizeof(out), 0, NULL);
		status = child_wait(&c);
		EXPECT_TRUE(exited_with(status, 97))
			TH_LOG("%s %s: status %#x: %s", bad[i][0], bad[i][1], status, out);
		EXPECT_TRUE(strstr(out, "libfiber: FIBER_DUMP_") != NULL) TH_LOG("%s", out);
	}
}

/* A child forked by the program keeps the default action of the signal. */
static int main_fork(int argc, char **argv)
{
	int status;
	pid_t pid;

	(void)argc, (void)argv;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	CHECK(kill(pid, SIGQUIT) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGQUIT);
	return 0;
}

TEST(a_forked_child_is_not_dumped_through_its_parent)
{
	char err[4096];
	int status = run_fiber_main_err(main_fork, err, sizeof(err));

	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("status %#x: %s", status, err);
	EXPECT_FALSE(strstr(err, "dump of every fiber") != NULL) TH_LOG("%s", err);
}

/* fiber_dump() from a fiber: the caller's own frames too. */
static int main_self(int argc, char **argv)
{
	(void)argc, (void)argv;
	fiber_dump(2);
	return 0;
}

TEST(fiber_dump_shows_the_callers_own_frames)
{
	char err[8192];
	int status = run_fiber_main_err(main_self, err, sizeof(err));

	EXPECT_TRUE(exited_with(status, 0)) TH_LOG("status %#x: %s", status, err);
	EXPECT_TRUE(strstr(err, "[running], the caller:\n\t#0 ") != NULL) TH_LOG("%s", err);
}

TEST_HARNESS_MAIN
