/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_INFO_H
#define _FIBER_INFO_H

#include <linux/fiber.h>

#include "compat.h"

/*
 * Every feature bit this module implements: FIBER_IOC_GET_INFO and the
 * netlink family's FIBER_STATS_A_FEATURES report the same.
 */
#define FIBER_FEATURES_SUPPORTED	(FIBER_FEATURE_GET_INFO | \
					 FIBER_FEATURE_CARRIERS | \
					 FIBER_FEATURE_HOLD | \
					 FIBER_FEATURE_DELAY | \
					 (FIBER_HAVE_EVENTS ? \
					  FIBER_FEATURE_EVENTS : 0))

long fiber_ioctl_get_info(void __user *uarg);

#endif /* _FIBER_INFO_H */
