/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * /dev/fiber: kernel assistance for user-space fiber runtimes.
 *
 * This header is the specification of the ABI between the fiber kernel
 * module and user space.  libfiber, the tools and the selftests compile
 * against this file from the source tree, never against an installed copy.
 *
 * Protocol
 * ========
 *
 * A process opens /dev/fiber (mode 0666; no privilege is needed).  Each open
 * file description is one *group*: the set of carrier threads of one fiber
 * runtime.  Every entry point is an ioctl on that file descriptor and
 * behaves like a system call: it returns 0 (or a documented non-negative
 * value) on success and -1 with errno set on failure.
 *
 * Versioning
 * ----------
 *
 * FIBER_ABI_VERSION changes only when an existing behaviour changes in a way
 * old user space cannot handle; it has never changed.  New behaviour is added
 * as a FIBER_FEATURE_* bit, which user space discovers with
 * FIBER_IOC_GET_INFO (or, without opening a group, the netlink family's
 * FIBER_STATS_A_FEATURES) before it relies on it.
 *
 * Extensible argument structs
 * ---------------------------
 *
 * Every ioctl takes a pointer to a struct whose first member is
 * `__u32 size`, set by the caller to sizeof() the struct as *it* was compiled.
 * The structs only ever grow at the end, and the module handles every size
 * the way openat2(2) and clone3(2) do:
 *
 *  - size smaller than the struct's first published version
 *    (FIBER_*_SIZE_VER0):                                       EINVAL
 *  - size smaller than the module's struct: the missing tail reads as zero,
 *    and only the first `size` bytes are written back;
 *  - size larger than the module's struct: the extra bytes must all be
 *    zero (they are fields from a newer ABI that this module does not know
 *    and so cannot honour), else                                 E2BIG
 *  - a pointer the module cannot read or write:                  EFAULT
 *  - a flags bit not defined here, or a non-zero reserved field: EINVAL
 *
 * Pointers inside argument structs are passed as __u64.
 *
 * Command numbers
 * ---------------
 *
 * Commands use the _IOWR encoding with magic FIBER_IOC_MAGIC.  The size bits
 * of the command are those of the struct in this header; the module
 * dispatches on magic, number and direction and ignores the size bits, since
 * the `size` member is what versions the struct.  A command the module does
 * not know fails with ENOTTY.
 */
#ifndef _UAPI_LINUX_FIBER_H
#define _UAPI_LINUX_FIBER_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define FIBER_DEVICE_NAME	"fiber"
#define FIBER_DEVICE_PATH	"/dev/fiber"

#define FIBER_ABI_VERSION	1

/* 0xB9 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define FIBER_IOC_MAGIC		0xB9

/*
 * Feature bits reported by FIBER_IOC_GET_INFO, and by the netlink family's
 * FIBER_STATS_A_FEATURES (which needs no group).  A set bit promises the
 * entry point or behaviour named; bits not defined here are reserved and
 * reported as zero.
 */
#define FIBER_FEATURE_GET_INFO	_BITULL(0)	/* FIBER_IOC_GET_INFO */
/* register, unregister, park, wake, switch, configure, the shared slots */
#define FIBER_FEATURE_CARRIERS	_BITULL(1)
#define FIBER_FEATURE_HOLD	_BITULL(2)	/* hold-on-wake */
#define FIBER_FEATURE_DELAY	_BITULL(3)	/* handoff delay */
/*
 * The netlink family's "events" multicast group (FIBER_CMD_EVENT).  Clear
 * on kernels whose generic netlink cannot keep the group to CAP_NET_ADMIN
 * (before 6.6, or 6.1.55 in 6.1): there the family has no such group.
 */
#define FIBER_FEATURE_EVENTS	_BITULL(4)

/**
 * struct fiber_info - argument of FIBER_IOC_GET_INFO
 * @size:	in: sizeof(struct fiber_info) as the caller knows it
 * @flags:	in: must be 0; no flags are defined yet
 * @abi_version: out: FIBER_ABI_VERSION of the module
 * @nr_groups:	out: number of groups in the system, this one included: open
 *		/dev/fiber files, and closed ones whose carriers still live
 * @features:	out: FIBER_FEATURE_* bits the module supports
 * @slot_size:	out: sizeof(struct fiber_slot) (since size 32)
 * @max_carriers: out: the module-wide limit of carriers per group, which is
 *		also the default of a new group (since size 32)
 *
 * FIBER_IOC_GET_INFO tells user space what the module supports.  It needs no
 * registration and works on any /dev/fiber descriptor.
 *
 * Errors: EINVAL (size below FIBER_INFO_SIZE_VER0, or flags not 0),
 * E2BIG (non-zero bytes past the module's struct), EFAULT (bad pointer).
 */
struct fiber_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 nr_groups;
	__u64 features;
	__u32 slot_size;
	__u32 max_carriers;
};

