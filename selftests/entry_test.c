// SPDX-License-Identifier: GPL-2.0
/*
 * Every entry point's contract and error paths: register, unregister,
 * configure, park, wake and switch; the ownership rule (EBADFD from any
 * other process); the limits.  A failed call changes nothing.
 */
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "fiber_test.h"
#include "harness_ext.h"
#include "group_fixture.h"
#include "nobody.h"

static uint32_t module_max_carriers(int fd)
{
	struct fiber_info info = { .size = sizeof(info) };

	return ioctl(fd, FIBER_IOC_GET_INFO, &info) ? 0 : info.max_carriers;
}

TEST_F(group, register_fills_the_slot)
{
	struct fiber_slot *s;
	uint32_t slot = 99;

	ASSERT_EQ(0, fiber_register(self->fd, 0xfeed, &slot));
	EXPECT_EQ(0, slot);
	s = fiber_slot_of(&self->map, slot);
	EXPECT_EQ(FIBER_SLOT_RUNNING, slot_state(s));
	EXPECT_EQ(gettid_(), (pid_t)s->tid);
	EXPECT_EQ(0xfeed, s->user_word);
	EXPECT_EQ(1, self->map.hdr->nr_carriers);
	EXPECT_EQ(FIBER_SHARED_MAGIC, self->map.hdr->magic);
	EXPECT_EQ(sizeof(struct fiber_slot), self->map.hdr->slot_size);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	EXPECT_EQ(FIBER_SLOT_FREE, slot_state(s));
	EXPECT_EQ(0, s->tid);
	EXPECT_EQ(0, self->map.hdr->nr_carriers);
}

TEST_F(group, a_thread_is_a_carrier_of_one_group_only)
{
	int other = fiber_open();

	ASSERT_LE(0, other);
	ASSERT_EQ(0, fiber_register(self->fd, 0, NULL));
	EXPECT_EQ(-EBUSY, fiber_register(self->fd, 0, NULL));
	EXPECT_EQ(-EBUSY, fiber_register(other, 0, NULL));
	/* Not a carrier there: nothing to unregister. */
	EXPECT_EQ(-ESRCH, fiber_unregister(other));
	EXPECT_EQ(1, self->map.hdr->nr_carriers);
	EXPECT_EQ(0, fiber_unregister(self->fd));
	EXPECT_EQ(-ESRCH, fiber_unregister(self->fd));
	EXPECT_EQ(0, fiber_register(other, 0, NULL));
	EXPECT_EQ(0, fiber_unregister(other));
	close(other);
}

TEST_F(group, register_argument_errors)
{
	struct fiber_register r;
	unsigned char big[sizeof(r) + 8];

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.flags = 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_REGISTER, &r));
	r.flags = 0;
	r.reserved = 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_REGISTER, &r));
	r.reserved = 0;
	r.size = FIBER_REGISTER_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_REGISTER, &r));
	memset(big, 0, sizeof(big));
	((struct fiber_register *)big)->size = sizeof(big);
	big[sizeof(big) - 1] = 1;
	EXPECT_EQ(-E2BIG, fiber_sys(self->fd, FIBER_IOC_REGISTER, big));
	EXPECT_EQ(-EFAULT, fiber_sys(self->fd, FIBER_IOC_REGISTER, NULL));
	/* None of these registered anything. */
	EXPECT_EQ(0, self->map.hdr->nr_carriers);
	EXPECT_EQ(-ESRCH, fiber_unregister(self->fd));
}

TEST_F(group, unregister_argument_errors_keep_the_registration)
{
	struct fiber_unregister u = { .size = sizeof(u), .flags = 1 };

	ASSERT_EQ(0, fiber_register(self->fd, 0, NULL));
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_UNREGISTER, &u));
	EXPECT_EQ(-EFAULT, fiber_sys(self->fd, FIBER_IOC_UNREGISTER, NULL));
	u.flags = 0;
	u.size = 4;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_UNREGISTER, &u));
	/* Still a working carrier. */
	EXPECT_EQ(1, self->map.hdr->nr_carriers);
	EXPECT_EQ(-EBUSY, fiber_register(self->fd, 0, NULL));
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

