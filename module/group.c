// SPDX-License-Identifier: GPL-2.0
/*
 * Groups: one per open of /dev/fiber, owned by the opener's process.
 *
 * A group is bound to the mm and the thread group of the process that
 * opened it.  Every entry point except FIBER_IOC_GET_INFO checks both and
 * fails with EBADFD otherwise, so a descriptor inherited over fork(), passed
 * over a socket, or kept across execve() cannot reach the carriers.
 *
 * When the owner closes its last descriptor of the group (->flush sees no
 * other fd for the file in the owner's table), the group dies: parked and
 * held carriers are woken and return, and every notifier callback of its
 * carriers becomes inert.  The carriers themselves stay linked to their
 * threads until the threads unregister, register again or exit (see
 * carrier.c); their references keep the group's memory alive until then.
 */
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>
#include <linux/workqueue.h>
#include <linux/fiber.h>

#include "args.h"
#include "carrier.h"
#include "compat.h"
#include "device.h"
#include "group.h"
#include "park.h"
#include "pending.h"
#include "shared.h"

unsigned int fiber_max_carriers = 10000;
module_param_named(max_carriers, fiber_max_carriers, uint, 0444);
MODULE_PARM_DESC(max_carriers, "Most carriers (threads) in one group, 1 to 1048576 (default 10000, like Go's thread limit)");

/*
 * Preempt notifiers sit behind a static key, so they cost nothing until
 * the first group needs them.  The key is turned on once and stays on until
 * module exit: flipping it patches the scheduler's code, which is not
 * something to do every time a group comes and goes (under QEMU's software
 * emulation, doing so while both CPUs switch tasks hung the guest).
 */
static DEFINE_MUTEX(fiber_notifiers_lock);
static bool fiber_notifiers_on;

static void fiber_notifiers_enable(void)
{
	mutex_lock(&fiber_notifiers_lock);
	if (!fiber_notifiers_on) {
		preempt_notifier_inc();
		fiber_notifiers_on = true;
	}
	mutex_unlock(&fiber_notifiers_lock);
}

void fiber_group_exit(void)
{
	if (fiber_notifiers_on)
		preempt_notifier_dec();
}

int fiber_group_init(void)
{
	if (!fiber_max_carriers || fiber_max_carriers > FIBER_MAX_CARRIERS_LIMIT) {
		pr_err("fiber: max_carriers must be 1 to %lu\n",
		       FIBER_MAX_CARRIERS_LIMIT);
		return -EINVAL;
	}
	return 0;
}

unsigned int fiber_max_groups_per_user = 1024;

/*
 * Root may change it at run time through sysfs, as through fiberstat set:
 * the same range, 1 to FIBER_MAX_CARRIERS_LIMIT, or EINVAL.
 */
static int fiber_max_groups_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (!n || n > FIBER_MAX_CARRIERS_LIMIT)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, n);
	return 0;
}

static const struct kernel_param_ops fiber_max_groups_ops = {
	.set	= fiber_max_groups_set,
	.get	= param_get_uint,
};

module_param_cb(max_groups_per_user, &fiber_max_groups_ops,
		&fiber_max_groups_per_user, 0644);
MODULE_PARM_DESC(max_groups_per_user, "Most groups (open /dev/fiber files) one user may have, 1 to 1048576 (default 1024)");

/* The most a handoff delay may be: beyond it sysmon-style polling wins. */
#define FIBER_MAX_HANDOFF_DELAY_NS	NSEC_PER_SEC

LIST_HEAD(fiber_groups);
/* Covers fiber_groups and the three below. */
DEFINE_MUTEX(fiber_groups_lock);
unsigned int fiber_groups_gen;		/* under fiber_groups_lock */
atomic_t fiber_nr_carriers = ATOMIC_INIT(0);
static u64 fiber_groups_next_id = 1;	/* under fiber_groups_lock */
/* What freed groups counted (fiber_groups_lock). */
static struct fiber_counters fiber_groups_retired;