#define FIBER_INFO_SIZE_VER0	24	/* the first published size */
#define FIBER_INFO_SIZE_VER1	32	/* + slot_size, max_carriers */

/*
 * Groups, carriers and slots
 * ==========================
 *
 * A group belongs to the process that opened /dev/fiber: to its mm and its
 * thread group.  Every entry point below, and mmap, fails with EBADFD when
 * called from any other mm or process: a child that inherited the fd over
 * fork(), a process that received it over a socket, or the opener after
 * execve().  FIBER_IOC_GET_INFO is the exception: it works from anywhere.
 *
 * A *carrier* is a thread of that process registered with the group
 * (FIBER_IOC_REGISTER); it is what a runtime calls an M.  Each carrier owns
 * a *slot*, a struct fiber_slot in memory shared between the module and
 * the process: mmap() the fd at offset 0 with the length FIBER_IOC_CONFIGURE
 * reports (map_size).  The mapping starts with a struct fiber_shared
 * header page; slot i is at byte FIBER_SLOT_OFFSET(i).  The module
 * allocates the memory, so it never faults on it, even in the scheduler.
 *
 * The slot state word
 * -------------------
 *
 * fiber_slot.state holds a state (bits 0-7) and a block sequence number
 * (bits 8-63), changed only with 64-bit compare-and-swap, by the module and
 * by user space, as this table says:
 *
 *   from      to        who      when
 *   RUNNING   BLOCKED   module   the carrier sleeps in the kernel (a system
 *                                call, a page fault, a futex); seq + 1
 *   BLOCKED   RUNNING   module   it runs again and nobody claimed its P
 *   BLOCKED   CLAIMED   user     a spare takes the blocked carrier's P; the
 *                                CAS compares seq, so it fails cleanly if
 *                                the carrier woke (or blocked again) since
 *   CLAIMED   WAITING   module   the claimed carrier, with hold-on-wake on,
 *                                is about to return to user space (its
 *                                system call or fault is over): it is
 *                                held there until a P is granted to it
 *   WAITING   RUNNING   module   FIBER_IOC_WAKE or FIBER_IOC_SWITCH grants
 *                                it a P; it returns to user space
 *   CLAIMED   RUNNING   user     hold-on-wake off: the carrier came back
 *                                without its P, found one, and says so
 *   RUNNING   PARKED    module   the carrier calls FIBER_IOC_PARK and
 *   CLAIMED                      sleeps (hold-on-wake off: also from CLAIMED)
 *   PARKED    RUNNING   module   FIBER_IOC_PARK returns
 *   FREE      RUNNING   module   FIBER_IOC_REGISTER takes the slot
 *   any       FREE      module   the registration ends; seq + 1, so that a
 *                                late claim cannot match the next carrier
 *
 * FREE marks a slot nobody holds.  Only RUNNING produces block events: a
 * parked, held or claimed carrier holds no P, so its sleeps stall nothing.
 *
 * A held (WAITING) thread runs no user code, signal handlers included:
 * signals other than SIGKILL and SIGSTOP wait, and are delivered once it
 * is granted.  It still stops like any thread: SIGSTOP and job control,
 * ptrace, the cgroup freezers and system suspend stop it, and it goes on
 * waiting when it resumes, still WAITING.  SIGKILL ends it.  A stop that
 * is cancelled at the very instant it would begin can let the thread
 * return to user space WAITING for a few microseconds before it is held
 * again (docs/abi.md).
 * A preemption is not a block; only a sleep is.
 *
 * Events
 * ------
 *
 * When a RUNNING carrier blocks, the module marks its slot BLOCKED, queues
 * a FIBER_EVENT_BLOCKED event and wakes one parked carrier of the group
 * (from irq_work: nothing in the scheduler path sleeps, faults or takes a
 * sleeping lock).  When a claimed carrier is held, the module queues a
 * FIBER_EVENT_READY event the same way.  With no carrier parked, events
 * wait for the next FIBER_IOC_PARK, which returns them at once.  An event is
 * delivered only while it is still true (the slot is still BLOCKED, or
 * still WAITING), so a park may return no event at all.
 *
 * With a handoff delay (FIBER_IOC_CONFIGURE), a block is notified only if
 * the carrier is still blocked when the delay has passed (an hrtimer); the
 * slot says BLOCKED at once either way.
 *
 * Lifetime
 * --------
 *
 * A registration ends with FIBER_IOC_UNREGISTER or the thread's exit.  When
 * the process closes its last descriptor of the group, the group dies:
 * parked carriers return EBADF, held carriers return to user space (their
 * slot says WAITING: they have no P), and every carrier becomes inert (its
 * blocks are no longer seen) until its thread exits or registers with
 * another group.  A thread that calls execve() while registered is inert
 * the same way.  Neither an exiting thread nor one returning from execve()
 * is held, even when claimed: it runs no fibers, and nobody would grant
 * it.  The module cannot be removed while any group or carrier exists.
 */

