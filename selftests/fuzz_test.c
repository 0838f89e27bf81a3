// SPDX-License-Identifier: GPL-2.0
/*
 * An ioctl and mmap fuzzer for /dev/fiber, run for a fixed count (so the
 * run is repeatable: the seed is fixed too).  Random commands of the
 * module's magic, random sizes, flags, fields and pointers, from two
 * threads at once.  Every call must return 0 or fail with one of the
 * documented errors; the VM runner checks that the kernel stayed clean.
 */
#include "fiber_test.h"
#include "harness_ext.h"

#define ARG_MAX_SIZE	5000

/* Every errno an entry point may return. */
static int errno_allowed(int e)
{
	switch (e) {
	case EINVAL: case E2BIG: case EFAULT: case ENOTTY: case ESRCH:
	case EBUSY: case EAGAIN: case ETIMEDOUT: case EINTR: case EBADF:
	case ENOSPC: case ENOMEM: case EPERM:
		return 1;
	}
	return 0;
}

struct fuzzer {
	int fd;
	unsigned int seed;
	long calls, ok, bad;
	int bad_errno;
	unsigned long bad_cmd;
	char *buf;		/* two pages, the second inaccessible */
	long page;
	pthread_t thread;
};

static uint64_t rnd64(unsigned int *seed)
{
	return ((uint64_t)rand_r(seed) << 33) ^ ((uint64_t)rand_r(seed) << 11) ^
	       rand_r(seed);
}

/* A pointer for the kernel to chew on. */
static uint64_t pick_pointer(struct fuzzer *f, size_t len)
{
	switch (rand_r(&f->seed) % 8) {
	case 0:
		return 0;
	case 1:
		return 0xffff888000000000ull + (rnd64(&f->seed) & 0xffffff);
	case 2:		/* runs into the guard page */
		return (uintptr_t)f->buf + f->page - (rand_r(&f->seed) % 32);
	case 3:
		return rnd64(&f->seed);
	default:	/* in bounds, maybe unaligned */
		return (uintptr_t)f->buf + f->page - len - (rand_r(&f->seed) % 64);
	}
}

static const uint32_t sizes[] = { 0, 4, 8, 15, 16, 23, 24, 31, 32, 39, 40,
				  48, 64, 4095, 4096, 4097, ARG_MAX_SIZE };

static void fuzz_one(struct fuzzer *f)
{
	unsigned int dir_pick = rand_r(&f->seed) % 8;
	unsigned int nr = rand_r(&f->seed) % 10;	/* 7..9 are unknown */
	uint32_t size = sizes[rand_r(&f->seed) % (sizeof(sizes) / sizeof(sizes[0]))];
	unsigned int dir = dir_pick < 6 ? _IOC_READ | _IOC_WRITE : dir_pick - 6;
	unsigned long cmd;
	char *arg;
	size_t i, len;

	cmd = _IOC(dir, FIBER_IOC_MAGIC, nr, rand_r(&f->seed) % 64);
	len = size < 64 ? 64 : size > 256 ? 256 : size;
	if (len > (size_t)f->page)
		len = f->page;
	arg = f->buf + f->page - len;
	for (i = 0; i < len; i++)
		arg[i] = rand_r(&f->seed) % 4 ? 0 : rand_r(&f->seed);
	memcpy(arg, &size, sizeof(size));
	if (rand_r(&f->seed) % 2)
		memset(arg + 4, 0, 4);			/* flags 0, often */
	/* PARK and SWITCH: a near deadline, so nothing sleeps for long. */
	if (nr == 3 || nr == 5) {
		uint64_t deadline = now_ns() + 100000;
		size_t at = nr == 3 ? 8 : 16;

		if (len >= at + 8)
			memcpy(arg + at, &deadline, 8);
		if (len >= at + 16 && rand_r(&f->seed) % 2) {
			uint64_t p = pick_pointer(f, 64);

			memcpy(arg + at + 8, &p, 8);
		}
	}
	/* CONFIGURE: a delay of at most 1 ms, or the run crawls. */
	if (nr == 6 && len >= 16)
		memset(arg + 12, 0, 4);

	f->calls++;
	if (rand_r(&f->seed) % 16 == 0)
		arg = (char *)(uintptr_t)pick_pointer(f, len);
	if (ioctl(f->fd, cmd, arg) == 0) {
		f->ok++;
	} else if (!errno_allowed(errno)) {
		f->bad++;
		f->bad_errno = errno;
		f->bad_cmd = cmd;
	}
}

