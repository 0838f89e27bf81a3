// SPDX-License-Identifier: MIT
/*
 * FIBER_TRACE: a log of what the scheduler did, written as a timeline
 * that Perfetto (ui.perfetto.dev) and chrome://tracing open directly.
 *
 * Recording.  Each thread that records gets its own buffer, a list of
 * fixed-size chunks that only that thread appends to, so recording takes
 * no lock and writes no shared cache line: an entry is a clock read and
 * 32 bytes.  A chunk's count is published with a release store after the
 * entry is written, so the writer reads only whole entries.  Buffers and
 * chunks are never freed while the process lives (a thread may be in the
 * middle of an entry when the trace stops); the next trace reuses them.
 * Past TRACE_MAX_BYTES in all, entries are counted and dropped.
 *
 * Writing.  fiber_trace_stop() (or exit, for FIBER_TRACE=file) turns
 * recording off, gathers every entry, sorts them by time and replays
 * them through a small model of the scheduler to make the timeline:
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
#include <unistd.h>

#include "runtime.h"
#include "trace.h"

#define TRACE_CHUNK		4096		/* entries, 128 KiB */
#define TRACE_MAX_BYTES		(256UL << 20)

struct trace_entry {
	int64_t ts;		/* CLOCK_MONOTONIC ns */
	uint8_t kind;		/* enum fiber_trace_kind */
	uint8_t pad;
	int16_t p;		/* the recording M's P, -1 for none */
	int32_t m;		/* the recording M, -1 for another thread */
	uint64_t a, b;
};

struct trace_chunk {
	_Atomic(struct trace_chunk *) next;	/* set once, by the owner */
	_Atomic uint32_t n;
	struct trace_entry e[TRACE_CHUNK];
};

struct trace_buf {
	struct trace_buf *next;		/* trace_bufs, never unlinked */
	pid_t tid;
	struct trace_chunk *_Atomic head;	/* set once, by the owner */
	struct trace_chunk *cur;
	_Atomic uint64_t gen;		/* the trace its entries belong to */
};

_Atomic bool fiber_tracing;

static struct trace_buf *_Atomic trace_bufs;
static __thread struct trace_buf *trace_mine;
static _Atomic unsigned long trace_bytes;	/* chunks in use */
static _Atomic uint64_t trace_dropped;
static _Atomic uint64_t trace_gen;		/* bumped by each start */
static __thread uint64_t trace_mine_gen;

static pthread_mutex_t trace_mutex = PTHREAD_MUTEX_INITIALIZER;
static char *trace_path;			/* NULL: not tracing */
static int64_t trace_start_ns;
static bool trace_atexit_done;

static struct trace_chunk *chunk_new(void)
{
	struct trace_chunk *c;

	if (atomic_fetch_add(&trace_bytes, sizeof(*c)) + sizeof(*c) > TRACE_MAX_BYTES) {
		atomic_fetch_sub(&trace_bytes, sizeof(*c));
		return NULL;
	}
	c = malloc(sizeof(*c));
	if (!c) {
		atomic_fetch_sub(&trace_bytes, sizeof(*c));
		return NULL;
	}
	c->next = NULL;
	atomic_store_explicit(&c->n, 0, memory_order_relaxed);
	return c;
}

/* The calling thread's buffer, emptied if it still holds an old trace. */
static struct trace_buf *buf_mine(void)
{
	struct trace_buf *b = trace_mine, *head;
	uint64_t gen = atomic_load(&trace_gen);
	struct trace_chunk *c;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		b->tid = gettid();
		head = atomic_load(&trace_bufs);
		do {
			b->next = head;
		} while (!atomic_compare_exchange_weak(&trace_bufs, &head, b));
		trace_mine = b;
	}
	if (trace_mine_gen != gen) {
		/* fiber_trace_start() let the old entries go. */
		for (c = b->head; c; c = c->next)
			atomic_store_explicit(&c->n, 0, memory_order_relaxed);
		b->cur = b->head;
		trace_mine_gen = gen;
		atomic_store(&b->gen, gen);
	}
	return b;
}

static void trace_put(enum fiber_trace_kind kind, int64_t ts, int m, int p,
		      uint64_t a, uint64_t b)
{
	struct trace_buf *buf = buf_mine();
	struct trace_chunk *c;
	struct trace_entry *e;
	uint32_t n;

	if (!buf)
		goto drop;
	c = buf->cur;
	if (!c || (n = atomic_load_explicit(&c->n, memory_order_relaxed)) == TRACE_CHUNK) {
		if (c && c->next) {
			c = c->next;		/* kept from an earlier trace */
		} else {
			struct trace_chunk *fresh = chunk_new();

			if (!fresh)
				goto drop;
			if (c)
				c->next = fresh;
			else
				buf->head = fresh;
			c = fresh;
		}
		buf->cur = c;
		n = 0;
	}
	e = &c->e[n];
	e->ts = ts;
	e->kind = (uint8_t)kind;
	e->pad = 0;
	e->m = m;
	e->p = (int16_t)p;
	e->a = a;
	e->b = b;
	atomic_store_explicit(&c->n, n + 1, memory_order_release);
	return;
drop:
	atomic_fetch_add_explicit(&trace_dropped, 1, memory_order_relaxed);
}

