// SPDX-License-Identifier: MIT
/*
 * fiber_trace_start() / fiber_trace_stop() and FIBER_TRACE: the errors
 * of each call, and a trace of a known program holding what happened in
 * it: a slice per fiber run that ends with the wait reason, arrows from
 * each fiber to those it readied, timers, a stop-the-world, the tracks'
 * names.  A second trace holds nothing of the first.  Where python3 is
 * installed the file is also parsed as JSON and its arrows are checked
 * to pair up.  fiber.ko's events in a trace are checked in the VM
 * (selftests/runtime_trace_test.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_ext.h"
#include "runtime_helpers.h"

static char path[64], path2[64];

static char *slurp(const char *file)
{
	static char buf[1 << 22];
	ssize_t n;
	int fd = open(file, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = 0;
	return buf;
}

static int count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s += strlen(what);
	}
	return n;
}

/* Does @t name a thread "M<n> tid <tid>"? */
static bool names_an_m_by_tid(const char *t)
{
	const char *what = "\"args\":{\"name\":\"M";

	while ((t = strstr(t, what))) {
		t += strlen(what);
		while (*t >= '0' && *t <= '9')
			t++;
		if (!strncmp(t, " tid ", 5))
			return true;
	}
	return false;
}

static int main_errors(int argc, char **argv)
{
	(void)argc, (void)argv;
	CHECK(fiber_trace_stop() == -ENOENT);
	CHECK(fiber_trace_start(NULL) == -EINVAL);
	CHECK(fiber_trace_start("") == -EINVAL);
	CHECK(fiber_trace_start("/nonexistent/dir/trace.json") == -ENOENT);
	CHECK(fiber_trace_start(path) == 0);
	CHECK(fiber_trace_start(path) == -EBUSY);
	CHECK(fiber_trace_stop() == 0);
	CHECK(fiber_trace_stop() == -ENOENT);
	return 0;
}

TEST(errors)
{
	strcpy(path, "/tmp/fiber-trace-XXXXXX");
	ASSERT_LE(0, close(mkstemp(path)));
	EXPECT_CLEAN_RUN(main_errors);
	unlink(path);
}

static fiber_chan_t *ping, *pong;

static void ponger(void *arg)
{
	long v;

	(void)arg;
	while (fiber_chan_recv(ping, &v) == 1 && v >= 0)
		if (fiber_chan_send(pong, &v))
			return;
}

/* 50 ping-pongs, a sleep, two GOMAXPROCS changes, then the trace. */
static int main_traced(int argc, char **argv)
{
	long i, v;
	int procs;

	(void)argc, (void)argv;
	CHECK(fiber_trace_start(path) == 0);
	ping = fiber_chan_new(sizeof(long), 0);
	pong = fiber_chan_new(sizeof(long), 0);
	CHECK(ping && pong);
	CHECK(fiber_go(ponger, NULL) == 0);
	for (i = 0; i < 50; i++) {
		CHECK(fiber_chan_send(ping, &i) == 0);
		CHECK(fiber_chan_recv(pong, &v) == 1 && v == i);
	}
	v = -1;
	CHECK(fiber_chan_send(ping, &v) == 0);
	fiber_sleep(2000000);
	/* Two changes of GOMAXPROCS, each a stop of the world, from any
	 * number of CPUs (one is a change only where there are more). */
	procs = fiber_maxprocs(0);
	CHECK(fiber_maxprocs(procs + 1) == procs);
	CHECK(fiber_maxprocs(procs) == procs + 1);
	CHECK(fiber_trace_stop() == 0);
	/* A second trace: only yields, none of the first's events. */
	CHECK(fiber_trace_start(path2) == 0);
	fiber_yield();
	CHECK(fiber_trace_stop() == 0);
	return 0;
}

