// SPDX-License-Identifier: GPL-2.0
/*
 * The "fiber" generic netlink family: what the module and its groups are
 * doing, for tools such as fiberstat, and the module-wide settings.  The
 * uapi header specifies the commands and the attribute tree.
 *
 * Locking: the dumps walk fiber_groups under fiber_groups_lock and read each
 * group under its config_lock (group.c), which keeps its carriers from
 * coming or going; the slots themselves are read without stopping anyone.
 * A group is taken off the list before it is freed, so nothing here takes
 * a reference.  The events group is fed from event.c.
 *
 * Who sees what (docs/security.md): a group, with its owner's pid, comm
 * and uid, its threads' ids, states and block and wake times, is shown only
 * to a reader who may read its owner's memory by ptrace's rules; module-wide
 * totals are shown to anyone.  The reader is the socket's opener, as the
 * kernel's netlink_capable() has it, not whichever process writes to it:
 * a setuid program that inherited the socket reads with its opener's eyes.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/uidgid.h>
#include <net/genetlink.h>
#include <net/sock.h>
#include <linux/fiber.h>

#include "carrier.h"
#include "compat.h"
#include "device.h"
#include "group.h"
#include "info.h"
#include "netlink.h"
#include "watch.h"

#define FIBER_EVENTS_PER_SEC_LIMIT	1000000

/*
 * A dump's state, in cb->ctx between its calls.  The pid namespace is that
 * of whoever started the dump, even if another process goes on reading the
 * socket; the credentials are those of the socket's opener.
 */
struct fiber_nl_dump {
	u64 next_id;			/* the group being sent, or the next */
	long next_slot;			/* its next carrier */
	struct pid *pid;		/* GET_GROUP: the process asked for */
	struct pid_namespace *ns;	/* pids are reported in this one */
	const struct cred *cred;	/* who reads: NULL sees nothing */
	bool checked;			/* GET_GROUP: the request was checked */
	bool may_ptrace;		/* CAP_SYS_PTRACE: sees every group */
};

static struct fiber_nl_dump *fiber_nl_dump(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(struct fiber_nl_dump) > sizeof(cb->ctx));
	return (struct fiber_nl_dump *)cb->ctx;
}

/*
 * May the dump's reader see the group of @owner (NULL: gone)?  Only if it
 * may read @owner's memory: the credential rules of ptrace's
 * PTRACE_MODE_READ_FSCREDS, which modules cannot call: the same uids and
 * gids all round and a dumpable process, or CAP_SYS_PTRACE.  No LSM is
 * asked, so this errs on the side of "no".  That is stricter than any
 * hidepid= setting of /proc: block and wake times to the nanosecond are a
 * finer side channel than /proc/PID/schedstat, and the user word is the
 * runtime's own memory.
 */
static bool fiber_nl_may_read(struct fiber_nl_dump *d,
			      struct task_struct *owner)
{
	const struct cred *me = d->cred, *tcred;
	bool same, dumpable;

	if (!owner || !me)
		return false;
	if (d->may_ptrace)
		return true;
	rcu_read_lock();
	tcred = __task_cred(owner);
	same = uid_eq(me->fsuid, tcred->euid) && uid_eq(me->fsuid, tcred->suid) &&
	       uid_eq(me->fsuid, tcred->uid) && gid_eq(me->fsgid, tcred->egid) &&
	       gid_eq(me->fsgid, tcred->sgid) && gid_eq(me->fsgid, tcred->gid);
	rcu_read_unlock();
	task_lock(owner);
	dumpable = fiber_task_dumpable(owner);
	task_unlock(owner);
	return same && dumpable;
}

/* Both limits, carriers per group and groups per user. */
static struct netlink_range_validation fiber_limit_range = {
	.min = 1,
	.max = FIBER_MAX_CARRIERS_LIMIT,
};

static struct netlink_range_validation fiber_events_range = {
	.min = 1,
	.max = FIBER_EVENTS_PER_SEC_LIMIT,
};