static void fiber_counters_add(struct fiber_counters *sum,
			       const struct fiber_counters *c)
{
	sum->blocks += c->blocks;
	sum->notifications += c->notifications;
	sum->claims += c->claims;
	sum->holds += c->holds;
	sum->grants += c->grants;
	sum->wakeups += c->wakeups;
	sum->park_timeouts += c->park_timeouts;
}

/*
 * Count what @group holds and what it has counted, from the module's own
 * counters (user space can write the shared copies).  The carriers are not
 * stopped, so each number is exact but they are not one instant's.  Caller
 * holds config_lock, so no carrier comes or goes meanwhile.
 */
void fiber_group_read(struct fiber_group *group,
		      struct fiber_group_snapshot *snap)
{
	struct fiber_counters *sum = &snap->counters;
	const struct fiber_carrier *c;
	unsigned int state;
	u32 i;

	lockdep_assert_held(&group->config_lock);
	memset(snap, 0, sizeof(*snap));
	*sum = group->retired;
	sum->notifications += atomic64_read(&group->notifications);
	sum->grants += atomic64_read(&group->grants);
	sum->park_timeouts += atomic64_read(&group->park_timeouts);
	if (!group->frozen)
		return;
	snap->nr_pending = fiber_events_count(group);
	for_each_set_bit(i, group->slot_used, group->max_carriers) {
		c = fiber_group_carrier(group, i);
		sum->blocks += READ_ONCE(c->blocks);
		sum->wakeups += READ_ONCE(c->wakeups);
		sum->claims += READ_ONCE(c->claims);
		sum->holds += READ_ONCE(c->holds);
		state = FIBER_SLOT_STATE(READ_ONCE(c->slot->state));
		if (state < ARRAY_SIZE(snap->nr_state))
			snap->nr_state[state]++;
		snap->nr_carriers++;
	}
}

/* What every group, live or freed, has counted since the module loaded. */
void fiber_groups_read_totals(struct fiber_counters *totals)
{
	struct fiber_group_snapshot snap;
	struct fiber_group *group;

	mutex_lock(&fiber_groups_lock);
	*totals = fiber_groups_retired;
	list_for_each_entry(group, &fiber_groups, node) {
		mutex_lock(&group->config_lock);
		fiber_group_read(group, &snap);
		mutex_unlock(&group->config_lock);
		fiber_counters_add(totals, &snap.counters);
		cond_resched();
	}
	mutex_unlock(&fiber_groups_lock);
}

/*
 * Groups per user, for the max_groups_per_user limit, counted as the
 * kernel's ucounts count inotify's max_user_instances: per user in the
 * user namespace it opened the device in, and again per namespace above
 * it, as the owner of the one below.  So the subordinate uids of a user's
 * containers (each its own kuid) share that user's budget at every level
 * up to the initial namespace, and cannot multiply it.
 *
 * An entry lives while some group counts in it.  It needs no reference on
 * its namespace: every group that counts in it holds one on the namespace
 * it was made in, which holds its parent, and so on up.  Charging
 * allocates, so the table is under a mutex (open() and the group's release
 * are both process context).
 */
struct fiber_user {
	struct hlist_node node;
	struct user_namespace *ns;	/* counted in this namespace ... */
	kuid_t uid;			/* ... for this user */
	unsigned int groups;
};

static DEFINE_HASHTABLE(fiber_users, 6);
static DEFINE_MUTEX(fiber_users_lock);

static unsigned long fiber_user_key(struct user_namespace *ns, kuid_t uid)
{
	return (unsigned long)ns ^ __kuid_val(uid);
}

