// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/fiber and FIBER_IOC_GET_INFO: the device node, the size-versioned
 * argument rules of the uapi header, and every error path of the ioctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <linux/fiber.h>

#include "fiber_test.h"
#include "harness_ext.h"

/* Every feature bit the uapi header defines. */
#define KNOWN_FEATURES	(FIBER_FEATURE_GET_INFO | FIBER_FEATURE_CARRIERS | \
			 FIBER_FEATURE_HOLD | FIBER_FEATURE_DELAY | \
			 FIBER_FEATURE_EVENTS)

FIXTURE(dev) {
	int fd;
	long page;
};

FIXTURE_SETUP(dev)
{
	self->page = sysconf(_SC_PAGESIZE);
	self->fd = open(FIBER_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", FIBER_DEVICE_PATH,
				      strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* Two pages, the second one inaccessible: a buffer can end at the boundary. */
static char *map_guarded(long page)
{
	char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + page, page, PROT_NONE)) {
		munmap(p, 2 * page);
		return NULL;
	}
	return p;
}

TEST_F(dev, node_is_world_accessible_char_device)
{
	struct stat st;

	ASSERT_EQ(0, fstat(self->fd, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0666, st.st_mode & 07777);
	/* misc devices have major 10 */
	EXPECT_EQ(10, major(st.st_rdev));
}

TEST_F(dev, get_info_reports_abi_and_features)
{
	struct fiber_info info = { .size = sizeof(info) };

	ASSERT_EQ(0, ioctl(self->fd, FIBER_IOC_GET_INFO, &info));
	EXPECT_EQ(sizeof(info), info.size);
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(FIBER_ABI_VERSION, info.abi_version);
	EXPECT_TRUE(info.features & FIBER_FEATURE_GET_INFO);
	EXPECT_EQ(0, info.features & ~KNOWN_FEATURES);
	EXPECT_LE(1, info.nr_groups);
}

TEST_F(dev, nr_groups_counts_open_files)
{
	struct fiber_info a = { .size = sizeof(a) }, b = { .size = sizeof(b) };
	int fd2;

	ASSERT_EQ(0, ioctl(self->fd, FIBER_IOC_GET_INFO, &a));
	fd2 = open(FIBER_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ioctl(fd2, FIBER_IOC_GET_INFO, &b));
	EXPECT_EQ(a.nr_groups + 1, b.nr_groups);
	ASSERT_EQ(0, close(fd2));
	ASSERT_EQ(0, ioctl(self->fd, FIBER_IOC_GET_INFO, &b));
	EXPECT_EQ(a.nr_groups, b.nr_groups);
}

/*
 * A caller built against the first published struct passes a smaller size.
 * The module fills exactly that many bytes and nothing after them.
 */
TEST_F(dev, ver0_size_is_filled_and_nothing_more)
{
	unsigned char buf[FIBER_INFO_SIZE_VER0 + 16];
	struct fiber_info *info = (struct fiber_info *)buf;
	size_t i;

	memset(buf, 0, sizeof(buf));
	memset(buf + FIBER_INFO_SIZE_VER0, 0xa5, 16);
	info->size = FIBER_INFO_SIZE_VER0;
	ASSERT_EQ(0, ioctl(self->fd, FIBER_IOC_GET_INFO, buf));
	EXPECT_EQ(FIBER_ABI_VERSION, info->abi_version);
	for (i = FIBER_INFO_SIZE_VER0; i < sizeof(buf); i++)
		EXPECT_EQ(0xa5, buf[i]);
}

TEST_F(dev, size_below_ver0_is_einval)
{
	struct fiber_info info;
	uint32_t sizes[] = { 0, 4, 8, FIBER_INFO_SIZE_VER0 - 1 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&info, 0, sizeof(info));
		info.size = sizes[i];
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, &info));
		EXPECT_EQ(EINVAL, errno) TH_LOG("size %u", sizes[i]);
		/* Nothing written back on failure. */
		EXPECT_EQ(0, info.abi_version);
	}
}