/* FIBER_CMD_GET_GROUP takes only a pid. */
static const struct nla_policy fiber_group_policy[FIBER_GROUP_A_MAX + 1] = {
	[FIBER_GROUP_A_PID] = NLA_POLICY_MIN(NLA_U32, 1),
};

#define FIBER_READ_ONLY { \
	.type = NLA_REJECT, \
	.reject_message = "this is not a setting: it is read-only", \
}

/* FIBER_CMD_SET_CONFIG takes the settings among the stats attributes. */
static const struct nla_policy fiber_config_policy[FIBER_STATS_A_MAX + 1] = {
	[FIBER_STATS_A_ABI_VERSION]	= FIBER_READ_ONLY,
	[FIBER_STATS_A_NR_GROUPS]	= FIBER_READ_ONLY,
	[FIBER_STATS_A_NR_CARRIERS]	= FIBER_READ_ONLY,
	[FIBER_STATS_A_BLOCKS]		= FIBER_READ_ONLY,
	[FIBER_STATS_A_NOTIFICATIONS]	= FIBER_READ_ONLY,
	[FIBER_STATS_A_CLAIMS]		= FIBER_READ_ONLY,
	[FIBER_STATS_A_HOLDS]		= FIBER_READ_ONLY,
	[FIBER_STATS_A_GRANTS]		= FIBER_READ_ONLY,
	[FIBER_STATS_A_WAKEUPS]		= FIBER_READ_ONLY,
	[FIBER_STATS_A_PARK_TIMEOUTS]	= FIBER_READ_ONLY,
	[FIBER_STATS_A_EVENTS_SENT]	= FIBER_READ_ONLY,
	[FIBER_STATS_A_EVENTS_DROPPED]	= FIBER_READ_ONLY,
	[FIBER_STATS_A_MAX_CARRIERS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &fiber_limit_range),
	[FIBER_STATS_A_MAX_GROUPS_PER_USER] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &fiber_limit_range),
	[FIBER_STATS_A_EVENTS_PER_SEC] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &fiber_events_range),
	[FIBER_STATS_A_FEATURES]	= FIBER_READ_ONLY,
};

static int fiber_nl_put_counters(struct sk_buff *skb,
				 const struct fiber_counters *c, int first,
				 int pad)
{
	/* The seven counters are consecutive in both attribute spaces. */
	const u64 v[] = { c->blocks, c->notifications, c->claims, c->holds,
			  c->grants, c->wakeups, c->park_timeouts };
	int i;

	BUILD_BUG_ON(FIBER_GROUP_A_PARK_TIMEOUTS - FIBER_GROUP_A_BLOCKS != 6);
	BUILD_BUG_ON(FIBER_STATS_A_PARK_TIMEOUTS - FIBER_STATS_A_BLOCKS != 6);
	for (i = 0; i < ARRAY_SIZE(v); i++)
		if (nla_put_u64_64bit(skb, first + i, v[i], pad))
			return -EMSGSIZE;
	return 0;
}

/*
 * One carrier.  Its user word is the runtime's own memory (a P, or any
 * cookie: maybe a pointer), so it goes only to readers who could read that
 * memory anyway (@may_read: ptrace read access to the owner).
 */
static int fiber_nl_put_carrier(struct sk_buff *skb, struct fiber_carrier *c,
				struct pid_namespace *ns)
{
	const struct fiber_slot *slot = c->slot;
	u64 word = READ_ONCE(slot->state);
	/* Times in the reader's time namespace; never read back from the slot. */
	s64 timens = fiber_timens_monotonic_ns();
	u64 block = READ_ONCE(c->last_block_ns), wake = READ_ONCE(c->last_wake_ns);
	struct nlattr *nest;

