// SPDX-License-Identifier: GPL-2.0
/*
 * The shared mapping: what it holds, and every way to misuse it.
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "harness_ext.h"
#include "nobody.h"

FIXTURE(group) {
	int fd;
	size_t size;
	long page;
};

FIXTURE_SETUP(group)
{
	struct fiber_config cfg;

	self->fd = fiber_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, fiber_configure(self->fd, 0, 0, 0, 0, &cfg));
	self->size = cfg.map_size;
	self->page = sysconf(_SC_PAGESIZE);
}

FIXTURE_TEARDOWN(group)
{
	if (self->fd >= 0)
		close(self->fd);
}

static void *map(int fd, size_t size, int prot, int flags, off_t off)
{
	return mmap(NULL, size, prot, flags, fd, off);
}

TEST_F(group, the_header_describes_the_mapping)
{
	struct fiber_shared *hdr = map(self->fd, self->size,
				       PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	struct fiber_config cfg;

	ASSERT_NE(MAP_FAILED, hdr);
	ASSERT_EQ(0, fiber_configure(self->fd, 0, 0, 0, 0, &cfg));
	EXPECT_EQ(FIBER_SHARED_MAGIC, hdr->magic);
	EXPECT_EQ(FIBER_ABI_VERSION, hdr->abi_version);
	EXPECT_EQ(sizeof(struct fiber_slot), hdr->slot_size);
	EXPECT_EQ(self->page, hdr->slot_offset);
	EXPECT_EQ(cfg.max_carriers, hdr->max_carriers);
	EXPECT_EQ(0, hdr->nr_carriers);
	EXPECT_EQ(0, munmap(hdr, self->size));
}

TEST_F(group, wrong_size_offset_or_sharing_is_einval)
{
	EXPECT_EQ(MAP_FAILED, map(self->fd, self->size - self->page,
				  PROT_READ, MAP_SHARED, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, map(self->fd, self->size + self->page,
				  PROT_READ, MAP_SHARED, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, map(self->fd, self->size, PROT_READ, MAP_SHARED,
				  self->page));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, map(self->fd, self->size, PROT_READ,
				  MAP_PRIVATE, 0));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(group, it_is_never_executable)
{
	void *p;

	EXPECT_EQ(MAP_FAILED, map(self->fd, self->size, PROT_READ | PROT_EXEC,
				  MAP_SHARED, 0));
	EXPECT_EQ(EPERM, errno);
	p = map(self->fd, self->size, PROT_READ, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, self->size, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	munmap(p, self->size);
}

TEST_F(group, it_cannot_be_split_or_grown)
{
	char *p = map(self->fd, self->size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, 0);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, munmap(p + self->page, self->page));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, mprotect(p, self->page, PROT_READ));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mremap(p, self->size, self->size + self->page, 0));
	EXPECT_EQ(MAP_FAILED, mremap(p, self->size, self->size - self->page, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Still whole and working. */
	EXPECT_EQ(FIBER_SHARED_MAGIC, ((struct fiber_shared *)p)->magic);
	EXPECT_EQ(0, munmap(p, self->size));
}

