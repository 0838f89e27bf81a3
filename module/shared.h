/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_SHARED_H
#define _FIBER_SHARED_H

#include <linux/types.h>
#include <asm/page.h>
#include <linux/fiber.h>

/* Slots per page of the mapping; the first page is the header. */
#define FIBER_SLOTS_PER_PAGE	(PAGE_SIZE / sizeof(struct fiber_slot))

struct fiber_group;
struct fiber_slot;
struct vm_area_struct;

size_t fiber_shared_map_size(u32 max_carriers);
int fiber_shared_alloc(struct fiber_group *group);
int fiber_shared_prepare_slot(struct fiber_group *group, u32 index);
struct fiber_slot *fiber_shared_slot(struct fiber_group *group, u32 index);
void fiber_shared_free(struct fiber_group *group);
int fiber_shared_mmap(struct fiber_group *group, struct vm_area_struct *vma);

#endif /* _FIBER_SHARED_H */