/* Slot states: the low 8 bits of fiber_slot.state. */
#define FIBER_SLOT_FREE		0
#define FIBER_SLOT_RUNNING	1
#define FIBER_SLOT_BLOCKED	2
#define FIBER_SLOT_CLAIMED	3
#define FIBER_SLOT_WAITING	4
#define FIBER_SLOT_PARKED	5

#define FIBER_SLOT_STATE_MASK	0xffULL
#define FIBER_SLOT_SEQ_SHIFT	8
#define FIBER_SLOT_STATE(word)	((unsigned int)((word) & FIBER_SLOT_STATE_MASK))
#define FIBER_SLOT_SEQ(word)	((word) >> FIBER_SLOT_SEQ_SHIFT)
#define FIBER_SLOT_WORD(state, seq) \
	(((__u64)(seq) << FIBER_SLOT_SEQ_SHIFT) | (__u64)(state))

/* The name tools print for slot state @state; NULL for one unknown here. */
static inline const char *fiber_slot_state_name(unsigned int state)
{
	switch (state) {
	case FIBER_SLOT_FREE:
		return "free";
	case FIBER_SLOT_RUNNING:
		return "running";
	case FIBER_SLOT_BLOCKED:
		return "blocked";
	case FIBER_SLOT_CLAIMED:
		return "claimed";
	case FIBER_SLOT_WAITING:
		return "waiting";
	case FIBER_SLOT_PARKED:
		return "parked";
	}
	return (const char *)0;
}

/**
 * struct fiber_slot - one carrier's state, shared with user space
 * @state:	FIBER_SLOT_* and block sequence number; see the table above
 * @user_word:	owned by user space (the P the carrier holds, or any
 *		cookie); the module sets it at register, clears it when the
 *		slot is freed, and never touches it in between
 * @tid:	the carrier's thread id, 0 for a free slot (module)
 * @reserved0:	0
 * @blocks:	times the carrier blocked while RUNNING (module)
 * @wakeups:	times it ran again after such a block (module)
 * @claims:	times it found its P claimed when it woke (module)
 * @holds:	times it was held waiting for a P (module)
 * @last_block_ns: CLOCK_MONOTONIC time of the last block, on the clock
 *		of the group's opener (its time namespace's) (module)
 * @last_wake_ns: the same, of the last wake-up (module)
 * @reserved:	0
 *
 * User space writes only @state (by compare-and-swap, as the table above
 * allows) and @user_word.  The other fields are the module's copies of
 * what it counts on its own; writing them spoils nothing but the copy,
 * until the module next updates it.  The netlink family reports the
 * module's own counts.
 */
struct fiber_slot {
	__u64 state;
	__u64 user_word;
	__u32 tid;
	__u32 reserved0;
	__u64 blocks;
	__u64 wakeups;
	__u64 claims;
	__u64 holds;
	__u64 last_block_ns;
	__u64 last_wake_ns;
	__u64 reserved[7];
};

#define FIBER_SHARED_MAGIC	0x46494245	/* "FIBE" */

/**
 * struct fiber_shared - the header page of the shared mapping
 * (all fields are the module's; user space reads them: a write to the
 * page raises SIGBUS, even through a writable mapping)
 * @magic:	FIBER_SHARED_MAGIC
 * @abi_version: FIBER_ABI_VERSION
 * @slot_size:	sizeof(struct fiber_slot)
 * @slot_offset: byte offset of slot 0 (one page)
 * @max_carriers: number of slots in the mapping
 * @nr_carriers: carriers registered now
 * @nr_parked:	carriers in FIBER_IOC_PARK now
 * @nr_waiting:	carriers held, waiting for a P: a running carrier that sees
 *		this non-zero should hand its P over (FIBER_IOC_SWITCH)
 * @nr_pending:	events queued and not yet delivered
 * @reserved0:	0
 * @notifications: block events queued
 * @grants:	Ps granted to held carriers
 * @park_timeouts: parks that ended by their timeout
 */
struct fiber_shared {
	__u32 magic;
	__u32 abi_version;
	__u32 slot_size;
	__u32 slot_offset;
	__u32 max_carriers;
	__u32 nr_carriers;
	__u32 nr_parked;
	__u32 nr_waiting;
	__u32 nr_pending;
	__u32 reserved0;
	__u64 notifications;
	__u64 grants;
	__u64 park_timeouts;
};

/* Byte offset of slot @i in the shared mapping, for page size @page. */
#define FIBER_SLOT_OFFSET(page, i) \
	((__u64)(page) + (__u64)(i) * sizeof(struct fiber_slot))

