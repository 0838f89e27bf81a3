// SPDX-License-Identifier: GPL-2.0
/*
 * The memory shared with user space: a header page (struct fiber_shared)
 * followed by the slots (struct fiber_slot), mapped with mmap() on the fd.
 *
 * The module allocates the pages itself and reaches them through the
 * kernel's direct mapping, so the scheduler-path callbacks write slots
 * without ever faulting.  The page array is sized for max_carriers when the
 * group is frozen, the header page is allocated then, and each slot page
 * when the first carrier that needs it registers.  A page is published with
 * smp_store_release() and never removed before the group dies, so the
 * fault handler reads the array without a lock.
 *
 * The mapping is all or nothing: offset 0, exactly map_size bytes,
 * MAP_SHARED, never executable, not inherited over fork (VM_DONTCOPY), not
 * growable (VM_DONTEXPAND), and not splittable (partial munmap, mprotect or
 * mremap of a part fail with EINVAL).
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/fiber.h>

#include "compat.h"
#include "group.h"
#include "shared.h"

size_t fiber_shared_map_size(u32 max_carriers)
{
	return PAGE_SIZE * (1 + DIV_ROUND_UP(max_carriers, FIBER_SLOTS_PER_PAGE));
}

static struct page *fiber_shared_new_page(void)
{
	return alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
}

/* Allocate the page array and the header page. */
int fiber_shared_alloc(struct fiber_group *group)
{
	struct fiber_shared *hdr;
	struct page *page;
	u32 nr_pages;

	lockdep_assert_held(&group->config_lock);
	BUILD_BUG_ON(sizeof(struct fiber_slot) != 128);
	BUILD_BUG_ON(sizeof(struct fiber_shared) > PAGE_SIZE);

	nr_pages = fiber_shared_map_size(group->max_carriers) >> PAGE_SHIFT;
	group->pages = kvcalloc(nr_pages, sizeof(*group->pages),
				GFP_KERNEL_ACCOUNT);
	if (!group->pages)
		return -ENOMEM;
	page = fiber_shared_new_page();
	if (!page) {
		kvfree(group->pages);
		group->pages = NULL;
		return -ENOMEM;
	}
	group->nr_pages = nr_pages;
	hdr = page_address(page);
	hdr->magic = FIBER_SHARED_MAGIC;
	hdr->abi_version = FIBER_ABI_VERSION;
	hdr->slot_size = sizeof(struct fiber_slot);
	hdr->slot_offset = PAGE_SIZE;
	hdr->max_carriers = group->max_carriers;
	group->shared = hdr;
	/* Publish the initialised page to the lockless fault handler. */
	smp_store_release(&group->pages[0], page);
	return 0;
}

/*
 * Make sure the page that holds slot @index exists, and its chunk of
 * group->carriers.  The chunk first: a page is never without it.
 */
int fiber_shared_prepare_slot(struct fiber_group *group, u32 index)
{
	u32 nr = 1 + index / FIBER_SLOTS_PER_PAGE;
	struct fiber_carrier **chunk;
	struct page *page;

	lockdep_assert_held(&group->config_lock);
	if (group->pages[nr])
		return 0;
	chunk = group->carriers[nr - 1];
	if (!chunk) {
		chunk = kcalloc(FIBER_SLOTS_PER_PAGE, sizeof(*chunk),
				GFP_KERNEL_ACCOUNT);
		if (!chunk)
			return -ENOMEM;
		/* Pairs with the smp_load_acquire() in fiber_group_carrier(). */
		smp_store_release(&group->carriers[nr - 1], chunk);
	}
	page = fiber_shared_new_page();
	if (!page)
		return -ENOMEM;
	/* Pairs with the smp_load_acquire() in fiber_shared_fault(). */
	smp_store_release(&group->pages[nr], page);
	return 0;
}

/* The kernel address of slot @index, whose page must exist. */
struct fiber_slot *fiber_shared_slot(struct fiber_group *group, u32 index)
{
	struct page *page = READ_ONCE(group->pages[1 + index / FIBER_SLOTS_PER_PAGE]);
	struct fiber_slot *slots = page_address(page);

	return &slots[index % FIBER_SLOTS_PER_PAGE];
}

void fiber_shared_free(struct fiber_group *group)
{
	u32 i;

	if (!group->pages)
		return;
	for (i = 0; i < group->nr_pages; i++)
		if (group->pages[i])
			__free_page(group->pages[i]);
	kvfree(group->pages);
	group->pages = NULL;
	group->shared = NULL;
}

static vm_fault_t fiber_shared_fault(struct vm_fault *vmf)
{
	struct fiber_group *group = vmf->vma->vm_private_data;
	struct page *page;

	if (vmf->pgoff >= group->nr_pages)
		return VM_FAULT_SIGBUS;
	/*
	 * Only the owner's own mappings.  VM_DONTCOPY keeps the mapping out
	 * of a fork() child, but madvise(MADV_DOFORK) clears it: the child
	 * then has a copy with no pages in it (fork copies no page table of
	 * a shared mapping), and would fault the owner's slots in here.
	 */
	if (vmf->vma->vm_mm != group->mm)
		return VM_FAULT_SIGBUS;
	/* Slots not yet registered have no page: nothing to read there. */
	page = smp_load_acquire(&group->pages[vmf->pgoff]);
	if (!page)
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

/*
 * The header page is the module's to write: user space may only read it.
 * A shared writable mapping with ->page_mkwrite is mapped read-only and
 * asks here before any page of it is first written, so a write to the
 * header gets SIGBUS while the slot pages turn writable.  The page is
 * returned locked: it has no address_space, and do_page_mkwrite() would
 * take that for a truncated page and retry for ever.
 */
static vm_fault_t fiber_shared_page_mkwrite(struct vm_fault *vmf)
{
	if (vmf->pgoff == 0)
		return VM_FAULT_SIGBUS;
	lock_page(vmf->page);
	return VM_FAULT_LOCKED;
}

static int fiber_shared_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static const struct vm_operations_struct fiber_shared_vm_ops = {
	.fault		= fiber_shared_fault,
	.page_mkwrite	= fiber_shared_page_mkwrite,
	.fiber_vm_may_split = fiber_shared_may_split,
};

/*
 * Called with the caller's ownership checked.  The vma holds a reference on
 * the file, and so on the group, until it is unmapped.
 */
int fiber_shared_mmap(struct fiber_group *group, struct vm_area_struct *vma)
{
	int ret;

	if (vma->vm_pgoff)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;

	mutex_lock(&group->config_lock);
	/* Check the size first: a failed mmap must not freeze the group. */
	if (vma->vm_end - vma->vm_start !=
	    fiber_shared_map_size(group->max_carriers))
		ret = -EINVAL;
	else
		ret = fiber_group_freeze(group);
	mutex_unlock(&group->config_lock);
	if (ret)
		return ret;

	fiber_vm_flags_mod(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP,
			   VM_MAYEXEC);
	vma->vm_private_data = group;
	vma->vm_ops = &fiber_shared_vm_ops;
	return 0;
}
