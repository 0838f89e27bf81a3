/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_DEVICE_H
#define _FIBER_DEVICE_H

#include <linux/atomic.h>

/* Open /dev/fiber files (= groups) in the system; see struct fiber_info. */
extern atomic_t fiber_nr_groups;

int fiber_device_init(void);
void fiber_device_exit(void);

#endif /* _FIBER_DEVICE_H */
