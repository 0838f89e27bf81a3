// SPDX-License-Identifier: MIT
/*
 * FIBER_TRACE: a log of what the scheduler did, written as a timeline
 * that Perfetto (ui.perfetto.dev) and chrome://tracing open directly.
 *
 * Recording.  Each thread that records fills a chunk of its own, so
 * recording takes no lock and writes no shared cache line: an entry is
 * a counter read and two or three words.  A chunk's count is published
 * with a release store after the entry is written, so readers see only
 * whole entries.  Full chunks go to the flusher thread, which writes
 * them to the entry file and returns them to the pool (below).  Chunks
 * are never freed while the process lives (a thread may be in the
 * middle of an entry when the trace stops); the next trace reuses them.
 *
 * Writing.  fiber_trace_stop() (or exit, for FIBER_TRACE=file) turns
 * recording off, writes what the threads' chunks still hold, decodes the
 * entry file, sorts the entries by time and replays them through a
 * small model of the scheduler to make the timeline:
 *
 *   "Ps" process, one track per P:   a slice per fiber run ("fiber N"),
 *                                    create/steal/timers/netpoll marks,
 *                                    arrows from the fiber that readied
 *                                    another to where that one started;
 *   "Ms" process, one track per M:   a slice while it holds a P ("P N"),
 *                                    system calls inside it, and what
 *                                    fiber.ko saw: the span the thread
 *                                    was blocked in the kernel, the claim
 *                                    of its P by a spare, the hold when
 *                                    it woke without one, the grant;
 *   "runtime threads":               sysmon's handoffs.
 *
 * fiber.ko's times come from the slot it shares with us (last_block_ns,
 * last_wake_ns), read by the M that claims or grants, on the same clock
 * (CLOCK_MONOTONIC, in our time namespace) as our own entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"
#include "trace.h"

#define TRACE_WORDS		8188		/* a chunk's words: 64 KiB in all */
#define TRACE_MAX_CHUNKS	1024		/* 64 MiB of entries in flight */
#define TRACE_FLUSH_NS		5000000LL	/* the flusher's period */

/*
 * An entry as the writer sorts and replays it.  In a chunk, and in the
 * entry file, it is two or three 64-bit words:
 *
 *	w[0]	bits 0-31: ts - the chunk's base, 32-39: kind, 40-47: flags,
 *		48-63: the P (-1 for none)
 *	w[1]	a
 *	w[2]	b, present only if TRACE_HAS_B (b is not 0)
 *
 * and the chunk's header holds the recording M and the base time.  A
 * yield is two entries, 32 bytes: on machines where writing a new page
 * costs microseconds, the bytes written are the cost of a trace.
 */
struct trace_entry {
	int64_t ts;		/* clock ticks (trace_ticks), then ns */
	uint8_t kind;		/* enum fiber_trace_kind */
	uint8_t flags;
	int16_t p;		/* the recording M's P, -1 for none */
	int32_t m;		/* the recording M, -1 for another thread */
	uint64_t a, b;
};

#define TRACE_NS	1	/* ts is CLOCK_MONOTONIC ns: fiber.ko's, in b */
#define TRACE_HAS_B	2	/* a third word holds b */

/* What precedes a chunk's words in the entry file. */
struct trace_chunk_head {
	int32_t m;		/* the recording M, -1 for another thread */
	uint32_t nwords;
	int64_t base;		/* the time entries' ts are relative to */
};

struct trace_chunk {
	struct trace_chunk *next;	/* on the free or the full list */
	uint64_t gen;			/* the trace it is filled for */
	struct trace_chunk_head head;	/* m and base: set before any word */
	_Atomic uint32_t n;		/* words written, published */
	uint64_t w[TRACE_WORDS];
};

struct trace_buf {
	struct trace_buf *next;		/* trace_bufs, never unlinked */
	_Atomic(struct trace_chunk *) cur;	/* the one it fills */
};

_Atomic bool fiber_tracing;

static struct trace_buf *_Atomic trace_bufs;
static __thread struct trace_buf *trace_mine;
static __thread volatile bool trace_busy;	/* in trace_put() */
static _Atomic uint64_t trace_dropped;
static _Atomic uint64_t trace_gen;		/* bumped by each start */

/*
 * The chunk pool.  A thread whose chunk is full puts it on the full
 * list and takes one from the free list, or maps a new one while fewer
 * than TRACE_MAX_CHUNKS exist; beyond that it drops entries until the
 * flusher catches up.  The flusher thread, every TRACE_FLUSH_NS while a
 * trace runs, writes the full chunks to the entry file and frees them.
 * So a trace's length is bounded by the disk, not by memory, and a
 * recording thread writes to chunks already in memory: on machines where
 * a first touch of a page costs 15 us, that is most of the cost.
 *
 * pool_lock is a runtime lock (lock.h), counted in m->locks: on fiber.ko
 * an M that slept holding a plain mutex here could be claimed and held,
 * and the spare that claimed it records the claim, often its first entry,
 * which takes this lock: the spare would wait for the held M, and the
 * held M for a P only that spare could give.  A new chunk is mapped
 * outside the lock, where a sleep holds nothing.
 */
