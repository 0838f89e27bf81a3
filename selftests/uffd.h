/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One page whose first touch sleeps until the test fills it.  userfaultfd
 * makes a page fault wait, deterministically, for UFFDIO_COPY or
 * UFFDIO_ZEROPAGE: a fault of user code, or of the kernel's own copy from
 * user memory (which needs CAP_SYS_PTRACE, as root in the VM has).  The
 * selftests use it for a block that lasts exactly as long as they want.
 */
#ifndef FIBER_SELFTEST_UFFD_H
#define FIBER_SELFTEST_UFFD_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

struct uffd_page {
	int uffd;
	char *area;
	long size;
};

/* Can this process have a userfaultfd at all?  0 or -errno. */
static inline int uffd_probe(void)
{
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static inline void uffd_page_close(struct uffd_page *p)
{
	if (p->area != MAP_FAILED)
		munmap(p->area, p->size);
	if (p->uffd >= 0)
		close(p->uffd);
	p->area = MAP_FAILED;
	p->uffd = -1;
}

/* Map a fresh page and watch it for missing-page faults: 0 or -errno. */
static inline int uffd_page_open(struct uffd_page *p)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	int ret;

	p->size = sysconf(_SC_PAGESIZE);
	p->area = MAP_FAILED;
	p->uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (p->uffd < 0)
		return -errno;
	if (ioctl(p->uffd, UFFDIO_API, &api))
		goto fail;
	p->area = mmap(NULL, p->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->area == MAP_FAILED)
		goto fail;
	reg.range.start = (uintptr_t)p->area;
	reg.range.len = p->size;
	if (ioctl(p->uffd, UFFDIO_REGISTER, &reg))
		goto fail;
	return 0;
fail:
	ret = -errno;
	uffd_page_close(p);
	return ret;
}

/*
 * Fill the page with @len bytes of @data, zeros after, which wakes the
 * thread that faulted on it: 0 or -errno.
 */
static inline int uffd_page_fill(struct uffd_page *p, const void *data,
				 size_t len)
{
	struct uffdio_copy copy = { .dst = (uintptr_t)p->area, .len = p->size };
	char *src = aligned_alloc(p->size, p->size);
	int ret = 0;

	if (!src)
		return -ENOMEM;
	memset(src, 0, p->size);
	memcpy(src, data, len);
	copy.src = (uintptr_t)src;
	if (ioctl(p->uffd, UFFDIO_COPY, &copy))
		ret = -errno;
	free(src);
	return ret;
}

#endif /* FIBER_SELFTEST_UFFD_H */