static struct fiber_user *fiber_user_find(struct user_namespace *ns,
					  kuid_t uid)
{
	struct fiber_user *u;

	lockdep_assert_held(&fiber_users_lock);
	hash_for_each_possible(fiber_users, u, node, fiber_user_key(ns, uid))
		if (u->ns == ns && uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/*
 * The next level up from (*@ns, *@uid): the namespace's parent, where its
 * owner is counted.  False at the initial namespace.
 */
static bool fiber_user_up(struct user_namespace **ns, kuid_t *uid)
{
	if (*ns == &init_user_ns)
		return false;
	*uid = (*ns)->owner;
	*ns = (*ns)->parent;
	return true;
}

/* Take one group off each level from (@ns, @uid) up to, not with, @stop. */
static void fiber_user_uncharge_upto(struct user_namespace *ns, kuid_t uid,
				     struct user_namespace *stop)
{
	struct fiber_user *u;

	lockdep_assert_held(&fiber_users_lock);
	do {
		if (ns == stop)
			return;
		u = fiber_user_find(ns, uid);
		if (!--u->groups) {
			hash_del(&u->node);
			kfree(u);
		}
	} while (fiber_user_up(&ns, &uid));
}

/* Count one more group of @uid in @ns, at every level: 0 or -EMFILE. */
static int fiber_user_charge(struct user_namespace *ns, kuid_t uid)
{
	unsigned int max = READ_ONCE(fiber_max_groups_per_user);
	struct user_namespace *at = ns;
	struct fiber_user *u;
	kuid_t at_uid = uid;
	int ret = 0;

	mutex_lock(&fiber_users_lock);
	do {
		u = fiber_user_find(at, at_uid);
		if (!u) {
			u = kzalloc(sizeof(*u), GFP_KERNEL_ACCOUNT);
			if (!u) {
				ret = -ENOMEM;
				break;
			}
			u->ns = at;
			u->uid = at_uid;
			hash_add(fiber_users, &u->node,
				 fiber_user_key(at, at_uid));
		}
		/* Never a fresh entry: the limit is at least 1. */
		if (u->groups >= max) {
			ret = -EMFILE;
			break;
		}
		u->groups++;
	} while (fiber_user_up(&at, &at_uid));
	/* Undo the levels below the one that failed. */
	if (ret)
		fiber_user_uncharge_upto(ns, uid, at);
	mutex_unlock(&fiber_users_lock);
	return ret;
}

static void fiber_user_uncharge(struct user_namespace *ns, kuid_t uid)
{
	mutex_lock(&fiber_users_lock);
	fiber_user_uncharge_upto(ns, uid, NULL);
	mutex_unlock(&fiber_users_lock);
}

struct fiber_group *fiber_group_create(void)
{
	struct fiber_group *group;
	int ret;

	if (!current->mm)
		return ERR_PTR(-EINVAL);
	group = kzalloc(sizeof(*group), GFP_KERNEL_ACCOUNT);
	if (!group)
		return ERR_PTR(-ENOMEM);
	group->uid = current_uid();
	group->user_ns = get_user_ns(current_user_ns());
	/* Slot times are in the owner's time namespace. */
	group->timens_ns = fiber_timens_monotonic_ns();
	ret = fiber_user_charge(group->user_ns, group->uid);
	if (ret) {
		put_user_ns(group->user_ns);
		kfree(group);
		return ERR_PTR(ret);
	}
	kref_init(&group->ref);
	mmgrab(current->mm);
	group->mm = current->mm;
	group->tgid = get_pid(task_tgid(current));
	mutex_init(&group->config_lock);
	spin_lock_init(&group->lock);
	INIT_LIST_HEAD(&group->parked);
	init_irq_work(&group->notify_work, fiber_park_notify);
	INIT_WORK(&group->notify_rest, fiber_park_notify_rest);
	group->hold_on_wake = true;
	group->max_carriers = READ_ONCE(fiber_max_carriers);
	atomic_inc(&fiber_nr_groups);

	mutex_lock(&fiber_groups_lock);
	group->id = fiber_groups_next_id++;
	list_add_tail(&group->node, &fiber_groups);
	fiber_groups_gen++;
	mutex_unlock(&fiber_groups_lock);
	return group;
}

void fiber_group_get(struct fiber_group *group)
{
	kref_get(&group->ref);
}

static void fiber_group_free_carriers(struct fiber_group *group)
{
	u32 i;

	if (!group->carriers)
		return;
	for (i = 0; i < DIV_ROUND_UP(group->nr_slots, FIBER_SLOTS_PER_PAGE); i++)
		kfree(group->carriers[i]);
	kvfree(group->carriers);
}

/* Process context: every final put happens in one (see carrier.c). */
static void fiber_group_release(struct kref *ref)
{
	struct fiber_group *group = container_of(ref, struct fiber_group, ref);
	struct fiber_group_snapshot snap;

	irq_work_sync(&group->notify_work);
	cancel_work_sync(&group->notify_rest);

	/* Off the list, its counts kept: no dump can find it from now on. */
	mutex_lock(&fiber_groups_lock);
	mutex_lock(&group->config_lock);
	fiber_group_read(group, &snap);
	mutex_unlock(&group->config_lock);
	fiber_counters_add(&fiber_groups_retired, &snap.counters);
	list_del(&group->node);
	fiber_groups_gen++;
	mutex_unlock(&fiber_groups_lock);

	fiber_shared_free(group);
	fiber_group_free_carriers(group);
	fiber_events_free(group);
	bitmap_free(group->slot_used);
	mmdrop(group->mm);
	put_pid(group->tgid);
	fiber_user_uncharge(group->user_ns, group->uid);
	put_user_ns(group->user_ns);
	atomic_dec(&fiber_nr_groups);
	kfree(group);
}

void fiber_group_put(struct fiber_group *group)
{
	might_sleep();
	kref_put(&group->ref, fiber_group_release);
}

/* Return: 0 if the caller belongs to the process that opened the group. */
int fiber_group_check_owner(struct fiber_group *group)
{
	if (current->mm != group->mm || task_tgid(current) != group->tgid)
		return -EBADFD;
	return 0;
}

/*
 * Allocate what carriers need: the shared memory, the slot table and the
 * pending bitmaps.  Done once, at the first registration or mmap; from then
 * on max_carriers is fixed.
 */
int fiber_group_freeze(struct fiber_group *group)
{
	u32 max = group->max_carriers;
	unsigned long flags;
	int ret;

	lockdep_assert_held(&group->config_lock);
	if (group->frozen)
		return 0;

	ret = -ENOMEM;
	group->carriers = kvcalloc(DIV_ROUND_UP(max, FIBER_SLOTS_PER_PAGE),
				   sizeof(*group->carriers), GFP_KERNEL_ACCOUNT);
	group->slot_used = bitmap_zalloc(max, GFP_KERNEL_ACCOUNT);
	if (!group->carriers || !group->slot_used ||
	    fiber_events_alloc(group, max))
		goto out_free;
	ret = fiber_shared_alloc(group);
	if (ret)
		goto out_free;
	fiber_notifiers_enable();
	spin_lock_irqsave(&group->lock, flags);
	group->nr_slots = max;
	spin_unlock_irqrestore(&group->lock, flags);
	WRITE_ONCE(group->frozen, true);
	return 0;

out_free:
	kvfree(group->carriers);
	group->carriers = NULL;
	fiber_events_free(group);
	bitmap_free(group->slot_used);
	group->slot_used = NULL;
	return ret;
}

/*
 * The group dies: no carrier may park, parked and held ones are woken (they
 * see ->dead and return), and the callbacks of its carriers do nothing from
 * now on.
 */
static void fiber_group_shutdown(struct fiber_group *group)
{
	struct fiber_wakeups w = { .n = 0 };
	struct fiber_carrier *c;
	unsigned long flags;
	u32 i = 0, end;

	/*
	 * In batches, so that interrupts are never off for long.  Only the
	 * carriers asleep in the module's own waits are woken: a parked one,
	 * or a held one not yet granted.  Any other sleeps on something else,
	 * which must not wake for nothing; each of the module's waits checks
	 * ->dead under group->lock before it sleeps, so none starts after.
	 */
	do {
		spin_lock_irqsave(&group->lock, flags);
		WRITE_ONCE(group->dead, true);
		end = group->nr_slots;
		while (i < end && !fiber_wakeups_full(&w)) {
			c = fiber_group_carrier(group, i);
			if (c && (c->parked || (c->held && !c->granted)))
				fiber_wakeups_add(&w, c);
			i++;
		}
		spin_unlock_irqrestore(&group->lock, flags);
		fiber_wakeups_issue(&w);
	} while (i < end);
}

static int fiber_same_file(const void *file, struct file *f, unsigned int fd)
{
	return f == file;
}

/*
 * ->flush runs on every close() of a descriptor of @file, after the
 * descriptor left the table.  If the owner has no other descriptor of the
 * group left, the group dies, even though the file itself lives on while it
 * is mapped or while an ioctl still runs.
 */
void fiber_group_flush(struct fiber_group *group, struct file *file)
{
	/*
	 * Only the owner's own descriptors count: a vfork() child shares
	 * the mm but not the thread group, and its closes say nothing.
	 */
	if (fiber_group_check_owner(group) || !current->files)
		return;
	if (iterate_fd(current->files, 0, fiber_same_file, file))
		return;
	fiber_group_shutdown(group);
}

void fiber_group_file_released(struct fiber_group *group)
{
	fiber_group_shutdown(group);
	fiber_group_put(group);
}

long fiber_ioctl_configure(struct fiber_group *group, void __user *uarg)
{
	struct fiber_config cfg;
	u32 usize;
	int ret;

	ret = fiber_args_from_user(&cfg, sizeof(cfg), FIBER_CONFIG_SIZE_VER0,
				   uarg, &usize);
	if (ret)
		return ret;
	if (cfg.flags & ~(FIBER_CONFIG_SET_DELAY | FIBER_CONFIG_SET_HOLD |
			  FIBER_CONFIG_SET_MAX_CARRIERS))
		return -EINVAL;
	if ((cfg.flags & FIBER_CONFIG_SET_DELAY) &&
	    cfg.handoff_delay_ns > FIBER_MAX_HANDOFF_DELAY_NS)
		return -EINVAL;
	if ((cfg.flags & FIBER_CONFIG_SET_HOLD) && cfg.hold_on_wake > 1)
		return -EINVAL;
	if ((cfg.flags & FIBER_CONFIG_SET_MAX_CARRIERS) &&
	    (!cfg.max_carriers || cfg.max_carriers > READ_ONCE(fiber_max_carriers)))
		return -EINVAL;

	mutex_lock(&group->config_lock);
	if ((cfg.flags & FIBER_CONFIG_SET_MAX_CARRIERS) && group->frozen &&
	    cfg.max_carriers != group->max_carriers) {
		mutex_unlock(&group->config_lock);
		return -EBUSY;
	}
	if (cfg.flags & FIBER_CONFIG_SET_DELAY)
		WRITE_ONCE(group->handoff_delay_ns, cfg.handoff_delay_ns);
	if (cfg.flags & FIBER_CONFIG_SET_HOLD)
		WRITE_ONCE(group->hold_on_wake, cfg.hold_on_wake);
	if (cfg.flags & FIBER_CONFIG_SET_MAX_CARRIERS)
		group->max_carriers = cfg.max_carriers;

	cfg.handoff_delay_ns = group->handoff_delay_ns;
	cfg.hold_on_wake = group->hold_on_wake;
	cfg.max_carriers = group->max_carriers;
	cfg.map_size = fiber_shared_map_size(group->max_carriers);
	mutex_unlock(&group->config_lock);

	return fiber_args_to_user(uarg, usize, &cfg, sizeof(cfg));
}
