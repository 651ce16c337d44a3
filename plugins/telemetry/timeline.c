/* timeline.c - the per-attempt timeline: its memory, and the run as a Chrome
 * trace event file (JSON object format), which Perfetto (ui.perfetto.dev)
 * and chrome://tracing open.
 *
 * The trace: one track (tid) per worker slot, named "slot N", in a process
 * (pid) per node: pid 1 "gearbox run" for attempts run in this process, and
 * pid 2... "node NAME" for the nodes of a --nodes run (ABI 1.5 gbx_attempt
 * .node), so each node has a track per slot that sent it work. One complete
 * event ("ph":"X") per sampled attempt, named by the task id, with the task
 * kind as its category and its queue wait in args, with the attempt (when
 * > 1), the result (when not ok), the target (when it has one), and a
 * subprocess's peak memory (peak_kb) and CPU time (cpu_ms); counter
 * events ("ph":"C") for the queue and the concurrency at every tick; an
 * instant event ("ph":"i") where an alert first fired. Timestamps are
 * microseconds since the run started, to the nanosecond.
 *
 * The helper thread (for a trace of more than 2 * CHUNK_BIG expected slices:
 * tasks x sample, known at run_start; a smaller one is formatted at the end
 * in a few milliseconds). A million slices
 * make ~100 MB of JSON, too much to format at the end of a short run without
 * a cost. So a helper thread at SCHED_IDLE priority (it gets only CPU time
 * nobody else wants) formats each chunk as soon as its worker has moved on
 * (c->next set, with release: the chunk is complete and never written
 * again), appending to a temp file. At the end (the workers are joined, the
 * cores are free) the main thread and the helper share what is left, a chunk
 * at a time; the main thread then writes the counters and alerts and renames
 * the file into place. (A helper that pre-touched chunks for the workers was
 * tried and dropped: on two cores its page faults and the preemptions cost
 * the run more than the workers' own faults.) Chunks stay in memory for the
 * HTML report until fini.
 */
#include "telemetry.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct twriter {
	struct tel *T;
	int trace;      /* writing a trace file */
	struct afile f; /* writes under fmu */
	pthread_mutex_t fmu;
	pthread_t th;
	int th_on;
	pthread_mutex_t mu; /* cursors, named, done, final, stop, slices */
	pthread_cond_t cv;
	int final; /* the workers are gone: every chunk may be taken */
	int stop;
	uint64_t slices;
	struct chunk *cur[TEL_SLOTS + 1]; /* next chunk to format per shard; NULL: its head */
	unsigned char done[TEL_SLOTS + 1];
	uint64_t last_end[TEL_SLOTS + 1]; /* µs: where the track's last slice ended */
	/* the (slot, node) tracks and the node processes named so far: bit n
	 * for slice.node n (TEL_NODES + 2 <= 64) */
	_Atomic uint64_t named_track[TEL_SLOTS + 1];
	_Atomic uint64_t named_pid;
	int rr; /* where the next claim starts looking */
};

struct chunk *chunk_alloc(struct tel *T, unsigned cap)
{
	if (atomic_fetch_add(&T->slices_room, cap) + cap > MAX_SLICES) {
		atomic_fetch_sub(&T->slices_room, cap);
		return NULL;
	}
	struct chunk *c = malloc(sizeof *c + (size_t)cap * sizeof(struct slice));
	if (!c) {
		atomic_fetch_sub(&T->slices_room, cap);
		return NULL;
	}
	atomic_init(&c->next, NULL);
	c->n = 0;
	c->cap = cap;
	return c;
}

/* ---- formatting ------------------------------------------------------------------ */

#define PUT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static const char digits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* v in decimal, two digits a step (the hot part of the trace: ~5 numbers a slice) */
static char *put_u64(char *p, uint64_t v)
{
	unsigned n = 1;
	for (uint64_t t = v; t >= 10 && n < 20; t /= 10)
		n++;
	char *e = p + n, *q = e;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		q -= 2;
		memcpy(q, digits2 + 2 * r, 2);
	}
	if (v >= 10) {
		q -= 2;
		memcpy(q, digits2 + 2 * v, 2);
	} else {
		*--q = (char)('0' + v);
	}
	return e;
}

/* v / 1000 with three decimals */
static char *put_milli(char *p, uint64_t v)
{
	p = put_u64(p, v / 1000);
	unsigned f = (unsigned)(v % 1000);
	p[0] = '.';
	p[1] = (char)('0' + f / 100);
	memcpy(p + 2, digits2 + 2 * (f % 100), 2);
	return p + 4;
}