static struct fiber_lock pool_lock;
static struct trace_chunk *pool_free, *pool_full;
static int pool_chunks;

/* One writer of the entry file at a time: the flusher, or stop. */
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flush_cond = PTHREAD_COND_INITIALIZER;
static int flush_fd = -1;		/* the entry file of the running trace */
static uint64_t flush_gen;		/* its gen; 0: none runs */
static int flush_err;			/* the first write error, -errno */
static bool flusher_started;

static pthread_mutex_t trace_mutex = PTHREAD_MUTEX_INITIALIZER;
static char *trace_path;			/* NULL: not tracing */
static bool trace_atexit_done;
static pid_t trace_pid;				/* the process that traces */

/*
 * The clock.  Entries are stamped with the CPU's own counter where it
 * runs at a constant rate (x86's invariant TSC, aarch64's virtual
 * counter), a third of the cost of a clock_gettime(); the writer turns
 * ticks into CLOCK_MONOTONIC ns by the two readings of both taken at
 * start and stop.  Elsewhere, ns directly.
 */
static bool trace_use_ticks;
static int64_t trace_start_ns, trace_stop_ns;
static uint64_t trace_start_ticks, trace_stop_ticks;

static inline uint64_t trace_ticks(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) : : "memory");
	return v;
#else
	return (uint64_t)fiber_nanotime();
#endif
}

static bool ticks_constant(void)
{
#if defined(__x86_64__)
	uint32_t a, b, c, d;

	/* CPUID 0x80000007: EDX bit 8, the invariant TSC. */
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
			 : "a"(0x80000000));
	if (a < 0x80000007)
		return false;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
			 : "a"(0x80000007));
	return d & (1u << 8);
#elif defined(__aarch64__)
	return true;	/* the architecture fixes its rate */
#else
	return false;
#endif
}

static inline int64_t trace_now(void)
{
	return trace_use_ticks ? (int64_t)trace_ticks() : fiber_nanotime();
}

/* A stamp of the trace's clock as CLOCK_MONOTONIC ns. */
static int64_t stamp_ns(const struct trace_entry *e)
{
	__int128 span;

	if (!trace_use_ticks)
		return e->ts;
	span = trace_stop_ticks - trace_start_ticks;
	if (span <= 0)
		return trace_start_ns;
	return trace_start_ns + (int64_t)((__int128)(e->ts - (int64_t)trace_start_ticks) *
					  (trace_stop_ns - trace_start_ns) / span);
}

/*
 * Buffers and chunks come from mmap, not malloc: entries are also
 * recorded in signal handlers (the fallback's retake enters a system
 * call section there), where malloc may not be called.
 */
static int entry_cmp(const void *x, const void *y);

static void *trace_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* An empty chunk for trace @gen, and @full to the full list; or NULL. */
static struct trace_chunk *chunk_swap(struct trace_chunk *full, uint64_t gen)
{
	struct trace_chunk *c;
	bool grow = false;

	fiber_lock(&pool_lock);
	if (full) {
		full->next = pool_full;
		pool_full = full;
	}
	c = pool_free;
	if (c)
		pool_free = c->next;
	else if (pool_chunks < TRACE_MAX_CHUNKS) {
		grow = true;
		pool_chunks++;
	}
	fiber_unlock(&pool_lock);
	if (grow && !(c = trace_alloc(sizeof(*c)))) {
		fiber_lock(&pool_lock);
		pool_chunks--;
		fiber_unlock(&pool_lock);
	}
	if (c) {
		c->next = NULL;
		c->gen = gen;
		atomic_store_explicit(&c->n, 0, memory_order_relaxed);
	}
	return c;
}

/* The calling thread's buffer. */
static struct trace_buf *buf_mine(void)
{
	struct trace_buf *b = trace_mine, *head;

	if (b)
		return b;
	b = trace_alloc(sizeof(*b));
	if (!b)
		return NULL;
	head = atomic_load(&trace_bufs);
	do {
		b->next = head;
	} while (!atomic_compare_exchange_weak(&trace_bufs, &head, b));
	trace_mine = b;
	return b;
}

/*
 * Append an entry to the calling thread's chunk.  A signal handler that
 * records while the thread it interrupted is in here drops its entry
 * (trace_busy), so that neither overwrites the other, and no lock is
 * taken twice.  A new chunk starts when the M changes, or the time is
 * more than 32 bits past the chunk's base.
 */
