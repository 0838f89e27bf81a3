/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_PARK_H
#define _FIBER_PARK_H

struct irq_work;
struct fiber_group;

void fiber_park_notify(struct irq_work *work);
long fiber_ioctl_park(struct fiber_group *group, void __user *uarg);
long fiber_ioctl_wake(struct fiber_group *group, void __user *uarg);
long fiber_ioctl_switch(struct fiber_group *group, void __user *uarg);

#endif /* _FIBER_PARK_H */