	nest = nla_nest_start(skb, 0);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, FIBER_CARRIER_A_SLOT, c->index) ||
	    nla_put_u32(skb, FIBER_CARRIER_A_TID, task_pid_nr_ns(c->task, ns)) ||
	    nla_put_u8(skb, FIBER_CARRIER_A_STATE, FIBER_SLOT_STATE(word)) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_SEQ, FIBER_SLOT_SEQ(word),
			      FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_USER_WORD,
			      READ_ONCE(slot->user_word), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_BLOCKS,
			      READ_ONCE(c->blocks), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_WAKEUPS,
			      READ_ONCE(c->wakeups), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_CLAIMS,
			      READ_ONCE(c->claims), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_HOLDS,
			      READ_ONCE(c->holds), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_LAST_BLOCK_NS,
			      block ? block + timens : 0, FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_LAST_WAKE_NS,
			      wake ? wake + timens : 0, FIBER_CARRIER_A_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/*
 * The attributes of @group, whose owner is @owner (NULL if it is gone).  A
 * continuation (@more: a message that goes on with the carriers of a group
 * begun in an earlier one) has only the id and pid: counting the group
 * again for each message would make a dump of a big group quadratic.
 */
static int fiber_nl_put_group_attrs(struct sk_buff *skb,
				    struct netlink_callback *cb,
				    struct fiber_group *group,
				    struct task_struct *owner,
				    struct pid_namespace *ns, bool more)
{
	struct user_namespace *user_ns = sk_user_ns(NETLINK_CB(cb->skb).sk);
	struct fiber_group_snapshot snap;
	char comm[TASK_COMM_LEN] = "";

	lockdep_assert_held(&group->config_lock);
	if (nla_put_u64_64bit(skb, FIBER_GROUP_A_ID, group->id,
			      FIBER_GROUP_A_PAD) ||
	    nla_put_u32(skb, FIBER_GROUP_A_PID, pid_nr_ns(group->tgid, ns)))
		return -EMSGSIZE;
	if (more)
		return 0;

	if (owner)
		get_task_comm(comm, owner);
	fiber_group_read(group, &snap);
	if (nla_put_string(skb, FIBER_GROUP_A_COMM, comm) ||
	    nla_put_u32(skb, FIBER_GROUP_A_UID,
			from_kuid_munged(user_ns, group->uid)) ||
	    (fiber_read_flag(group->dead) && nla_put_flag(skb, FIBER_GROUP_A_DEAD)) ||
	    nla_put_u32(skb, FIBER_GROUP_A_MAX_CARRIERS, group->max_carriers) ||
	    nla_put_u64_64bit(skb, FIBER_GROUP_A_HANDOFF_DELAY_NS,
			      READ_ONCE(group->handoff_delay_ns),
			      FIBER_GROUP_A_PAD) ||
	    nla_put_u8(skb, FIBER_GROUP_A_HOLD_ON_WAKE,
		       fiber_read_flag(group->hold_on_wake)) ||
	    nla_put_u32(skb, FIBER_GROUP_A_NR_CARRIERS, snap.nr_carriers) ||
	    nla_put_u32(skb, FIBER_GROUP_A_NR_RUNNING,
			snap.nr_state[FIBER_SLOT_RUNNING]) ||
	    nla_put_u32(skb, FIBER_GROUP_A_NR_BLOCKED,
			snap.nr_state[FIBER_SLOT_BLOCKED]) ||
	    nla_put_u32(skb, FIBER_GROUP_A_NR_CLAIMED,
			snap.nr_state[FIBER_SLOT_CLAIMED]) ||
	    nla_put_u32(skb, FIBER_GROUP_A_NR_WAITING,
			snap.nr_state[FIBER_SLOT_WAITING]) ||
	    nla_put_u32(skb, FIBER_GROUP_A_NR_PARKED,
			snap.nr_state[FIBER_SLOT_PARKED]) ||
	    nla_put_u32(skb, FIBER_GROUP_A_NR_PENDING, snap.nr_pending))
		return -EMSGSIZE;
	return fiber_nl_put_counters(skb, &snap.counters, FIBER_GROUP_A_BLOCKS,
				     FIBER_GROUP_A_PAD);
}