TEST(max_carriers_is_fixed_once_the_group_is_used)
{
	struct fiber_config cfg;
	int fd = fiber_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fiber_configure(fd, FIBER_CONFIG_SET_MAX_CARRIERS, 0, 0,
				     2, &cfg));
	EXPECT_EQ(2, cfg.max_carriers);
	EXPECT_EQ(2 * (uint64_t)sysconf(_SC_PAGESIZE), cfg.map_size);
	ASSERT_EQ(0, fiber_register(fd, 0, NULL));
	EXPECT_EQ(-EBUSY, fiber_configure(fd, FIBER_CONFIG_SET_MAX_CARRIERS,
					  0, 0, 3, NULL));
	/* Setting the value it already has is no change. */
	EXPECT_EQ(0, fiber_configure(fd, FIBER_CONFIG_SET_MAX_CARRIERS, 0, 0,
				     2, &cfg));
	EXPECT_EQ(2, cfg.max_carriers);
	EXPECT_EQ(0, fiber_unregister(fd));
	close(fd);
}

static void *register_three(void *arg)
{
	int fd = *(int *)arg;

	return (void *)(intptr_t)fiber_register(fd, 0, NULL);
}

TEST(register_past_max_carriers_is_enospc)
{
	int fd = fiber_open();
	pthread_t t;
	void *ret;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fiber_configure(fd, FIBER_CONFIG_SET_MAX_CARRIERS, 0, 0,
				     1, NULL));
	ASSERT_EQ(0, fiber_register(fd, 0, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, register_three, &fd));
	pthread_join(t, &ret);
	EXPECT_EQ(-ENOSPC, (int)(intptr_t)ret);
	EXPECT_EQ(0, fiber_unregister(fd));
	close(fd);
}

