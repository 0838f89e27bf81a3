// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/fiber misc device: file operations and ioctl dispatch.
 *
 * Each open file is a group (group.c), kept in file->private_data; the file
 * holds a reference on it until ->release.  fiber_fops.owner pins the
 * module for as long as any file is open, so module exit never races with
 * open files or running ioctls; carriers pin it on their own (carrier.c).
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/fiber.h>

#include "carrier.h"
#include "device.h"
#include "group.h"
#include "info.h"
#include "park.h"
#include "runner_selftest.h"
#include "shared.h"

atomic_t fiber_nr_groups = ATOMIC_INIT(0);

/* Seeking makes no sense here: nonseekable_open() makes lseek() fail. */
static int fiber_open(struct inode *inode, struct file *file)
{
	struct fiber_group *group = fiber_group_create();

	if (IS_ERR(group))
		return PTR_ERR(group);
	file->private_data = group;
	return nonseekable_open(inode, file);
}

static int fiber_flush(struct file *file, fl_owner_t id)
{
	fiber_group_flush(file->private_data, file);
	return 0;
}

static int fiber_release(struct inode *inode, struct file *file)
{
	fiber_group_file_released(file->private_data);
	return 0;
}

static int fiber_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fiber_group *group = file->private_data;
	int ret = fiber_group_check_owner(group);

	return ret ?: fiber_shared_mmap(group, vma);
}

/*
 * Dispatch on magic, number and direction.  The size bits of the command are
 * ignored on purpose: the `size` member of each argument struct versions it
 * (see the uapi header), so a binary built against an older, smaller struct
 * still reaches the same handler.
 */
static long fiber_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct fiber_group *group = file->private_data;
	void __user *uarg = (void __user *)arg;
	int ret;

	fiber_runner_selftest_breakage();

	if (_IOC_TYPE(cmd) != FIBER_IOC_MAGIC ||
	    _IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE))
		return -ENOTTY;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(FIBER_IOC_GET_INFO):
		/* The one entry point any process may use. */
		return fiber_ioctl_get_info(uarg);
	case _IOC_NR(FIBER_IOC_REGISTER):
	case _IOC_NR(FIBER_IOC_UNREGISTER):
	case _IOC_NR(FIBER_IOC_PARK):
	case _IOC_NR(FIBER_IOC_WAKE):
	case _IOC_NR(FIBER_IOC_SWITCH):
	case _IOC_NR(FIBER_IOC_CONFIGURE):
		break;
	default:
		return -ENOTTY;
	}

	ret = fiber_group_check_owner(group);
	if (ret)
		return ret;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(FIBER_IOC_REGISTER):
		return fiber_ioctl_register(group, uarg);
	case _IOC_NR(FIBER_IOC_UNREGISTER):
		return fiber_ioctl_unregister(group, uarg);
	case _IOC_NR(FIBER_IOC_PARK):
		return fiber_ioctl_park(group, uarg);
	case _IOC_NR(FIBER_IOC_WAKE):
		return fiber_ioctl_wake(group, uarg);
	case _IOC_NR(FIBER_IOC_SWITCH):
		return fiber_ioctl_switch(group, uarg);
	default:
		return fiber_ioctl_configure(group, uarg);
	}
}

static const struct file_operations fiber_fops = {
	.owner		= THIS_MODULE,
	.open		= fiber_open,
	.flush		= fiber_flush,
	.release	= fiber_release,
	.mmap		= fiber_mmap,
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