/* a JSON string; the caller reserved 6 bytes per byte of s, plus 2 */
static char *put_str(char *p, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"':
			*p++ = '"';
			break;
		case '\\':
			*p++ = '\\';
			break;
		case '\n':
			*p++ = 'n';
			break;
		case '\t':
			*p++ = 't';
			break;
		case '\r':
			*p++ = 'r';
			break;
		default:
			*p++ = 'u';
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p++ = '"';
	return p;
}

/* Slices are written in integer microseconds (Perfetto reads ts and dur as
 * doubles: decimals of separately rounded start and duration made one
 * slice overlap the next on its track by a few ns). The end is computed from
 * start + duration, floored like the start, and clamped to the previous
 * slice's end on the track (*prev), so slices of one track never overlap. */
static void slice_json(struct gbx_buf *b, struct tel *T, const struct shard *s, int tid,
                       const struct slice *sl, uint64_t *prev)
{
	const struct series *se = s->list[sl->ser];
	const char *id = sl->id ? sl->id : "?";
	const char *kind = se->kid == K_OTHER ? "other" : reg_name(T->kinds, se->kid);
	const char *target = se->tid == T_NONE ? NULL : reg_name(T->targets, se->tid);
	size_t il = strlen(id), kl = strlen(kind), tl = target ? strlen(target) : 0;
	if (gbx_buf_reserve(b, 220 + 6 * (il + kl + tl)))
		return;
	char *p = b->p + b->len;
	p = PUT(p, "{\"ph\":\"X\",\"pid\":");
	p = put_u64(p, 1 + (uint64_t)sl->node);
	p = PUT(p, ",\"tid\":");
	p = put_u64(p, (uint64_t)tid);
	uint64_t ts = ms_to_ns(sl->start_ms) / 1000;
	uint64_t te = ms_to_ns(sl->start_ms + sl->dur_ms) / 1000;
	if (ts < *prev)
		ts = *prev;
	if (te < ts)
		te = ts;
	*prev = te;
	p = PUT(p, ",\"ts\":");
	p = put_u64(p, ts);
	p = PUT(p, ",\"dur\":");
	p = put_u64(p, te - ts);
	p = PUT(p, ",\"name\":");
	p = put_str(p, id, il);
	p = PUT(p, ",\"cat\":");
	p = put_str(p, kind, kl);
	p = PUT(p, ",\"args\":{\"wait_ms\":");
	p = put_milli(p, ms_to_ns(sl->wait_ms) / 1000);
	if (sl->attempt > 1) {
		p = PUT(p, ",\"attempt\":");
		p = put_u64(p, sl->attempt);
	}
	if (sl->status) {
		const char *r =
		    sl->status & ST_CACHED ? "cached" : tel_fail_names[(sl->status & 0x7f) - 1];
		p = PUT(p, ",\"result\":");
		p = put_str(p, r, strlen(r));
	}
	if (target) {
		p = PUT(p, ",\"target\":");
		p = put_str(p, target, tl);
	}
	if (sl->peak_kb) {
		p = PUT(p, ",\"peak_kb\":");
		p = put_u64(p, sl->peak_kb);
	}
	if (sl->cpu_ms > 0) {
		p = PUT(p, ",\"cpu_ms\":");
		p = put_milli(p, (uint64_t)((double)sl->cpu_ms * 1000 + 0.5));
	}
	p = PUT(p, "}},\n");
	b->len = (size_t)(p - b->p);
	b->p[b->len] = 0;
}

static struct shard *shard_at(struct tel *T, int i)
{
	return i == TEL_SLOTS ? T->ovf : atomic_load_explicit(&T->shards[i], memory_order_acquire);
}

/* Under w->mu. The next chunk someone may format: a complete one (its
 * owner has moved on: next is set), or any once the run is over; *slot says
 * whose. */
static struct chunk *claim(struct twriter *w, int *slot)
{
	int nslots = atomic_load(&w->T->nslots);
	for (int k = 0; k <= nslots; k++) {
		int i = (w->rr + k) % (nslots + 1);
		if (i == nslots)
			i = TEL_SLOTS; /* the overflow shard, last in the round */
		struct shard *s = shard_at(w->T, i);
		if (!s || w->done[i])
			continue;
		struct chunk *c =
		    w->cur[i] ? w->cur[i] : atomic_load_explicit(&s->head, memory_order_acquire);
		if (!c)
			continue;
		struct chunk *next = atomic_load_explicit(&c->next, memory_order_acquire);
		if (!next && !w->final)
			continue;
		if (next)
			w->cur[i] = next;
		else
			w->done[i] = 1;
		*slot = i;
		w->slices += c->n;
		w->rr = (i == TEL_SLOTS ? nslots : i) + 1;
		return c;
	}
	return NULL;
}