static void trace_put(enum fiber_trace_kind kind, int64_t ts, uint8_t flags,
		      int m, int p, uint64_t a, uint64_t b)
{
	uint64_t gen = atomic_load_explicit(&trace_gen, memory_order_relaxed);
	uint32_t need = b ? 3 : 2, n = 0;
	struct trace_buf *buf;
	struct trace_chunk *c;
	uint64_t *w;

	if (trace_busy)
		goto drop;
	trace_busy = true;
	atomic_signal_fence(memory_order_seq_cst);
	buf = buf_mine();
	if (!buf)
		goto drop_busy;
	c = atomic_load_explicit(&buf->cur, memory_order_relaxed);
	if (c && c->gen != gen) {
		/* Left from an earlier trace, which has been written. */
		c->gen = gen;
		atomic_store_explicit(&c->n, 0, memory_order_relaxed);
	}
	if (c)
		n = atomic_load_explicit(&c->n, memory_order_relaxed);
	if (!c || (n && (c->head.m != m || ts < c->head.base ||
			 ts - c->head.base > (int64_t)UINT32_MAX)) ||
	    n + need > TRACE_WORDS) {
		c = chunk_swap(c, gen);
		atomic_store_explicit(&buf->cur, c, memory_order_release);
		if (!c)
			goto drop_busy;
		n = 0;
	}
	if (!n) {
		c->head.m = m;
		c->head.base = ts;
	}
	w = &c->w[n];
	w[0] = (uint32_t)(ts - c->head.base) | (uint64_t)kind << 32 |
	       (uint64_t)(flags | (b ? TRACE_HAS_B : 0)) << 40 |
	       (uint64_t)(uint16_t)p << 48;
	w[1] = a;
	if (b)
		w[2] = b;
	atomic_store_explicit(&c->n, n + need, memory_order_release);
	atomic_signal_fence(memory_order_seq_cst);
	trace_busy = false;
	return;
drop_busy:
	atomic_signal_fence(memory_order_seq_cst);
	trace_busy = false;
drop:
	atomic_fetch_add_explicit(&trace_dropped, 1, memory_order_relaxed);
}

/* An event at fiber.ko's time @ns (CLOCK_MONOTONIC), not at ours. */
void trace_record_ns(enum fiber_trace_kind kind, int64_t ns, uint64_t a)
{
	struct fiber_m *m = this_m();

	trace_put(kind, trace_now(), TRACE_NS, m ? m->id : -1,
		  m && m->p ? m->p->id : -1, a, (uint64_t)ns);
}

void trace_record(enum fiber_trace_kind kind, uint64_t a, uint64_t b)
{
	struct fiber_m *m = this_m();

	trace_put(kind, trace_now(), 0, m ? m->id : -1,
		  m && m->p ? m->p->id : -1, a, b);
}

/* ---- the entry file ----------------------------------------------------- */

