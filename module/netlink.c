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
 */
#include <linux/capability.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/uidgid.h>
#include <net/genetlink.h>
#include <linux/fiber.h>

#include "carrier.h"
#include "compat.h"
#include "device.h"
#include "event.h"
#include "group.h"
#include "netlink.h"
#include "shared.h"

#define FIBER_EVENTS_PER_SEC_LIMIT	1000000

static struct netlink_range_validation fiber_carriers_range = {
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
		NLA_POLICY_FULL_RANGE(NLA_U32, &fiber_carriers_range),
	[FIBER_STATS_A_MAX_GROUPS_PER_USER] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &fiber_carriers_range),
	[FIBER_STATS_A_EVENTS_PER_SEC] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &fiber_events_range),
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

static int fiber_nl_put_carrier(struct sk_buff *skb, struct fiber_carrier *c,
				struct pid_namespace *ns)
{
	const struct fiber_slot *slot = c->slot;
	u64 word = READ_ONCE(slot->state);
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
			      READ_ONCE(slot->blocks), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_WAKEUPS,
			      READ_ONCE(slot->wakeups), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_CLAIMS,
			      READ_ONCE(slot->claims), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_HOLDS,
			      READ_ONCE(slot->holds), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_LAST_BLOCK_NS,
			      READ_ONCE(slot->last_block_ns), FIBER_CARRIER_A_PAD) ||
	    nla_put_u64_64bit(skb, FIBER_CARRIER_A_LAST_WAKE_NS,
			      READ_ONCE(slot->last_wake_ns), FIBER_CARRIER_A_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int fiber_nl_put_group_attrs(struct sk_buff *skb,
				    struct fiber_group *group,
				    struct pid_namespace *ns)
{
	struct fiber_group_snapshot snap;
	char comm[TASK_COMM_LEN] = "";
	struct task_struct *owner;

	lockdep_assert_held(&group->config_lock);
	owner = get_pid_task(group->tgid, PIDTYPE_TGID);
	if (owner) {
		get_task_comm(comm, owner);
		put_task_struct(owner);
	}
	fiber_group_read(group, &snap);

	if (nla_put_u64_64bit(skb, FIBER_GROUP_A_ID, group->id,
			      FIBER_GROUP_A_PAD) ||
	    nla_put_u32(skb, FIBER_GROUP_A_PID, pid_nr_ns(group->tgid, ns)) ||
	    nla_put_string(skb, FIBER_GROUP_A_COMM, comm) ||
	    nla_put_u32(skb, FIBER_GROUP_A_UID,
			from_kuid_munged(current_user_ns(), group->uid)) ||
	    (READ_ONCE(group->dead) && nla_put_flag(skb, FIBER_GROUP_A_DEAD)) ||
	    nla_put_u32(skb, FIBER_GROUP_A_MAX_CARRIERS, group->max_carriers) ||
	    nla_put_u64_64bit(skb, FIBER_GROUP_A_HANDOFF_DELAY_NS,
			      READ_ONCE(group->handoff_delay_ns),
			      FIBER_GROUP_A_PAD) ||
	    nla_put_u8(skb, FIBER_GROUP_A_HOLD_ON_WAKE,
		       READ_ONCE(group->hold_on_wake)) ||
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
 * on, and a message with the group but no carrier at all is not sent.
 */
static int fiber_nl_put_group(struct sk_buff *skb, struct netlink_callback *cb,
			      u8 cmd, struct fiber_group *group,
			      struct pid_namespace *ns, long *next_slot)
{
	struct nlattr *nest;
	unsigned int done = 0;
	unsigned long i;
	void *hdr;
	int ret = -EMSGSIZE;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &fiber_genl_family, NLM_F_MULTI, cmd);
	if (!hdr)
		return -EMSGSIZE;
	genl_dump_check_consistent(cb, hdr);

	mutex_lock(&group->config_lock);
	if (fiber_nl_put_group_attrs(skb, group, ns))
		goto cancel;
	if (next_slot) {
		nest = nla_nest_start(skb, FIBER_GROUP_A_CARRIERS);
		if (!nest)
			goto cancel;
		i = *next_slot;
		if (group->frozen) {
			for_each_set_bit_from(i, group->slot_used, group->max_carriers) {
				if (fiber_nl_put_carrier(skb, group->carriers[i], ns))
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
	genlmsg_end(skb, hdr);
	return ret;

cancel:
	mutex_unlock(&group->config_lock);
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
 * FIBER_CMD_GET_GROUPS.  cb->args[0]: the id of the next group to send
 * (ids grow along the list).
 */
static int fiber_nl_get_groups(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct pid_namespace *ns = task_active_pid_ns(current);
	struct fiber_group *group;
	int ret = 0;

	mutex_lock(&fiber_groups_lock);
	cb->seq = fiber_groups_gen;
	list_for_each_entry(group, &fiber_groups, node) {
		if (group->id < cb->args[0] || !pid_nr_ns(group->tgid, ns))
			continue;
		ret = fiber_nl_put_group(skb, cb, FIBER_CMD_GET_GROUPS, group,
					 ns, NULL);
		if (ret)
			break;
		cb->args[0] = group->id + 1;
	}
	mutex_unlock(&fiber_groups_lock);
	return fiber_nl_dump_result(skb, ret);
}

/* Is there a group of process @pid, as seen from @ns? */
static bool fiber_nl_pid_has_group(struct pid_namespace *ns, pid_t pid)
{
	struct fiber_group *group;
	bool found = false;

	mutex_lock(&fiber_groups_lock);
	list_for_each_entry(group, &fiber_groups, node) {
		if (pid_nr_ns(group->tgid, ns) == pid) {
			found = true;
			break;
		}
	}
	mutex_unlock(&fiber_groups_lock);
	return found;
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
	pid_t pid;

	if (!attrs[FIBER_GROUP_A_PID]) {
		NL_SET_ERR_ATTR_MISS(cb->extack, NULL, FIBER_GROUP_A_PID);
		NL_SET_ERR_MSG(cb->extack, "a process id (FIBER_GROUP_A_PID) is required");
		return -EINVAL;
	}
	pid = nla_get_u32(attrs[FIBER_GROUP_A_PID]);
	if (!fiber_nl_pid_has_group(task_active_pid_ns(current), pid)) {
		NL_SET_ERR_MSG_ATTR(cb->extack, attrs[FIBER_GROUP_A_PID],
				    "that process has no fiber group");
		return -ESRCH;
	}
	cb->args[2] = pid;
	cb->args[3] = 1;
	return 0;
}

/*
 * cb->args[0]: the id of the group being sent or next, [1]: its next slot,
 * [2]: the pid asked for, [3]: whether the request was checked.
 */
static int fiber_nl_get_group(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct pid_namespace *ns = task_active_pid_ns(current);
	struct fiber_group *group;
	int ret = 0;

	if (!cb->args[3]) {
		ret = fiber_nl_get_group_check(cb);
		if (ret)
			return ret;
	}

	mutex_lock(&fiber_groups_lock);
	cb->seq = fiber_groups_gen + atomic_read(&fiber_carriers_gen);
	list_for_each_entry(group, &fiber_groups, node) {
		if (group->id < cb->args[0] ||
		    pid_nr_ns(group->tgid, ns) != cb->args[2])
			continue;
		if (group->id != cb->args[0]) {
			cb->args[0] = group->id;
			cb->args[1] = 0;
		}
		ret = fiber_nl_put_group(skb, cb, FIBER_CMD_GET_GROUP, group,
					 ns, &cb->args[1]);
		if (ret)
			break;
		cb->args[0] = group->id + 1;
	}
	mutex_unlock(&fiber_groups_lock);
	return fiber_nl_dump_result(skb, ret);
}

static int fiber_nl_put_stats(struct sk_buff *skb)
{
	struct fiber_counters totals;
	u64 sent, dropped;

	fiber_groups_read_totals(&totals);
	fiber_events_totals(&sent, &dropped);
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
			READ_ONCE(fiber_events_per_sec)))
		return -EMSGSIZE;
	return 0;
}

/* Reply to @info with the module-wide stats and settings. */
static int fiber_nl_reply_stats(struct genl_info *info, u8 cmd)
{
	struct sk_buff *skb;
	void *hdr;
	int ret;

	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	ret = -EMSGSIZE;
	hdr = genlmsg_put_reply(skb, info, &fiber_genl_family, 0, cmd);
	if (!hdr)
		goto out_free;
	ret = fiber_nl_put_stats(skb);
	if (ret)
		goto out_free;
	genlmsg_end(skb, hdr);
	return genlmsg_reply(skb, info);

out_free:
	nlmsg_free(skb);
	return ret;
}

static int fiber_nl_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	return fiber_nl_reply_stats(info, FIBER_CMD_GET_STATS);
}

/*
 * FIBER_CMD_SET_CONFIG.  The policy has checked every value's range, so
 * nothing can fail once the first setting is changed.
 */
static int fiber_nl_set_config(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;

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
	if (attrs[FIBER_STATS_A_MAX_CARRIERS])
		WRITE_ONCE(fiber_max_carriers,
			   nla_get_u32(attrs[FIBER_STATS_A_MAX_CARRIERS]));
	if (attrs[FIBER_STATS_A_MAX_GROUPS_PER_USER])
		WRITE_ONCE(fiber_max_groups_per_user,
			   nla_get_u32(attrs[FIBER_STATS_A_MAX_GROUPS_PER_USER]));
	if (attrs[FIBER_STATS_A_EVENTS_PER_SEC])
		WRITE_ONCE(fiber_events_per_sec,
			   nla_get_u32(attrs[FIBER_STATS_A_EVENTS_PER_SEC]));
	return fiber_nl_reply_stats(info, FIBER_CMD_SET_CONFIG);
}

/*
 * Commands without a policy take no attribute at all: genetlink rejects
 * any for commands from resv_start_op on, which is every one of ours.
 */
static const struct genl_ops fiber_genl_ops[] = {
	{
		.cmd = FIBER_CMD_GET_GROUPS,
		.dumpit = fiber_nl_get_groups,
	},
	{
		.cmd = FIBER_CMD_GET_GROUP,
		.dumpit = fiber_nl_get_group,
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
		.flags = GENL_MCAST_CAP_NET_ADMIN,
	},
};

struct genl_family fiber_genl_family __ro_after_init = {
	.name = FIBER_GENL_NAME,
	.version = FIBER_GENL_VERSION,
	.netnsok = true,
	.parallel_ops = true,
	.resv_start_op = FIBER_CMD_GET_GROUPS,
	.ops = fiber_genl_ops,
	.n_ops = ARRAY_SIZE(fiber_genl_ops),
	.mcgrps = fiber_genl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(fiber_genl_mcgrps),
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
