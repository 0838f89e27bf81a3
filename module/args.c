// SPDX-License-Identifier: GPL-2.0
/*
 * Size-versioned ioctl arguments, the rules of which the uapi header spells
 * out: every struct starts with `__u32 size`, older (smaller) structs are
 * zero-extended, newer (larger) ones are accepted only if the bytes this
 * module does not know are zero.
 */
#include <linux/uaccess.h>
#include <linux/minmax.h>

#include "args.h"

/**
 * fiber_args_from_user - read a size-versioned argument struct
 * @karg:	the module's struct, filled on success
 * @ksize:	sizeof the module's struct
 * @ver0_size:	the smallest size user space may pass
 * @uarg:	user pointer to the struct
 * @usize:	set to the size user space passed, for fiber_args_to_user()
 *
 * Return: 0, -EFAULT (bad pointer), -EINVAL (size below @ver0_size) or
 * -E2BIG (size above a page, or non-zero bytes beyond @ksize).
 */
int fiber_args_from_user(void *karg, size_t ksize, size_t ver0_size,
			 const void __user *uarg, u32 *usize)
{
	u32 size;

	if (get_user(size, (const u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0_size)
		return -EINVAL;
	/* Like openat2(): nobody will need a struct this large. */
	if (size > PAGE_SIZE)
		return -E2BIG;
	*usize = size;
	return copy_struct_from_user(karg, ksize, uarg, size);
}

/* Write back the first min(@usize, @ksize) bytes of @karg. */
int fiber_args_to_user(void __user *uarg, u32 usize, const void *karg,
		       size_t ksize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, usize, ksize)))
		return -EFAULT;
	return 0;
}