/* Write @len bytes at @p to the entry file.  flush_lock held. */
static void flush_bytes(const void *buf, size_t left)
{
	const char *p = buf;
	ssize_t w;

	while (left && !flush_err) {
		w = write(flush_fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			flush_err = w < 0 ? -errno : -EIO;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
}

/* The words of chunk @c written so far, with its header. */
static void flush_write(struct trace_chunk *c)
{
	struct trace_chunk_head h = c->head;

	h.nwords = atomic_load_explicit(&c->n, memory_order_acquire);
	if (!h.nwords)
		return;
	flush_bytes(&h, sizeof(h));
	flush_bytes(c->w, h.nwords * sizeof(c->w[0]));
}

/* Write the full chunks of the running trace and free them all. */
static void flush_full(void)
{
	struct trace_chunk *list, *c, *last = NULL;

	fiber_lock(&pool_lock);
	list = pool_full;
	pool_full = NULL;
	fiber_unlock(&pool_lock);
	for (c = list; c; c = c->next) {
		/* A straggler's chunk of a trace already written: drop it. */
		if (flush_gen && c->gen == flush_gen)
			flush_write(c);
		last = c;
	}
	if (!last)
		return;
	fiber_lock(&pool_lock);
	last->next = pool_free;
	pool_free = list;
	fiber_unlock(&pool_lock);
}

static void *flusher(void *arg)
{
	struct timespec ts;

	(void)arg;
	mark_runtime_thread();
	pthread_mutex_lock(&flush_lock);
	for (;;) {
		if (!flush_gen) {
			pthread_cond_wait(&flush_cond, &flush_lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TRACE_FLUSH_NS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&flush_cond, &flush_lock, &ts);
		flush_full();
	}
	return NULL;
}

/*
 * The entry file: unnamed, next to @path where the filesystem allows,
 * else in memory.  Return: its fd, or -errno.
 */
static int entry_file(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(dir);
	if (fd < 0)
		fd = memfd_create("fiber-trace", MFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * The entries of the entry file's chunks, into @out if not NULL, their
 * times made CLOCK_MONOTONIC ns.  Return: how many.
 */
static long trace_decode(const char *file, size_t size, struct trace_entry *out)
{
	const struct trace_chunk_head *h;
	const uint64_t *w, *end;
	size_t off = 0;
	long n = 0;

	while (off + sizeof(*h) <= size) {
		h = (const void *)(file + off);
		w = (const uint64_t *)(h + 1);
		off += sizeof(*h) + (size_t)h->nwords * sizeof(*w);
		if (off > size)
			break;		/* torn: a write failed half way */
		for (end = w + h->nwords; w + 2 <= end; n++) {
			struct trace_entry e = {
				.ts = h->base + (int64_t)(uint32_t)w[0],
				.kind = (uint8_t)(w[0] >> 32),
				.flags = (uint8_t)(w[0] >> 40),
				.p = (int16_t)(w[0] >> 48),
				.m = h->m,
				.a = w[1],
			};

			if (e.flags & TRACE_HAS_B) {
				if (w + 3 > end)
					break;
				e.b = w[2];
			}
			w += e.flags & TRACE_HAS_B ? 3 : 2;
			if (e.flags & TRACE_NS) {
				e.ts = (int64_t)e.b;	/* fiber.ko's time */
				e.b = 0;
			} else {
				e.ts = stamp_ns(&e);
			}
			if (out)
				out[n] = e;
		}
	}
	return n;
}

/*
 * After a stop: every entry of the trace into the file, then the file
 * mapped, decoded, sorted.  Return: the entries (munmap them:
 * *@len bytes), NULL with *@err for an error, or NULL and 0 entries.
 */
static struct trace_entry *trace_gather(long *count, size_t *len, int *err)
{
	uint64_t gen = flush_gen;
	struct trace_entry *all;
	struct trace_chunk *c;
	struct trace_buf *b;
	void *file;
	off_t size;
	long n;

	pthread_mutex_lock(&flush_lock);
	flush_full();
	for (b = atomic_load(&trace_bufs); b; b = b->next) {
		c = atomic_load_explicit(&b->cur, memory_order_acquire);
		if (c && c->gen == gen)
			flush_write(c);
	}
	flush_gen = 0;
	pthread_mutex_unlock(&flush_lock);
	*count = 0;
	*err = flush_err;
	if (*err)
		return NULL;
	size = lseek(flush_fd, 0, SEEK_END);
	if (size < 0) {
		*err = -errno;
		return NULL;
	}
	if (!size)
		return NULL;
	file = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, flush_fd, 0);
	if (file == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	n = trace_decode(file, (size_t)size, NULL);
	*len = (size_t)(n ? n : 1) * sizeof(*all);
	all = mmap(NULL, *len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (all == MAP_FAILED) {
		*err = -errno;
		munmap(file, (size_t)size);
		return NULL;
	}
	trace_decode(file, (size_t)size, all);
	munmap(file, (size_t)size);
	qsort(all, (size_t)n, sizeof(*all), entry_cmp);
	*count = n;
	return all;
}

/* ---- writing ------------------------------------------------------------ */

/* Ps, Ms and other threads are three processes of the trace. */
enum { PID_P = 1, PID_M = 2, PID_OTHER = 3 };

struct trace_writer {
	FILE *f;
	bool first;
	bool other;		/* wrote to the other threads' track */
	uint64_t flows;
};

struct track_p {			/* a P's open fiber slice */
	uint64_t g;
	int64_t since;
	bool open;
	int64_t closed;			/* when the last one ended, 0: none */
};

struct track_m {			/* an M's open slices */
	int p;				/* the P it holds, -1 for none */
	uint64_t g;			/* the fiber it last started, 0: none */
	int64_t p_since;
	int64_t sys_since;		/* 0: not in a system call */
	uint64_t sys_g;
	int64_t block_ns;		/* fiber.ko's block, 0 if none */
	int64_t stw_since;		/* 0: not stopping the world */
	pid_t tid;
	bool seen;
};

struct pending_ready {			/* a flow that waits for its fiber */
	uint64_t g;
	int64_t ts;
	int p;
};

static void w_sep(struct trace_writer *w)
{
	fputs(w->first ? "\n" : ",\n", w->f);
	w->first = false;
}

static double us(int64_t ns)
{
	return (double)(ns - trace_start_ns) / 1000.0;
}

static void w_meta(struct trace_writer *w, int pid, int tid, const char *what,
		   const char *name)
{
	w_sep(w);
	if (tid < 0)
		fprintf(w->f, "{\"ph\":\"M\",\"pid\":%d,\"name\":\"%s\",\"args\":{\"name\":\"%s\"}}",
			pid, what, name);
	else
		fprintf(w->f, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"%s\",\"args\":{\"name\":\"%s\"}}",
			pid, tid, what, name);
}

static void w_sort(struct trace_writer *w, int pid, int index)
{
	w_sep(w);
	fprintf(w->f, "{\"ph\":\"M\",\"pid\":%d,\"name\":\"process_sort_index\",\"args\":{\"sort_index\":%d}}",
		pid, index);
}

/* A slice; @args is "" or a JSON object's members. */
static void w_slice(struct trace_writer *w, int pid, int tid, int64_t from,
		    int64_t to, const char *cat, const char *name,
		    const char *args)
{
	if (to < from)
		to = from;
	w_sep(w);
	fprintf(w->f, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"cat\":\"%s\",\"name\":\"%s\",\"args\":{%s}}",
		pid, tid, us(from), (double)(to - from) / 1000.0, cat, name,
		args);
}

static void w_instant(struct trace_writer *w, int pid, int tid, int64_t ts,
		      const char *cat, const char *name, const char *args)
{
	w->other |= pid == PID_OTHER;
	w_sep(w);
	fprintf(w->f, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"cat\":\"%s\",\"name\":\"%s\",\"args\":{%s}}",
		pid, tid, us(ts), cat, name, args);
}

static void w_flow(struct trace_writer *w, const struct pending_ready *r,
		   int to_p, int64_t ts)
{
	uint64_t id = ++w->flows;

	w_sep(w);
	fprintf(w->f, "{\"ph\":\"s\",\"id\":%llu,\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"cat\":\"flow\",\"name\":\"ready\"}",
		(unsigned long long)id, PID_P, r->p, us(r->ts));
	w_sep(w);
	fprintf(w->f, "{\"ph\":\"f\",\"bp\":\"e\",\"id\":%llu,\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"cat\":\"flow\",\"name\":\"ready\"}",
		(unsigned long long)id, PID_P, to_p, us(ts));
}

/* A wait reason for JSON: ours are literals, but be safe. */
static void json_str(char *out, size_t len, const char *s)
{
	size_t i = 0;

	for (; s && *s && i + 1 < len; s++)
		out[i++] = (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) ? '?' : *s;
	out[i] = 0;
}

/* At one instant, what ends comes before what starts. */
static int entry_rank(const struct trace_entry *e)
{
	switch (e->kind) {
	case TRACE_PARK:
	case TRACE_YIELD:
	case TRACE_EXIT:
	case TRACE_RELEASEP:
	case TRACE_SYSCALL_EXIT:
		return 0;
	default:
		return 1;
	}
}

static int entry_cmp(const void *x, const void *y)
{
	const struct trace_entry *a = x, *b = y;

	if (a->ts != b->ts)
		return (a->ts > b->ts) - (a->ts < b->ts);
	return entry_rank(a) - entry_rank(b);
}

static void close_p(struct trace_writer *w, struct track_p *tp, int p,
		    int64_t ts, const char *end, const char *reason)
{
	char args[192], r[96];

	if (!tp->open)
		return;
	json_str(r, sizeof(r), reason);
	snprintf(args, sizeof(args), "\"fiber\":%llu,\"end\":\"%s\"%s%s%s",
		 (unsigned long long)tp->g, end, reason ? ",\"reason\":\"" : "",
		 r, reason ? "\"" : "");
	snprintf(r, sizeof(r), "fiber %llu", (unsigned long long)tp->g);
	w_slice(w, PID_P, p, tp->since, ts, "fiber", r, args);
	tp->open = false;
	tp->closed = ts;
}

static void close_m_p(struct trace_writer *w, struct track_m *tm, int m,
		      int64_t ts)
{
	char name[32];

	if (tm->p < 0)
		return;
	snprintf(name, sizeof(name), "P%d", tm->p);
	w_slice(w, PID_M, m, tm->p_since, ts, "m", name, "");
	tm->p = -1;
}

static bool add_ready(struct pending_ready **ready, size_t *n, size_t *cap,
		      const struct trace_entry *x)
{
	struct pending_ready *r = *ready;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		r = realloc(r, *cap * sizeof(*r));
		if (!r)
			return false;
		*ready = r;
	}
	r[(*n)++] = (struct pending_ready){ x->a, x->ts, x->p };
	return true;
}

/* The thread ids of the Ms the trace names. */
static void name_ms(struct trace_writer *w, struct track_m *tm, int nm)
{
	struct fiber_m *m;
	char name[64];
	int k;

	fiber_lock(&sched.lock);
	for (m = sched.allm; m; m = m->allnext)
		if (m->id >= 0 && m->id < nm)
			tm[m->id].tid = m->tid;
	fiber_unlock(&sched.lock);
	for (k = 0; k < nm; k++) {
		if (!tm[k].seen)
			continue;
		if (tm[k].tid)
			snprintf(name, sizeof(name), "M%d tid %d", k, (int)tm[k].tid);
		else
			snprintf(name, sizeof(name), "M%d", k);
		w_meta(w, PID_M, k, "thread_name", name);
	}
}

/* The M an entry names in @a, or -1. */
static int entry_m(const struct trace_entry *x, int nm)
{
	int m = (int)(uint32_t)x->a;

	return m >= 0 && m < nm ? m : -1;
}

/*
 * Replay @e[0..@n) into the JSON timeline (see the top of the file).
 * Return: 0, or -errno.
 */
static int trace_write(FILE *f, const struct trace_entry *e, long n)
{
	struct trace_writer w = { .f = f, .first = true };
	struct track_p *tp = calloc(FIBER_MAXPROCS_LIMIT, sizeof(*tp));
	bool *p_seen = calloc(FIBER_MAXPROCS_LIMIT, sizeof(*p_seen));
	int *owner = malloc(FIBER_MAXPROCS_LIMIT * sizeof(*owner));
	struct pending_ready *ready = NULL;
	size_t nready = 0, capready = 0, j;
	int64_t end = n ? e[n - 1].ts : trace_start_ns, from;
	struct track_m *tm = NULL;
	char name[64], args[128];
	int nm = 0, k, ret = -ENOMEM;
	long i;

	for (i = 0; i < n; i++) {
		if (e[i].m >= nm)
			nm = e[i].m + 1;
		if ((e[i].kind == TRACE_CLAIM || e[i].kind == TRACE_BLOCK ||
		     e[i].kind == TRACE_GRANT) && (uint32_t)e[i].a < INT32_MAX &&
		    (int)(uint32_t)e[i].a >= nm)
			nm = (int)(uint32_t)e[i].a + 1;
		if ((e[i].kind == TRACE_ACQUIREP || e[i].kind == TRACE_RELEASEP) &&
		    e[i].b < INT32_MAX && (int)e[i].b >= nm)
			nm = (int)e[i].b + 1;
	}
	tm = calloc((size_t)nm + 1, sizeof(*tm));
	if (!tp || !p_seen || !owner || !tm)
		goto out;
	for (k = 0; k < FIBER_MAXPROCS_LIMIT; k++)
		owner[k] = -1;
	for (k = 0; k < nm; k++)
		tm[k].p = -1;
	fprintf(f, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"libfiber %s\",\"clock\":\"CLOCK_MONOTONIC\",\"start_ns\":%lld,\"dropped\":%llu},\n\"traceEvents\":[",
		fiber_version(), (long long)trace_start_ns,
		(unsigned long long)atomic_load(&trace_dropped));

	for (i = 0; i < n; i++) {
		const struct trace_entry *x = &e[i];
		int p = x->p >= 0 && x->p < FIBER_MAXPROCS_LIMIT ? x->p : -1;
		int m = x->m, a = (int)x->a, t;
		struct track_m *me = m >= 0 ? &tm[m] : NULL;
		/* Where an M-side mark goes: its M, else the other threads. */
		int mpid = me ? PID_M : PID_OTHER, mtid = me ? m : 0;

		if (p >= 0)
			p_seen[p] = true;
		if (me)
			me->seen = true;
		switch (x->kind) {
		case TRACE_CREATE:
			if (p < 0)
				break;
			snprintf(args, sizeof(args), "\"fiber\":%llu",
				 (unsigned long long)x->a);
			w_instant(&w, PID_P, p, x->ts, "sched", "create", args);
			/* Its first run gets an arrow too. */
			__attribute__((fallthrough));
		case TRACE_READY:
			if (p >= 0 && !add_ready(&ready, &nready, &capready, x))
				goto out;
			break;
		case TRACE_START:
			if (p < 0)
				break;
			close_p(&w, &tp[p], p, x->ts, "preempted", NULL);
			tp[p] = (struct track_p){ x->a, x->ts, true, tp[p].closed };
			if (me)
				me->g = x->a;
			/* The arrow from whoever readied it, if we saw that. */
			for (j = nready; j-- > 0;) {
				if (ready[j].g != x->a)
					continue;
				w_flow(&w, &ready[j], p, x->ts);
				ready[j] = ready[--nready];
				break;
			}
			break;
		case TRACE_PARK:
		case TRACE_YIELD:
		case TRACE_EXIT:
			if (p < 0)
				break;
			/*
			 * An end is never dropped.  A run whose start the
			 * trace did not see (begun before it, or moved to this
			 * P in a way no entry says) starts where its M took
			 * the P, or at the end itself.
			 */
			if (!tp[p].open || tp[p].g != x->a) {
				close_p(&w, &tp[p], p, x->ts, "preempted", NULL);
				from = tp[p].closed ? tp[p].closed : x->ts;
				if (me && me->p == p && me->p_since > from)
					from = me->p_since;
				tp[p] = (struct track_p){
					x->a, from < x->ts ? from : x->ts, true, tp[p].closed };
			}
			close_p(&w, &tp[p], p, x->ts,
				x->kind == TRACE_PARK ? "park" :
				x->kind == TRACE_YIELD ? "yield" : "exit",
				x->kind == TRACE_PARK ? (const char *)(uintptr_t)x->b : NULL);
			break;
		case TRACE_STEAL:
		case TRACE_TIMERS:
		case TRACE_NETPOLL:
			/* On the P's track; sysmon's, or an idle M's, on theirs. */
			snprintf(args, sizeof(args), "\"%s\":%d",
				 x->kind == TRACE_STEAL ? "from" : "n", a);
			w_instant(&w, p >= 0 ? PID_P : mpid, p >= 0 ? p : mtid, x->ts, "sched",
				  x->kind == TRACE_STEAL ? "steal" :
				  x->kind == TRACE_TIMERS ? "timers" : "netpoll", args);
			break;
		case TRACE_ACQUIREP:
			/* Made by the M or for it (a grant): b names it. */
			me = (int)x->b >= 0 && (int)x->b < nm ? &tm[x->b] : NULL;
			m = (int)x->b;
			if (!me || a < 0 || a >= FIBER_MAXPROCS_LIMIT)
				break;
			me->seen = true;
			p_seen[a] = true;
			if (owner[a] >= 0 && owner[a] != m && tm[owner[a]].p == a)
				close_m_p(&w, &tm[owner[a]], owner[a], x->ts);
			if (me->p != a) {
				close_m_p(&w, me, m, x->ts);
				me->p = a;
				me->p_since = x->ts;
			}
			owner[a] = m;
			break;
		case TRACE_RELEASEP:
			me = (int)x->b >= 0 && (int)x->b < nm ? &tm[x->b] : NULL;
			m = (int)x->b;
			if (!me || a < 0 || a >= FIBER_MAXPROCS_LIMIT)
				break;
			if (me->p == a)
				close_m_p(&w, me, m, x->ts);
			if (owner[a] == m)
				owner[a] = -1;
			break;
		case TRACE_SYSCALL_ENTER:
			if (me) {
				me->sys_since = x->ts;
				me->sys_g = x->a;
			}
			break;
		case TRACE_SYSCALL_EXIT:
			if (!me || !me->sys_since)
				break;
			snprintf(args, sizeof(args), "\"fiber\":%llu",
				 (unsigned long long)me->sys_g);
			w_slice(&w, PID_M, m, me->sys_since, x->ts, "syscall",
				"syscall", args);
			me->sys_since = 0;
			break;
		case TRACE_BLOCK:
			t = entry_m(x, nm);
			if (t < 0)
				break;
			tm[t].seen = true;
			tm[t].block_ns = x->ts;
			w_instant(&w, PID_M, t, x->ts, "fiber.ko", "block", "");
			break;
		case TRACE_CLAIM:
			/* The blocked M's hold on its P ends here. */
			snprintf(args, sizeof(args), "\"from\":%d,\"p\":%d", a,
				 (int)x->b);
			w_instant(&w, mpid, mtid, x->ts, "fiber.ko", "claim", args);
			t = entry_m(x, nm);
			if (t >= 0)
				close_m_p(&w, &tm[t], t, x->ts);
			if (x->b < FIBER_MAXPROCS_LIMIT && owner[x->b] == t)
				owner[x->b] = -1;
			/* Its fiber, blocked in the kernel, leaves the P. */
			if (t >= 0 && x->b < FIBER_MAXPROCS_LIMIT &&
			    tp[x->b].open && tp[x->b].g == tm[t].g)
				close_p(&w, &tp[x->b], (int)x->b, x->ts, "blocked", NULL);
			break;
		case TRACE_GRANT:
			/* a: the held M | its P << 32; b: when fiber.ko woke it. */
			t = entry_m(x, nm);
			if (t < 0)
				break;
			tm[t].seen = true;
			if (tm[t].block_ns && (int64_t)x->b >= tm[t].block_ns) {
				w_slice(&w, PID_M, t, tm[t].block_ns, (int64_t)x->b,
					"fiber.ko", "blocked", "");
				w_instant(&w, PID_M, t, (int64_t)x->b, "fiber.ko",
					  "hold", "");
				w_slice(&w, PID_M, t, (int64_t)x->b, x->ts,
					"fiber.ko", "held", "");
			}
			tm[t].block_ns = 0;
			snprintf(args, sizeof(args), "\"p\":%d,\"by\":%d",
				 (int)(x->a >> 32), m);
			w_instant(&w, PID_M, t, x->ts, "fiber.ko", "grant", args);
			/*
			 * Its fiber runs on where it left off, on the P it
			 * was granted, which need not be the one it blocked
			 * on: no START says so.
			 */
			k = (int)(x->a >> 32);
			if (tm[t].g && k >= 0 && k < FIBER_MAXPROCS_LIMIT &&
			    !(tp[k].open && tp[k].g == tm[t].g)) {
				close_p(&w, &tp[k], k, x->ts, "preempted", NULL);
				tp[k] = (struct track_p){ tm[t].g, x->ts, true, tp[k].closed };
				p_seen[k] = true;
			}
			break;
		case TRACE_HANDOFF:
			snprintf(args, sizeof(args), "\"p\":%d,\"from\":%d", a,
				 (int)x->b);
			w_instant(&w, mpid, mtid, x->ts, "sched", "handoff", args);
			break;
		case TRACE_STW_START:
			if (me)
				me->stw_since = x->ts;
			break;
		case TRACE_STW_END:
			if (!me || !me->stw_since)
				break;
			snprintf(args, sizeof(args), "\"procs\":%d", a);
			w_slice(&w, PID_M, m, me->stw_since, x->ts, "gc",
				"stop the world", args);
			me->stw_since = 0;
			break;
		}
	}
	/* What is still open ends with the trace. */
	for (k = 0; k < FIBER_MAXPROCS_LIMIT; k++)
		close_p(&w, &tp[k], k, end, "running", NULL);
	for (k = 0; k < nm; k++) {
		close_m_p(&w, &tm[k], k, end);
		if (tm[k].sys_since)
			w_slice(&w, PID_M, k, tm[k].sys_since, end, "syscall",
				"syscall", "");
	}

	w_meta(&w, PID_P, -1, "process_name", "Ps");
	w_sort(&w, PID_P, 1);
	for (k = 0; k < FIBER_MAXPROCS_LIMIT; k++) {
		if (!p_seen[k])
			continue;
		snprintf(name, sizeof(name), "P%d", k);
		w_meta(&w, PID_P, k, "thread_name", name);
	}
	w_meta(&w, PID_M, -1, "process_name", "Ms (threads)");
	w_sort(&w, PID_M, 2);
	name_ms(&w, tm, nm);
	if (w.other) {
		w_meta(&w, PID_OTHER, -1, "process_name", "runtime threads");
		w_sort(&w, PID_OTHER, 3);
		w_meta(&w, PID_OTHER, 0, "thread_name", "sysmon and others");
	}
	fputs("\n]}\n", f);
	ret = ferror(f) ? -EIO : 0;
out:
	free(ready);
	free(tm);
	free(owner);
	free(p_seen);
	free(tp);
	return ret;
}

/* ---- starting and stopping ---------------------------------------------- */

/*
 * A child forked while a trace runs has none: it has no flusher, the
 * locks may have been held by threads that did not follow it, and the
 * trace file is its parent's.  Nothing here takes a lock.
 */
static void trace_atfork_child(void)
{
	atomic_store(&fiber_tracing, false);
	trace_path = NULL;		/* its parent's copy: not ours to free */
	flusher_started = false;
	pthread_mutex_init(&trace_mutex, NULL);
	pthread_mutex_init(&flush_lock, NULL);
	atomic_store(&pool_lock.state, 0);
	pthread_cond_init(&flush_cond, NULL);
	flush_gen = 0;
	flush_fd = -1;		/* the parent's, still open: left to it */
}

static void trace_atexit(void)
{
	int ret;

	if (getpid() != trace_pid)
		return;
	ret = fiber_trace_stop();

	if (ret && ret != -ENOENT)
		fprintf(stderr, "libfiber: FIBER_TRACE: cannot write the trace: %s\n",
			strerror(-ret));
}

/*
 * What runs as the trace starts: each P's M, and its fiber, opened at
 * the start.  Read racily, as fiber_stats() does: a P changing hands now
 * records its own events too, and the writer closes what the next owner
 * opens.
 */
static void trace_running_now(void)
{
	int n = atomic_load(&sched.nprocs), i;
	int64_t now = trace_use_ticks ? (int64_t)trace_start_ticks : trace_start_ns;
	struct fiber_m *m;
	struct fiber *g;
	struct fiber_p *p;

	for (i = 0; i < n; i++) {
		p = sched.allp[i];
		m = p ? p->m : NULL;
		if (!m || atomic_load(&p->status) != P_RUNNING)
			continue;
		trace_put(TRACE_ACQUIREP, now, 0, m->id, p->id,
			  (uint64_t)p->id, (uint64_t)m->id);
		g = m->curg;
		if (g)
			trace_put(TRACE_START, now, 0, m->id, p->id, g->id, 0);
	}
}

/*
 * Start and stop take trace_mutex; the entry file changes hands under
 * flush_lock too, which the flusher holds while it writes.
 */
int fiber_trace_start(const char *path)
{
	char *copy = NULL;
	int fd, efd = -1, ret;

	if (!path || !*path)
		return -EINVAL;
	/* Fail now, not at exit, if the file cannot be written. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	pthread_mutex_lock(&trace_mutex);
	ret = -EBUSY;
	if (trace_path)
		goto out;
	ret = -ENOMEM;
	copy = strdup(path);
	if (!copy)
		goto out;
	efd = entry_file(path);
	if (efd < 0) {
		ret = efd;
		goto out;
	}
	if (!flusher_started) {
		ret = thread_start_detached(flusher, NULL);
		if (ret)
			goto out;
		flusher_started = true;
	}
	trace_path = copy;
	copy = NULL;
	atomic_store(&trace_dropped, 0);
	trace_use_ticks = ticks_constant();
	trace_start_ns = fiber_nanotime();
	trace_start_ticks = trace_ticks();
	pthread_mutex_lock(&flush_lock);
	flush_fd = efd;
	efd = -1;
	flush_err = 0;
	flush_gen = atomic_fetch_add(&trace_gen, 1) + 1;
	pthread_cond_signal(&flush_cond);
	pthread_mutex_unlock(&flush_lock);
	atomic_store(&fiber_tracing, true);
	trace_running_now();
	trace_pid = getpid();
	if (!trace_atexit_done)
		trace_atexit_done = !atexit(trace_atexit) &&
				    !pthread_atfork(NULL, NULL, trace_atfork_child);
	ret = 0;
out:
	pthread_mutex_unlock(&trace_mutex);
	if (efd >= 0)
		close(efd);
	free(copy);
	return ret;
}

int fiber_trace_stop(void)
{
	struct trace_entry *all;
	size_t len = 0;
	int ret = -ENOENT;
	FILE *f;
	long n;

	pthread_mutex_lock(&trace_mutex);
	if (!trace_path)
		goto out;
	atomic_store(&fiber_tracing, false);
	trace_stop_ticks = trace_ticks();
	trace_stop_ns = fiber_nanotime();
	all = trace_gather(&n, &len, &ret);
	if (ret)
		goto out_file;
	f = fopen(trace_path, "we");
	if (!f) {
		ret = -errno;
	} else {
		ret = trace_write(f, all, n);
		if (fclose(f) && !ret)
			ret = -errno;
	}
	if (all)
		munmap(all, len);
out_file:
	close(flush_fd);
	flush_fd = -1;
	free(trace_path);
	trace_path = NULL;
out:
	pthread_mutex_unlock(&trace_mutex);
	return ret;
}

/* FIBER_TRACE=file: start with the runtime, write at exit. */
int trace_init(void)
{
	/* secure_getenv: a set-user-ID program must not write where we say. */
	const char *path = secure_getenv("FIBER_TRACE");
	int ret;

	if (!path || !*path)
		return 0;
	ret = fiber_trace_start(path);
	if (ret)
		fprintf(stderr, "libfiber: FIBER_TRACE=%s: %s\n", path,
			strerror(-ret));
	return ret;
}