static void flush(struct twriter *w, struct gbx_buf *b)
{
	pthread_mutex_lock(&w->fmu);
	afile_write(&w->f, b->p, b->len);
	pthread_mutex_unlock(&w->fmu);
	b->len = 0;
}

/* Names slot i's track in node's process, and the process, the first time
 * either appears (whichever thread formats it: the bits are claimed atomically). */
static void name_track(struct twriter *w, struct gbx_buf *b, int i, unsigned node)
{
	uint64_t bit = (uint64_t)1 << node;
	if (atomic_fetch_or(&w->named_track[i], bit) & bit)
		return;
	int pid = 1 + (int)node, tid = i + 1;
	if (node && !(atomic_fetch_or(&w->named_pid, bit) & bit)) {
		const char *nn = reg_name(w->T->nodes, node - 1);
		char pname[160];
		if (node - 1 == TEL_NODES)
			snprintf(pname, sizeof pname, "other nodes");
		else
			snprintf(pname, sizeof pname, "node %s", nn ? nn : "?");
		gbx_buf_addf(b, "{\"ph\":\"M\",\"pid\":%d,\"name\":\"process_name\",\"args\":{"
		             "\"name\":", pid);
		gbx_buf_json(b, pname);
		gbx_buf_addf(b, "}},\n{\"ph\":\"M\",\"pid\":%d,\"name\":\"process_sort_index\","
		             "\"args\":{\"sort_index\":%d}},\n", pid, pid);
	}
	if (i < TEL_SLOTS)
		gbx_buf_addf(b,
		        "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\",\"args\":{"
		        "\"name\":\"slot %d\"}},\n"
		        "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_sort_index\","
		        "\"args\":{\"sort_index\":%d}},\n",
		        pid, tid, i, pid, tid, i);
	else
		gbx_buf_addf(b,
		        "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\",\"args\":{"
		        "\"name\":\"other slots\"}},\n",
		        pid, tid);
}

static void format_chunk(struct twriter *w, struct gbx_buf *b, const struct chunk *c, int i)
{
	struct shard *s = shard_at(w->T, i);
	int tid = i + 1;
	pthread_mutex_lock(&w->mu);
	uint64_t prev = w->last_end[i];
	pthread_mutex_unlock(&w->mu);
	int node = -1;
	for (unsigned k = 0; k < c->n; k++) {
		if (c->s[k].node != node) {
			node = c->s[k].node;
			name_track(w, b, i, (unsigned)node);
		}
		slice_json(b, w->T, s, tid, &c->s[k], &prev);
		if (b->len > (1u << 20))
			flush(w, b);
	}
	pthread_mutex_lock(&w->mu);
	if (prev > w->last_end[i])
		w->last_end[i] = prev;
	pthread_mutex_unlock(&w->mu);
}

/* Formats chunks until none can be claimed; returns how many it did. */
static int work(struct twriter *w, struct gbx_buf *b)
{
	int did = 0;
	for (;;) {
		int slot;
		pthread_mutex_lock(&w->mu);
		struct chunk *c = w->stop ? NULL : claim(w, &slot);
		pthread_mutex_unlock(&w->mu);
		if (!c)
			break;
		format_chunk(w, b, c, slot);
		did++;
	}
	if (b->len)
		flush(w, b);
	return did;
}

static void *writer_main(void *arg)
{
	struct twriter *w = arg;
	struct sched_param sp = {0};
	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp))
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	struct gbx_buf b = {0};
	for (;;) {
		int did = work(w, &b);
		pthread_mutex_lock(&w->mu);
		if (w->stop || (w->final && !did)) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		if (!did) { /* nothing to do: look again in 20 ms */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		}
		pthread_mutex_unlock(&w->mu);
	}
	if (b.oom)
		w->f.failed = ENOMEM;
	gbx_buf_free(&b);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------------- */