static void fuzz_mmap(struct fuzzer *f)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE,
				     PROT_WRITE, PROT_READ | PROT_EXEC,
				     PROT_NONE };
	size_t len = (rand_r(&f->seed) % 400 + 1) * f->page;
	int flags = rand_r(&f->seed) % 2 ? MAP_SHARED : MAP_PRIVATE;
	off_t off = rand_r(&f->seed) % 4 ? 0 : (rand_r(&f->seed) % 4) * f->page;
	void *p;

	f->calls++;
	p = mmap(NULL, len, prots[rand_r(&f->seed) % 5], flags, f->fd, off);
	if (p != MAP_FAILED) {
		f->ok++;
		/* Try to split it; then drop it whole. */
		if (len > (size_t)f->page)
			munmap((char *)p + f->page, f->page);
		munmap(p, len);
	} else if (!errno_allowed(errno) && errno != EACCES) {
		f->bad++;
		f->bad_errno = errno;
		f->bad_cmd = 0;
	}
}

static long fuzz_iterations(void)
{
	const char *s = getenv("FIBER_FUZZ_ITERATIONS");

	if (s)
		return atol(s);
	s = getenv("FIBER_VM_DEBUG");
	return s && !strcmp(s, "1") ? 5000 : 20000;
}

static void *fuzz_main(void *arg)
{
	struct fuzzer *f = arg;
	long i, n = fuzz_iterations();

	for (i = 0; i < n; i++) {
		if (i % 50 == 0)
			fuzz_mmap(f);
		else
			fuzz_one(f);
	}
	/* Leave no registration behind. */
	fiber_unregister(f->fd);
	return NULL;
}

FIXTURE(fuzz) {
	int fd;
	long page;
	struct fuzzer f[2];
};

FIXTURE_SETUP(fuzz)
{
	int i;

	self->fd = fiber_open();
	ASSERT_LE(0, self->fd);
	self->page = sysconf(_SC_PAGESIZE);
	for (i = 0; i < 2; i++) {
		struct fuzzer *f = &self->f[i];

		f->fd = self->fd;
		f->seed = 1234 + i;
		f->page = self->page;
		f->buf = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, f->buf);
		ASSERT_EQ(0, mprotect(f->buf + self->page, self->page, PROT_NONE));
	}
}

FIXTURE_TEARDOWN(fuzz)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F_TIMEOUT(fuzz, random_ioctls_and_mmaps_fail_cleanly, 280)
{
	struct fiber_info info = { .size = sizeof(info) };
	long calls = 0, ok = 0;
	int i;

	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&self->f[i].thread, NULL, fuzz_main,
					    &self->f[i]));
	for (i = 0; i < 2; i++) {
		struct fuzzer *f = &self->f[i];

		pthread_join(f->thread, NULL);
		calls += f->calls;
		ok += f->ok;
		EXPECT_EQ(0, f->bad)
			TH_LOG("thread %d: errno %d (%s) from command %#lx", i,
			       f->bad_errno, strerror(f->bad_errno), f->bad_cmd);
	}
	TH_LOG("%ld calls, %ld succeeded", calls, ok);
	/* Some calls must get through, or the fuzzer tests nothing. */
	EXPECT_LT(0, ok);
	/* The module still answers. */
	EXPECT_EQ(0, ioctl(self->fd, FIBER_IOC_GET_INFO, &info));
	EXPECT_EQ(FIBER_ABI_VERSION, info.abi_version);
}

/* What it fuzzes is the device. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
