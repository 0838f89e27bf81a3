/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_ARGS_H
#define _FIBER_ARGS_H

#include <linux/types.h>

int fiber_args_from_user(void *karg, size_t ksize, size_t ver0_size,
			 const void __user *uarg, u32 *usize);
int fiber_args_to_user(void __user *uarg, u32 usize, const void *karg,
		       size_t ksize);

#endif /* _FIBER_ARGS_H */