TEST_F(group, configure_reads_and_validates)
{
	struct fiber_config cfg, bad;

	ASSERT_EQ(0, fiber_configure(self->fd, 0, 0, 0, 0, &cfg));
	EXPECT_EQ(0, cfg.handoff_delay_ns);
	EXPECT_EQ(1, cfg.hold_on_wake);
	EXPECT_EQ(module_max_carriers(self->fd), cfg.max_carriers);
	EXPECT_EQ(self->map.size, cfg.map_size);

	EXPECT_EQ(-EINVAL, fiber_configure(self->fd, 1u << 7, 0, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, fiber_configure(self->fd, FIBER_CONFIG_SET_DELAY,
					   1000000001ull, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, fiber_configure(self->fd, FIBER_CONFIG_SET_HOLD,
					   0, 2, 0, NULL));
	EXPECT_EQ(-EINVAL, fiber_configure(self->fd,
					   FIBER_CONFIG_SET_MAX_CARRIERS,
					   0, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, fiber_configure(self->fd,
					   FIBER_CONFIG_SET_MAX_CARRIERS, 0, 0,
					   module_max_carriers(self->fd) + 1,
					   NULL));
	/* The group is mapped: its size is fixed. */
	EXPECT_EQ(-EBUSY, fiber_configure(self->fd,
					  FIBER_CONFIG_SET_MAX_CARRIERS |
					  FIBER_CONFIG_SET_DELAY,
					  5, 0, 10, NULL));
	EXPECT_EQ(-EFAULT, fiber_sys(self->fd, FIBER_IOC_CONFIGURE, NULL));
	/* Nothing changed by any of those. */
	ASSERT_EQ(0, fiber_configure(self->fd, 0, 0, 0, 0, &bad));
	EXPECT_EQ(0, memcmp(&cfg, &bad, sizeof(cfg)));

	ASSERT_EQ(0, fiber_configure(self->fd, FIBER_CONFIG_SET_DELAY |
				     FIBER_CONFIG_SET_HOLD, 12345, 0, 0, &cfg));
	EXPECT_EQ(12345, cfg.handoff_delay_ns);
	EXPECT_EQ(0, cfg.hold_on_wake);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void *poke_after(void *arg)
{
	usleep(100 * 1000);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

TEST_F(group, park_errors)
{
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */
	struct fiber_park p = { .size = sizeof(p) };
	struct fiber_event ev[2];
	pthread_t me = pthread_self(), t;
	uint32_t nr = 2;

	EXPECT_EQ(-ESRCH, fiber_park_ms(self->fd, 1, ev, &nr));
	ASSERT_EQ(0, fiber_register(self->fd, 0, NULL));
	p.flags = 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_PARK, &p));
	p.flags = 0;
	p.reserved = 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_PARK, &p));
	p.reserved = 0;
	p.nr_events = 4;
	p.events = 0;
	EXPECT_EQ(-EFAULT, fiber_sys(self->fd, FIBER_IOC_PARK, &p));
	/* A deadline already past: no sleep at all. */
	p.nr_events = 0;
	p.timeout_ns = 1;
	EXPECT_EQ(-ETIMEDOUT, fiber_sys(self->fd, FIBER_IOC_PARK, &p));
	EXPECT_EQ(1, self->map.hdr->park_timeouts);

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, pthread_create(&t, NULL, poke_after, &me));
	nr = 2;
	EXPECT_EQ(-EINTR, fiber_park_ms(self->fd, 5000, ev, &nr));
	EXPECT_EQ(0, nr);
	pthread_join(t, NULL);
	EXPECT_EQ(FIBER_SLOT_RUNNING, slot_state(fiber_slot_of(&self->map, 0)));
	EXPECT_EQ(0, self->map.hdr->nr_parked);
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

TEST_F(group, wake_errors)
{
	struct fiber_wake w = { .size = sizeof(w) };

	EXPECT_EQ(-EAGAIN, fiber_wake(self->fd, 0, FIBER_WAKE_ANY));
	EXPECT_EQ(-ESRCH, fiber_wake(self->fd, 0, 0));
	EXPECT_EQ(-EINVAL, fiber_wake(self->fd, module_max_carriers(self->fd), 0));
	EXPECT_EQ(-EINVAL, fiber_wake(self->fd, 0, 2));
	w.reserved = 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_WAKE, &w));
	EXPECT_EQ(-EFAULT, fiber_sys(self->fd, FIBER_IOC_WAKE, NULL));
}

TEST_F(group, a_wake_before_the_park_is_not_lost)
{
	uint32_t slot, nr = 0;
	uint64_t t0;

	ASSERT_EQ(0, fiber_register(self->fd, 0, &slot));
	/* Any thread of the process may wake; the wake-up is owed. */
	EXPECT_EQ(0, fiber_wake(self->fd, slot, 0));
	t0 = now_ns();
	EXPECT_EQ(0, fiber_park_ms(self->fd, 5000, NULL, &nr));
	EXPECT_LT(now_ns() - t0, 2000 * MSEC);
	/* Consumed: the next park sleeps to its deadline. */
	EXPECT_EQ(-ETIMEDOUT, fiber_park_ms(self->fd, 20, NULL, &nr));
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

struct parker {
	int fd;
	int ret;
	uint32_t slot;
};

static void *park_long(void *arg)
{
	struct parker *p = arg;
	uint32_t nr = 0;

	if (fiber_register(p->fd, 0, &p->slot))
		return (void *)1;
	p->ret = fiber_park_ms(p->fd, 10000, NULL, &nr);
	return fiber_unregister(p->fd) ? (void *)2 : NULL;
}

TEST_F(group, wake_any_wakes_a_parked_carrier)
{
	struct parker p = { .fd = self->fd, .ret = 1 };
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, park_long, &p));
	ASSERT_TRUE(wait_u32(&self->map.hdr->nr_parked, 1, 2000));
	EXPECT_EQ(FIBER_SLOT_PARKED, slot_state(fiber_slot_of(&self->map, p.slot)));
	EXPECT_EQ(0, fiber_wake(self->fd, 0, FIBER_WAKE_ANY));
	pthread_join(t, NULL);
	EXPECT_EQ(0, p.ret);
	EXPECT_EQ(0, self->map.hdr->nr_parked);
}