/* Slot @i of the mapping whose header (struct fiber_shared) is at @base. */
static inline struct fiber_slot *fiber_slot_at(const void *base, __u32 i)
{
	const struct fiber_shared *header = (const struct fiber_shared *)base;

	return (struct fiber_slot *)((unsigned long)base +
				     FIBER_SLOT_OFFSET(header->slot_offset, i));
}

/**
 * struct fiber_register - argument of FIBER_IOC_REGISTER
 * @size:	in: sizeof(struct fiber_register)
 * @flags:	in: must be 0
 * @user_word:	in: initial fiber_slot.user_word
 * @slot:	out: index of the caller's slot
 * @reserved:	in: must be 0
 *
 * Registers the calling thread as a carrier of the group, in state
 * RUNNING.  A thread is a carrier of at most one group at a time.
 *
 * Errors: EBUSY (the thread is already a carrier, of this group or
 * another live one), ENOSPC (max_carriers carriers already), EBADF (the
 * group died), EBADFD (wrong process), ENOMEM, and the argument errors
 * (EINVAL, E2BIG, EFAULT).
 */
struct fiber_register {
	__u32 size;
	__u32 flags;
	__u64 user_word;
	__u32 slot;
	__u32 reserved;
};

#define FIBER_REGISTER_SIZE_VER0	24

/**
 * struct fiber_unregister - argument of FIBER_IOC_UNREGISTER
 * @size:	in: sizeof(struct fiber_unregister)
 * @flags:	in: must be 0
 *
 * Ends the calling thread's registration and frees its slot.
 *
 * Errors: ESRCH (the caller is not a carrier of this group), EBADFD, and
 * the argument errors.
 */
struct fiber_unregister {
	__u32 size;
	__u32 flags;
};

#define FIBER_UNREGISTER_SIZE_VER0	8

/* Event kinds (struct fiber_event.kind). */
#define FIBER_EVENT_BLOCKED	1	/* slot blocked: its P can be claimed */
#define FIBER_EVENT_READY	2	/* slot held, waiting for a P */

/**
 * struct fiber_event - one event returned by FIBER_IOC_PARK
 * @slot:	the slot the event is about
 * @kind:	FIBER_EVENT_*
 * @seq:	the slot's sequence number when the event was delivered, for
 *		the claim's compare-and-swap
 */
struct fiber_event {
	__u32 slot;
	__u32 kind;
	__u64 seq;
};

/**
 * struct fiber_park - argument of FIBER_IOC_PARK
 * @size:	in: sizeof(struct fiber_park)
 * @flags:	in: must be 0
 * @timeout_ns:	in: absolute CLOCK_MONOTONIC deadline, on the caller's
 *		clock (its time namespace's); 0 waits forever
 * @events:	in: pointer to an array of struct fiber_event, or 0
 * @nr_events:	in: capacity of @events; out: events written there
 * @reserved:	in: must be 0
 *
 * The calling carrier sleeps, in state PARKED, until an event is queued
 * for it, another carrier wakes it, the deadline passes or a signal
 * arrives; then it returns the pending events, at most @nr_events, in
 * the same call.  If events are pending or a wake-up is already owed to
 * it (FIBER_IOC_WAKE on a running carrier), it returns at once.  Events
 * not returned stay queued.  Returns 0, even with no event.
 *
 * Errors: ETIMEDOUT (deadline passed, no event), EINTR (a signal; the
 * call is not restarted, whatever SA_RESTART says: the caller decides),
 * EBADF (the group died), ESRCH (the caller is not a carrier of this
 * group), EFAULT (the events could not be written: they stay queued),
 * EBADFD, and the argument errors.  With ETIMEDOUT, EINTR or EBADF,
 * @nr_events is 0.
 */
struct fiber_park {
	__u32 size;
	__u32 flags;
	__u64 timeout_ns;
	__u64 events;
	__u32 nr_events;
	__u32 reserved;
};

#define FIBER_PARK_SIZE_VER0	32

/* FIBER_IOC_WAKE flags */
#define FIBER_WAKE_ANY		_BITUL(0)	/* any parked carrier; ignore slot */

/**
 * struct fiber_wake - argument of FIBER_IOC_WAKE
 * @size:	in: sizeof(struct fiber_wake)
 * @flags:	in: 0 or FIBER_WAKE_ANY
 * @slot:	in: the carrier to wake
 * @reserved:	in: must be 0
 *
 * Wakes carrier @slot: if it is parked, its FIBER_IOC_PARK returns; if it
 * is held (WAITING), it is granted a P and returns to user space RUNNING;
 * otherwise its next FIBER_IOC_PARK returns at once.  With FIBER_WAKE_ANY
 * it wakes one parked carrier, the one parked most recently.  A hold is
 * granted once: further wakes before it returns to user space count as
 * wakes of a running carrier.  Whether a carrier is held is the module's
 * own record, not the slot word, which user space can write.
 *
 * Any thread of the process may call it, carrier or not.
 *
 * Errors: EAGAIN (FIBER_WAKE_ANY and none is parked), EINVAL (slot out of
 * range), ESRCH (no carrier in that slot), EBADF (the group died),
 * EBADFD, and the argument errors.
 */
