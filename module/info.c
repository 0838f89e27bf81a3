// SPDX-License-Identifier: GPL-2.0
/* FIBER_IOC_GET_INFO: what this module supports. */
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/fiber.h>

#include "args.h"
#include "device.h"
#include "group.h"
#include "info.h"

long fiber_ioctl_get_info(void __user *uarg)
{
	struct fiber_info info;
	u32 usize;
	int ret;

	BUILD_BUG_ON(sizeof(info) < FIBER_INFO_SIZE_VER0);

	ret = fiber_args_from_user(&info, sizeof(info), FIBER_INFO_SIZE_VER0,
				   uarg, &usize);
	if (ret)
		return ret;
	if (info.flags)
		return -EINVAL;

	info.abi_version = FIBER_ABI_VERSION;
	info.nr_groups = atomic_read(&fiber_nr_groups);
	info.features = FIBER_FEATURES_SUPPORTED;
	info.slot_size = sizeof(struct fiber_slot);
	info.max_carriers = READ_ONCE(fiber_max_carriers);
	return fiber_args_to_user(uarg, usize, &info, sizeof(info));
}
