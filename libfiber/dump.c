// SPDX-License-Identifier: MIT
/*
 * fiber_dump(): every live fiber with its state, what it waits for, for
 * how long, its backtrace and its creator; and the dump on a signal
 * (FIBER_DUMP_SIGNAL, SIGQUIT by default), Go's goroutine dump.
 *
 * A parked fiber's backtrace is read from its stack while it may be
 * readied and run again on another thread: nothing is stopped.  So:
 *
 *  - the unwinder runs on the dumping thread's own stack, in a frame
 *    that names the fiber's saved context as its caller
 *    (fiber_context_unwind_from); it only reads the fiber's stack;
 *  - g->runs, bumped whenever the fiber is switched to or parks, is
 *    read before and after: if it moved, the stack changed under the
 *    unwinder and the backtrace is not shown ("it ran meanwhile");
 *  - a fault while reading (a stack that changed into garbage) jumps
 *    back out of the unwinder through dump_segv(), called first thing
 *    by the runtime's SIGSEGV handler.
 *
 * The unwinder is glibc's backtrace(), which reads the DWARF CFI every
 * object file carries (.eh_frame), so frame pointers are not needed.
 * Names come from dladdr(): exported symbols, else binary+offset, which
 * addr2line -e binary turns into a line.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "runtime.h"

#define DUMP_DEPTH	48

bool fiber_describe_pc(void *pc, char *buf, size_t len)
{
	Dl_info info;

	if (!pc) {
		snprintf(buf, len, "fiber_main");
		return true;
	}
	/* A static program may know nothing of itself: then the address. */
	if (!dladdr(pc, &info) || !info.dli_fname || !*info.dli_fname) {
		snprintf(buf, len, "%p", pc);
		return false;
	}
	if (info.dli_sname)
		snprintf(buf, len, "%s+0x%lx (%s+0x%lx)", info.dli_sname,
			 (unsigned long)((char *)pc - (char *)info.dli_saddr),
			 info.dli_fname,
			 (unsigned long)((char *)pc - (char *)info.dli_fbase));
	else
		snprintf(buf, len, "%s+0x%lx", info.dli_fname,
			 (unsigned long)((char *)pc - (char *)info.dli_fbase));
	return true;
}

/* ---- backtraces of parked fibers ---------------------------------------- */

static __thread sigjmp_buf *dump_guard;

void dump_segv(void)
{
	sigjmp_buf *jb = dump_guard;

	if (jb) {
		dump_guard = NULL;
		siglongjmp(*jb, 1);
	}
}

struct dump_bt {
	void *pc[DUMP_DEPTH];
	int n;
};

static void bt_collect(void *arg)
{
	struct dump_bt *bt = arg;

	bt->n = backtrace(bt->pc, DUMP_DEPTH);
}

/* Is @pc the return address inside fiber_context_unwind_from (short)? */
static bool in_trampoline(void *pc)
{
	return (char *)pc > (char *)fiber_context_unwind_from &&
	       (char *)pc < (char *)fiber_context_unwind_from + 64;
}

/*
 * The backtrace of @g, not running, into @pc.  Return: frames, or
 * -EAGAIN (it ran meanwhile), -EFAULT (its stack could not be read),
 * -ESRCH (it is running, or has no frame yet).
 */
static int fiber_backtrace(struct fiber *g, void **pc, int max)
{
	struct dump_bt bt = { .n = 0 };
	sigjmp_buf jb;
	uint32_t runs, st;
	void *sp;
	int i, k;

	st = atomic_load(&g->status);
	if (st != FIBER_WAITING && st != FIBER_RUNNABLE)
		return -ESRCH;
	runs = atomic_load(&g->runs);
	sp = g->ctx.sp;
	if (!sp || g->copied)
		return -ESRCH;
	if (sigsetjmp(jb, 0)) {
		dump_guard = NULL;
		return -EFAULT;
	}
	dump_guard = &jb;
	fiber_context_unwind_from(sp, bt_collect, &bt);
	dump_guard = NULL;
	if (atomic_load(&g->runs) != runs || atomic_load(&g->status) != st)
		return -EAGAIN;
	/* Drop bt_collect and the trampoline: the fiber's frames follow. */
	for (i = 0; i < bt.n && !in_trampoline(bt.pc[i]); i++)
		;
	for (k = 0, i++; i < bt.n && k < max; i++)
		pc[k++] = bt.pc[i];
	return k;
}

static void print_frames(int fd, void **pc, int n)
{
	char where[512];
	int i;

	for (i = 0; i < n; i++) {
		/* A return address: name the call, one byte before it. */
		fiber_describe_pc((char *)pc[i] - 1, where, sizeof(where));
		dprintf(fd, "\t#%d %p in %s\n", i, pc[i], where);
	}
}

static void print_wait(int fd, const struct fiber *g, uint32_t st)
{
	int64_t since = g->waitsince, now = fiber_coarsetime();

	if (st != FIBER_WAITING || !since || now < since)
		return;
	if (now - since >= 60000000000LL)
		dprintf(fd, ", %lld minutes", (long long)((now - since) / 60000000000LL));
	else
		dprintf(fd, ", %.3fs", (double)(now - since) / 1e9);
}