struct fiber_wake {
	__u32 size;
	__u32 flags;
	__u32 slot;
	__u32 reserved;
};

#define FIBER_WAKE_SIZE_VER0	16

/**
 * struct fiber_switch - argument of FIBER_IOC_SWITCH
 * @size:	in: sizeof(struct fiber_switch)
 * @flags:	in: must be 0
 * @slot:	in: the carrier to wake
 * @reserved:	in: must be 0
 * @timeout_ns, @events, @nr_events, @reserved2: as in struct fiber_park
 *
 * FIBER_IOC_WAKE of @slot and FIBER_IOC_PARK of the caller in one call:
 * the caller hands its P to @slot (a held carrier gets it granted) and
 * sleeps until it is woken itself.  If the wake fails, the caller does not
 * park, and the error is the wake's.
 *
 * Errors: the argument errors and ESRCH (the caller is not a carrier)
 * first, EINVAL if @slot is the caller's own, EFAULT for a bad events
 * buffer, then those of FIBER_IOC_WAKE, then those of FIBER_IOC_PARK.
 */
struct fiber_switch {
	__u32 size;
	__u32 flags;
	__u32 slot;
	__u32 reserved;
	__u64 timeout_ns;
	__u64 events;
	__u32 nr_events;
	__u32 reserved2;
};

#define FIBER_SWITCH_SIZE_VER0	40

/* FIBER_IOC_CONFIGURE flags: which fields to change */
#define FIBER_CONFIG_SET_DELAY		_BITUL(0)
#define FIBER_CONFIG_SET_HOLD		_BITUL(1)
#define FIBER_CONFIG_SET_MAX_CARRIERS	_BITUL(2)

/**
 * struct fiber_config - argument of FIBER_IOC_CONFIGURE
 * @size:	in: sizeof(struct fiber_config)
 * @flags:	in: FIBER_CONFIG_SET_* for the fields to change; 0 only reads
 * @handoff_delay_ns: in/out: notify only blocks that last this long;
 *		0 (the default) notifies at once; at most 1 s
 * @hold_on_wake: in/out: 1 (the default) holds a claimed carrier until it
 *		is granted a P; 0 lets it return to user space at once
 * @max_carriers: in/out: slots in the group, at most the module's limit
 *		(fiber_info.max_carriers, the default); fixed once a carrier
 *		registered or the group was mapped
 * @map_size:	out: length to pass to mmap()
 *
 * Changes the fields named in @flags, then returns the whole configuration.
 *
 * Errors: EINVAL (unknown flag, delay above 1 s, hold_on_wake not 0 or 1,
 * max_carriers 0 or above the module's limit), EBUSY (max_carriers after
 * the group was used), EBADFD, and the argument errors.  On error nothing
 * is changed.
 */
struct fiber_config {
	__u32 size;
	__u32 flags;
	__u64 handoff_delay_ns;
	__u32 hold_on_wake;
	__u32 max_carriers;
	__u64 map_size;
};

#define FIBER_CONFIG_SIZE_VER0	32

#define FIBER_IOC_GET_INFO	_IOWR(FIBER_IOC_MAGIC, 0x00, struct fiber_info)
#define FIBER_IOC_REGISTER	_IOWR(FIBER_IOC_MAGIC, 0x01, struct fiber_register)
#define FIBER_IOC_UNREGISTER	_IOWR(FIBER_IOC_MAGIC, 0x02, struct fiber_unregister)
#define FIBER_IOC_PARK		_IOWR(FIBER_IOC_MAGIC, 0x03, struct fiber_park)
#define FIBER_IOC_WAKE		_IOWR(FIBER_IOC_MAGIC, 0x04, struct fiber_wake)
#define FIBER_IOC_SWITCH	_IOWR(FIBER_IOC_MAGIC, 0x05, struct fiber_switch)
#define FIBER_IOC_CONFIGURE	_IOWR(FIBER_IOC_MAGIC, 0x06, struct fiber_config)