/*
 * One message about @group, and with @next_slot its carriers from slot
 * *@next_slot on.  Returns 0 when the group is complete, -EMSGSIZE when
 * the message is full: then *@next_slot says where the next message goes
 * on, and a message with the group but no carrier at all is not sent.  A
 * group the reader may not see (fiber_nl_may_read()), checked again for
 * each message since its owner may change its credentials, is complete
 * with no message at all.
 */
static int fiber_nl_put_group(struct sk_buff *skb, struct netlink_callback *cb,
			      u8 cmd, struct fiber_group *group,
			      struct pid_namespace *ns, long *next_slot)
{
	struct task_struct *owner;
	unsigned int done = 0;
	struct nlattr *nest;
	unsigned long i;
	void *hdr;
	int ret = -EMSGSIZE;

	owner = get_pid_task(group->tgid, PIDTYPE_TGID);
	if (!fiber_nl_may_read(fiber_nl_dump(cb), owner)) {
		if (owner)
			put_task_struct(owner);
		return 0;
	}
	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &fiber_genl_family, NLM_F_MULTI, cmd);
	if (!hdr) {
		put_task_struct(owner);
		return -EMSGSIZE;
	}
	genl_dump_check_consistent(cb, hdr);

	mutex_lock(&group->config_lock);
	if (fiber_nl_put_group_attrs(skb, cb, group, owner, ns,
				     next_slot && *next_slot))
		goto cancel;
	if (next_slot) {
		nest = nla_nest_start(skb, FIBER_GROUP_A_CARRIERS);
		if (!nest)
			goto cancel;
		i = *next_slot;
		if (group->frozen) {
			for_each_set_bit_from(i, group->slot_used, group->max_carriers) {
				if (fiber_nl_put_carrier(skb,
							 fiber_group_carrier(group, i),
							 ns))
					break;
				done++;
			}
		}
		if (group->frozen && i < group->max_carriers) {
			/* Full: this part ends here, the rest follows. */
			if (!done)
				goto cancel;
			*next_slot = i;
		} else {
			ret = 0;
		}
		nla_nest_end(skb, nest);
	} else {
		ret = 0;
	}
	mutex_unlock(&group->config_lock);
	put_task_struct(owner);
	genlmsg_end(skb, hdr);
	return ret;

cancel:
	mutex_unlock(&group->config_lock);
	put_task_struct(owner);
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* A dump is over when a call adds nothing; a group too big for one is -EMSGSIZE. */
static int fiber_nl_dump_result(struct sk_buff *skb, int ret)
{
	if (!ret || (ret == -EMSGSIZE && skb->len))
		return skb->len;
	return ret;
}

/*
 * The credentials of the socket's opener: those it had when it made the
 * socket.  NULL for a socket with no file (a kernel one).
 */
static const struct cred *fiber_nl_opener_cred(struct sk_buff *skb)
{
	struct socket *sock = NETLINK_CB(skb).sk->sk_socket;

	return sock && sock->file ? get_cred(sock->file->f_cred) : NULL;
}

static int fiber_nl_dump_start(struct netlink_callback *cb)
{
	struct fiber_nl_dump *d = fiber_nl_dump(cb);

	d->ns = get_pid_ns(task_active_pid_ns(current));
	d->cred = fiber_nl_opener_cred(cb->skb);
	/* Both the opener and the writer must have it. */
	d->may_ptrace = netlink_capable(cb->skb, CAP_SYS_PTRACE);
	return 0;
}

/* FIBER_CMD_GET_GROUPS takes no attribute (compat.h). */
static int fiber_nl_groups_start(struct netlink_callback *cb)
{
	int ret = fiber_genl_no_attrs(cb->nlh, cb->extack);

	return ret ? ret : fiber_nl_dump_start(cb);
}

static int fiber_nl_dump_done(struct netlink_callback *cb)
{
	struct fiber_nl_dump *d = fiber_nl_dump(cb);

	put_pid(d->pid);
	if (d->cred)
		put_cred(d->cred);
	put_pid_ns(d->ns);
	return 0;
}