TEST_F(group, switch_errors_do_not_park)
{
	struct fiber_switch s = { .size = sizeof(s) };
	uint32_t slot, nr = 0;
	uint64_t t0;

	EXPECT_EQ(-ESRCH, fiber_switch_ms(self->fd, 1, 1, NULL, &nr));
	ASSERT_EQ(0, fiber_register(self->fd, 0, &slot));
	EXPECT_EQ(-EINVAL, fiber_switch_ms(self->fd, slot, 1, NULL, &nr));
	t0 = now_ns();
	EXPECT_EQ(-ESRCH, fiber_switch_ms(self->fd, slot + 1, 5000, NULL, &nr));
	EXPECT_LT(now_ns() - t0, 2000 * MSEC);
	s.flags = 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_SWITCH, &s));
	s.flags = 0;
	s.reserved2 = 1;
	EXPECT_EQ(-EINVAL, fiber_sys(self->fd, FIBER_IOC_SWITCH, &s));
	EXPECT_EQ(0, self->map.hdr->nr_parked);
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

TEST_F(group, a_forked_child_cannot_use_the_group)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct fiber_info info = { .size = sizeof(info) };

		if (count_ebadfd(self->fd) != 7)
			_exit(1);
		/* GET_INFO works from anywhere. */
		if (ioctl(self->fd, FIBER_IOC_GET_INFO, &info))
			_exit(2);
		/* The mapping was not inherited (VM_DONTCOPY). */
		if (msync(self->map.base, self->map.page, MS_ASYNC) == 0 ||
		    errno != ENOMEM)
			_exit(3);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* The parent's group is untouched. */
	EXPECT_EQ(0, fiber_register(self->fd, 0, NULL));
	EXPECT_EQ(0, fiber_unregister(self->fd));
}

TEST(an_fd_passed_to_another_process_is_refused)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int sv[2], fd, status;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The child opens a group and sends it to the parent. */
		int gfd = fiber_open();

		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &gfd, sizeof(int));
		if (gfd < 0 || sendmsg(sv[1], &msg, 0) != 1)
			_exit(1);
		/* Stay alive until the parent is done. */
		if (read(sv[1], &byte, 1) != 1)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(1, recvmsg(sv[0], &msg, 0));
	cm = CMSG_FIRSTHDR(&msg);
	ASSERT_NE(NULL, cm);
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	EXPECT_EQ(7, count_ebadfd(fd));
	ASSERT_EQ(1, write(sv[0], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(fd);
}

#define GROUPS_PARAM "/sys/module/fiber/parameters/max_groups_per_user"

/* Write @value to the parameter: 0 or -errno, the write's own error. */
static int write_param(const char *value)
{
	return fiber_write_text(GROUPS_PARAM, value);
}

static long read_param(void)
{
	char buf[32] = "";
	int fd = open(GROUPS_PARAM, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -EIO;
}

/*
 * Through sysfs, as through fiberstat set, the limit takes 1 to 1048576
 * and nothing else: 0 would lock every user out, and a value past the
 * range would mean no limit.  A refused write changes nothing.
 */
TEST(groups_per_user_param_is_range_checked)
{
	const char *bad[] = { "0", "1048577", "4294967295", "-1", "lots" };
	unsigned int i;

	if (access(GROUPS_PARAM, W_OK))
		SKIP(return, "cannot write %s", GROUPS_PARAM);
	ASSERT_EQ(1024, read_param());
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, write_param(bad[i]))
			TH_LOG("value '%s'", bad[i]);
		EXPECT_EQ(1024, read_param());
	}
	EXPECT_EQ(0, write_param("1048576"));
	EXPECT_EQ(1048576, read_param());
	EXPECT_EQ(0, write_param("1"));
	EXPECT_EQ(1, read_param());
	ASSERT_EQ(0, write_param("1024"));
}

