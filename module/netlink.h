/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _FIBER_NETLINK_H
#define _FIBER_NETLINK_H

#include <net/genetlink.h>

/* Index of the "events" multicast group in the family's group table. */
#define FIBER_MCGRP_EVENTS	0

extern struct genl_family fiber_genl_family;

int fiber_netlink_init(void);
void fiber_netlink_exit(void);

#endif /* _FIBER_NETLINK_H */