void fiber_dump(int fd)
{
	struct fiber_m *m = this_m();
	struct fiber *self = m ? m->curg : NULL;
	void *pc[DUMP_DEPTH];
	char where[512];
	struct fiber *g;
	uint32_t st;
	int n;

	dprintf(fd, "libfiber: %d fibers, %d procs\n", fiber_num(),
		atomic_load(&sched.nprocs));
	for (g = allfibers_head(); g; g = g->allnext) {
		st = atomic_load(&g->status);
		if (st == FIBER_DEAD || st == FIBER_IDLE)
			continue;
		dprintf(fd, "\nfiber %llu [%s%s%s", (unsigned long long)g->id,
			fiber_status_name(st), g->wait_reason ? ", " : "",
			g->wait_reason ? g->wait_reason : "");
		print_wait(fd, g, st);
		dprintf(fd, "]%s%s:\n", g->lockedm ? ", locked to thread" : "",
			g == self ? ", the caller" : "");
		if (g == self) {
			/* Ourselves: skip fiber_dump's own frame. */
			n = backtrace(pc, DUMP_DEPTH);
			print_frames(fd, pc + 1, n - 1);
		} else {
			n = fiber_backtrace(g, pc, DUMP_DEPTH);
			if (n > 0)
				print_frames(fd, pc, n);
			else if (n == -EAGAIN)
				dprintf(fd, "\t(it ran while its stack was read)\n");
			else if (n == -EFAULT)
				dprintf(fd, "\t(its stack could not be read)\n");
			else if (g->copied && st != FIBER_RUNNING && st != FIBER_SYSCALL)
				dprintf(fd, "\t(copied stack: no backtrace)\n");
			else if (st == FIBER_RUNNING || st == FIBER_SYSCALL)
				dprintf(fd, "\t(running on another thread)\n");
			else
				dprintf(fd, "\t(not started yet)\n");
		}
		fiber_describe_pc(g->created_pc ? (char *)g->created_pc - 1 : NULL,
				  where, sizeof(where));
		dprintf(fd, "\tcreated by fiber %llu at %s\n",
			(unsigned long long)g->parent_id, where);
	}
	kernel_dump(fd);
}

/* ---- the dump on a signal ------------------------------------------------ */

/*
 * The handler only writes a byte to a pipe; a runtime thread reads it
 * and dumps, since nothing a dump calls is async-signal-safe.  A forked
 * child inherits the handler but not the thread, nor should it wake its
 * parent's: there the signal has its default effect.
 */
static int dump_sig;
static int dump_pipe[2] = { -1, -1 };
static pid_t dump_pid;
static bool dump_exit = true;

static void dump_handler(int sig)
{
	int saved = errno;
	char c = 1;

	if (getpid() != dump_pid) {
		signal(sig, SIG_DFL);
		raise(sig);
	} else if (write(dump_pipe[1], &c, 1) < 0) {
		/* A full pipe: a dump is pending anyway. */
	}
	errno = saved;
}

static void *dump_thread(void *arg)
{
	char c;

	(void)arg;
	mark_runtime_thread();
	for (;;) {
		if (read(dump_pipe[0], &c, 1) != 1) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		dprintf(2, "libfiber: %s: dump of every fiber%s\n",
			sigabbrev_np(dump_sig) ? sigabbrev_np(dump_sig) : "signal",
			dump_exit ? ", then exit(2)" : "");
		fiber_dump(2);
		if (dump_exit)
			_exit(2);
	}
}

/* "QUIT", "SIGQUIT", "3"; 0 for "off"/"0"/"none"; -1 if invalid. */
static int parse_signal(const char *s)
{
	char *end;
	long n;
	int i;

	if (!strcasecmp(s, "off") || !strcasecmp(s, "none") || !strcmp(s, "0"))
		return 0;
	n = strtol(s, &end, 10);
	if (*s && !*end)
		return n > 0 && n < SIGRTMIN ? (int)n : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (i = 1; i < SIGRTMIN; i++)
		if (sigabbrev_np(i) && !strcasecmp(s, sigabbrev_np(i)))
			return i;
	return -1;
}

int dump_init(void)
{
	const char *env = getenv("FIBER_DUMP_SIGNAL");
	const char *action = getenv("FIBER_DUMP_ACTION");
	struct sigaction sa, old;
	int sig = SIGQUIT, ret;

	if (env && *env) {
		sig = parse_signal(env);
		/* Signals the runtime or the kernel need are not ours. */
		if (sig < 0 || sig == SIGKILL || sig == SIGSTOP ||
		    sig == SIGSEGV || sig == SIGBUS || sig == SIGURG) {
			fprintf(stderr, "libfiber: FIBER_DUMP_SIGNAL=%s: not a signal a dump can use\n",
				env);
			return -EINVAL;
		}
	}
	if (action && *action) {
		if (!strcmp(action, "exit")) {
			dump_exit = true;
		} else if (!strcmp(action, "continue")) {
			dump_exit = false;
		} else {
			fprintf(stderr, "libfiber: FIBER_DUMP_ACTION=%s: use exit or continue\n",
				action);
			return -EINVAL;
		}
	}
	if (!sig)
		return 0;
	/*
	 * The program's own handler wins.  An ignored signal does not, as
	 * in Go: a shell starts a script's background jobs with SIGQUIT
	 * ignored, and nohup ignores SIGHUP, neither for our sake; but
	 * SIGHUP and SIGINT stay ignored, as nohup and the shell meant.
	 */
	if (sigaction(sig, NULL, &old))
		return -errno;
	if ((old.sa_flags & SA_SIGINFO) ||
	    (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) ||
	    (old.sa_handler == SIG_IGN && (sig == SIGHUP || sig == SIGINT)))
		return 0;
	if (pipe2(dump_pipe, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	/* The reader blocks; only the handler's end must never block. */
	fcntl(dump_pipe[0], F_SETFL, 0);
	dump_sig = sig;
	dump_pid = getpid();
	ret = thread_start_detached(dump_thread, NULL);
	if (ret)
		return ret;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = dump_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL) ? -errno : 0;
}