TEST(groups_per_user_are_limited)
{
	int fds[8], n = 0, ret, i;

	if (write_param("4"))
		SKIP(return, "cannot write %s", GROUPS_PARAM);
	for (i = 0; i < 8; i++) {
		ret = fiber_open();
		if (ret < 0)
			break;
		fds[n++] = ret;
	}
	EXPECT_EQ(-EMFILE, ret);
	EXPECT_GE(4, n);
	while (n > 0)
		close(fds[--n]);
	ASSERT_EQ(0, write_param("1024"));
	ret = fiber_open();
	EXPECT_LE(0, ret);
	close(ret);
}

/*
 * A user's containers share the user's budget: groups are counted per user
 * in each user namespace and, through the namespace's owner, in every one
 * above, as the kernel's ucounts do.  Nobody makes a user namespace, root
 * maps ten subordinate uids into it (as newuidmap would), and a process as
 * each of them opens as many groups as it may.  The module of before
 * counted by kuid alone: ten times the budget.
 */
TEST(subordinate_uids_share_their_owners_budget)
{
	int go[2], ready[2], counts[2], status, total = 0, n;
	char path[64];
	pid_t pid;

	/* Before the limit is lowered: the child and uid_map need them. */
	NEED_TO_BECOME_NOBODY();
	if (write_param("4"))
		SKIP(return, "cannot write %s", GROUPS_PARAM);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(counts));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char c = 'u';
		int i;

		close(go[1]);
		close(ready[0]);
		close(counts[0]);
		setpgid(0, 0);	/* so that its processes are killed together */
		if (fiber_become_nobody())
			_exit(10);
		if (unshare(CLONE_NEWUSER))
			c = 's';
		if (write(ready[1], &c, 1) != 1 || c == 's')
			_exit(c == 's' ? 0 : 11);
		if (read(go[0], &c, 1) != 1)
			_exit(12);
		/* One process per subordinate uid, holding what it opened. */
		for (i = 0; i < 10; i++) {
			if (fork() == 0) {
				int got = 0, j;

				if (setresuid(i, i, i))
					_exit(13);
				for (j = 0; j < 8; j++)
					if (fiber_open() >= 0)
						got++;
				if (write(counts[1], &got, sizeof(got)) != sizeof(got))
					_exit(14);
				pause();
				_exit(0);
			}
		}
		pause();
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	close(counts[1]);
	{
		char c;

		ASSERT_EQ(1, read(ready[0], &c, 1));
		if (c == 's') {
			waitpid(pid, NULL, 0);
			ASSERT_EQ(0, write_param("1024"));
			SKIP(return, "nobody may not make a user namespace here");
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	ASSERT_EQ(0, fiber_write_text(path, "0 100000 10\n"));
	ASSERT_EQ(1, write(go[1], "g", 1));
	for (int i = 0; i < 10; i++) {
		ASSERT_EQ(sizeof(n), read(counts[0], &n, sizeof(n)));
		total += n;
	}
	/* Nobody itself, outside, has nothing left either. */
	pid_t outside = fork();

	ASSERT_LE(0, outside);
	if (!outside)
		_exit(fiber_become_nobody() ? 10 :
		      fiber_open() == -EMFILE ? 0 : 11);
	ASSERT_EQ(outside, waitpid(outside, &status, 0));
	EXPECT_EQ(0, status);
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	EXPECT_EQ(4, total) TH_LOG("ten subordinate uids opened %d groups", total);
	ASSERT_EQ(0, write_param("1024"));
}

/* Every case asks the device. */
FIBER_NEEDS_DEVICE();

TEST_HARNESS_MAIN
