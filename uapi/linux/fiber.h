/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * /dev/fiber: kernel assistance for user-space fiber runtimes.
 *
 * This header is the specification of the ABI between the fiber kernel
 * module and user space.  libfiber, the tools and the selftests compile
 * against this file from the source tree, never against an installed copy.
 *
 * Protocol
 * ========
 *
 * A process opens /dev/fiber (mode 0666; no privilege is needed).  Each open
 * file description is one *group*: the set of carrier threads of one fiber
 * runtime.  Every entry point is an ioctl on that file descriptor and
 * behaves like a system call: it returns 0 (or a documented non-negative
 * value) on success and -1 with errno set on failure.
 *
 * Versioning
 * ----------
 *
 * FIBER_ABI_VERSION changes only when an existing behaviour changes in a way
 * old user space cannot handle; it has never changed.  New behaviour is added
 * as a FIBER_FEATURE_* bit, which user space discovers with
 * FIBER_IOC_GET_INFO before it relies on it.
 *
 * Extensible argument structs
 * ---------------------------
 *
 * Every ioctl takes a pointer to a struct whose first member is
 * `__u32 size`, set by the caller to sizeof() the struct as *it* was compiled.
 * The structs only ever grow at the end, and the module handles every size
 * the way openat2(2) and clone3(2) do:
 *
 *  - size smaller than the struct's first published version
 *    (FIBER_*_SIZE_VER0):                                       EINVAL
 *  - size smaller than the module's struct: the missing tail reads as zero,
 *    and only the first `size` bytes are written back;
 *  - size larger than the module's struct: the extra bytes must all be
 *    zero (they are fields from a newer ABI that this module does not know
 *    and so cannot honour), else                                 E2BIG
 *  - a pointer the module cannot read or write:                  EFAULT
 *  - a flags bit not defined here, or a non-zero reserved field: EINVAL
 *
 * Pointers inside argument structs are passed as __u64.
 *
 * Command numbers
 * ---------------
 *
 * Commands use the _IOWR encoding with magic FIBER_IOC_MAGIC.  The size bits
 * of the command are those of the struct in this header; the module
 * dispatches on magic, number and direction and ignores the size bits, since
 * the `size` member is what versions the struct.  A command the module does
 * not know fails with ENOTTY.
 */
#ifndef _UAPI_LINUX_FIBER_H
#define _UAPI_LINUX_FIBER_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define FIBER_DEVICE_NAME	"fiber"
#define FIBER_DEVICE_PATH	"/dev/fiber"

#define FIBER_ABI_VERSION	1

/* 0xB9 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define FIBER_IOC_MAGIC		0xB9

/*
 * Feature bits reported by FIBER_IOC_GET_INFO.  A set bit promises the
 * entry point or behaviour named; bits not defined here are reserved and
 * reported as zero.
 */
#define FIBER_FEATURE_GET_INFO	_BITULL(0)	/* FIBER_IOC_GET_INFO */

/**
 * struct fiber_info - argument of FIBER_IOC_GET_INFO
 * @size:	in: sizeof(struct fiber_info) as the caller knows it
 * @flags:	in: must be 0; no flags are defined yet
 * @abi_version: out: FIBER_ABI_VERSION of the module
 * @nr_groups:	out: number of groups (open /dev/fiber files) in the system,
 *		this one included
 * @features:	out: FIBER_FEATURE_* bits the module supports
 *
 * FIBER_IOC_GET_INFO tells user space what the module supports.  It needs no
 * registration and works on any /dev/fiber descriptor.
 *
 * Errors: EINVAL (size below FIBER_INFO_SIZE_VER0, or flags not 0),
 * E2BIG (non-zero bytes past the module's struct), EFAULT (bad pointer).
 */
struct fiber_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 nr_groups;
	__u64 features;
};

#define FIBER_INFO_SIZE_VER0	24	/* the first published size */

#define FIBER_IOC_GET_INFO	_IOWR(FIBER_IOC_MAGIC, 0x00, struct fiber_info)

#endif /* _UAPI_LINUX_FIBER_H */
