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
 * Names come from dladdr() for exported symbols, else from the object's
 * own .symtab (below); each frame also shows binary+offset, which
 * addr2line -e binary turns into a file and line.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

#define DUMP_DEPTH	48

/*
 * Names dladdr() cannot give: functions that are not exported (a
 * program's static functions, the library's own) are in the object's
 * .symtab unless it was stripped.  Each object file is mapped and its
 * symbol table found once, on the first dump that needs it, and kept.
 */
struct symfile {
	struct symfile *next;
	char *path;
	const Elf64_Sym *syms;	/* NULL: no symbols (stripped, unreadable) */
	size_t nsyms;
	const char *strs;
	size_t strsz;
	bool absolute;		/* ET_EXEC: symbols hold addresses, not offsets */
};

static struct symfile *symfiles;
static pthread_mutex_t symfiles_lock = PTHREAD_MUTEX_INITIALIZER;

static void symfile_load(struct symfile *sf)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	struct stat st;
	void *map;
	int fd, i;

	fd = open(sf->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) || (size_t)st.st_size < sizeof(*eh)) {
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(*sh) ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) > (uint64_t)st.st_size)
		return;		/* kept mapped: it is looked at once */
	sh = (const Elf64_Shdr *)((const char *)map + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++) {
		const Elf64_Shdr *str;

		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
			continue;
		str = &sh[sh[i].sh_link];
		if (sh[i].sh_offset + sh[i].sh_size > (uint64_t)st.st_size ||
		    str->sh_offset + str->sh_size > (uint64_t)st.st_size)
			return;
		sf->syms = (const Elf64_Sym *)((const char *)map + sh[i].sh_offset);
		sf->nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
		sf->strs = (const char *)map + str->sh_offset;
		sf->strsz = str->sh_size;
		sf->absolute = eh->e_type == ET_EXEC;
		return;
	}
}

static struct symfile *symfile_get(const char *path)
{
	struct symfile *sf;

	pthread_mutex_lock(&symfiles_lock);
	for (sf = symfiles; sf; sf = sf->next)
		if (!strcmp(sf->path, path))
			goto out;
	sf = calloc(1, sizeof(*sf));
	if (sf && !(sf->path = strdup(path))) {
		free(sf);
		sf = NULL;
	}
	if (sf) {
		symfile_load(sf);
		sf->next = symfiles;
		symfiles = sf;
	}
out:
	pthread_mutex_unlock(&symfiles_lock);
	return sf;
}

/* The function of @path holding @addr (an offset, or an address). */
static const char *symfile_find(const char *path, uintptr_t off, uintptr_t pc,
				uintptr_t *start)
{
	struct symfile *sf = symfile_get(path);
	const Elf64_Sym *best = NULL;
	uintptr_t addr;
	size_t i;

	if (!sf || !sf->syms)
		return NULL;
	addr = sf->absolute ? pc : off;
	for (i = 0; i < sf->nsyms; i++) {
		const Elf64_Sym *y = &sf->syms[i];

		if (ELF64_ST_TYPE(y->st_info) != STT_FUNC || !y->st_value ||
		    y->st_name >= sf->strsz)
			continue;
		if (addr >= y->st_value && addr < y->st_value + (y->st_size ? y->st_size : 1)) {
			best = y;
			break;
		}
	}
	if (!best)
		return NULL;
	*start = sf->absolute ? best->st_value : pc - (off - best->st_value);
	return sf->strs + best->st_name;
}

bool fiber_describe_pc(void *pc, char *buf, size_t len)
{
	const char *name;
	uintptr_t start;
	Dl_info info;

	if (!pc) {
		snprintf(buf, len, "fiber_main");
		return true;
	}
	/* A static program may know nothing of itself: its own symtab. */
	if (!dladdr(pc, &info) || !info.dli_fname || !*info.dli_fname) {
		name = symfile_find("/proc/self/exe", 0, (uintptr_t)pc, &start);
		if (!name) {
			snprintf(buf, len, "%p", pc);
			return false;
		}
		snprintf(buf, len, "%s+0x%lx", name,
			 (unsigned long)((uintptr_t)pc - start));
		return true;
	}
	name = info.dli_sname;
	start = (uintptr_t)info.dli_saddr;
	if (!name)
		name = symfile_find(info.dli_fname,
				    (uintptr_t)pc - (uintptr_t)info.dli_fbase,
				    (uintptr_t)pc, &start);
	if (name)
		snprintf(buf, len, "%s+0x%lx (%s+0x%lx)", name,
			 (unsigned long)((uintptr_t)pc - start), info.dli_fname,
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
