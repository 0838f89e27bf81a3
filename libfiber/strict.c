// SPDX-License-Identifier: MIT
/*
 * Misuse, and FIBER_STRICT.
 *
 * Go panics on a send to a closed channel, a second close, an unlock of
 * an unlocked mutex, a negative WaitGroup counter, `go` of a nil func.
 * libfiber cannot unwind a C stack, so it returns an error instead: one
 * that a program which ignores it lets pass.  FIBER_STRICT=1 makes each
 * such programming error abort the process, Go-style: what went wrong
 * in Go's words, the fiber, the object, the call and where it was
 * called from, then the fiber dump.  The test suites run with it on.
 *
 * Every call site reports only after it has let go of its runtime locks
 * and readied whoever it had to, so that the dump (and, without
 * FIBER_STRICT, the program) sees a consistent runtime; the report
 * itself takes no lock.  See fiber_misuse() in runtime.h for the rule of
 * what counts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "runtime.h"

/* -1: FIBER_STRICT not read yet; 0 off; 1 on. */
static _Atomic int strict = -1;

/* FIBER_STRICT: unset, empty or 0 is off, 1 is on.  Return: 0, 1, -EINVAL. */
static int strict_parse(void)
{
	const char *env = getenv("FIBER_STRICT");

	if (!env || !*env || !strcmp(env, "0"))
		return 0;
	if (!strcmp(env, "1"))
		return 1;
	return -EINVAL;
}

int strict_init(void)
{
	int v = strict_parse();

	if (v < 0) {
		fprintf(stderr, "libfiber: FIBER_STRICT=%s: expected 0 or 1\n",
			getenv("FIBER_STRICT"));
		return v;
	}
	atomic_store(&strict, v);
	return 0;
}

/*
 * Before fiber_main() (a channel closed twice by main(), say) nothing
 * has read the setting yet; a bad value there counts as off, and
 * fiber_main() will refuse it.
 */
static bool strict_on(void)
{
	int v = atomic_load(&strict);

	if (v < 0) {
		v = strict_parse() == 1;
		atomic_store(&strict, v);
	}
	return v == 1;
}

static const char *errno_name(int err)
{
	switch (err) {
	case EPIPE:	return "EPIPE";
	case EPERM:	return "EPERM";
	case EINVAL:	return "EINVAL";
	case ESRCH:	return "ESRCH";
	case EBUSY:	return "EBUSY";
	case EFAULT:	return "EFAULT";
	default:	return "an error";
	}
}

int fiber_misuse(int err, const char *what, const char *call,
		 const char *kind, const void *obj, void *pc)
{
	struct fiber *g = this_fiber();
	char where[512], who[64], object[96];

	if (!strict_on())
		return err;
	if (g)
		snprintf(who, sizeof(who), "fiber %llu", (unsigned long long)g->id);
	else
		snprintf(who, sizeof(who), "thread %d (not a fiber)", (int)syscall(SYS_gettid));
	if (obj)
		snprintf(object, sizeof(object), "%s %p", kind, obj);
	else
		snprintf(object, sizeof(object), "%s NULL", kind);
	if (!fiber_describe_pc(pc, where, sizeof(where)))
		where[0] = 0;
	fflush(stdout);
	dprintf(2, "libfiber: panic: %s\n\n"
		"%s: %s(%s)\n\tcalled from %p%s%s%s\n"
		"\tFIBER_STRICT=1 aborts; without it, -%s is returned\n\n",
		what, who, call, object, pc, where[0] ? " (" : "", where,
		where[0] ? ")" : "", errno_name(-err));
	fiber_dump(2);
	abort();
}