TEST(a_trace_holds_what_the_program_did)
{
	char cmd[512];
	char *t;

	strcpy(path, "/tmp/fiber-trace-XXXXXX");
	strcpy(path2, "/tmp/fiber-trace2-XXXXXX");
	ASSERT_LE(0, close(mkstemp(path)));
	ASSERT_LE(0, close(mkstemp(path2)));
	EXPECT_CLEAN_RUN(main_traced);
	t = slurp(path);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(0, strncmp(t, "{\"displayTimeUnit\":\"ns\"", 23));
	EXPECT_TRUE(strstr(t, "\"dropped\":0}") != NULL);
	/*
	 * A value on an unbuffered channel passes only between a sender
	 * and a receiver that meet: whichever comes first starts to park.
	 * Which side, and whether it parks at all, is the scheduler's
	 * timing: run in turns on one P, as on an idle host, each sender
	 * parks; on fiber.ko in a QEMU guest a P's spare M takes the fiber
	 * just readied, the two run side by side and the receivers wait;
	 * and a park whose partner comes while it commits does not happen
	 * (sched.c, AFTER_PARK), which took 16 of the 100 under qemu-user
	 * on a loaded host.  So the trace must show channel parks, not a
	 * number of them.
	 */
	EXPECT_LE(1, count(t, "\"end\":\"park\",\"reason\":\"chan send\"") +
		     count(t, "\"end\":\"park\",\"reason\":\"chan receive\"")) TH_LOG("%.2000s", t);
	EXPECT_LE(1, count(t, "\"reason\":\"sleep\""));
	EXPECT_LE(1, count(t, "\"name\":\"timers\""));
	EXPECT_EQ(2, count(t, "\"name\":\"stop the world\""));
	EXPECT_LE(1, count(t, "\"name\":\"create\""));
	EXPECT_LE(50, count(t, "\"ph\":\"s\""));
	EXPECT_EQ(count(t, "\"ph\":\"s\""), count(t, "\"ph\":\"f\""));
	EXPECT_TRUE(strstr(t, "\"name\":\"thread_name\",\"args\":{\"name\":\"P0\"}") != NULL);
	/*
	 * An M by its thread id; not M0: with the module the main thread
	 * may be a spare parked in it all along.
	 */
	EXPECT_TRUE(names_an_m_by_tid(t)) TH_LOG("%.2000s", t);
	EXPECT_TRUE(strstr(t, "\"cat\":\"m\",\"name\":\"P0\"") != NULL);
	if (system("command -v python3 >/dev/null 2>&1") == 0) {
		/* Valid JSON; every arrow's start has its end; no negative span. */
		snprintf(cmd, sizeof(cmd),
			 "python3 -c 'import json,sys\n"
			 "e=json.load(open(sys.argv[1]))[\"traceEvents\"]\n"
			 "s=sorted(x[\"id\"] for x in e if x[\"ph\"]==\"s\")\n"
			 "f=sorted(x[\"id\"] for x in e if x[\"ph\"]==\"f\")\n"
			 "assert s==f and len(set(s))==len(s), \"arrows\"\n"
			 "assert all(x[\"dur\"]>=0 for x in e if x[\"ph\"]==\"X\"), \"dur\"\n"
			 "' %s", path);
		EXPECT_EQ(0, system(cmd));
	}
	t = slurp(path2);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(0, count(t, "\"name\":\"create\"")) TH_LOG("%s", t);
	EXPECT_EQ(0, count(t, "chan send")) TH_LOG("%s", t);
	EXPECT_LE(1, count(t, "\"end\":\"yield\"")) TH_LOG("%s", t);
	if (!getenv("FIBER_TEST_KEEP")) {
		unlink(path);
		unlink(path2);
	}
}

/* A child forked mid-trace has none, and its exit() leaves ours alone. */
static int main_fork(int argc, char **argv)
{
	int status;
	pid_t pid;

	(void)argc, (void)argv;
	CHECK(fiber_trace_start(path) == 0);
	fiber_yield();
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
#ifdef __SANITIZE_ADDRESS__
		/* LeakSanitizer would report the parent's threads' memory. */
		_exit(fiber_trace_stop() == -ENOENT ? 0 : 1);
#endif
		exit(fiber_trace_stop() == -ENOENT ? 0 : 1);	/* runs atexit */
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fiber_yield();
	CHECK(fiber_trace_stop() == 0);
	return 0;
}

TEST(a_forked_child_has_no_trace)
{
	char *t;

	strcpy(path, "/tmp/fiber-trace-XXXXXX");
	ASSERT_LE(0, close(mkstemp(path)));
	EXPECT_CLEAN_RUN(main_fork);
	t = slurp(path);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(0, strncmp(t, "{\"displayTimeUnit\":\"ns\"", 23));
	EXPECT_LE(2, count(t, "\"end\":\"yield\"")) TH_LOG("%s", t);
	unlink(path);
}

static int main_env(int argc, char **argv)
{
	(void)argc, (void)argv;
	fiber_sleep(1000000);
	return 0;	/* exit() writes the trace */
}

TEST(fiber_trace_env_writes_at_exit)
{
	char err[1024];
	struct stat st;
	char *t;

	strcpy(path, "/tmp/fiber-trace-XXXXXX");
	ASSERT_LE(0, close(mkstemp(path)));
	setenv("FIBER_TRACE", path, 1);
	EXPECT_TRUE(exited_with(run_fiber_main_err(main_env, err, sizeof(err)), 0)) TH_LOG("%s", err);
	t = slurp(path);
	ASSERT_NE(NULL, t);
	EXPECT_TRUE(strstr(t, "\"reason\":\"sleep\"") != NULL) TH_LOG("%s", t);
	EXPECT_EQ(0, stat(path, &st));
	unlink(path);
	/* A path that cannot be written stops fiber_main, with the reason. */
	setenv("FIBER_TRACE", "/nonexistent/dir/trace.json", 1);
	EXPECT_TRUE(exited_with(run_fiber_main_err(main_env, err, sizeof(err)), 99));
	EXPECT_TRUE(strstr(err, "libfiber: FIBER_TRACE=/nonexistent/dir/trace.json: No such file or directory") != NULL)
		TH_LOG("%s", err);
	unsetenv("FIBER_TRACE");
}

TEST_HARNESS_MAIN
