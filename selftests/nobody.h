/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Becoming an unprivileged user, for the tests of what such a user may
 * not do.  Apart from fiber_test.h, whose users may not want <grp.h>'s
 * struct group.
 */
#ifndef FIBER_SELFTEST_NOBODY_H
#define FIBER_SELFTEST_NOBODY_H

#include <errno.h>
#include <grp.h>
#include <unistd.h>

#define NOBODY		65534

/*
 * Become nobody for good (uid and gid 65534), or -errno: supplementary
 * groups first (it needs CAP_SETGID), then the gid, then the uid, whose
 * change from 0 clears every capability set.
 */
static inline int fiber_become_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return -errno;
	return 0;
}

/*
 * For a child that should be another user where it can be, and is fine
 * as itself where it cannot (root without CAP_SETUID, in a container):
 * nobody if this process may become it, else unchanged.  0 or -errno.
 * Needs fiber_test.h's fiber_capable(), included before this file.
 */
static inline int fiber_become_nobody_if_able(void)
{
	if (!fiber_capable(CAP_SETUID) || !fiber_capable(CAP_SETGID))
		return 0;
	return fiber_become_nobody();
}

/*
 * SKIP the case unless this process may become nobody: a test of what
 * another user may not do needs one, and only root (CAP_SETUID and
 * CAP_SETGID) can.  Needs fiber_test.h's NEED_CAP() at its use.
 */
#define NEED_TO_BECOME_NOBODY() do {					\
	NEED_CAP(CAP_SETUID, "becoming uid 65534");			\
	NEED_CAP(CAP_SETGID, "becoming gid 65534");			\
} while (0)

#endif /* FIBER_SELFTEST_NOBODY_H */
