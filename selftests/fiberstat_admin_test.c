// SPDX-License-Identifier: GPL-2.0
/*
 * fiberstat against the module, where a shell script cannot reach: the
 * permission checks (an unprivileged user may look but not change settings
 * or listen to events), the kernel's own range message, events of a real
 * carrier blocking, and a group whose carriers span several dump messages.
 *
 * The tool is the fiberstat binary next to this test; it runs in a child
 * with its stdout and stderr captured.
 */
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "nobody.h"
#include "harness_ext.h"

#define OUT_MAX		(256 * 1024)

struct run {
	int status;		/* exit status, or -1 if it did not exit */
	char out[OUT_MAX];
	char err[4096];
};

/* fiberstat's path: this test's directory. */
static int tool_path(char *path, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return -1;
	self[n] = '\0';
	snprintf(path, size, "%s/fiberstat", dirname(self));
	return access(path, X_OK);
}

/* Append what @fd has to @buf (kept NUL-terminated); 0 at end of file. */
static int drain(int fd, char *buf, size_t size, size_t *len)
{
	char scratch[4096];
	ssize_t n;

	if (*len + 1 < size)
		n = read(fd, buf + *len, size - 1 - *len);
	else
		n = read(fd, scratch, sizeof(scratch));	/* overflow: discard */
	if (n > 0 && *len + 1 < size) {
		*len += n;
		buf[*len] = '\0';
	}
	return n > 0 || (n < 0 && errno == EINTR);
}

/* Run fiberstat with @args (NULL-terminated), as nobody if @drop. */
static int run_tool(struct run *r, int drop, const char *const *args)
{
	char path[PATH_MAX];
	const char *argv[16] = { "fiberstat" };
	int out[2], err[2], open_fds = 2, i, st;
	size_t out_len = 0, err_len = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (tool_path(path, sizeof(path)))
		return -1;
	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if ((drop && fiber_become_nobody()) ||
		    dup2(out[1], STDOUT_FILENO) < 0 ||
		    dup2(err[1], STDERR_FILENO) < 0)
			_exit(126);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* Both pipes at once: a full one must not stall the other. */
	while (open_fds) {
		struct pollfd p[2] = {
			{ .fd = out[0], .events = POLLIN },
			{ .fd = err[0], .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents && !drain(out[0], r->out, sizeof(r->out), &out_len)) {
			close(out[0]);
			out[0] = -1;
			open_fds--;
		}
		if (p[1].revents && !drain(err[0], r->err, sizeof(r->err), &err_len)) {
			close(err[0]);
			err[0] = -1;
			open_fds--;
		}
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 0;
}

/* The tool must be there (the module is: FIBER_NEEDS_DEVICE()). */
#define NEED_TOOL() do {						\
	char p_[PATH_MAX];						\
									\
	if (tool_path(p_, sizeof(p_)))					\
		SKIP(return, "no fiberstat next to this test");		\
} while (0)

static struct run r;

TEST(unprivileged_user_may_look_but_not_change_or_listen)
{
	NEED_TOOL();
	NEED_TO_BECOME_NOBODY();

	ASSERT_EQ(0, run_tool(&r, 1, (const char *[]){ "stats", NULL }));
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);

	ASSERT_EQ(0, run_tool(&r, 1, (const char *[]){ "set", "max_carriers", "100", NULL }));
	EXPECT_EQ(1, r.status);
	EXPECT_NE(NULL, strstr(r.err, "CAP_SYS_ADMIN")) TH_LOG("stderr: %s", r.err);
	EXPECT_EQ(0, strncmp(r.err, "fiberstat: ", 11));
	EXPECT_EQ(1, count_substr(r.err, "\n"));

	ASSERT_EQ(0, run_tool(&r, 1, (const char *[]){ "watch", "--events", "-n", "1",
						       "--timeout", "5", NULL }));
	EXPECT_EQ(1, r.status);
	if (fiber_features() & FIBER_FEATURE_EVENTS) {
		EXPECT_NE(NULL, strstr(r.err, "CAP_NET_ADMIN")) TH_LOG("stderr: %s", r.err);
	} else {	/* compat.h: no group that anyone could join */
		EXPECT_NE(NULL, strstr(r.err, "no \"events\" multicast group"))
			TH_LOG("stderr: %s", r.err);
	}
}