/*
 * Does @group show in a dump for @ns?  Its owner must be alive (a group
 * can outlive it, kept by a child's inherited descriptor, and the dead
 * owner's pid number may belong to another process by now) and visible.
 */
static bool fiber_nl_visible(struct fiber_group *group,
			     struct pid_namespace *ns)
{
	return pid_has_task(group->tgid, PIDTYPE_TGID) &&
	       pid_nr_ns(group->tgid, ns);
}

/* FIBER_CMD_GET_GROUPS. */
static int fiber_nl_get_groups(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct fiber_nl_dump *d = fiber_nl_dump(cb);
	struct fiber_group *group;
	int ret = 0;

	mutex_lock(&fiber_groups_lock);
	cb->seq = fiber_groups_gen;
	list_for_each_entry(group, &fiber_groups, node) {
		if (group->id < d->next_id || !fiber_nl_visible(group, d->ns))
			continue;
		ret = fiber_nl_put_group(skb, cb, FIBER_CMD_GET_GROUPS, group,
					 d->ns, NULL);
		if (ret)
			break;
		d->next_id = group->id + 1;
	}
	mutex_unlock(&fiber_groups_lock);
	return fiber_nl_dump_result(skb, ret);
}

/* Is there a group of process @pid? */
static bool fiber_nl_pid_has_group(struct pid *pid)
{
	struct fiber_group *group;
	bool found = false;

	mutex_lock(&fiber_groups_lock);
	list_for_each_entry(group, &fiber_groups, node) {
		if (group->tgid == pid) {
			found = true;
			break;
		}
	}
	mutex_unlock(&fiber_groups_lock);
	return found;
}

/*
 * Is @pid a live process whose groups the reader may see?  One it may not
 * see is answered as one without a group: no answer tells the two apart.
 */
static bool fiber_nl_pid_readable(struct fiber_nl_dump *d, struct pid *pid)
{
	struct task_struct *owner = get_pid_task(pid, PIDTYPE_TGID);
	bool ok = fiber_nl_may_read(d, owner);

	if (owner)
		put_task_struct(owner);
	return ok;
}

/*
 * FIBER_CMD_GET_GROUP: check the request.  This is done in the first call
 * of the dump rather than in ->start, since only the dump calls have an
 * extended ACK to explain an error in (on 6.1); the error then comes in
 * the NLMSG_DONE message.
 */
static int fiber_nl_get_group_check(struct netlink_callback *cb)
{
	struct nlattr **attrs = fiber_genl_dump_attrs(cb);
	struct fiber_nl_dump *d = fiber_nl_dump(cb);
	struct pid *pid;

	if (!attrs[FIBER_GROUP_A_PID]) {
		fiber_nl_set_err_attr_miss(cb->extack, NULL, FIBER_GROUP_A_PID);
		NL_SET_ERR_MSG(cb->extack, "a process id (FIBER_GROUP_A_PID) is required");
		return -EINVAL;
	}
	rcu_read_lock();
	pid = get_pid(find_pid_ns(nla_get_u32(attrs[FIBER_GROUP_A_PID]),
				  d->ns));
	rcu_read_unlock();
	if (!pid || !fiber_nl_pid_readable(d, pid) ||
	    !fiber_nl_pid_has_group(pid)) {
		put_pid(pid);
		NL_SET_ERR_MSG_ATTR(cb->extack, attrs[FIBER_GROUP_A_PID],
				    "that process has no fiber group");
		return -ESRCH;
	}
	d->pid = pid;			/* put in fiber_nl_dump_done() */
	d->checked = true;
	return 0;
}

/*
 * FIBER_CMD_GET_GROUP.  The dump is consistent if no group came or went and
 * none of this process's groups gained or lost a carrier.
 */
