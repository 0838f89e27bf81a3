// SPDX-License-Identifier: GPL-2.0
/*
 * The module's tracepoints, read through ftrace as an operator would: one
 * block, claim, hold and grant cycle, with a spare that parks and is woken,
 * must leave fiber:fiber_block, _park, _wake, _claim, _hold and _grant
 * lines naming the right threads and slots.
 */
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "fiber_test.h"
#include "harness_ext.h"
#include "group_fixture.h"

#define TRACEFS	"/sys/kernel/tracing"

static const char *const fiber_events[] = {
	"fiber_block", "fiber_claim", "fiber_hold", "fiber_grant",
	"fiber_park", "fiber_wake",
};

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

/* ftrace's text buffer, or NULL. */
static char *read_trace(void)
{
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	int fd = open(TRACEFS "/trace", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	buf[len] = 0;
	close(fd);
	return buf;
}

/*
 * Mount tracefs if the guest has not; return whether the events exist and
 * this process may enable them and read the buffer.  tracefs is root's
 * (mode 0700): anyone else is told so rather than failed.
 */
static int tracefs_ready(char *why, size_t size)
{
	struct stat st;
	int err;

	if (stat(TRACEFS "/events", &st))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	if (stat(TRACEFS "/events", &st)) {
		err = errno;
		snprintf(why, size, "no tracefs at %s: %s%s", TRACEFS,
			 strerror(err), err == EACCES ? " (it is root's)" : "");
		return 0;
	}
	if (access(TRACEFS "/trace", R_OK | W_OK)) {
		err = errno;
		snprintf(why, size, "may not use ftrace: %s/trace: %s%s", TRACEFS,
			 strerror(err), err == EACCES ? " (it is root's)" : "");
		return 0;
	}
	return 1;
}

/* A carrier that blocks in read() on a pipe once @spare parked, then leaves. */
struct reader {
	int fd, pipe[2];
	struct fiber_slot *spare;
	uint32_t slot;
	pid_t tid;
	atomic_int registered;
	int ret;
	pthread_t thread;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char c;

	r->tid = gettid();
	r->ret = fiber_register(r->fd, 0, &r->slot);
	atomic_store(&r->registered, 1);
	if (r->ret)
		return NULL;
	/* Spin: any sleep here would be a block, and wake the spare early. */
	while (slot_state(r->spare) != FIBER_SLOT_PARKED)
		sched_yield();
	if (read(r->pipe[0], &c, 1) != 1)
		r->ret = -EIO;
	else
		r->ret = fiber_unregister(r->fd);
	return NULL;
}

static int has_line(const char *trace, const char *event, pid_t tid,
		    uint32_t slot)
{
	char needle[128];
	const char *p;

	snprintf(needle, sizeof(needle), "%s: pid=%d tid=%d slot=%u", event,
		 getpid(), tid, slot);
	p = strstr(trace, needle);
	return p != NULL;
}

TEST_F_TIMEOUT(group, block_claim_hold_grant_are_traced, 60)
{
	struct fiber_event ev[4];
	struct reader r = { .fd = self->fd };
	char path[256], why[256];
	uint32_t spare, nr;
	struct fiber_slot *s;
	char *trace;
	size_t i;

	SKIPPED_IN_SETUP();
	if (!tracefs_ready(why, sizeof(why)))
		SKIP(return, "%s", why);
	for (i = 0; i < sizeof(fiber_events) / sizeof(fiber_events[0]); i++) {
		snprintf(path, sizeof(path), TRACEFS "/events/fiber/%s/enable",
			 fiber_events[i]);
		ASSERT_EQ(0, access(path, W_OK)) TH_LOG("%s is missing", path);
	}
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, write_file(TRACEFS "/events/fiber/enable", "1"));

	/* The spare is this thread: it parks, then the reader blocks. */
	ASSERT_EQ(0, fiber_register(self->fd, 0, &spare));
	ASSERT_EQ(0, pipe(r.pipe));
	r.spare = fiber_slot_of(&self->map, spare);
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, reader_main, &r));
	while (!atomic_load(&r.registered))
		usleep(100);
	ASSERT_EQ(0, r.ret);
	s = fiber_slot_of(&self->map, r.slot);

	/* The block event wakes the parked spare. */
	nr = 4;
	ASSERT_EQ(0, fiber_park_ms(self->fd, 10000, ev, &nr));
	ASSERT_LE(1, nr);
	ASSERT_EQ(FIBER_EVENT_BLOCKED, ev[0].kind);
	ASSERT_TRUE(slot_claim(s, ev[0].seq));

	/* The reader wakes claimed, is held, and is granted its P. */
	ASSERT_EQ(1, write(r.pipe[1], "x", 1));
	ASSERT_TRUE(wait_state(s, FIBER_SLOT_WAITING, 10000));
	ASSERT_EQ(0, fiber_wake(self->fd, r.slot, 0));
	pthread_join(r.thread, NULL);
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(0, fiber_unregister(self->fd));

	ASSERT_EQ(0, write_file(TRACEFS "/events/fiber/enable", "0"));
	trace = read_trace();
	ASSERT_NE(NULL, trace);
	EXPECT_TRUE(has_line(trace, "fiber_block", r.tid, r.slot));
	EXPECT_TRUE(has_line(trace, "fiber_claim", r.tid, r.slot));
	EXPECT_TRUE(has_line(trace, "fiber_hold", r.tid, r.slot));
	EXPECT_TRUE(has_line(trace, "fiber_grant", r.tid, r.slot));
	EXPECT_TRUE(has_line(trace, "fiber_park", gettid(), spare));
	EXPECT_TRUE(has_line(trace, "fiber_wake", gettid(), spare));
	if (!has_line(trace, "fiber_grant", r.tid, r.slot))
		TH_LOG("trace:\n%.4000s", trace);
	free(trace);
	write_file(TRACEFS "/trace", "");
	close(r.pipe[0]);
	close(r.pipe[1]);
}

/* The tracepoints are the module's. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