/*
 * Generic netlink: the "fiber" family
 * ===================================
 *
 * Observability and module-wide settings go over generic netlink, not
 * ioctls: any process may look (no /dev/fiber descriptor needed), and tools
 * resolve the family by name (FIBER_GENL_NAME) through the generic netlink
 * controller.  FIBER_GENL_VERSION changes only the way FIBER_ABI_VERSION
 * does; attributes are only ever added.
 *
 * Every request is validated strictly against the policy of its command:
 * an attribute the command does not take, of the wrong type or length, or
 * an unknown one fails with EINVAL (a value out of range: ERANGE), and the
 * kernel's extended ACK names the attribute and the reason.  User space
 * must ignore reply attributes it does not know: new ones may be added to
 * any nest.
 *
 * Process ids (FIBER_GROUP_A_PID, FIBER_CARRIER_A_TID) are numbers in the
 * pid namespace of the process that started the dump; groups whose owner
 * is not visible there, or has exited (a group can outlive its owner, kept
 * by a child's inherited descriptor), are left out of every dump.  Times
 * are CLOCK_MONOTONIC nanoseconds, on the clock of the reader's time
 * namespace in dumps and on the host's in events.
 *
 * Commands
 * --------
 *
 * FIBER_CMD_GET_GROUPS (dump; no attributes)
 *	One message per group, each a set of FIBER_GROUP_A_* attributes
 *	without FIBER_GROUP_A_CARRIERS.  Any user may dump, and sees the
 *	groups whose owner's memory it may read (below).
 *
 * FIBER_CMD_GET_GROUP (dump; FIBER_GROUP_A_PID required)
 *	The groups of process PID (a process may open /dev/fiber more than
 *	once) with their carriers: FIBER_GROUP_A_* attributes and a
 *	FIBER_GROUP_A_CARRIERS nest.  A group whose carriers do not fit one
 *	message continues in the next, which has only FIBER_GROUP_A_ID,
 *	FIBER_GROUP_A_PID and the next carriers, as WireGuard does for
 *	peers; the group's other attributes are those of its first message.
 *	Errors, in the NLMSG_DONE message with an extended ACK message:
 *	EINVAL (no pid), ESRCH (no group of that live process, or none the
 *	reader may see).  It must be sent with NLM_F_DUMP: a plain request
 *	gets EOPNOTSUPP.
 *
 *	Who sees a group: a reader that may read its owner's memory, by
 *	ptrace's PTRACE_MODE_READ_FSCREDS credential rules: the same uids
 *	and gids as a dumpable owner, or CAP_SYS_PTRACE.  A group shows its
 *	threads' ids and their block and wake times to the nanosecond, and
 *	FIBER_CARRIER_A_USER_WORD is the runtime's own memory.  The reader
 *	is the socket's opener (its credentials when it made the socket);
 *	CAP_SYS_PTRACE counts as netlink_capable() has it.
 *
 * FIBER_CMD_GET_STATS (do; no attributes)
 *	Module-wide totals and settings, as FIBER_STATS_A_* attributes.
 *
 * FIBER_CMD_SET_CONFIG (do; FIBER_STATS_A_* settings)
 *	Changes the settings given: FIBER_STATS_A_MAX_CARRIERS,
 *	FIBER_STATS_A_MAX_GROUPS_PER_USER, FIBER_STATS_A_EVENTS_PER_SEC.
 *	Needs CAP_SYS_ADMIN (EPERM otherwise).  Errors: ERANGE (a value out
 *	of range), EINVAL (a read-only attribute, no attribute at all);
 *	nothing is changed then.  The reply is that of FIBER_CMD_GET_STATS.
 *
 * FIBER_CMD_EVENT (multicast only, in the "events" group)
 *	One message per event, FIBER_EVENT_A_* attributes.  Events are
 *	produced only while the group has a listener, and at most
 *	events_per_sec a second (excess ones are counted, not sent).  They
 *	are sent in batches, within about 10 ms.
 *	Joining the group needs CAP_NET_ADMIN; events are sent in the initial
 *	network namespace, with pids of the initial pid namespace.  The
 *	group exists only where FIBER_FEATURE_EVENTS is set.
 *
 * Dumps are consistent: when groups (FIBER_CMD_GET_GROUPS), or groups and
 * the carriers of the process asked for (FIBER_CMD_GET_GROUP), come or go
 * between two parts of a dump, the later parts carry NLM_F_DUMP_INTR and
 * the reader should start over.
 * Counters and states are sampled without stopping anything, so they are
 * each exact but not a snapshot of one instant.
 *
 * Attribute tree
 * --------------
 *
 *   FIBER_CMD_GET_GROUPS, FIBER_CMD_GET_GROUP replies:
 *	FIBER_GROUP_A_ID		u64	unique while the module is loaded
 *	FIBER_GROUP_A_PID		u32	owner process (request: filter)
 *	FIBER_GROUP_A_COMM		string	owner's command name
 *	FIBER_GROUP_A_UID		u32	owner's uid, in the reader's
 *						user namespace
 *	FIBER_GROUP_A_DEAD		flag	the owner closed it; carriers
 *						linger until their threads go
 *	FIBER_GROUP_A_MAX_CARRIERS	u32	configuration ...
 *	FIBER_GROUP_A_HANDOFF_DELAY_NS	u64
 *	FIBER_GROUP_A_HOLD_ON_WAKE	u8	0 or 1
 *	FIBER_GROUP_A_NR_CARRIERS	u32	carriers now, and by state:
 *	FIBER_GROUP_A_NR_RUNNING	u32
 *	FIBER_GROUP_A_NR_BLOCKED	u32
 *	FIBER_GROUP_A_NR_CLAIMED	u32
 *	FIBER_GROUP_A_NR_WAITING	u32
 *	FIBER_GROUP_A_NR_PARKED		u32
 *	FIBER_GROUP_A_NR_PENDING	u32	events queued, not delivered
 *	FIBER_GROUP_A_BLOCKS		u64	counters since the group was
 *	FIBER_GROUP_A_NOTIFICATIONS	u64	created, exited carriers
 *	FIBER_GROUP_A_CLAIMS		u64	included (see struct
 *	FIBER_GROUP_A_HOLDS		u64	fiber_slot and struct
 *	FIBER_GROUP_A_GRANTS		u64	fiber_shared for what each
 *	FIBER_GROUP_A_WAKEUPS		u64	counts)
 *	FIBER_GROUP_A_PARK_TIMEOUTS	u64
 *	FIBER_GROUP_A_CARRIERS		nest	GET_GROUP only; one
 *						FIBER_CARRIER_A_* nest per
 *						carrier (type 0):
 *	    FIBER_CARRIER_A_SLOT	u32
 *	    FIBER_CARRIER_A_TID		u32
 *	    FIBER_CARRIER_A_STATE	u8	FIBER_SLOT_*
 *	    FIBER_CARRIER_A_SEQ		u64	block sequence number
 *	    FIBER_CARRIER_A_USER_WORD	u64	fiber_slot.user_word; only
 *						for some readers (see above)
 *	    FIBER_CARRIER_A_BLOCKS	u64
 *	    FIBER_CARRIER_A_WAKEUPS	u64
 *	    FIBER_CARRIER_A_CLAIMS	u64
 *	    FIBER_CARRIER_A_HOLDS	u64
 *	    FIBER_CARRIER_A_LAST_BLOCK_NS u64	0 if it never blocked
 *	    FIBER_CARRIER_A_LAST_WAKE_NS u64
 *
 *   FIBER_CMD_GET_STATS reply, FIBER_CMD_SET_CONFIG request and reply:
 *	FIBER_STATS_A_ABI_VERSION	u32	FIBER_ABI_VERSION
 *	FIBER_STATS_A_NR_GROUPS		u32	all groups, visible or not
 *	FIBER_STATS_A_NR_CARRIERS	u32
 *	FIBER_STATS_A_BLOCKS .. FIBER_STATS_A_PARK_TIMEOUTS
 *					u64	as for a group, summed over
 *						every group since load
 *	FIBER_STATS_A_EVENTS_SENT	u64	multicast events sent
 *	FIBER_STATS_A_EVENTS_DROPPED	u64	events over the rate limit, or
 *						with 256 already waiting
 *	FIBER_STATS_A_MAX_CARRIERS	u32	settings (writable): the
 *						per-group carrier limit and
 *						default, 1 to 1048576;
 *	FIBER_STATS_A_MAX_GROUPS_PER_USER u32	1 to 1048576;
 *	FIBER_STATS_A_EVENTS_PER_SEC	u32	1 to 1000000
 *	FIBER_STATS_A_FEATURES		u64	FIBER_FEATURE_* bits, as in
 *						fiber_info.features; read-
 *						only.  Added after the rest:
 *						a module that predates it
 *						leaves it out
 *
 *   FIBER_CMD_EVENT:
 *	FIBER_EVENT_A_TYPE		u8	FIBER_EVENT_TYPE_*
 *	FIBER_EVENT_A_PID		u32	the carrier's process
 *	FIBER_EVENT_A_TID		u32	the carrier
 *	FIBER_EVENT_A_SLOT		u32
 *	FIBER_EVENT_A_SEQ		u64	the block's sequence number
 *	FIBER_EVENT_A_TIME_NS		u64	when it happened
 *	FIBER_EVENT_A_DROPPED		u32	events dropped (see above)
 *						just before this one
 */