static int fiber_nl_get_group(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct fiber_nl_dump *d = fiber_nl_dump(cb);
	struct fiber_group *group;
	int ret = 0;

	if (!d->checked) {
		ret = fiber_nl_get_group_check(cb);
		if (ret)
			return ret;
	}

	mutex_lock(&fiber_groups_lock);
	cb->seq = fiber_groups_gen;
	list_for_each_entry(group, &fiber_groups, node)
		if (group->tgid == d->pid)
			cb->seq += READ_ONCE(group->carriers_gen);
	list_for_each_entry(group, &fiber_groups, node) {
		if (group->id < d->next_id || group->tgid != d->pid)
			continue;
		if (group->id != d->next_id) {
			d->next_id = group->id;
			d->next_slot = 0;
		}
		ret = fiber_nl_put_group(skb, cb, FIBER_CMD_GET_GROUP, group,
					 d->ns, &d->next_slot);
		if (ret)
			break;
		/* The next group starts at its first slot. */
		d->next_id = group->id + 1;
		d->next_slot = 0;
	}
	mutex_unlock(&fiber_groups_lock);
	return fiber_nl_dump_result(skb, ret);
}

static int fiber_nl_put_stats(struct sk_buff *skb)
{
	struct fiber_counters totals;
	u64 sent, dropped;

	fiber_groups_read_totals(&totals);
	fiber_watch_totals(&sent, &dropped);
	if (nla_put_u32(skb, FIBER_STATS_A_ABI_VERSION, FIBER_ABI_VERSION) ||
	    nla_put_u32(skb, FIBER_STATS_A_NR_GROUPS,
			atomic_read(&fiber_nr_groups)) ||
	    nla_put_u32(skb, FIBER_STATS_A_NR_CARRIERS,
			atomic_read(&fiber_nr_carriers)) ||
	    fiber_nl_put_counters(skb, &totals, FIBER_STATS_A_BLOCKS,
				  FIBER_STATS_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_STATS_A_EVENTS_SENT, sent,
			      FIBER_STATS_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_STATS_A_EVENTS_DROPPED, dropped,
			      FIBER_STATS_A_PAD) ||
	    nla_put_u32(skb, FIBER_STATS_A_MAX_CARRIERS,
			READ_ONCE(fiber_max_carriers)) ||
	    nla_put_u32(skb, FIBER_STATS_A_MAX_GROUPS_PER_USER,
			READ_ONCE(fiber_max_groups_per_user)) ||
	    nla_put_u32(skb, FIBER_STATS_A_EVENTS_PER_SEC,
			READ_ONCE(fiber_watch_rate)) ||
	    nla_put_u64_64bit(skb, FIBER_STATS_A_FEATURES,
			      FIBER_FEATURES_SUPPORTED, FIBER_STATS_A_PAD))
		return -EMSGSIZE;
	return 0;
}

/* A reply to @info, to be filled with the stats; NULL if out of memory. */
static struct sk_buff *fiber_nl_new_reply(struct genl_info *info, u8 cmd,
					  void **hdr)
{
	struct sk_buff *skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);

	if (!skb)
		return NULL;
	*hdr = genlmsg_put_reply(skb, info, &fiber_genl_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

/* Fill the reply with the module-wide stats and settings, and send it. */
static int fiber_nl_send_stats(struct sk_buff *skb, void *hdr,
			       struct genl_info *info)
{
	int ret = fiber_nl_put_stats(skb);

	if (ret) {
		nlmsg_free(skb);
		return ret;
	}
	genlmsg_end(skb, hdr);
	return genlmsg_reply(skb, info);
}

static int fiber_nl_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *reply;
	void *hdr;
	int ret;

	ret = fiber_genl_no_attrs(info->nlhdr, info->extack);
	if (ret)
		return ret;
	reply = fiber_nl_new_reply(info, FIBER_CMD_GET_STATS, &hdr);
	if (!reply)
		return -ENOMEM;
	return fiber_nl_send_stats(reply, hdr, info);
}

/*
 * FIBER_CMD_SET_CONFIG.  The policy has checked every value's range and the
 * reply is allocated first, so nothing can fail once a setting changed.
 */
