// SPDX-License-Identifier: GPL-2.0
/*
 * Module init and exit: only the order in which the parts come up and go
 * down.  Each part lives in its own file.
 */
#include <linux/module.h>
#include <linux/fiber.h>

#include "device.h"

static int __init fiber_mod_init(void)
{
	int ret;

	ret = fiber_device_init();
	if (ret)
		return ret;

	pr_info("fiber: /dev/%s ready, ABI %d\n", FIBER_DEVICE_NAME,
		FIBER_ABI_VERSION);
	return 0;
}

static void __exit fiber_mod_exit(void)
{
	/*
	 * Every open file pins the module (fops.owner), so no ioctl can be
	 * running once we get here.
	 */
	fiber_device_exit();
}

module_init(fiber_mod_init);
module_exit(fiber_mod_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel-assisted fibers: block notification for M:N runtimes");
MODULE_AUTHOR("The libfiber authors");
MODULE_VERSION("0.1");
