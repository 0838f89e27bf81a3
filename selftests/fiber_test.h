/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the /dev/fiber selftests: thin wrappers that return 0 or
 * -errno, the shared mapping, the slot word, and small thread utilities.
 */
#ifndef FIBER_SELFTEST_H
#define FIBER_SELFTEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <linux/capability.h>
#include <linux/fiber.h>

static inline int fiber_sys(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* An open group, or -errno (-ENOENT: the module is not loaded). */
static inline int fiber_open(void)
{
	int fd = open(FIBER_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * Why no case of a program that needs the module can run here, or NULL:
 * no /dev/fiber (the module is not loaded, or no udev made the node), a
 * node that reaches no driver (ENODEV, ENXIO: the module went, or the node
 * was made by hand), or one that this user may not open (the mode, which
 * an administrator may restrict: docs/security.md).  The mode is asked of
 * access(), which never reaches the module, so that an error of the
 * module's own open() still fails the cases.
 */
static inline const char *fiber_device_missing(void)
{
	int fd;

	if (access(FIBER_DEVICE_PATH, R_OK | W_OK) && errno == EACCES)
		return FIBER_DEVICE_PATH ": this user may not open it (its mode restricts it)";
	fd = fiber_open();
	if (fd >= 0) {
		close(fd);
		return NULL;
	}
	switch (-fd) {
	case ENOENT:
		return FIBER_DEVICE_PATH ": no such file (is fiber.ko loaded?)";
	case ENODEV:
	case ENXIO:
		return FIBER_DEVICE_PATH ": no such device (the node is there, fiber.ko is not)";
	}
	return NULL;
}

/*
 * A program none of whose cases can run without the module says so once,
 * at file scope: without it, it prints "1..0 # SKIP why" and exits
 * KSFT_SKIP before any fixture runs (harness_ext.h).
 */
#define FIBER_NEEDS_DEVICE() FIBER_HARNESS_REQUIRES(fiber_device_missing)

/*
 * Whether @cap (CAP_*) is in this thread's effective set: root in a
 * container may lack what root on the host has, so tests that need a
 * capability ask for it rather than for uid 0.
 */
static inline int fiber_capable(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return !!(data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap));
}

/* SKIP the case unless this process has @cap, which @what needs. */
#define NEED_CAP(cap, what) do {					\
	if (!fiber_capable(cap))					\
		SKIP(return, "%s needs " #cap ", which this process lacks%s", \
		     what, geteuid() ? " (not root)" : "");		\
} while (0)

/* The module's FIBER_FEATURE_* bits (0 if it cannot be asked). */
static inline uint64_t fiber_features(void)
{
	struct fiber_info info = { .size = sizeof(info) };
	int fd = fiber_open();

	if (fd < 0)
		return 0;
	if (fiber_sys(fd, FIBER_IOC_GET_INFO, &info))
		info.features = 0;
	close(fd);
	return info.features;
}

/*
 * For the tests of the netlink events group, which only kernels that can
 * keep it to CAP_NET_ADMIN have (FIBER_FEATURE_EVENTS; module/compat.h).
 */
#define FIBER_NO_EVENTS_REASON \
	"no events group: this kernel's generic netlink cannot keep one to " \
	"CAP_NET_ADMIN (FIBER_FEATURE_EVENTS is clear)"
#define NEED_EVENTS() do {						\
	if (!(fiber_features() & FIBER_FEATURE_EVENTS))			\
		SKIP(return, FIBER_NO_EVENTS_REASON);			\
} while (0)

static inline int fiber_configure(int fd, uint32_t flags, uint64_t delay_ns,
				  uint32_t hold, uint32_t max,
				  struct fiber_config *out)
{
	struct fiber_config cfg = {
		.size = sizeof(cfg), .flags = flags,
		.handoff_delay_ns = delay_ns, .hold_on_wake = hold,
		.max_carriers = max,
	};
	int ret = fiber_sys(fd, FIBER_IOC_CONFIGURE, &cfg);

	if (!ret && out)
		*out = cfg;
	return ret;
}

static inline int fiber_register(int fd, uint64_t user_word, uint32_t *slot)
{
	struct fiber_register r = { .size = sizeof(r), .user_word = user_word };
	int ret = fiber_sys(fd, FIBER_IOC_REGISTER, &r);

	if (!ret && slot)
		*slot = r.slot;
	return ret;
}