/* A newer caller's struct is fine as long as the fields we lack are zero. */
TEST_F(dev, larger_size_with_zero_tail_works)
{
	unsigned char buf[sizeof(struct fiber_info) + 64];
	struct fiber_info *info = (struct fiber_info *)buf;

	memset(buf, 0, sizeof(buf));
	info->size = sizeof(buf);
	ASSERT_EQ(0, ioctl(self->fd, FIBER_IOC_GET_INFO, buf));
	EXPECT_EQ(FIBER_ABI_VERSION, info->abi_version);
	EXPECT_EQ(sizeof(buf), info->size);
}

TEST_F(dev, unknown_nonzero_tail_is_e2big)
{
	unsigned char buf[sizeof(struct fiber_info) + 64];
	struct fiber_info *info = (struct fiber_info *)buf;
	size_t at[] = { sizeof(struct fiber_info), sizeof(buf) - 1 };
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(buf, 0, sizeof(buf));
		info->size = sizeof(buf);
		buf[at[i]] = 1;
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, buf));
		EXPECT_EQ(E2BIG, errno) TH_LOG("non-zero byte at %zu", at[i]);
		EXPECT_EQ(0, info->abi_version);
	}
}

TEST_F(dev, size_over_a_page_is_e2big)
{
	struct fiber_info info = { .size = self->page + 1 };

	EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, &info));
	EXPECT_EQ(E2BIG, errno);
}

TEST_F(dev, flags_must_be_zero)
{
	struct fiber_info info = { .size = sizeof(info), .flags = 1 };

	EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info.flags = 1u << 31;
	EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, info.abi_version);
}

TEST_F(dev, bad_pointers_are_efault)
{
	char *p = map_guarded(self->page);
	struct fiber_info *info;

	ASSERT_NE(NULL, p);

	EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, NULL));
	EXPECT_EQ(EFAULT, errno);

	/* The size field itself is unreadable. */
	EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, p + self->page));
	EXPECT_EQ(EFAULT, errno);

	/* The size is readable, but the struct runs into the guard page. */
	info = (struct fiber_info *)(p + self->page - 8);
	info->size = sizeof(*info);
	info->flags = 0;
	EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, info));
	EXPECT_EQ(EFAULT, errno);

	/* Readable but not writable: the copy back fails. */
	info = (struct fiber_info *)p;
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	ASSERT_EQ(0, mprotect(p, self->page, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, FIBER_IOC_GET_INFO, info));
	EXPECT_EQ(EFAULT, errno);

	munmap(p, 2 * self->page);
}

TEST_F(dev, unknown_commands_are_enotty)
{
	struct fiber_info info = { .size = sizeof(info) };
	unsigned long bad[] = {
		_IOWR(FIBER_IOC_MAGIC, 0x7f, struct fiber_info), /* unknown nr */
		_IOWR(FIBER_IOC_MAGIC + 1, 0x00, struct fiber_info), /* magic */
		_IOR(FIBER_IOC_MAGIC, 0x00, struct fiber_info), /* direction */
		_IOW(FIBER_IOC_MAGIC, 0x00, struct fiber_info),
		_IO(FIBER_IOC_MAGIC, 0x00),
		0x1234,
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, bad[i], &info));
		EXPECT_EQ(ENOTTY, errno) TH_LOG("command %#lx", bad[i]);
	}
	EXPECT_EQ(0, info.abi_version);
}

/* The struct's size member versions it; the size bits of the command don't. */
TEST_F(dev, command_size_bits_are_ignored)
{
	struct fiber_info info = { .size = sizeof(info) };
	unsigned long cmd = _IOC(_IOC_READ | _IOC_WRITE, FIBER_IOC_MAGIC, 0x00,
				 FIBER_INFO_SIZE_VER0 - 8);

	ASSERT_EQ(0, ioctl(self->fd, cmd, &info));
	EXPECT_EQ(FIBER_ABI_VERSION, info.abi_version);
}

TEST_F(dev, not_seekable)
{
	EXPECT_EQ(-1, lseek(self->fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
}

/* Every case asks the device. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
