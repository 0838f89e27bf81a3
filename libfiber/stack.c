// SPDX-License-Identifier: MIT
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>

#include "stack.h"

static size_t page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

/* Return: 0 or -ENOMEM. */
int fiber_stack_alloc(struct fiber_stack *st, size_t size)
{
	size_t page = page_size();
	char *p;

	size = (size + page - 1) & ~(page - 1);
	p = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		 -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	if (mprotect(p, page, PROT_NONE)) {
		munmap(p, size + page);
		return -ENOMEM;
	}
	st->base = p + page;
	st->size = size;
	return 0;
}

void fiber_stack_free(struct fiber_stack *st)
{
	size_t page = page_size();

	if (st->base)
		munmap((char *)st->base - page, st->size + page);
	st->base = NULL;
}