#define FIBER_GENL_NAME		"fiber"
#define FIBER_GENL_VERSION	1
#define FIBER_GENL_MCGRP_EVENTS	"events"

enum fiber_genl_cmd {
	FIBER_CMD_UNSPEC,
	FIBER_CMD_GET_GROUPS,
	FIBER_CMD_GET_GROUP,
	FIBER_CMD_GET_STATS,
	FIBER_CMD_SET_CONFIG,
	FIBER_CMD_EVENT,
	__FIBER_CMD_MAX
};

#define FIBER_CMD_MAX (__FIBER_CMD_MAX - 1)

enum fiber_group_attr {
	FIBER_GROUP_A_UNSPEC,
	FIBER_GROUP_A_ID,
	FIBER_GROUP_A_PID,
	FIBER_GROUP_A_COMM,
	FIBER_GROUP_A_UID,
	FIBER_GROUP_A_DEAD,
	FIBER_GROUP_A_MAX_CARRIERS,
	FIBER_GROUP_A_HANDOFF_DELAY_NS,
	FIBER_GROUP_A_HOLD_ON_WAKE,
	FIBER_GROUP_A_NR_CARRIERS,
	FIBER_GROUP_A_NR_RUNNING,
	FIBER_GROUP_A_NR_BLOCKED,
	FIBER_GROUP_A_NR_CLAIMED,
	FIBER_GROUP_A_NR_WAITING,
	FIBER_GROUP_A_NR_PARKED,
	FIBER_GROUP_A_NR_PENDING,
	FIBER_GROUP_A_BLOCKS,
	FIBER_GROUP_A_NOTIFICATIONS,
	FIBER_GROUP_A_CLAIMS,
	FIBER_GROUP_A_HOLDS,
	FIBER_GROUP_A_GRANTS,
	FIBER_GROUP_A_WAKEUPS,
	FIBER_GROUP_A_PARK_TIMEOUTS,
	FIBER_GROUP_A_CARRIERS,
	FIBER_GROUP_A_PAD,
	__FIBER_GROUP_A_MAX
};

