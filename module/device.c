// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/fiber misc device: file operations and ioctl dispatch.
 *
 * Lifetime: fiber_fops.owner pins the module for as long as any file is
 * open, so module exit never races with open files or running ioctls.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/fiber.h>

#include "device.h"
#include "info.h"
#include "runner_selftest.h"

atomic_t fiber_nr_groups = ATOMIC_INIT(0);

/* Seeking makes no sense here: nonseekable_open() makes lseek() fail. */
static int fiber_open(struct inode *inode, struct file *file)
{
	atomic_inc(&fiber_nr_groups);
	return nonseekable_open(inode, file);
}

static int fiber_release(struct inode *inode, struct file *file)
{
	atomic_dec(&fiber_nr_groups);
	return 0;
}

/*
 * Dispatch on magic, number and direction.  The size bits of the command are
 * ignored on purpose: the `size` member of each argument struct versions it
 * (see the uapi header), so a binary built against an older, smaller struct
 * still reaches the same handler.
 */
static long fiber_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	fiber_runner_selftest_breakage();

	if (_IOC_TYPE(cmd) != FIBER_IOC_MAGIC ||
	    _IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE))
		return -ENOTTY;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(FIBER_IOC_GET_INFO):
		return fiber_ioctl_get_info(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations fiber_fops = {
	.owner		= THIS_MODULE,
	.open		= fiber_open,
	.release	= fiber_release,
	.unlocked_ioctl	= fiber_ioctl,
	/* Every argument struct has the same layout on 32 and 64 bit. */
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice fiber_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= FIBER_DEVICE_NAME,
	.fops	= &fiber_fops,
	.mode	= 0666,
};

int fiber_device_init(void)
{
	return misc_register(&fiber_miscdev);
}

void fiber_device_exit(void)
{
	misc_deregister(&fiber_miscdev);
}