void trace_record_at(enum fiber_trace_kind kind, int64_t ts, uint64_t a,
		     uint64_t b)
{
	struct fiber_m *m = this_m();

	trace_put(kind, ts, m ? m->id : -1, m && m->p ? m->p->id : -1, a, b);
}

void trace_record(enum fiber_trace_kind kind, uint64_t a, uint64_t b)
{
	trace_record_at(kind, fiber_nanotime(), a, b);
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
};

struct track_m {			/* an M's open slices */
	int p;				/* the P it holds, -1 for none */
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

/* Every entry of every buffer, in time order.  Return: how many, or -1. */
static long trace_gather(struct trace_entry **out)
{
	struct trace_buf *b;
	struct trace_chunk *c;
	struct trace_entry *all;
	uint64_t gen = atomic_load(&trace_gen);
	long n = 0, k = 0;

	/* A thread that recorded nothing since the start holds an old trace. */
	for (b = atomic_load(&trace_bufs); b; b = b->next)
		for (c = b->head; c && atomic_load(&b->gen) == gen; c = c->next)
			n += atomic_load_explicit(&c->n, memory_order_acquire);
	all = malloc((size_t)(n ? n : 1) * sizeof(*all));
	if (!all)
		return -1;
	for (b = atomic_load(&trace_bufs); b; b = b->next) {
		for (c = b->head; c && atomic_load(&b->gen) == gen; c = c->next) {
			uint32_t cn = atomic_load_explicit(&c->n, memory_order_acquire);

			if (k + cn > n)
				cn = (uint32_t)(n - k);
			memcpy(all + k, c->e, cn * sizeof(*all));
			k += cn;
		}
	}
	qsort(all, (size_t)k, sizeof(*all), entry_cmp);
	*out = all;
	return k;
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
	int64_t end = n ? e[n - 1].ts : trace_start_ns;
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
			tp[p] = (struct track_p){ x->a, x->ts, true };
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
			if (p < 0 || !tp[p].open || tp[p].g != x->a)
				break;
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

static void trace_atexit(void)
{
	int ret = fiber_trace_stop();

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
	struct fiber_m *m;
	struct fiber *g;
	struct fiber_p *p;

	for (i = 0; i < n; i++) {
		p = sched.allp[i];
		m = p ? p->m : NULL;
		if (!m || atomic_load(&p->status) != P_RUNNING)
			continue;
		trace_put(TRACE_ACQUIREP, trace_start_ns, m->id, p->id,
			  (uint64_t)p->id, (uint64_t)m->id);
		g = m->curg;
		if (g)
			trace_put(TRACE_START, trace_start_ns, m->id, p->id,
				  g->id, (uint64_t)p->id);
	}
}

/*
 * Start and stop take trace_mutex, and stop holds it while it reads the
 * buffers: a new trace empties them (buf_mine()), so it must not start
 * under a reader.  It is a pthread mutex, not a runtime lock: a stop
 * writes a file while holding it.
 */
int fiber_trace_start(const char *path)
{
	char *copy;
	int fd, ret = 0;

	if (!path || !*path)
		return -EINVAL;
	/* Fail now, not at exit, if the file cannot be written. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&trace_mutex);
	if (trace_path) {
		ret = -EBUSY;
		goto out;
	}
	trace_path = copy;
	copy = NULL;
	atomic_store(&trace_dropped, 0);
	atomic_fetch_add(&trace_gen, 1);
	trace_start_ns = fiber_nanotime();
	atomic_store(&fiber_tracing, true);
	trace_running_now();
	if (!trace_atexit_done)
		trace_atexit_done = !atexit(trace_atexit);
out:
	pthread_mutex_unlock(&trace_mutex);
	free(copy);
	return ret;
}

int fiber_trace_stop(void)
{
	struct trace_entry *all = NULL;
	int ret = -ENOENT;
	FILE *f;
	long n;

	pthread_mutex_lock(&trace_mutex);
	if (!trace_path)
		goto out;
	atomic_store(&fiber_tracing, false);
	ret = -ENOMEM;
	n = trace_gather(&all);
	if (n < 0)
		goto out_path;
	f = fopen(trace_path, "we");
	if (!f) {
		ret = -errno;
		goto out_path;
	}
	ret = trace_write(f, all, n);
	if (fclose(f) && !ret)
		ret = -errno;
out_path:
	free(trace_path);
	trace_path = NULL;
out:
	pthread_mutex_unlock(&trace_mutex);
	free(all);
	return ret;
}

/* FIBER_TRACE=file: start with the runtime, write at exit. */
int trace_init(void)
{
	const char *path = getenv("FIBER_TRACE");
	int ret;

	if (!path || !*path)
		return 0;
	ret = fiber_trace_start(path);
	if (ret)
		fprintf(stderr, "libfiber: FIBER_TRACE=%s: %s\n", path,
			strerror(-ret));
	return ret;
}