TEST(out_of_range_setting_gets_the_kernel_message)
{
	char before[512];

	/*
	 * Anyone gets the range message: the family's policy checks the
	 * value before the command checks CAP_SYS_ADMIN.
	 */
	NEED_TOOL();

	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "stats", "--json", NULL }));
	ASSERT_EQ(0, r.status);
	/* The settings are the tail of the object, from "max_carriers" on. */
	ASSERT_NE(NULL, strstr(r.out, "\"max_carriers\""));
	ASSERT_GT(sizeof(before), strlen(strstr(r.out, "\"max_carriers\"")));
	strcpy(before, strstr(r.out, "\"max_carriers\""));

	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "set", "events_per_sec", "0", NULL }));
	EXPECT_EQ(1, r.status);
	EXPECT_EQ(0, strncmp(r.err, "fiberstat: ", 11));
	EXPECT_NE(NULL, strstr(r.err, "out of range")) TH_LOG("stderr: %s", r.err);

	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "set", "events_per_sec", "1000001", NULL }));
	EXPECT_EQ(1, r.status);
	EXPECT_NE(NULL, strstr(r.err, "out of range")) TH_LOG("stderr: %s", r.err);

	/* Nothing changed: the settings read the same. */
	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "stats", "--json", NULL }));
	EXPECT_NE(NULL, strstr(r.out, before)) TH_LOG("%s became %s", before, r.out);
}

/* A carrier that blocks in nanosleep() until told to stop. */
struct sleeper {
	int fd;
	atomic_int registered;
	atomic_int stop;
	pid_t tid;
	pthread_t thread;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	struct timespec ts = { .tv_nsec = 2 * 1000 * 1000 };

	s->tid = gettid_();
	if (fiber_register(s->fd, 0, NULL))
		return (void *)1;
	atomic_store(&s->registered, 1);
	while (!atomic_load(&s->stop))
		nanosleep(&ts, NULL);
	return fiber_unregister(s->fd) ? (void *)2 : NULL;
}

/*
 * Three watches of up to 20 s each, one of them at one event a second:
 * 8 s on the debug kernel.
 */
TEST(watch_events_sees_a_carrier_block)
{
	static struct run restore;
	struct sleeper s = { .fd = -1 };
	char want[64], old[16], *rate;
	void *ret;

	NEED_TOOL();
	NEED_EVENTS();
	NEED_CAP(CAP_NET_ADMIN, "listening to the events group");
	NEED_CAP(CAP_SYS_ADMIN, "setting events_per_sec");
	s.fd = fiber_open();
	ASSERT_LE(0, s.fd);
	ASSERT_EQ(0, pthread_create(&s.thread, NULL, sleeper_main, &s));
	while (!atomic_load(&s.registered))
		usleep(100);

	/* The carrier sleeps again and again: a block comes while we listen. */
	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "watch", "--events", "-n", "1",
						       "--timeout", "20", NULL }));
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_EQ(0, strncmp(r.out, "block ", 6)) TH_LOG("stdout: %s", r.out);
	snprintf(want, sizeof(want), " pid %d tid %d slot 0 ", getpid(), s.tid);
	EXPECT_NE(NULL, strstr(r.out, want)) TH_LOG("stdout: %s", r.out);
	EXPECT_EQ(1, count_substr(r.out, "\n"));

	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "watch", "--events", "--json",
						       "-n", "2", "--timeout", "20", NULL }));
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	snprintf(want, sizeof(want), "{\"type\": \"block\", \"pid\": %d, \"tid\": %d, ",
		 getpid(), s.tid);
	EXPECT_EQ(0, strncmp(r.out, want, strlen(want))) TH_LOG("stdout: %s", r.out);
	EXPECT_EQ(2, count_substr(r.out, "\n"));
	EXPECT_EQ(2, count_substr(r.out, "\"time_ns\": "));

	/*
	 * At one event a second the blocks in between are dropped, and the
	 * next event says how many.  The old rate is put back before any
	 * verdict, so that a failure here leaves the module as it was.
	 */
	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "stats", "--json", NULL }));
	rate = strstr(r.out, "\"events_per_sec\": ");
	ASSERT_NE(NULL, rate);
	snprintf(old, sizeof(old), "%u", (unsigned int)strtoul(rate + 18, NULL, 10));
	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "set", "events_per_sec", "1", NULL }));
	ASSERT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "watch", "--events", "-n", "3",
						       "--timeout", "20", NULL }));
	run_tool(&restore, 0, (const char *[]){ "set", "events_per_sec", old, NULL });
	EXPECT_EQ(0, restore.status) TH_LOG("events_per_sec not restored to %s", old);
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_NE(NULL, strstr(r.out, " dropped ")) TH_LOG("stdout: %s", r.out);

	atomic_store(&s.stop, 1);
	pthread_join(s.thread, &ret);
	EXPECT_EQ(NULL, ret);
	close(s.fd);
}
TEST_LIMIT(watch_events_sees_a_carrier_block, 90)