#define FIBER_GROUP_A_MAX (__FIBER_GROUP_A_MAX - 1)

enum fiber_carrier_attr {
	FIBER_CARRIER_A_UNSPEC,
	FIBER_CARRIER_A_SLOT,
	FIBER_CARRIER_A_TID,
	FIBER_CARRIER_A_STATE,
	FIBER_CARRIER_A_SEQ,
	FIBER_CARRIER_A_USER_WORD,
	FIBER_CARRIER_A_BLOCKS,
	FIBER_CARRIER_A_WAKEUPS,
	FIBER_CARRIER_A_CLAIMS,
	FIBER_CARRIER_A_HOLDS,
	FIBER_CARRIER_A_LAST_BLOCK_NS,
	FIBER_CARRIER_A_LAST_WAKE_NS,
	FIBER_CARRIER_A_PAD,
	__FIBER_CARRIER_A_MAX
};

#define FIBER_CARRIER_A_MAX (__FIBER_CARRIER_A_MAX - 1)

enum fiber_stats_attr {
	FIBER_STATS_A_UNSPEC,
	FIBER_STATS_A_ABI_VERSION,
	FIBER_STATS_A_NR_GROUPS,
	FIBER_STATS_A_NR_CARRIERS,
	FIBER_STATS_A_BLOCKS,
	FIBER_STATS_A_NOTIFICATIONS,
	FIBER_STATS_A_CLAIMS,
	FIBER_STATS_A_HOLDS,
	FIBER_STATS_A_GRANTS,
	FIBER_STATS_A_WAKEUPS,
	FIBER_STATS_A_PARK_TIMEOUTS,
	FIBER_STATS_A_EVENTS_SENT,
	FIBER_STATS_A_EVENTS_DROPPED,
	FIBER_STATS_A_MAX_CARRIERS,
	FIBER_STATS_A_MAX_GROUPS_PER_USER,
	FIBER_STATS_A_EVENTS_PER_SEC,
	FIBER_STATS_A_PAD,
	FIBER_STATS_A_FEATURES,
	__FIBER_STATS_A_MAX
};

#define FIBER_STATS_A_MAX (__FIBER_STATS_A_MAX - 1)

/* FIBER_EVENT_A_TYPE values */
enum fiber_event_type {
	FIBER_EVENT_TYPE_BLOCK = 1,	/* a RUNNING carrier slept: BLOCKED */
	FIBER_EVENT_TYPE_CLAIM,		/* it woke and found its P claimed */
	FIBER_EVENT_TYPE_HOLD,		/* it is held, WAITING for a P */
	FIBER_EVENT_TYPE_GRANT,		/* a held carrier was granted a P */
};

enum fiber_event_attr {
	FIBER_EVENT_A_UNSPEC,
	FIBER_EVENT_A_TYPE,
	FIBER_EVENT_A_PID,
	FIBER_EVENT_A_TID,
	FIBER_EVENT_A_SLOT,
	FIBER_EVENT_A_SEQ,
	FIBER_EVENT_A_TIME_NS,
	FIBER_EVENT_A_DROPPED,
	FIBER_EVENT_A_PAD,
	__FIBER_EVENT_A_MAX
};

#define FIBER_EVENT_A_MAX (__FIBER_EVENT_A_MAX - 1)

#endif /* _UAPI_LINUX_FIBER_H */
