/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_INFO_H
#define _FIBER_INFO_H

long fiber_ioctl_get_info(void __user *uarg);

#endif /* _FIBER_INFO_H */