TEST_F(group, it_can_move_and_be_mapped_twice)
{
	char *p = map(self->fd, self->size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, 0);
	char *q, *r;
	uint32_t slot;

	ASSERT_NE(MAP_FAILED, p);
	r = mmap(NULL, self->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	q = mremap(p, self->size, self->size, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	ASSERT_EQ(r, q);
	p = map(self->fd, self->size, PROT_READ, MAP_SHARED, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, fiber_register(self->fd, 7, &slot));
	/* Both views show the same slot. */
	EXPECT_EQ(7, ((struct fiber_slot *)(p + FIBER_SLOT_OFFSET(self->page, slot)))->user_word);
	EXPECT_EQ(7, ((struct fiber_slot *)(q + FIBER_SLOT_OFFSET(self->page, slot)))->user_word);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	munmap(p, self->size);
	munmap(q, self->size);
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

TEST_F(group, touching_an_unused_slot_page_is_sigbus)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	char *p = map(self->fd, self->size, PROT_READ, MAP_SHARED, 0);
	volatile int faulted = 0;

	ASSERT_NE(MAP_FAILED, p);
	if (self->size <= (size_t)self->page * 2)
		SKIP(return, "only one page of slots");
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	/* A carrier makes the header and the first slot page exist. */
	ASSERT_EQ(0, fiber_register(self->fd, 0, NULL));
	EXPECT_EQ(FIBER_SLOT_RUNNING,
		  FIBER_SLOT_STATE(((struct fiber_slot *)(p + self->page))->state));
	/* The last page holds no carrier yet. */
	if (sigsetjmp(bus_jmp, 1) == 0)
		(void)*(volatile char *)(p + self->size - 1);
	else
		faulted = 1;
	EXPECT_EQ(1, faulted);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	munmap(p, self->size);
}

/*
 * The header is the module's: user space may read it, and a write to it,
 * even through a mapping made writable, gets SIGBUS and changes nothing.
 * The slot pages of the same mapping stay writable.
 */
TEST_F(group, the_header_page_is_read_only)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	char *p = map(self->fd, self->size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	struct fiber_shared *hdr = (struct fiber_shared *)p;
	struct fiber_slot *slot = (struct fiber_slot *)(p + self->page);
	volatile int faulted = 0;
	uint32_t magic;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	ASSERT_EQ(0, fiber_register(self->fd, 0, NULL));
	magic = hdr->magic;
	if (sigsetjmp(bus_jmp, 1) == 0)
		*(volatile uint32_t *)&hdr->nr_carriers = 12345;
	else
		faulted = 1;
	EXPECT_EQ(1, faulted);
	EXPECT_EQ(magic, hdr->magic);
	EXPECT_EQ(1, hdr->nr_carriers);
	/* Its own slot the carrier writes (its user word). */
	slot->user_word = 42;
	EXPECT_EQ(42, slot->user_word);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	munmap(p, self->size);
}

/*
 * madvise(MADV_DOFORK) undoes VM_DONTCOPY: the child of fork() then has a
 * copy of the mapping.  It must not reach the owner's slots through it,
 * neither to read them nor to forge a state word, even as another user.
 */
TEST_F(group, a_mapping_made_inheritable_gives_a_child_nothing)
{
	char *p = map(self->fd, self->size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	struct fiber_slot *slot;
	uint32_t index;
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, fiber_register(self->fd, 0, &index));
	slot = (struct fiber_slot *)(p + FIBER_SLOT_OFFSET(self->page, index));
	ASSERT_EQ(FIBER_SLOT_RUNNING, FIBER_SLOT_STATE(slot->state));
	if (madvise(p, self->size, MADV_DOFORK)) {
		if (errno == ENOSYS)
			SKIP(goto out, "no madvise() in this kernel (CONFIG_ADVISE_SYSCALLS=n): nothing undoes VM_DONTCOPY");
		/* Seen on 7.2, for a mapping with VM_DONTEXPAND. */
		ASSERT_EQ(EINVAL, errno);
		SKIP(goto out, "this kernel refuses MADV_DOFORK here (EINVAL): nothing undoes VM_DONTCOPY");
	}
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct sigaction sa = { .sa_handler = on_sigbus };
		volatile int faults = 0;

		if (fiber_become_nobody_if_able())
			_exit(2);
		sigaction(SIGBUS, &sa, NULL);
		if (sigsetjmp(bus_jmp, 1) == 0)
			(void)*(volatile uint64_t *)p;
		else
			faults++;
		if (sigsetjmp(bus_jmp, 1) == 0)
			__atomic_store_n(&slot->state,
					 FIBER_SLOT_WORD(FIBER_SLOT_CLAIMED, 1000),
					 __ATOMIC_RELEASE);
		else
			faults++;
		_exit(faults == 2 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child ended with status %#x", status);
	EXPECT_EQ(FIBER_SLOT_RUNNING, FIBER_SLOT_STATE(slot->state));
out:
	EXPECT_EQ(0, fiber_unregister(self->fd));
	munmap(p, self->size);
}

static uint32_t nr_groups(void)
{
	struct fiber_info info = { .size = sizeof(info) };
	int fd = fiber_open();

	if (fd < 0 || ioctl(fd, FIBER_IOC_GET_INFO, &info))
		return 0;
	close(fd);
	return info.nr_groups - 1;	/* not counting this one */
}

TEST_F(group, the_mapping_keeps_the_group_after_close)
{
	struct fiber_shared *hdr = map(self->fd, self->size, PROT_READ,
				       MAP_SHARED, 0);
	uint32_t before = nr_groups();

	ASSERT_NE(MAP_FAILED, hdr);
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_EQ(before, nr_groups());
	EXPECT_EQ(FIBER_SHARED_MAGIC, hdr->magic);
	ASSERT_EQ(0, munmap(hdr, self->size));
	EXPECT_EQ(before - 1, nr_groups());
}

/* Every case maps a group. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
