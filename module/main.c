// SPDX-License-Identifier: GPL-2.0
/*
 * Module init and exit: only the order in which the parts come up and go
 * down.  Each part lives in its own file.
 */
#include <linux/module.h>
#include <linux/fiber.h>

#include "carrier.h"
#include "compat.h"
#include "device.h"
#include "group.h"
#include "netlink.h"
#include "watch.h"

static int __init fiber_mod_init(void)
{
	int ret;

	ret = fiber_group_init();
	if (ret)
		return ret;
	fiber_wq = alloc_workqueue("fiber", FIBER_WQ_PERCPU, 0);
	if (!fiber_wq)
		return -ENOMEM;
	ret = fiber_netlink_init();
	if (ret)
		goto out_wq;
	ret = fiber_device_init();
	if (ret)
		goto out_netlink;

	pr_info("fiber: /dev/%s ready, ABI %d\n", FIBER_DEVICE_NAME,
		FIBER_ABI_VERSION);
	return 0;

out_netlink:
	fiber_netlink_exit();
out_wq:
	destroy_workqueue(fiber_wq);
	return ret;
}

static void __exit fiber_mod_exit(void)
{
	/*
	 * Every open file and every carrier pins the module, so no group or
	 * carrier exists once we get here.  Carriers drop their reference as
	 * the last act of a work item on fiber_wq: destroying it waits for
	 * such work to return.
	 */
	fiber_device_exit();
	destroy_workqueue(fiber_wq);
	/* Nothing records events now: send what is left, then unregister. */
	fiber_watch_exit();
	fiber_netlink_exit();
	fiber_group_exit();
}

module_init(fiber_mod_init);
module_exit(fiber_mod_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Kernel-assisted fibers: block notification for M:N runtimes");
MODULE_AUTHOR("The libfiber authors");
MODULE_VERSION(FIBER_VERSION);