static int fiber_nl_set_config(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct sk_buff *reply;
	void *hdr;

	if (!netlink_capable(skb, CAP_SYS_ADMIN)) {
		GENL_SET_ERR_MSG(info, "changing fiber settings needs CAP_SYS_ADMIN");
		return -EPERM;
	}
	if (!attrs[FIBER_STATS_A_MAX_CARRIERS] &&
	    !attrs[FIBER_STATS_A_MAX_GROUPS_PER_USER] &&
	    !attrs[FIBER_STATS_A_EVENTS_PER_SEC]) {
		GENL_SET_ERR_MSG(info, "no setting given");
		return -EINVAL;
	}
	reply = fiber_nl_new_reply(info, FIBER_CMD_SET_CONFIG, &hdr);
	if (!reply)
		return -ENOMEM;
	if (attrs[FIBER_STATS_A_MAX_CARRIERS])
		WRITE_ONCE(fiber_max_carriers,
			   nla_get_u32(attrs[FIBER_STATS_A_MAX_CARRIERS]));
	if (attrs[FIBER_STATS_A_MAX_GROUPS_PER_USER])
		WRITE_ONCE(fiber_max_groups_per_user,
			   nla_get_u32(attrs[FIBER_STATS_A_MAX_GROUPS_PER_USER]));
	if (attrs[FIBER_STATS_A_EVENTS_PER_SEC])
		WRITE_ONCE(fiber_watch_rate,
			   nla_get_u32(attrs[FIBER_STATS_A_EVENTS_PER_SEC]));
	return fiber_nl_send_stats(reply, hdr, info);
}

/*
 * Commands without a policy take no attribute at all: genetlink rejects
 * any for commands from resv_start_op on, which is every one of ours.
 */
static const struct genl_ops fiber_genl_ops[] = {
	{
		.cmd = FIBER_CMD_GET_GROUPS,
		.start = fiber_nl_groups_start,
		.dumpit = fiber_nl_get_groups,
		.done = fiber_nl_dump_done,
	},
	{
		.cmd = FIBER_CMD_GET_GROUP,
		.start = fiber_nl_dump_start,
		.dumpit = fiber_nl_get_group,
		.done = fiber_nl_dump_done,
		.policy = fiber_group_policy,
		.maxattr = FIBER_GROUP_A_MAX,
	},
	{
		.cmd = FIBER_CMD_GET_STATS,
		.doit = fiber_nl_get_stats,
	},
	{
		.cmd = FIBER_CMD_SET_CONFIG,
		.doit = fiber_nl_set_config,
		.policy = fiber_config_policy,
		.maxattr = FIBER_STATS_A_MAX,
	},
};

static const struct genl_multicast_group fiber_genl_mcgrps[] = {
	[FIBER_MCGRP_EVENTS] = {
		.name = FIBER_GENL_MCGRP_EVENTS,
		/* Other users' threads, as they block: not for everyone. */
		.flags = FIBER_GENL_MCAST_NET_ADMIN,
	},
};

struct genl_family fiber_genl_family __ro_after_init = {
	.name = FIBER_GENL_NAME,
	.version = FIBER_GENL_VERSION,
	.netnsok = true,
	.parallel_ops = true,
	FIBER_GENL_RESV_START_OP(FIBER_CMD_GET_GROUPS)
	.ops = fiber_genl_ops,
	.n_ops = ARRAY_SIZE(fiber_genl_ops),
	.mcgrps = fiber_genl_mcgrps,
	/* None where anyone could join it (compat.h). */
	.n_mcgrps = FIBER_HAVE_EVENTS ? ARRAY_SIZE(fiber_genl_mcgrps) : 0,
	.module = THIS_MODULE,
};

int fiber_netlink_init(void)
{
	return genl_register_family(&fiber_genl_family);
}

void fiber_netlink_exit(void)
{
	genl_unregister_family(&fiber_genl_family);
}

/*
 * Resolving the family by name (CTRL_CMD_GETFAMILY, as fiberstat does)
 * loads the module when it is not loaded yet.
 */
MODULE_ALIAS_GENL_FAMILY(FIBER_GENL_NAME);