#define NR_THREADS	100

/* Carriers that block in read() on one pipe until it is fed a byte each. */
struct crowd {
	int fd;
	int pipe[2];
	atomic_int registered;
	pid_t tids[NR_THREADS];
	atomic_int next;
};

static void *crowd_main(void *arg)
{
	struct crowd *c = arg;
	int i = atomic_fetch_add(&c->next, 1);
	char b;

	c->tids[i] = gettid_();
	if (fiber_register(c->fd, 0, NULL))
		return (void *)1;
	atomic_fetch_add(&c->registered, 1);
	if (read(c->pipe[0], &b, 1) != 1)
		return (void *)2;
	return fiber_unregister(c->fd) ? (void *)3 : NULL;
}

TEST(show_json_lists_a_hundred_carriers)
{
	static struct crowd c;
	pthread_t threads[NR_THREADS];
	char want[64], bytes[NR_THREADS];
	int i, started = 0, bad = 0;
	void *ret;

	/* Anyone may show a group of their own. */
	NEED_TOOL();
	memset(&c, 0, sizeof(c));
	c.fd = fiber_open();
	ASSERT_LE(0, c.fd);
	ASSERT_EQ(0, pipe(c.pipe));
	for (i = 0; i < NR_THREADS; i++) {
		if (pthread_create(&threads[i], NULL, crowd_main, &c))
			break;
		started++;
	}
	ASSERT_EQ(NR_THREADS, started);
	while (atomic_load(&c.registered) < NR_THREADS)
		usleep(1000);

	/* Far more than one message: the tool must merge the parts. */
	snprintf(want, sizeof(want), "%d", getpid());
	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "show", want, "--json", NULL }));
	EXPECT_EQ(0, r.status) TH_LOG("stderr: %s", r.err);
	EXPECT_EQ(NR_THREADS, count_substr(r.out, "\"slot\": "));
	EXPECT_EQ(1, count_substr(r.out, "\"groups\": [{\"id\": "));
	EXPECT_NE(NULL, strstr(r.out, "\"nr_carriers\": 100, "));
	for (i = 0; i < NR_THREADS; i++) {
		snprintf(want, sizeof(want), "\"tid\": %d, ", c.tids[i]);
		bad += count_substr(r.out, want) != 1;
	}
	EXPECT_EQ(0, bad);

	/* The text form: one line per carrier under the header. */
	snprintf(want, sizeof(want), "%d", getpid());
	ASSERT_EQ(0, run_tool(&r, 0, (const char *[]){ "show", want, NULL }));
	EXPECT_EQ(0, r.status);
	EXPECT_EQ(5 + NR_THREADS, count_substr(r.out, "\n")) TH_LOG("stdout: %s", r.out);
	/* Each has blocked (in read()), so each has a "last block" time. */
	EXPECT_LE(NR_THREADS, count_substr(r.out, "s ago")) TH_LOG("stdout: %s", r.out);

	memset(bytes, 'x', sizeof(bytes));
	ASSERT_EQ(NR_THREADS, write(c.pipe[1], bytes, sizeof(bytes)));
	for (i = 0; i < NR_THREADS; i++) {
		pthread_join(threads[i], &ret);
		bad += ret != NULL;
	}
	EXPECT_EQ(0, bad);
	close(c.pipe[0]);
	close(c.pipe[1]);
	close(c.fd);
}
/*
 * A hundred threads registering, blocking and unregistering: 8.4 s on
 * the debug kernel (KASAN, lockdep) under TCG, over a quarter of the
 * default 30 s.  90 s keeps the 4x headroom.
 */
TEST_LIMIT(show_json_lists_a_hundred_carriers, 90)

/* What fiberstat shows and sets here is the module's. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