static inline int fiber_unregister(int fd)
{
	struct fiber_unregister u = { .size = sizeof(u) };

	return fiber_sys(fd, FIBER_IOC_UNREGISTER, &u);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define MSEC	1000000ull

/* Park with a deadline @ms from now (0: forever); events into @ev[*nr]. */
static inline int fiber_park_ms(int fd, uint64_t ms, struct fiber_event *ev,
				uint32_t *nr)
{
	struct fiber_park p = {
		.size = sizeof(p),
		.timeout_ns = ms ? now_ns() + ms * MSEC : 0,
		.events = (uintptr_t)ev,
		.nr_events = nr ? *nr : 0,
	};
	int ret = fiber_sys(fd, FIBER_IOC_PARK, &p);

	if (nr)
		*nr = p.nr_events;
	return ret;
}

static inline int fiber_wake(int fd, uint32_t slot, uint32_t flags)
{
	struct fiber_wake w = { .size = sizeof(w), .flags = flags, .slot = slot };

	return fiber_sys(fd, FIBER_IOC_WAKE, &w);
}

static inline int fiber_switch_ms(int fd, uint32_t slot, uint64_t ms,
				  struct fiber_event *ev, uint32_t *nr)
{
	struct fiber_switch s = {
		.size = sizeof(s), .slot = slot,
		.timeout_ns = ms ? now_ns() + ms * MSEC : 0,
		.events = (uintptr_t)ev, .nr_events = nr ? *nr : 0,
	};
	int ret = fiber_sys(fd, FIBER_IOC_SWITCH, &s);

	if (nr)
		*nr = s.nr_events;
	return ret;
}

/* The group's shared mapping. */
struct fiber_map {
	void *base;
	size_t size;
	long page;
	struct fiber_shared *hdr;
};

static inline int fiber_map(int fd, struct fiber_map *m)
{
	struct fiber_config cfg;
	int ret = fiber_configure(fd, 0, 0, 0, 0, &cfg);

	if (ret)
		return ret;
	m->page = sysconf(_SC_PAGESIZE);
	m->size = cfg.map_size;
	m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->base == MAP_FAILED)
		return -errno;
	m->hdr = m->base;
	return 0;
}

static inline struct fiber_slot *fiber_slot_of(struct fiber_map *m, uint32_t i)
{
	return (struct fiber_slot *)((char *)m->base +
				     FIBER_SLOT_OFFSET(m->page, i));
}

static inline uint64_t slot_word(struct fiber_slot *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

static inline unsigned int slot_state(struct fiber_slot *s)
{
	return FIBER_SLOT_STATE(slot_word(s));
}

static inline uint32_t shared_u32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* A spare claims a blocked carrier's P: BLOCKED(seq) -> CLAIMED(seq). */
static inline int slot_claim(struct fiber_slot *s, uint64_t seq)
{
	__u64 expected = FIBER_SLOT_WORD(FIBER_SLOT_BLOCKED, seq);

	return __atomic_compare_exchange_n(&s->state, &expected,
					   FIBER_SLOT_WORD(FIBER_SLOT_CLAIMED, seq),
					   0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Wait up to @ms for *@p to read @want (polling); return whether it did. */
static inline int wait_u32(const uint32_t *p, uint32_t want, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MSEC;

	while (shared_u32(p) != want) {
		if (now_ns() > end)
			return 0;
		usleep(200);
	}
	return 1;
}

static inline int wait_state(struct fiber_slot *s, unsigned int state,
			     unsigned int ms)
{
	uint64_t end = now_ns() + ms * MSEC;

	while (slot_state(s) != state) {
		if (now_ns() > end)
			return 0;
		usleep(200);
	}
	return 1;
}

/*
 * Try every entry point that checks the owner, and mmap, on @fd; return how
 * many failed with EBADFD (all 7 do from a process that is not the owner).
 */
static inline int count_ebadfd(int fd)
{
	struct fiber_config cfg = { .size = sizeof(cfg) };
	uint32_t nr = 0;
	int n = 0;
	void *p;

	n += fiber_register(fd, 0, NULL) == -EBADFD;
	n += fiber_unregister(fd) == -EBADFD;
	n += fiber_park_ms(fd, 1, NULL, &nr) == -EBADFD;
	n += fiber_wake(fd, 0, FIBER_WAKE_ANY) == -EBADFD;
	n += fiber_switch_ms(fd, 0, 1, NULL, &nr) == -EBADFD;
	n += fiber_sys(fd, FIBER_IOC_CONFIGURE, &cfg) == -EBADFD;
	p = mmap(NULL, sysconf(_SC_PAGESIZE) * 2, PROT_READ, MAP_SHARED, fd, 0);
	n += p == MAP_FAILED && errno == EBADFD;
	return n;
}

/*
 * Write @text to the file at @path in one write(), as to sysfs, cgroupfs or
 * procfs: 0, -errno from open() or write(), or -EIO for a short write.
 */
static inline int fiber_write_text(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	ret = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return ret;
}

static inline pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

#endif /* FIBER_SELFTEST_H */