int timeline_start(struct tel *T, char *err, size_t errlen)
{
	if (!T->cfg.trace)
		return 0; /* the report alone needs no helper */
	struct twriter *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "trace: out of memory");
		return -1;
	}
	w->T = T;
	w->f.fd = -1;
	if (T->cfg.trace) {
		if (afile_open(&w->f, T->cfg.trace, err, errlen)) {
			free(w);
			return -1;
		}
		static const char head[] =
		    "{\"traceEvents\":[\n{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\","
		    "\"args\":{\"name\":\"gearbox run\"}},\n";
		afile_write(&w->f, head, sizeof head - 1);
		w->trace = 1;
	}
	pthread_mutex_init(&w->fmu, NULL);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	T->tw = w;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* worth a thread only for a big trace; else it is all done at the end */
	if ((double)T->ntasks * T->cfg.sample >= 2.0 * CHUNK_BIG)
		w->th_on = !pthread_create(&w->th, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static void writer_join(struct twriter *w)
{
	if (!w->th_on)
		return;
	pthread_join(w->th, NULL);
	w->th_on = 0;
}

int timeline_finish(struct tel *T, char *err, size_t errlen)
{
	struct twriter *w = T->tw;
	if (!w)
		return 0;
	if (!w->trace) {
		timeline_free(T);
		return 0;
	}
	/* the workers are joined: every chunk is complete; the helper and this
	 * thread share what is left */
	pthread_mutex_lock(&w->mu);
	w->final = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	struct gbx_buf b = {0};
	work(w, &b);
	writer_join(w);
	uint64_t dropped = T->ovf->dropped;
	int nslots = atomic_load(&T->nslots);
	for (int i = 0; i < nslots; i++) {
		struct shard *s = shard_at(T, i);
		if (s)
			dropped += s->dropped;
	}
	for (unsigned i = 0; i < T->ngs; i++) {
		const struct gsample *g = &T->gs[i];
		uint64_t ts = ms_to_ns(g->t_ms);
		gbx_buf_adds(&b, "{\"ph\":\"C\",\"pid\":1,\"name\":\"queue\",\"ts\":");
		tb_milli(&b, ts);
		gbx_buf_addf(&b, ",\"args\":{\"queued\":%d}},\n", g->queued);
		gbx_buf_adds(&b, "{\"ph\":\"C\",\"pid\":1,\"name\":\"concurrency\",\"ts\":");
		tb_milli(&b, ts);
		gbx_buf_addf(&b, ",\"args\":{\"jobs\":%d,\"running\":%d}},\n", g->jobs, g->running);
	}
	for (int a = 0; a < NALERT; a++) {
		const struct alert *al = &T->alerts[a];
		if (!al->fired)
			continue;
		gbx_buf_adds(&b, "{\"ph\":\"i\",\"pid\":1,\"s\":\"g\",\"name\":\"alert ");
		gbx_buf_adds(&b, tel_alert_names[a]);
		gbx_buf_adds(&b, "\",\"ts\":");
		tb_milli(&b, ms_to_ns(al->first_ms));
		gbx_buf_adds(&b, ",\"args\":{\"threshold\":");
		tb_num(&b, al->threshold, "null");
		gbx_buf_adds(&b, ",\"worst\":");
		tb_num(&b, al->worst, "null");
		gbx_buf_adds(&b, "}},\n");
	}
	/* a last metadata event closes the list without a trailing comma */
	gbx_buf_adds(&b, "{\"ph\":\"M\",\"pid\":1,\"name\":\"process_sort_index\",\"args\":{\"sort_"
	            "index\":0}}\n],\n"
	            "\"displayTimeUnit\":\"ms\",\"otherData\":{\"generator\":\"gearbox "
	            "telemetry\",\"sample\":");
	tb_num(&b, T->cfg.sample, "null");
	gbx_buf_addf(&b, ",\"slices\":%llu,\"dropped\":%llu,\"attempts\":%llu}}\n",
	        (unsigned long long)w->slices, (unsigned long long)dropped,
	        (unsigned long long)T->view->total.ended);
	if (b.oom)
		w->f.failed = ENOMEM;
	else
		afile_write(&w->f, b.p, b.len);
	gbx_buf_free(&b);
	int rc = afile_commit(&w->f, err, errlen);
	timeline_free(T);
	return rc;
}

void timeline_free(struct tel *T)
{
	struct twriter *w = T->tw;
	if (!w)
		return;
	if (w->th_on) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		writer_join(w);
	}
	if (w->trace && w->f.path)
		afile_abort(&w->f);
	pthread_mutex_destroy(&w->fmu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	T->tw = NULL;
}
