/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture most selftests share: a fresh group (a new open of
 * /dev/fiber, which the harness makes in each test's own process) and its
 * shared mapping.  Include after harness_ext.h and fiber_test.h.  A
 * program that uses it declares FIBER_NEEDS_DEVICE(), so that without
 * the module none of its cases runs.
 */
#ifndef FIBER_GROUP_FIXTURE_H
#define FIBER_GROUP_FIXTURE_H

FIXTURE(group) {
	int fd;
	struct fiber_map map;
};

FIXTURE_SETUP(group)
{
	self->fd = fiber_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, fiber_map(self->fd, &self->map));
}

FIXTURE_TEARDOWN(group)
{
	if (self->fd >= 0)
		close(self->fd);
}

#endif /* FIBER_GROUP_FIXTURE_H */
