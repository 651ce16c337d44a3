/* engine.c - runs a workload: the ready queue, the workers, retries, halting,
 * and what a run leaves behind (journal, joblog, events, output, summary).
 *
 * Invariants, all under e->mu:
 *  - a task is in exactly one state; READY tasks are in e->ready, DELAYED ones
 *    in e->delayed; `pending` counts deps that have not succeeded.
 *  - n_final counts tasks in a final state (OK, FAILED, SKIPPED, RESUMED); the
 *    run ends when n_final == ntasks, or when stopping and nothing runs.
 *  - worker i runs tasks only while i < e->jobs; extra workers park.
 * The journal line of a task is written before its dependants are released, so
 * a journal never records a dependant without the task it needed.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "heap.h"
#include "host.h"
#include "plugins.h"
#include "policy.h"
#include "runner.h"

#define JOBS_LIMIT 4096
#define NSLOW 5
#define TAIL_LINES 5
#define TAIL_BYTES 1024
#define SPAWN_BUCKETS 4096
/* Batches (docs/ARCHITECTURE.md): at most this many tasks per claim, and only
 * after attempts shorter than BATCH_SHORT_NS (without timing: within one tick
 * of the coarse clock, 4 ms here) */
#define BATCH_MAX 8
#define BATCH_SHORT_NS 50000

enum stop_level { STOP_NONE = 0, STOP_SOON, STOP_KILL };

struct worker {
	struct engine *e;
	int idx;
	pthread_t th;
	int wake_fd;
	atomic_int stop;
	atomic_int child;  /* pid of the running subprocess, 0 if none */
	int running;      /* under e->mu: has a task */
	struct buf out, err;
	uint32_t *lat;    /* --stats: this worker's attempt times (merged at the end) */
	int64_t lat_max_ns;
	/* A batch: besides the task it took, up to BATCH_MAX - 1 more short
	 * tasks of the same key claimed in the same pass under e->mu
	 * (docs/ARCHITECTURE.md, "Batches"). Each of bq[0..bn) is taken by one
	 * atomic fetch_add on btake: by this worker, by an idle worker stealing
	 * it, or by a stop or a lower -j that hands it back. */
	uint32_t bq[BATCH_MAX];
	uint32_t bn;      /* under e->mu */
	atomic_uint btake;
	/* attempts of the batch that ended plainly (ok, silent, short): completed
	 * under e->mu in the next pass, not one pass each */
	struct { uint32_t idx; int64_t start_ns, end_ns; } dq[BATCH_MAX];
	uint32_t dn;
	int dq_deps;      /* a task in dq has dependants: complete it before the next */
	int short_ok;     /* its last attempt was plain: it may claim a batch */
	struct fold *fold; /* per after_attempt plugin (ABI 1.3 attempt_sample) */
	int64_t fold_due;  /* a fold is 50 ms old from then (INT64_MAX: none pending) */
	int events;        /* e->events != NULL, read once */
	int64_t coarse;   /* without timing: the coarse clock after the last attempt */
};

struct failure {
	struct failure *next;
	uint32_t idx;
	int fkind, exit_code, sig;
	uint16_t attempts;
	char *msg;         /* spawn/error text, or NULL */
	char *tail;        /* last lines of stderr, or NULL */
};

struct engine {
	struct workload *wl;
	struct run_opts o;
	const struct plugin_set *ps;  /* never NULL: no_plugins when none are loaded */
	/* the lock and what is written under it start a cache line of their
	 * own: the read-only fields above (o.host is read per C task, outside
	 * the lock) must not share one with them */
	_Alignas(64) pthread_mutex_t mu;
	pthread_cond_t cv, park_cv;
	struct readyq ready;
	struct heap delayed;
	struct worker **w;
	int nthreads, jobs, running, idle, exited;
	uint32_t n_final, n_ok, n_failed, n_skipped, n_resumed, n_retried, n_late, n_attempts;
	uint32_t n_interrupted;   /* attempts stopped by SIGINT/SIGTERM: not final, run again on --resume */
	int stopping;
	int interrupted;
	int halted;
	int64_t t0_ns, t0_wall_ms;
	int done_fd;              /* eventfd: the run ended (written by the last worker) */
	int timing;               /* someone reads attempt times: read the clock per attempt */
	int batch;                /* workers may claim batches of short tasks */
	/* outputs */
	pthread_mutex_t out_mu;
	pthread_mutex_t ev_mu;    /* the events file; taken inside e->mu, never the other way */
	int journal_fd;
	FILE *events, *joblog;
	uint64_t joblog_seq;
	int progress_on;
	struct { int64_t ns; uint32_t idx; } slow[NSLOW];
	struct failure *failures, **fail_tail;
	int64_t sum_run_ns;
	struct policy_stats pstats;   /* per failure kind, for the retry policy */
	uint32_t n_final_at_tick;     /* for the scaling policy's throughput */
	int64_t spawn_ns_total;
	uint64_t spawn_count;
	uint32_t spawn_hist[SPAWN_BUCKETS]; /* spawn times by microsecond, last = longer */
	/* --stats: attempt run times, log-linear, merged from the workers' own at
	 * the end; NULL when not asked */
	uint32_t *lat;
	int64_t lat_max_ns;
	FILE *stats;              /* its temp file, renamed into place at the end */
	char *stats_tmp;
};

/* Hooks are called by looping over per-hook arrays: with no plugins they are
 * loops over zero entries, and no `if (enabled)` sits on the task path. */
static const struct plugin_set no_plugins;

void run_opts_init(struct run_opts *o)
{
	memset(o, 0, sizeof *o);
	o->jobs = ncores();
	o->progress = -1;
	o->kill_grace_ms = 2000;
	o->retry_base_ms = 100;
	o->retry_cap_ms = 30000;
	o->handle_signals = 1;
}

static double elapsed_ms(const struct engine *e, int64_t ns)
{
	return (double)(ns - e->t0_ns) / 1e6;
}

/* ---- events (under e->mu) ------------------------------------------------ */

static void ev_begin(struct engine *e, struct buf *b, const char *what, uint32_t idx)
{
	buf_addf(b, "{\"t_ms\":%.3f,\"event\":\"%s\",\"id\":", elapsed_ms(e, now_ns()), what);
	buf_json_str(b, e->wl->tasks[idx].id);
}

static void ev_end(struct engine *e, struct buf *b)
{
	buf_add(b, "}\n", 2);
	pthread_mutex_lock(&e->ev_mu);
	fwrite(b->p, 1, b->len, e->events);
	pthread_mutex_unlock(&e->ev_mu);
	buf_free(b);
}

static void ev_simple(struct engine *e, const char *what, uint32_t idx)
{
	if (!e->events)
		return;
	struct buf b = {0};
	ev_begin(e, &b, what, idx);
	if (!strcmp(what, "started"))
		buf_addf(&b, ",\"attempt\":%u", e->wl->tasks[idx].attempts);
	ev_end(e, &b);
}

/* ---- journal (under e->mu) ----------------------------------------------- */

static void journal_write(struct engine *e, uint32_t idx, const char *status,
			  const struct attempt *a)
{
	if (e->journal_fd < 0)
		return;
	const struct task *t = &e->wl->tasks[idx];
	struct buf b = {0};
	buf_adds(&b, "{\"id\":");
	buf_json_str(&b, t->id);
	buf_addf(&b, ",\"status\":\"%s\",\"attempts\":%u", status, t->attempts);
	if (a)
		buf_addf(&b, ",\"exit\":%d,\"signal\":%d,\"ms\":%.3f", a->exit_code, a->sig,
			 (double)(a->end_ns - a->start_ns) / 1e6);
	if (a && a->label[0]) {
		buf_adds(&b, ",\"label\":");
		buf_json_str(&b, a->label);
	}
	buf_addf(&b, ",\"t\":%lld}\n", (long long)wall_ms());
	/* one write per record: a kill -9 leaves whole lines only */
	ssize_t off = 0;
	while ((size_t)off < b.len) {
		ssize_t w = write(e->journal_fd, b.p + off, b.len - (size_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "gearbox: %s: write failed: %s; journal disabled\n",
				e->o.journal, strerror(errno));
			close(e->journal_fd);
			e->journal_fd = -1;
			break;
		}
		off += w;
	}
	buf_free(&b);
}

/* Reads a journal for --resume: tasks recorded "ok" are marked RESUMED. A last
 * line without its newline (the writer was killed mid-line) is ignored. */
static int journal_resume(struct engine *e, struct err *err)
{
	FILE *f = fopen(e->o.journal, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, "%s: cannot read journal: %s", e->o.journal, strerror(errno));
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n') {
			fprintf(stderr, "gearbox: %s:%lu: incomplete last record ignored\n",
				e->o.journal, lineno);
			break;
		}
		json_error_t je;
		json_t *j = json_loadb(line, (size_t)n, 0, &je);
		const char *id = NULL, *st = NULL;
		if (!j || json_unpack(j, "{s:s, s:s}", "id", &id, "status", &st)) {
			fprintf(stderr, "gearbox: %s:%lu: not a journal record, ignored\n",
				e->o.journal, lineno);
			json_decref(j);
			continue;
		}
		if (!strcmp(st, "ok")) {
			int64_t i = workload_find(e->wl, id);
			if (i >= 0)
				e->wl->tasks[i].state = ST_RESUMED;
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
	return 0;
}

/* A journal whose writer died mid-line ends in a torn record: cut it off,
 * so that the next record starts on a line of its own. */
static void journal_trim(struct engine *e)
{
	struct stat st;
	if (fstat(e->journal_fd, &st) || st.st_size == 0)
		return;
	off_t end = st.st_size;
	char c;
	if (pread(e->journal_fd, &c, 1, end - 1) == 1 && c == '\n')
		return;
	char tail[4096];
	while (end > 0) {
		off_t from = end > (off_t)sizeof tail ? end - (off_t)sizeof tail : 0;
		ssize_t n = pread(e->journal_fd, tail, (size_t)(end - from), from);
		if (n <= 0)
			return;
		for (ssize_t i = n - 1; i >= 0; i--) {
			if (tail[i] == '\n') {
				if (ftruncate(e->journal_fd, from + i + 1) == 0)
					fprintf(stderr, "gearbox: %s: removed a torn last record\n", e->o.journal);
				return;
			}
		}
		end = from;
	}
	if (ftruncate(e->journal_fd, 0) == 0) /* one torn line and nothing else */
		fprintf(stderr, "gearbox: %s: removed a torn last record\n", e->o.journal);
}

/* ---- scheduling (under e->mu) -------------------------------------------- */

/* The ready-queue key: the scheduling policy's, else priority (higher first).
 * Ties keep submission order (the heap compares indexes next). */
static double task_key(struct engine *e, const struct task *t)
{
	double k;
	if (e->o.policy && policy_key(e->o.policy, t, &k) == 0 && k == k)
		return k;
	return -(double)t->priority;
}

/* now: when it became ready (the caller's clock reading, one per batch) */
static void make_ready(struct engine *e, uint32_t idx, int64_t now)
{
	struct task *t = &e->wl->tasks[idx];
	t->state = ST_READY;
	t->ready_ns = now;
	if (readyq_push(&e->ready, task_key(e, t), idx)) {
		fprintf(stderr, "gearbox: out of memory\n");
		abort();
	}
	ev_simple(e, "queued", idx);
	if (e->idle)
		pthread_cond_signal(&e->cv);
}

/* now: when idx ended, which is when its dependants became ready */
static void release_dependants(struct engine *e, uint32_t idx, int64_t now)
{
	const struct task *t = &e->wl->tasks[idx];
	const uint32_t *outs = e->wl->outs + t->out_off;
	for (uint32_t k = 0; k < t->nouts; k++) {
		struct task *d = &e->wl->tasks[outs[k]];
		if (--d->pending == 0 && d->state == ST_WAITING)
			make_ready(e, outs[k], now);
	}
}

/* Marks every task downstream of idx as skipped (iteratively: chains can be
 * a million long). */
static void skip_dependants(struct engine *e, uint32_t idx)
{
	struct workload *wl = e->wl;
	uint32_t *stack = NULL;
	size_t n = 0, cap = 0;
#define PUSH(x)                                                             \
	do {                                                                \
		if (n == cap) {                                             \
			cap = cap ? cap * 2 : 64;                           \
			stack = realloc(stack, cap * sizeof *stack);        \
			if (!stack)                                         \
				abort();                                    \
		}                                                           \
		stack[n++] = (x);                                           \
	} while (0)
	PUSH(idx);
	while (n) {
		uint32_t i = stack[--n];
		const struct task *t = &wl->tasks[i];
		for (uint32_t k = 0; k < t->nouts; k++) {
			uint32_t d = wl->outs[t->out_off + k];
			if (wl->tasks[d].state != ST_WAITING)
				continue;
			wl->tasks[d].state = ST_SKIPPED;
			e->n_skipped++;
			e->n_final++;
			journal_write(e, d, "skipped", NULL);
			if (e->events) {
				struct buf b = {0};
				ev_begin(e, &b, "skipped", d);
				buf_adds(&b, ",\"because\":");
				buf_json_str(&b, t->id);
				ev_end(e, &b);
			}
			PUSH(d);
		}
	}
#undef PUSH
	free(stack);
}

/* Takes the next unstarted task of v's batch, for v itself or for a worker
 * stealing it; 0 when the batch is over or a stop handed the rest back.
 * v->bn is read under e->mu, or by v itself. */
static int batch_take(struct worker *v, uint32_t *idx)
{
	if (!v->bn || atomic_load_explicit(&v->btake, memory_order_relaxed) >= v->bn)
		return 0;
	uint32_t j = atomic_fetch_add(&v->btake, 1);
	if (j >= v->bn)
		return 0;
	*idx = v->bq[j];
	return 1;
}

/* Under e->mu: the tasks of w's batch that nobody took go back to waiting
 * (not started; a resumed run starts them). */
static void close_batch(struct engine *e, struct worker *w)
{
	uint32_t idx;
	while (batch_take(w, &idx)) {
		e->wl->tasks[idx].attempts--;
		e->wl->tasks[idx].state = ST_WAITING;
	}
}

static void stop_workers(struct engine *e, int level)
{
	if (level > e->stopping)
		e->stopping = level;
	for (int i = 0; i < e->nthreads; i++)
		close_batch(e, e->w[i]);
	if (level == STOP_KILL) {
		for (int i = 0; i < e->nthreads; i++) {
			struct worker *w = e->w[i];
			if (!w->running)
				continue;
			atomic_store(&w->stop, 1);
			uint64_t one = 1;
			ssize_t r = write(w->wake_fd, &one, sizeof one);
			(void)r;
		}
	}
	pthread_cond_broadcast(&e->cv);
	pthread_cond_broadcast(&e->park_cv);
}

static void check_halt(struct engine *e)
{
	if (e->o.halt == HALT_NEVER || e->halted)
		return;
	int hit = e->o.halt_fail_pct > 0
		? (uint64_t)e->n_failed * 100 >= (uint64_t)e->o.halt_fail_pct * e->wl->ntasks
		: e->n_failed >= (uint32_t)e->o.halt_fail;
	if (!hit)
		return;
	e->halted = 1;
	if (!e->o.quiet)
		fprintf(stderr, "gearbox: halting (%s): %u task%s failed\n",
			e->o.halt == HALT_NOW ? "now" : "soon", e->n_failed,
			e->n_failed == 1 ? "" : "s");
	stop_workers(e, e->o.halt == HALT_NOW ? STOP_KILL : STOP_SOON);
}

static char *stderr_tail(const struct buf *b)
{
	if (!b->len)
		return NULL;
	size_t end = b->len;
	while (end && b->p[end - 1] == '\n')
		end--;
	size_t start = end;
	int lines = 0;
	while (start > 0 && end - start < TAIL_BYTES) {
		if (b->p[start - 1] == '\n' && ++lines == TAIL_LINES)
			break;
		start--;
	}
	char *s = malloc(end - start + 1);
	if (s) {
		memcpy(s, b->p + start, end - start);
		s[end - start] = 0;
	}
	return s;
}

static void note_slow(struct engine *e, uint32_t idx, int64_t ns)
{
	if (ns <= e->slow[NSLOW - 1].ns)
		return;
	int i = NSLOW - 1;
	while (i > 0 && e->slow[i - 1].ns < ns) {
		e->slow[i] = e->slow[i - 1];
		i--;
	}
	e->slow[i].ns = ns;
	e->slow[i].idx = idx;
}

static void joblog_write(struct engine *e, uint32_t idx, const struct attempt *a)
{
	const struct task *t = &e->wl->tasks[idx];
	const struct spec *s = t->spec;
	fprintf(e->joblog, "%llu\t:\t%.3f\t%10.3f\t%zu\t%zu\t%d\t%d\t",
		(unsigned long long)++e->joblog_seq,
		((double)e->t0_wall_ms + (double)(a->start_ns - e->t0_ns) / 1e6) / 1000.0,
		(double)(a->end_ns - a->start_ns) / 1e9, s->stdin_len,
		a->out->len + a->err->len, a->exit_code < 0 ? -1 : a->exit_code, a->sig);
	if (s->sh)
		fputs(s->sh, e->joblog);
	else if (s->argv)
		for (char **p = s->argv; *p; p++)
			fprintf(e->joblog, "%s%s", p == s->argv ? "" : " ", *p);
	else
		fprintf(e->joblog, "sim:%s", t->id);
	fputc('\n', e->joblog);
}

/* Built-in retry: `retries` attempts more, backoff base * 2^(attempt-1), capped. */
static int builtin_retry(struct engine *e, const struct task *t, int64_t *delay)
{
	if (t->attempts > (unsigned)t->spec->retries)
		return 0;
	int64_t d = e->o.retry_base_ms;
	for (unsigned k = 1; k < t->attempts && d < e->o.retry_cap_ms; k++)
		d *= 2;
	*delay = d > e->o.retry_cap_ms ? e->o.retry_cap_ms : d;
	return 1;
}

/* Whether to retry a failed attempt, and after how long: the retry policy's
 * decision (with its changes for the next attempt), else the built-in one. */
static int decide_retry(struct engine *e, struct task *t, const struct attempt *a, int64_t *delay)
{
	if (!e->o.policy || !policy_has(e->o.policy, POL_RETRY))
		return builtin_retry(e, t, delay);
	struct policy_failure f = {fail_kind_name(a->fkind), a->exit_code, a->sig,
				   (double)(a->end_ns - a->start_ns) / 1e6, a->msg[0] ? a->msg : NULL};
	struct policy_changes chg;
	memset(&chg, 0, sizeof chg);
	int r = policy_retry(e->o.policy, t, &f, t->attempts, &e->pstats, delay, &chg);
	if (r < 0)
		return builtin_retry(e, t, delay);
	if (r == 0)
		return 0;
	if (chg.has_timeout) /* the workload's own bound: 30 days */
		t->timeout_ms = chg.timeout_ms > 2592000000LL ? 2592000000LL : chg.timeout_ms;
	if (chg.has_priority)
		t->priority = chg.priority;
	if (*delay > 3600000)
		*delay = 3600000; /* a policy cannot park a task for more than an hour */
	return 1;
}

/* ---- --stats: attempt latency ------------------------------------------- */

/* Log-linear buckets of nanoseconds: 16 per power of two, so a bucket's
 * midpoint is within 1/32 (3.1%) of any value in it. */
#define LAT_SUB 16
#define LAT_BUCKETS (64 * LAT_SUB)

static unsigned lat_bucket(uint64_t ns)
{
	if (ns < LAT_SUB)
		return (unsigned)ns;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 4 */
	return (e - 3) * LAT_SUB + (unsigned)((ns >> (e - 4)) & (LAT_SUB - 1));
}

static double lat_mid_ns(unsigned b)
{
	if (b < LAT_SUB)
		return b;
	unsigned e = b / LAT_SUB + 3, m = b % LAT_SUB;
	double lo = (double)((uint64_t)(LAT_SUB + m) << (e - 4));
	return lo + (double)((uint64_t)1 << (e - 4)) / 2;
}

static double lat_quantile_ms(const struct engine *e, double q)
{
	uint64_t n = 0, seen = 0;
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		n += e->lat[b];
	if (!n)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)n);
	if (rank >= n)
		rank = n - 1;
	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += e->lat[b];
		if (seen > rank) {
			double ns = lat_mid_ns(b);
			return (ns > (double)e->lat_max_ns ? (double)e->lat_max_ns : ns) / 1e6;
		}
	}
	return (double)e->lat_max_ns / 1e6;
}

static void stats_write(struct engine *e, double wall_ms)
{
	const struct workload *wl = e->wl;
	fprintf(e->stats,
		"{\"tasks\":%u,\"ok\":%u,\"failed\":%u,\"skipped\":%u,\"not_started\":%u,"
		"\"resumed\":%u,\"attempts\":%u,\"retried\":%u,\"interrupted\":%s,\"wall_ms\":%.3f,"
		"\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"max\":%.4f}}\n",
		wl->ntasks, e->n_ok, e->n_failed, e->n_skipped, wl->ntasks - e->n_final, e->n_resumed,
		e->n_attempts, e->n_retried, e->interrupted ? "true" : "false", wall_ms,
		lat_quantile_ms(e, 0.50), lat_quantile_ms(e, 0.90), lat_quantile_ms(e, 0.99),
		(double)e->lat_max_ns / 1e6);
	int bad = ferror(e->stats);
	bad |= fclose(e->stats) != 0;
	e->stats = NULL;
	if (bad || rename(e->stats_tmp, e->o.stats)) {
		fprintf(stderr, "gearbox: %s: cannot write stats: %s\n", e->o.stats, strerror(errno));
		unlink(e->stats_tmp);
	}
}

/* Records the end of an attempt: final success or failure, or a retry.
 * Returns 1 when the attempt is final (its output should be shown). */
static int complete(struct engine *e, struct worker *w, uint32_t idx, struct attempt *a)
{
	struct task *t = &e->wl->tasks[idx];
	int64_t run_ns = a->end_ns - a->start_ns;
	e->n_attempts++;
	e->sum_run_ns += run_ns;
	if (a->spawn_ns) {
		e->spawn_ns_total += a->spawn_ns;
		e->spawn_count++;
		int64_t us = a->spawn_ns / 1000;
		e->spawn_hist[us < SPAWN_BUCKETS - 1 ? us : SPAWN_BUCKETS - 1]++;
	}
	t->last_exit = a->sig ? -a->sig : a->exit_code;
	if (e->joblog)
		joblog_write(e, idx, a);

	int interrupted = !a->ok && e->interrupted && atomic_load(&w->stop);
	int late = t->spec->deadline_ms >= 0 &&
		   (a->end_ns - e->t0_ns) / 1000000 > t->spec->deadline_ms;
	if (e->events) {
		struct buf b = {0};
		ev_begin(e, &b, "finished", idx);
		buf_addf(&b, ",\"attempt\":%u,\"ok\":%s,\"ms\":%.3f,\"exit\":%d", t->attempts,
			 a->ok ? "true" : "false", (double)run_ns / 1e6, a->exit_code);
		if (!a->ok)
			buf_addf(&b, ",\"failure\":\"%s\",\"signal\":%d", fail_kind_name(a->fkind), a->sig);
		if (a->spawn_ns)
			buf_addf(&b, ",\"spawn_us\":%.1f", (double)a->spawn_ns / 1e3);
		if (a->label[0]) {
			buf_adds(&b, ",\"label\":");
			buf_json_str(&b, a->label);
		}
		if (!a->ok && a->msg[0]) {
			buf_adds(&b, ",\"message\":");
			buf_json_str(&b, a->msg);
		}
		if (late)
			buf_adds(&b, ",\"late\":true");
		ev_end(e, &b);
	}

	if (interrupted) {
		/* not final: a resumed run will start it again */
		e->n_interrupted++;
		t->state = ST_WAITING;
		return 1;
	}
	if (!a->ok && a->fkind >= FK_EXIT && a->fkind <= FK_ERROR)
		e->pstats.failures[a->fkind - FK_EXIT]++;
	if (a->ok && t->attempts > 1 && t->last_fkind >= FK_EXIT && t->last_fkind <= FK_ERROR)
		e->pstats.retry_ok[t->last_fkind - FK_EXIT]++;
	if (!a->ok)
		t->last_fkind = (uint8_t)a->fkind;
	if (a->ok) {
		t->state = ST_OK;
		e->n_ok++;
		e->n_final++;
		e->n_late += late;
		note_slow(e, idx, run_ns);
		journal_write(e, idx, "ok", a);
		release_dependants(e, idx, a->end_ns);
		return 1;
	}
	int64_t delay;
	if (e->stopping == STOP_NONE && decide_retry(e, t, a, &delay)) {
		if (a->fkind >= FK_EXIT && a->fkind <= FK_ERROR)
			e->pstats.retries[a->fkind - FK_EXIT]++;
		t->state = ST_DELAYED;
		e->n_retried++;
		heap_push(&e->delayed, (double)(now_ns() + delay * 1000000), idx);
		if (e->events) {
			struct buf b = {0};
			ev_begin(e, &b, "retried", idx);
			buf_addf(&b, ",\"attempt\":%u,\"delay_ms\":%lld,\"failure\":\"%s\"",
				 t->attempts, (long long)delay, fail_kind_name(a->fkind));
			ev_end(e, &b);
		}
		if (e->idle)
			pthread_cond_signal(&e->cv);
		return 0;
	}
	t->state = ST_FAILED;
	e->n_failed++;
	e->n_final++;
	note_slow(e, idx, run_ns);
	journal_write(e, idx, "failed", a);
	struct failure *f = calloc(1, sizeof *f);
	if (f) {
		f->idx = idx;
		f->fkind = a->fkind;
		f->exit_code = a->exit_code;
		f->sig = a->sig;
		f->attempts = t->attempts;
		f->msg = a->msg[0] ? strdup(a->msg) : NULL;
		f->tail = stderr_tail(a->err);
		*e->fail_tail = f;
		e->fail_tail = &f->next;
	}
	skip_dependants(e, idx);
	check_halt(e);
	return 1;
}

static void promote_due(struct engine *e, int64_t now)
{
	while (e->delayed.n && e->delayed.a[0].key <= (double)now) {
		struct heap_ent h = heap_pop(&e->delayed);
		if (e->stopping)
			continue;
		make_ready(e, h.idx, now);
	}
}

static int run_over(const struct engine *e)
{
	if (e->n_final >= e->wl->ntasks)
		return 1;
	if (e->stopping && e->running == 0)
		return 1;
	/* nothing can ever become ready (cannot happen with a checked DAG) */
	return e->running == 0 && readyq_n(&e->ready) == 0 && e->delayed.n == 0;
}

/* ---- output (outside e->mu) ---------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void save_file(const char *dir, const char *id, const char *ext, const struct buf *b)
{
	struct buf path = {0}, tmp = {0};
	buf_addf(&path, "%s/", dir);
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')
			buf_add(&path, p, 1);
		else
			buf_addf(&path, "%%%02X", *p);
	}
	buf_addf(&path, ".%s", ext);
	buf_addf(&tmp, "%s.tmp.%d", path.p, (int)getpid());
	int fd = open(tmp.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		write_all(fd, b->p ? b->p : "", b->len);
		if (close(fd) == 0 && rename(tmp.p, path.p) == 0)
			goto out;
	}
	fprintf(stderr, "gearbox: %s: %s\n", path.p, strerror(errno));
	unlink(tmp.p);
out:
	buf_free(&path);
	buf_free(&tmp);
}

static void show_output(struct engine *e, uint32_t idx, struct attempt *a)
{
	const struct task *t = &e->wl->tasks[idx];
	if (e->o.output_dir) {
		save_file(e->o.output_dir, t->id, "stdout", a->out);
		save_file(e->o.output_dir, t->id, "stderr", a->err);
	} else if (a->out->len || a->err->len) {
		pthread_mutex_lock(&e->out_mu);
		if (e->progress_on)
			write_all(2, "\r\033[K", 4);
		write_all(1, a->out->p, a->out->len);
		write_all(2, a->err->p, a->err->len);
		pthread_mutex_unlock(&e->out_mu);
	}
	if (e->o.verbose) {
		pthread_mutex_lock(&e->out_mu);
		if (a->ok)
			fprintf(stderr, "gearbox: ok %s (%.1f ms)\n", t->id,
				(double)(a->end_ns - a->start_ns) / 1e6);
		else
			fprintf(stderr, "gearbox: FAILED %s (%s, exit %d%s%s)\n", t->id,
				fail_kind_name(a->fkind), a->exit_code, a->msg[0] ? ": " : "", a->msg);
		pthread_mutex_unlock(&e->out_mu);
	}
}

/* ---- workers ------------------------------------------------------------- */

/* ---- plugin hooks on the task path (outside e->mu) ----------------------- */

static int fail_kind_of(const char *s)
{
	for (int k = FK_EXIT; k <= FK_ERROR; k++)
		if (s && !strcmp(s, fail_kind_name(k)))
			return k;
	return FK_ERROR;
}

/* Calls one before_task hook; a verdict other than RUN fills the attempt
 * (ANSWER, REJECT) or asks for a deferral (the delay travels in start_ns). */
static int before_hook(const struct plugin *p, const gbx_task *gt, struct attempt *a)
{
	struct gbx_before ans;
	memset(&ans, 0, sizeof ans);
	p->d->before_task(p->self, gt, &ans);
	switch (ans.verdict) {
	case GBX_ANSWER: {
		const struct gbx_result *r = &ans.result;
		/* the plugin may have done the work itself (a pool): take its time */
		a->end_ns = now_ns();
		a->start_ns = r->ms > 0 && r->ms < 86400000.0 ? a->end_ns - (int64_t)(r->ms * 1e6) : a->end_ns;
		a->ok = r->ok != 0;
		a->fkind = a->ok ? FK_NONE : fail_kind_of(r->failure);
		a->exit_code = r->exit_code;
		a->sig = r->signal;
		if (r->out_len)
			buf_add(a->out, r->out, r->out_len);
		if (r->err_len)
			buf_add(a->err, r->err, r->err_len);
		snprintf(a->label, sizeof a->label, "%s", ans.label ? ans.label : p->d->name);
		return GBX_ANSWER;
	}
	case GBX_REJECT:
		a->start_ns = a->end_ns = now_ns();
		a->ok = 0;
		a->fkind = FK_REJECTED;
		a->exit_code = -1;
		snprintf(a->msg, sizeof a->msg, "rejected by %s: %s", p->d->name,
			 ans.reason ? ans.reason : "no reason given");
		return GBX_REJECT;
	case GBX_DEFER:
		a->start_ns = ans.delay_ms > 0 ? ans.delay_ms : 0;
		snprintf(a->label, sizeof a->label, "%s", p->d->name);
		return GBX_DEFER;
	default:
		return GBX_RUN;
	}
}

/* A fold (ABI 1.3 attempt_sample): plain successes of tasks outside one
 * after_attempt plugin's sample, counted on this worker while they share a
 * kind and target, and delivered as one call. */
struct fold {
	const char *kind, *target;
	int64_t first_ns;         /* when the first one ended: a fold waits 50 ms at most */
	uint32_t n;
};
#define FOLD_NS 50000000
#define FOLD_MAX 65536

/* Outside e->mu: hands plugin i this worker's fold of n attempts, if any. */
static void fold_flush(const struct plugin_set *ps, struct worker *w, size_t i)
{
	struct fold *f = &w->fold[i];
	if (!f->n)
		return;
	struct gbx_result r;
	memset(&r, 0, sizeof r);
	r.ok = 1;
	struct gbx_attempt at;
	memset(&at, 0, sizeof at);
	at.size = sizeof at;
	at.result = &r;
	at.kind = f->kind;
	at.target = f->target;
	at.attempt = 1;
	at.slot = w->idx;
	at.count = f->n;
	f->n = 0;
	ps->attempt[i]->d->after_attempt(ps->attempt[i]->self, &at);
}

/* Outside e->mu: every fold this worker holds (before it waits, and at the end). */
static void folds_flush(const struct plugin_set *ps, struct worker *w)
{
	for (size_t i = 0; i < ps->nattempt; i++)
		fold_flush(ps, w, i);
	w->fold_due = INT64_MAX;
}

static int folds_pending(const struct plugin_set *ps, const struct worker *w)
{
	for (size_t i = 0; i < ps->nattempt; i++)
		if (w->fold[i].n)
			return 1;
	return 0;
}

/* Kinds are interned, targets are one copy per task that names one. */
static int same_target(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Outside e->mu, before an attempt starts (which may be long), once
 * w->fold_due has come: the folds whose first attempt ended FOLD_NS or more
 * before now. */
static void folds_flush_old(const struct plugin_set *ps, struct worker *w, int64_t now)
{
	w->fold_due = INT64_MAX;
	for (size_t i = 0; i < ps->nattempt; i++) {
		struct fold *f = &w->fold[i];
		if (f->n && now - f->first_ns >= FOLD_NS)
			fold_flush(ps, w, i);
		else if (f->n && f->first_ns + FOLD_NS < w->fold_due)
			w->fold_due = f->first_ns + FOLD_NS;
	}
}

static void after_hooks(const struct plugin_set *ps, struct worker *w, int64_t t0_ns,
			const struct task *t, const struct attempt *a)
{
	const gbx_task *gt = (const gbx_task *)(const void *)t;
	const struct spec *s = t->spec;
	/* the sample: a multiplicative hash of the task's handle, the same for
	 * all its attempts; a plain success outside it goes to a fold */
	uint64_t h = (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ull >> 32;
	int plain = a->ok && t->attempts == 1 && !a->label[0];
	int whole = ps->nafter > 0;
	const char *kind = spec_kind_name(s);
	for (size_t i = 0; i < ps->nattempt; i++) {
		struct plugin *p = ps->attempt[i];
		if (!plain || h < p->sample_thresh) {
			whole = 1;
			continue;
		}
		struct fold *f = &w->fold[i];
		if (f->n && (f->kind != kind || !same_target(f->target, s->target) ||
			     a->end_ns - f->first_ns >= FOLD_NS || f->n == FOLD_MAX))
			fold_flush(ps, w, i);
		if (!f->n) {
			f->kind = kind;
			f->target = s->target;
			f->first_ns = a->end_ns;
			if (a->end_ns + FOLD_NS < w->fold_due)
				w->fold_due = a->end_ns + FOLD_NS;
		}
		f->n++;
	}
	if (!whole)
		return;
	struct gbx_result r;
	r.ok = a->ok;
	r.failure = a->ok ? NULL : fail_kind_name(a->fkind);
	r.exit_code = a->exit_code;
	r.signal = a->sig;
	r.ms = (double)(a->end_ns - a->start_ns) * 1e-6; /* a product: per attempt */
	r.out = a->out->p;
	r.out_len = a->out->len;
	r.err = a->err->p;
	r.err_len = a->err->len;
	r.label = a->label[0] ? a->label : NULL;
	for (size_t i = 0; i < ps->nafter; i++)
		ps->after[i]->d->after_task(ps->after[i]->self, gt, &r);
	if (!ps->nattempt)
		return;
	struct gbx_attempt at;
	at.size = sizeof at;
	at.task = gt;
	at.result = &r;
	at.id = t->id;
	at.kind = kind;
	at.target = s->target;
	at.attempt = (int)t->attempts;
	at.slot = t->slot;
	at.wait_ns = t->start_ns > t->ready_ns ? t->start_ns - t->ready_ns : 0;
	at.start_ns = a->start_ns - t0_ns;
	at.run_ns = a->end_ns - a->start_ns;
	at.count = 1;
	for (size_t i = 0; i < ps->nattempt; i++) {
		struct plugin *p = ps->attempt[i];
		at.sampled = h < p->sample_thresh;
		if (plain && !at.sampled)
			continue; /* folded above */
		if (w->fold[i].n) /* the plugin sees attempts in the order they ended */
			fold_flush(ps, w, i);
		p->d->after_attempt(p->self, &at);
	}
}

/* Runs one attempt with the runner of the task's kind. */
static void run_attempt(struct engine *e, const struct task *t, struct runner_ctx *rc,
			struct attempt *a)
{
	switch (t->spec->kind) {
	case KIND_SIM:
		sim_run(t, rc, a);
		return;
	case KIND_PLUGIN: {
		const struct kind_impl *ki = &e->o.host->impl[t->spec->pkind];
		struct gbx_result r;
		memset(&r, 0, sizeof r);
		r.exit_code = -1;
		a->start_ns = t->start_ns; /* read when it was taken from the queue */
		ki->k->run(ki->self, (const gbx_task *)(const void *)t, &r);
		a->end_ns = rc->timing ? now_ns() : 0;
		a->ok = r.ok != 0;
		a->fkind = a->ok ? FK_NONE : fail_kind_of(r.failure);
		a->exit_code = r.ok && r.exit_code < 0 ? 0 : r.exit_code;
		a->sig = r.signal;
		if (r.out_len)
			buf_add(a->out, r.out, r.out_len);
		if (r.err_len)
			buf_add(a->err, r.err, r.err_len);
		return;
	}
	default:
		exec_run(t, rc, a);
	}
}

/* Under e->mu: a before hook deferred the task; it is ready again later and
 * this does not count as an attempt. */
static void defer(struct engine *e, struct worker *w, uint32_t idx, int64_t delay_ms)
{
	struct task *t = &e->wl->tasks[idx];
	if (delay_ms > 3600000)
		delay_ms = 3600000; /* as for retries: at most an hour */
	t->attempts--;
	e->running--;
	w->running = 0;
	if (e->stopping) {
		t->state = ST_WAITING;
		return;
	}
	t->state = ST_DELAYED;
	heap_push(&e->delayed, (double)(now_ns() + delay_ms * 1000000), idx);
	if (e->events) {
		struct buf b = {0};
		ev_begin(e, &b, "deferred", idx);
		buf_addf(&b, ",\"delay_ms\":%lld", (long long)delay_ms);
		ev_end(e, &b);
	}
	if (e->idle)
		pthread_cond_signal(&e->cv);
}

double engine_elapsed_ms(const struct engine *e, int64_t ns)
{
	return elapsed_ms(e, ns);
}

/* A plugin's own event (host->event). It takes only the events lock, so it may
 * be called from a Lua function a policy calls under e->mu. */
void engine_plugin_event(struct engine *e, const char *name, const struct task *t,
			 const char *fields_json)
{
	if (!e->events)
		return;
	struct buf b = {0};
	buf_addf(&b, "{\"t_ms\":%.3f,\"event\":", elapsed_ms(e, now_ns()));
	buf_json_str(&b, name);
	if (t) {
		buf_adds(&b, ",\"id\":");
		buf_json_str(&b, t->id);
	}
	if (fields_json && *fields_json)
		buf_addf(&b, ",%s", fields_json);
	ev_end(e, &b);
}

/* Outside e->mu: one attempt of task idx, the before hooks through the after
 * hooks. Returns the before hooks' verdict (GBX_DEFER: a.start_ns holds the
 * delay and nothing ran). */
static int attempt_run(struct engine *e, struct worker *w, struct runner_ctx *rc,
		       const struct plugin_set *ps, int64_t t0_ns, uint32_t idx,
		       int64_t *fetched_ns, struct attempt *a)
{
	struct task *t = &e->wl->tasks[idx];
	/* read outside the lock; only this thread reads it during the attempt */
	t->start_ns = *fetched_ns ? *fetched_ns : rc->timing ? now_ns() : 0;
	*fetched_ns = 0;
	if (t->start_ns >= w->fold_due)
		folds_flush_old(ps, w, t->start_ns);
	attempt_reset(a); /* not a memset: msg and label are most of it */
	w->out.len = w->err.len = 0;
	a->out = &w->out;
	a->err = &w->err;
	const gbx_task *gt = (const gbx_task *)(const void *)t;
	int verdict = GBX_RUN;
	for (size_t i = 0; i < ps->nbefore && verdict == GBX_RUN; i++)
		verdict = before_hook(ps->before[i], gt, a);
	if (verdict == GBX_DEFER)
		return verdict;
	/* after the before hooks: a deferred task did not start */
	if (w->events) /* the worker's copy: e->events shares a line written under the lock */
		ev_simple(e, "started", idx);
	if (verdict == GBX_RUN)
		run_attempt(e, t, rc, a);
	if (ps->nafter || ps->nattempt)
		after_hooks(ps, w, t0_ns, t, a);
	*fetched_ns = a->end_ns;
	if (w->lat) { /* --stats, outside the lock: this worker's own histogram */
		uint64_t ns = a->end_ns > a->start_ns ? (uint64_t)(a->end_ns - a->start_ns) : 0;
		w->lat[lat_bucket(ns)]++;
		if ((int64_t)ns > w->lat_max_ns)
			w->lat_max_ns = (int64_t)ns;
	}
	return verdict;
}

static int64_t coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Outside e->mu, with batching on: was the attempt short and plain (ok with
 * exit 0, no subprocess, no output, no message, nobody else's answer), so that its
 * completion can wait for the next pass under the lock? Without timing,
 * "short" is "no tick of the coarse clock passed" (2.5 ns to read, against
 * 20 for the precise one). */
static int attempt_plain(struct worker *w, const struct runner_ctx *rc, const struct attempt *a)
{
	int fast;
	if (rc->timing) {
		fast = a->end_ns - a->start_ns < BATCH_SHORT_NS;
	} else {
		int64_t c = coarse_ns();
		fast = c == w->coarse;
		w->coarse = c;
	}
	return fast && a->ok && !a->exit_code && !a->sig && !a->spawn_ns && !a->out->len &&
	       !a->err->len && !a->msg[0] && !a->label[0];
}

/* Under e->mu: marks idx taken by worker w for an attempt. */
static void claim(struct engine *e, struct worker *w, uint32_t idx)
{
	struct task *t = &e->wl->tasks[idx];
	t->state = ST_RUNNING;
	t->attempts++;
	t->slot = (int16_t)w->idx;
}

/* Under e->mu, with nothing ready: takes a task another worker claimed in a
 * batch and has not started (it may be stuck behind a long one). */
static int steal(struct engine *e, struct worker *w, uint32_t *idx)
{
	for (int i = 0; i < e->nthreads; i++) {
		if (e->w[i] != w && batch_take(e->w[i], idx)) {
			e->wl->tasks[*idx].slot = (int16_t)w->idx;
			return 1;
		}
	}
	return 0;
}

/* Under e->mu: completes the batch's plain attempts that waited for this pass. */
static void complete_deferred(struct engine *e, struct worker *w)
{
	static struct buf empty;
	for (uint32_t i = 0; i < w->dn; i++) {
		struct attempt a;
		attempt_reset(&a);
		a.ok = 1;
		a.start_ns = w->dq[i].start_ns;
		a.end_ns = w->dq[i].end_ns;
		a.out = a.err = &empty;
		complete(e, w, w->dq[i].idx, &a);
	}
	w->dn = 0;
	w->dq_deps = 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *e = w->e;
	/* a task that closes its stdin must not kill an embedding program with
	 * SIGPIPE: the write fails with EPIPE instead */
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	struct runner_ctx rc = {w->wake_fd, &w->stop, &w->child, e->o.kill_grace_ms, e->timing};
	/* read once: these sit in the engine struct next to fields every worker
	 * writes under the lock, and would cost a cache miss per task */
	const struct plugin_set *ps = e->ps;
	const int64_t t0_ns = e->t0_ns;
	const int batch = e->batch;
	const int journal = e->journal_fd >= 0;
	/* the end of this worker's last attempt, while it has not waited since:
	 * the next attempt it takes starts there (one clock reading per attempt
	 * instead of two; the time to take the lock and finish the last one
	 * counts in the next attempt) */
	int64_t fetched_ns = 0;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		/* about to wait or to stop: hand over the folds first (outside the
		 * lock, as every hook), then look again */
		if (ps->nattempt && folds_pending(ps, w) &&
		    (run_over(e) || w->idx >= e->jobs || !readyq_n(&e->ready) || e->stopping)) {
			pthread_mutex_unlock(&e->mu);
			folds_flush(ps, w);
			pthread_mutex_lock(&e->mu);
			continue;
		}
		if (run_over(e))
			break;
		if (w->idx >= e->jobs) {
			fetched_ns = 0;
			pthread_cond_wait(&e->park_cv, &e->mu);
			continue;
		}
		if (e->delayed.n)
			promote_due(e, now_ns());
		uint32_t idx;
		w->bn = 0;
		if (readyq_n(&e->ready) && !e->stopping) {
			double k0 = readyq_head_key(&e->ready);
			idx = readyq_pop(&e->ready);
			claim(e, w, idx);
			if (batch && w->short_ok) {
				/* leave the others at least as many as this one takes,
				 * and claim only tasks of this key with one more of it
				 * left in the queue: nothing more urgent than what the
				 * others will run next can wait behind a long one here */
				uint32_t n = readyq_n(&e->ready) / (2 * (uint32_t)e->jobs);
				if (n > BATCH_MAX - 1)
					n = BATCH_MAX - 1;
				while (w->bn < n && readyq_head_key(&e->ready) == k0) {
					uint32_t x = readyq_pop(&e->ready);
					if (!readyq_n(&e->ready) || readyq_head_key(&e->ready) != k0) {
						readyq_push(&e->ready, k0, x); /* back: the last of its key */
						break;
					}
					w->bq[w->bn++] = x;
					claim(e, w, x);
				}
				atomic_store_explicit(&w->btake, 0, memory_order_relaxed);
			}
		} else if (e->stopping || !steal(e, w, &idx)) {
			e->idle++;
			fetched_ns = 0;
			if (e->delayed.n && !e->stopping) {
				int64_t due = (int64_t)e->delayed.a[0].key;
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				int64_t wait = due - now_ns();
				if (wait < 0)
					wait = 0;
				int64_t ns = ts.tv_nsec + wait % 1000000000;
				ts.tv_sec += wait / 1000000000 + ns / 1000000000;
				ts.tv_nsec = ns % 1000000000;
				pthread_cond_timedwait(&e->cv, &e->mu, &ts);
			} else {
				pthread_cond_wait(&e->cv, &e->mu);
			}
			e->idle--;
			continue;
		}
		e->running++;
		w->running = 1;
		/* a stop is only ever set under e->mu, which orders this; a seq_cst
		 * store here would be a full barrier per task */
		if (atomic_load_explicit(&w->stop, memory_order_relaxed))
			atomic_store_explicit(&w->stop, 0, memory_order_relaxed);
		pthread_mutex_unlock(&e->mu);

		/* the task, then the rest of its batch; the lock is held when the
		 * batch is over */
		for (;;) {
			struct attempt a;
			if (attempt_run(e, w, &rc, ps, t0_ns, idx, &fetched_ns, &a) == GBX_DEFER) {
				/* a before hook deferred it: back to the timer heap, and
				 * on with the rest of the batch, if any */
				pthread_mutex_lock(&e->mu);
				complete_deferred(e, w);
				defer(e, w, idx, a.start_ns);
				fetched_ns = 0;
				if (batch_take(w, &idx)) {
					e->running++;
					w->running = 1;
					pthread_mutex_unlock(&e->mu);
					continue;
				}
				break;
			}
			if (batch) {
				w->short_ok = attempt_plain(w, &rc, &a);
				uint32_t done = idx;
				if (w->short_ok && batch_take(w, &idx)) {
					w->dq[w->dn].idx = done;
					w->dq[w->dn].start_ns = a.start_ns;
					w->dq[w->dn].end_ns = a.end_ns;
					w->dn++;
					/* the next one may be long: a task that releases
					 * others, or that the journal must record, is
					 * completed before it starts */
					w->dq_deps |= e->wl->tasks[done].nouts > 0;
					if (w->dq_deps || journal) {
						pthread_mutex_lock(&e->mu);
						complete_deferred(e, w);
						pthread_mutex_unlock(&e->mu);
					}
					continue;
				}
			}
			pthread_mutex_lock(&e->mu);
			complete_deferred(e, w);
			int final = complete(e, w, idx, &a);
			if (final && !e->o.silent &&
			    (a.out->len || a.err->len || e->o.verbose || e->o.output_dir)) {
				pthread_mutex_unlock(&e->mu);
				show_output(e, idx, &a);
				pthread_mutex_lock(&e->mu);
				fetched_ns = 0;
			}
			if (w->out.cap > (1u << 20)) /* do not keep a huge buffer around */
				buf_free(&w->out);
			if (w->err.cap > (1u << 20))
				buf_free(&w->err);
			/* the rest of the batch, unless a stop handed it back */
			if (batch_take(w, &idx)) {
				pthread_mutex_unlock(&e->mu);
				continue;
			}
			e->running--;
			w->running = 0;
			break;
		}
	}
	e->exited++;
	/* wake the others so they see the end too, and the main thread */
	pthread_cond_broadcast(&e->cv);
	pthread_cond_broadcast(&e->park_cv);
	if (e->exited == 1) {
		uint64_t one = 1;
		ssize_t r = write(e->done_fd, &one, sizeof one);
		(void)r;
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

static void worker_free(struct worker *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	buf_free(&w->out);
	buf_free(&w->err);
	free(w->lat);
	free(w->fold);
	free(w);
}

/* Under e->mu. Starts threads up to n and sets the concurrency. */
static int set_jobs(struct engine *e, int n)
{
	if (n < 1)
		n = 1;
	int cap = e->o.jobs_max > 0 ? e->o.jobs_max : JOBS_LIMIT;
	if (n > cap)
		n = cap;
	while (e->nthreads < n) {
		struct worker *w = calloc(1, sizeof *w);
		if (!w)
			break;
		w->e = e;
		w->idx = e->nthreads;
		w->wake_fd = -1;
		w->fold_due = INT64_MAX;
		w->events = e->events != NULL;
		if ((e->lat && !(w->lat = calloc(LAT_BUCKETS, sizeof *w->lat))) ||
		    (e->ps->nattempt && !(w->fold = calloc(e->ps->nattempt, sizeof *w->fold))) ||
		    (w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
			worker_free(w);
			break;
		}
		struct worker **nw = realloc(e->w, (size_t)(e->nthreads + 1) * sizeof *nw);
		if (!nw) {
			worker_free(w);
			break;
		}
		e->w = nw;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		int rc = pthread_create(&w->th, &at, worker_main, w);
		pthread_attr_destroy(&at);
		if (rc) {
			worker_free(w);
			break;
		}
		e->w[e->nthreads++] = w;
	}
	if (n > e->nthreads)
		n = e->nthreads;
	/* a worker above the new limit stops after its current task: the rest
	 * of its batch goes back to the ready queue */
	int64_t now = 0;
	for (int i = n; i < e->nthreads; i++) {
		struct worker *w = e->w[i];
		uint32_t idx;
		while (batch_take(w, &idx)) {
			now = now ? now : now_ns();
			e->wl->tasks[idx].attempts--;
			make_ready(e, idx, now);
		}
	}
	e->jobs = n;
	pthread_cond_broadcast(&e->cv);
	pthread_cond_broadcast(&e->park_cv);
	return n;
}

/* ---- progress and summary ------------------------------------------------ */

static void progress_line(struct engine *e)
{
	pthread_mutex_lock(&e->mu);
	uint32_t fin = e->n_final, ok = e->n_ok, failed = e->n_failed;
	int running = e->running;
	uint32_t queued = readyq_n(&e->ready);
	uint32_t total = e->wl->ntasks;
	pthread_mutex_unlock(&e->mu);
	double secs = (double)(now_ns() - e->t0_ns) / 1e9;
	double rate = secs > 0 ? fin / secs : 0;
	char eta[32] = "?";
	if (rate > 0)
		snprintf(eta, sizeof eta, "%.0fs", (total - fin) / rate);
	pthread_mutex_lock(&e->out_mu);
	fprintf(stderr, "\r\033[Kgearbox: %u/%u done (%u ok, %u failed), %d running, %u queued, %.1f/s, ETA %s",
		fin, total, ok, failed, running, queued, rate, eta);
	fflush(stderr);
	pthread_mutex_unlock(&e->out_mu);
}

static void summary(struct engine *e)
{
	struct workload *wl = e->wl;
	double wall = (double)(now_ns() - e->t0_ns) / 1e9;
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	double user = (double)(self.ru_utime.tv_sec + kids.ru_utime.tv_sec) +
		      (double)(self.ru_utime.tv_usec + kids.ru_utime.tv_usec) / 1e6;
	double sys = (double)(self.ru_stime.tv_sec + kids.ru_stime.tv_sec) +
		     (double)(self.ru_stime.tv_usec + kids.ru_stime.tv_usec) / 1e6;
	uint32_t unfinished = wl->ntasks - e->n_final;
	uint32_t interrupted = e->n_interrupted < unfinished ? e->n_interrupted : unfinished;
	uint32_t not_started = unfinished - interrupted;

	if (e->progress_on)
		fputs("\r\033[K", stderr);
	if (wl->ntasks == 0) {
		if (!e->o.quiet)
			fprintf(stderr, "gearbox: %s has no tasks; nothing to do\n", wl->path);
		return;
	}
	int problems = e->n_failed || e->n_skipped || unfinished;
	if (e->o.quiet && !problems)
		return;
	fprintf(stderr, "gearbox: %u task%s: %u ok", wl->ntasks, wl->ntasks == 1 ? "" : "s", e->n_ok);
	if (e->n_resumed)
		fprintf(stderr, " (%u from the journal)", e->n_resumed);
	fprintf(stderr, ", %u failed, %u skipped", e->n_failed, e->n_skipped);
	if (interrupted)
		fprintf(stderr, ", %u interrupted", interrupted);
	if (not_started)
		fprintf(stderr, ", %u not started", not_started);
	fprintf(stderr, "; %u attempt%s, %u retried\n", e->n_attempts, e->n_attempts == 1 ? "" : "s",
		e->n_retried);
	fprintf(stderr, "gearbox: wall %.3f s, cpu %.3f s user + %.3f s sys, %.1f tasks/s\n", wall,
		user, sys, wall > 0 ? e->n_attempts / wall : 0.0);
	if (e->n_late)
		fprintf(stderr, "gearbox: %u task%s finished after their deadline\n", e->n_late,
			e->n_late == 1 ? "" : "s");
	if (!e->o.quiet && e->slow[0].ns > 0) {
		fprintf(stderr, "gearbox: slowest:");
		for (int i = 0; i < NSLOW && e->slow[i].ns > 0; i++)
			fprintf(stderr, "%s %s %.3f s", i ? "," : "", wl->tasks[e->slow[i].idx].id,
				(double)e->slow[i].ns / 1e9);
		fputc('\n', stderr);
	}
	int shown = 0;
	for (struct failure *f = e->failures; f; f = f->next) {
		if (shown++ == 20) {
			fprintf(stderr, "gearbox: ... and %u more failed\n", e->n_failed - 20);
			break;
		}
		fprintf(stderr, "gearbox: FAILED %s: ", wl->tasks[f->idx].id);
		if (f->fkind == FK_EXIT)
			fprintf(stderr, "exit %d", f->exit_code);
		else if (f->fkind == FK_SIGNAL)
			fprintf(stderr, "killed by signal %d (%s)", f->sig, strsignal(f->sig));
		else
			fprintf(stderr, "%s", fail_kind_name(f->fkind));
		if (f->msg)
			fprintf(stderr, ": %s", f->msg);
		fprintf(stderr, " (%u attempt%s)\n", f->attempts, f->attempts == 1 ? "" : "s");
		if (f->tail) {
			for (char *p = f->tail, *nl; *p; p = nl + 1) {
				nl = strchr(p, '\n');
				if (!nl) {
					fprintf(stderr, "    | %s\n", p);
					break;
				}
				fprintf(stderr, "    | %.*s\n", (int)(nl - p), p);
			}
		}
	}
	if (e->n_skipped) {
		fprintf(stderr, "gearbox: skipped (a dependency failed):");
		int k = 0;
		for (uint32_t i = 0; i < wl->ntasks && k < 10; i++)
			if (wl->tasks[i].state == ST_SKIPPED)
				fprintf(stderr, "%s %s", k++ ? "," : "", wl->tasks[i].id);
		if (e->n_skipped > 10)
			fprintf(stderr, ", ... (%u in all)", e->n_skipped);
		fputc('\n', stderr);
	}
	if (!e->o.quiet && e->spawn_count) {
		uint64_t half = (e->spawn_count + 1) / 2, seen = 0;
		int med = 0;
		while (med < SPAWN_BUCKETS - 1 && (seen += e->spawn_hist[med]) < half)
			med++;
		fprintf(stderr, "gearbox: spawn time median %d us, mean %.1f us over %llu subprocesses\n",
			med, (double)e->spawn_ns_total / 1e3 / (double)e->spawn_count,
			(unsigned long long)e->spawn_count);
	}
}

/* ---- policies on the tick (main thread) ---------------------------------- */

struct cpu_sample {
	uint64_t busy, total;
};

static int read_cpu(struct cpu_sample *c)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return -1;
	unsigned long long v[8] = {0};
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		       &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return -1;
	uint64_t idle = v[3] + v[4]; /* idle + iowait */
	c->total = 0;
	for (int i = 0; i < 8; i++)
		c->total += v[i];
	c->busy = c->total - idle;
	return 0;
}

static double read_mem(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return 0;
	char line[256];
	double total = 0, avail = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long long kb;
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			total = (double)kb;
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			avail = (double)kb;
	}
	fclose(f);
	return total > 0 && avail >= 0 ? 1.0 - avail / total : 0;
}

/* Samples the machine and the engine for the scaling policy and the plugins'
 * ticks. Takes e->mu for the engine's counters. */
struct sampler {
	struct cpu_sample cpu;
	int64_t last_ns;
	uint32_t last_final;
};

static void gather(struct engine *e, struct sampler *sm, struct policy_metrics *m)
{
	struct cpu_sample cur;
	memset(m, 0, sizeof *m);
	if (read_cpu(&cur) == 0 && cur.total > sm->cpu.total)
		m->cpu = (double)(cur.busy - sm->cpu.busy) / (double)(cur.total - sm->cpu.total);
	sm->cpu = cur;
	m->mem = read_mem();
	int64_t now = now_ns();
	double secs = (double)(now - sm->last_ns) / 1e9;
	sm->last_ns = now;
	pthread_mutex_lock(&e->mu);
	m->queued = readyq_n(&e->ready) + e->delayed.n;
	m->running = e->running;
	m->jobs = e->jobs;
	m->cores = ncores();
	m->done = e->n_ok;
	m->failed = e->n_failed;
	m->min_jobs = e->o.jobs_min > 0 ? e->o.jobs_min : 1;
	m->max_jobs = e->o.jobs_max > 0 ? e->o.jobs_max : JOBS_LIMIT;
	m->avg_ms = e->n_attempts ? (double)e->sum_run_ns / 1e6 / e->n_attempts : 0;
	m->throughput = secs > 0 ? (e->n_final - sm->last_final) / secs : 0;
	m->elapsed_ms = (double)(now - e->t0_ns) / 1e6;
	sm->last_final = e->n_final;
	pthread_mutex_unlock(&e->mu);
}

/* Calls the scaling policy and applies its answer, clamped to [min, max]. */
static void scale(struct engine *e, struct sampler *sm)
{
	struct policy_metrics m;
	gather(e, sm, &m);
	pthread_mutex_lock(&e->mu);
	int64_t want;
	if (!e->stopping && policy_scale(e->o.policy, &m, &want) == 0) {
		if (want < m.min_jobs)
			want = m.min_jobs;
		if (want > m.max_jobs)
			want = m.max_jobs;
		if (want != e->jobs) {
			int from = e->jobs;
			int got = set_jobs(e, (int)want);
			if (e->events) {
				pthread_mutex_lock(&e->ev_mu);
				fprintf(e->events, "{\"t_ms\":%.3f,\"event\":\"scaled\",\"jobs\":%d,\"from\":%d,\"cpu\":%.3f,\"mem\":%.3f,\"queued\":%lld}\n",
					m.elapsed_ms, got, from, m.cpu, m.mem, (long long)m.queued);
				pthread_mutex_unlock(&e->ev_mu);
			}
		}
	}
	pthread_mutex_unlock(&e->mu);
}

/* A plugin's tick interval in ns: tick_ms, default 1 s, within [1 ms, 1 h]. */
static int64_t tick_ns(int64_t ms)
{
	if (ms <= 0)
		ms = 1000;
	return (ms > 3600000 ? 3600000 : ms) * 1000000;
}

/* The plugins' tick hooks, each at its own interval (tick_ms, default 1 s). */
static void plugin_ticks(struct engine *e, struct sampler *sm, int64_t *due)
{
	const struct plugin_set *ps = e->ps;
	int64_t now = now_ns();
	int any = 0;
	for (size_t i = 0; i < ps->ntick; i++)
		any |= now >= due[i];
	if (!any)
		return;
	struct policy_metrics m;
	gather(e, sm, &m);
	struct gbx_metrics g = {sizeof g, m.cpu, m.mem, m.queued, m.running, m.jobs, m.cores,
				m.done, m.failed, m.avg_ms, m.throughput, m.elapsed_ms};
	for (size_t i = 0; i < ps->ntick; i++) {
		if (now < due[i])
			continue;
		const struct plugin *p = ps->tick[i];
		p->d->tick(p->self, &g);
		due[i] = now + tick_ns(p->d->tick_ms);
	}
}

static void reload_policies(struct engine *e, const char *why)
{
	struct err err = {{0}};
	pthread_mutex_lock(&e->mu);
	int r = policy_reload(e->o.policy, &err);
	pthread_mutex_unlock(&e->mu);
	pthread_mutex_lock(&e->out_mu);
	if (r)
		fprintf(stderr, "%sgearbox: policy reload (%s) failed: %s\n",
			e->progress_on ? "\r\033[K" : "", why, err.msg);
	else if (!e->o.quiet)
		fprintf(stderr, "%sgearbox: policies reloaded (%s)\n", e->progress_on ? "\r\033[K" : "", why);
	pthread_mutex_unlock(&e->out_mu);
}

/* --watch-policies: reload when a policy file's mtime changes. */
static int policies_changed(struct engine *e, struct timespec *mt)
{
	int changed = 0;
	for (int k = 0; k < POL_NKINDS; k++) {
		const char *f = policy_file(e->o.policy, k);
		struct stat st;
		if (!f || stat(f, &st))
			continue;
		if (mt[k].tv_sec && (st.st_mtim.tv_sec != mt[k].tv_sec || st.st_mtim.tv_nsec != mt[k].tv_nsec))
			changed = 1;
		mt[k] = st.st_mtim;
	}
	return changed;
}

/* ---- the run ------------------------------------------------------------- */

/* Whether anything reads an attempt's start and end: the summary, records,
 * stats, policies, plugins, deadlines. When nothing does (an embedder's
 * silent run of C tasks), a C task's attempt reads no clock at all. */
static int needs_timing(const struct engine *e)
{
	const struct run_opts *o = &e->o;
	if (!o->silent || o->events || o->joblog || o->journal || o->stats || o->policy ||
	    e->ps->n)
		return 1;
	const struct spec *last = NULL;
	for (uint32_t i = 0; i < e->wl->ntasks; i++) {
		const struct spec *s = e->wl->tasks[i].spec;
		if (s != last && s->deadline_ms >= 0)
			return 1;
		last = s;
	}
	return 0;
}

static int open_outputs(struct engine *e, struct err *err)
{
	if (e->o.journal) {
		if (e->o.resume && journal_resume(e, err))
			return -1;
		e->journal_fd = open(e->o.journal, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (e->journal_fd < 0)
			return err_set(err, "%s: cannot open journal: %s", e->o.journal, strerror(errno));
		journal_trim(e);
	} else if (e->o.resume) {
		return err_set(err, "--resume needs --journal FILE");
	}
	if (e->o.events) {
		e->events = fopen(e->o.events, "we");
		if (!e->events)
			return err_set(err, "%s: cannot open events file: %s", e->o.events, strerror(errno));
		setvbuf(e->events, NULL, _IOFBF, 1 << 16);
	}
	if (e->o.joblog) {
		e->joblog = fopen(e->o.joblog, "we");
		if (!e->joblog)
			return err_set(err, "%s: cannot open joblog: %s", e->o.joblog, strerror(errno));
		fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", e->joblog);
	}
	if (e->o.stats) {
		/* opened now so a bad path stops the run before it starts; renamed
		 * into place when it ends, so the file is never half written */
		struct buf b = {0};
		buf_addf(&b, "%s.tmp.%d", e->o.stats, (int)getpid());
		e->stats_tmp = b.p;
		e->lat = calloc(LAT_BUCKETS, sizeof *e->lat);
		if (!e->stats_tmp || !e->lat)
			return err_set(err, "out of memory");
		e->stats = fopen(e->stats_tmp, "we");
		if (!e->stats)
			return err_set(err, "%s: cannot write stats: %s", e->o.stats, strerror(errno));
	}
	if (e->o.output_dir && mkdir(e->o.output_dir, 0755) && errno != EEXIST)
		return err_set(err, "%s: cannot create output directory: %s", e->o.output_dir,
			       strerror(errno));
	return 0;
}

static void close_outputs(struct engine *e)
{
	if (e->journal_fd >= 0)
		close(e->journal_fd);
	if (e->events)
		fclose(e->events);
	if (e->joblog)
		fclose(e->joblog);
	if (e->stats) { /* the run did not start: leave nothing behind */
		fclose(e->stats);
		unlink(e->stats_tmp);
	}
	free(e->stats_tmp);
	free(e->lat);
}

static int read_jobs_file(const char *path, struct timespec *mtime)
{
	struct stat st;
	if (stat(path, &st))
		return -1;
	if (st.st_mtim.tv_sec == mtime->tv_sec && st.st_mtim.tv_nsec == mtime->tv_nsec)
		return 0;
	*mtime = st.st_mtim;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = 0;
	int ok = fscanf(f, "%d", &n) == 1 && n > 0;
	fclose(f);
	return ok ? n : -1;
}

static void engine_free(struct engine *e)
{
	for (int i = 0; i < e->nthreads; i++)
		worker_free(e->w[i]);
	free(e->w);
	struct failure *f = e->failures;
	while (f) {
		struct failure *n = f->next;
		free(f->msg);
		free(f->tail);
		free(f);
		f = n;
	}
	readyq_free(&e->ready);
	heap_free(&e->delayed);
	if (e->done_fd >= 0)
		close(e->done_fd);
	pthread_mutex_destroy(&e->mu);
	pthread_mutex_destroy(&e->out_mu);
	pthread_mutex_destroy(&e->ev_mu);
	pthread_cond_destroy(&e->cv);
	pthread_cond_destroy(&e->park_cv);
}

int engine_run(struct workload *wl, const struct run_opts *o, struct err *err)
{
	struct engine E, *e = &E;
	memset(e, 0, sizeof *e);
	e->wl = wl;
	e->o = *o;
	e->journal_fd = -1;
	e->done_fd = -1;
	e->fail_tail = &e->failures;
	/* adaptive: a worker spins briefly before it sleeps on the lock; the
	 * hold times are short, so a sleep and a wake-up per task would cost
	 * more than the wait */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&e->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_mutex_init(&e->out_mu, NULL);
	pthread_mutex_init(&e->ev_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_cond_init(&e->park_cv, &ca);
	pthread_condattr_destroy(&ca);

	if (open_outputs(e, err)) {
		close_outputs(e);
		engine_free(e);
		return 2;
	}
	e->done_fd = eventfd(0, EFD_CLOEXEC);
	if (e->done_fd < 0) {
		err_set(err, "cannot create an eventfd: %s", strerror(errno));
		close_outputs(e);
		engine_free(e);
		return 2;
	}
	e->progress_on = o->progress > 0 || (o->progress < 0 && !o->quiet && isatty(2));

	/* Signals are taken by this thread alone, through a signalfd; workers
	 * inherit the blocked mask. An embedder may keep its own handling. */
	sigset_t sigs, oldmask;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	int sfd = -1;
	struct sigaction oldpipe;
	if (o->handle_signals) {
		pthread_sigmask(SIG_BLOCK, &sigs, &oldmask);
		sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
		struct sigaction ign = {.sa_handler = SIG_IGN};
		sigaction(SIGPIPE, &ign, &oldpipe);
	}

	e->t0_ns = now_ns();
	e->ps = o->plugins ? o->plugins : &no_plugins;
	e->timing = needs_timing(e);
	/* batches delay completions by a few short attempts: not when events or
	 * shown output would show the delay. A before hook's answer, rejection
	 * or deferral is not a plain attempt: it is completed at once. */
	e->batch = !e->events && !o->verbose && !o->output_dir;
	if (o->host)
		host_attach(o->host, e);
	for (size_t i = 0; i < e->ps->nstart; i++)
		e->ps->start[i]->d->run_start(e->ps->start[i]->self, wl->ntasks);
	e->t0_wall_ms = wall_ms();

	pthread_mutex_lock(&e->mu);
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		wl->tasks[i].slot = -1;
		if (wl->tasks[i].state == ST_RESUMED) {
			e->n_resumed++;
			e->n_ok++;
			e->n_final++;
			release_dependants(e, i, e->t0_ns);
		}
	}
	int64_t now0 = now_ns(); /* one reading for all the tasks ready at the start */
	for (uint32_t i = 0; i < wl->ntasks; i++)
		if (wl->tasks[i].state == ST_WAITING && wl->tasks[i].pending == 0)
			make_ready(e, i, now0);
	int jobs = o->jobs;
	struct timespec jobs_mtime = {0, 0};
	if (o->jobs_file) {
		int n = read_jobs_file(o->jobs_file, &jobs_mtime);
		jobs = n > 0 ? n : 1;
	}
	if (wl->ntasks && (uint32_t)jobs > wl->ntasks && !o->jobs_file)
		jobs = (int)wl->ntasks; /* never more threads than tasks */
	if (wl->ntasks && e->n_final < wl->ntasks)
		set_jobs(e, jobs);
	int nothing_to_do = e->nthreads == 0;
	pthread_mutex_unlock(&e->mu);

	int rc_signals = 0;
	struct policy *pol = o->policy;
	int scaling = pol && policy_has(pol, POL_SCALING);
	int64_t scale_every = scaling ? policy_scale_interval(pol) * 1000000 : 0;
	int64_t next_scale = e->t0_ns + scale_every;
	struct sampler smp = {{0, 0}, e->t0_ns, 0};
	struct timespec pol_mtime[POL_NKINDS];
	memset(pol_mtime, 0, sizeof pol_mtime);
	read_cpu(&smp.cpu);
	int64_t *tick_due = calloc(e->ps->ntick + 1, sizeof *tick_due);
	for (size_t i = 0; tick_due && i < e->ps->ntick; i++) {
		tick_due[i] = e->t0_ns + tick_ns(e->ps->tick[i]->d->tick_ms);
	}
	if (pol && o->watch_policies)
		policies_changed(e, pol_mtime);
	while (!nothing_to_do) {
		struct pollfd p[2] = {{e->done_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
		/* the tick: progress line, jobs file, policies, plugin ticks, events
		 * flushed for tail -f; wake for whichever is due first */
		int wait_ms = 200;
		int64_t first = scaling ? next_scale : INT64_MAX;
		for (size_t i = 0; tick_due && i < e->ps->ntick; i++)
			first = tick_due[i] < first ? tick_due[i] : first;
		if (first != INT64_MAX) {
			int64_t left = (first - now_ns() + 999999) / 1000000;
			wait_ms = left < 0 ? 0 : left < wait_ms ? (int)left : wait_ms;
		}
		int n = poll(p, sfd >= 0 ? 2 : 1, wait_ms);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (sfd >= 0 && p[1].revents) {
			struct signalfd_siginfo si;
			ssize_t got = read(sfd, &si, sizeof si);
			if (got == sizeof si && si.ssi_signo == SIGHUP) {
				if (pol)
					reload_policies(e, "SIGHUP");
			} else if (got == sizeof si) {
				if (++rc_signals >= 2) {
					/* second signal: kill what runs and go now */
					pthread_mutex_lock(&e->mu);
					for (int i = 0; i < e->nthreads; i++) {
						int pid = atomic_load(&e->w[i]->child);
						if (pid > 0)
							kill(-pid, SIGKILL);
					}
					pthread_mutex_unlock(&e->mu);
					fprintf(stderr, "\ngearbox: interrupted again, exiting now\n");
					_exit(130);
				}
				if (!o->quiet)
					fprintf(stderr, "%sgearbox: %s: stopping; terminating running tasks "
						"(again to exit at once)\n", e->progress_on ? "\r\033[K" : "",
						strsignal((int)si.ssi_signo));
				pthread_mutex_lock(&e->mu);
				e->interrupted = 1;
				stop_workers(e, STOP_KILL);
				pthread_mutex_unlock(&e->mu);
			}
		}
		if (scaling && now_ns() >= next_scale) {
			scale(e, &smp);
			next_scale = now_ns() + scale_every;
		}
		if (e->ps->ntick && tick_due)
			plugin_ticks(e, &smp, tick_due);
		if (pol && o->watch_policies && policies_changed(e, pol_mtime))
			reload_policies(e, "file changed");
		if (o->jobs_file) {
			int nj = read_jobs_file(o->jobs_file, &jobs_mtime);
			if (nj > 0) {
				pthread_mutex_lock(&e->mu);
				set_jobs(e, nj);
				pthread_mutex_unlock(&e->mu);
			}
		}
		if (e->events) {
			pthread_mutex_lock(&e->ev_mu);
			fflush(e->events);
			pthread_mutex_unlock(&e->ev_mu);
		}
		if (e->progress_on)
			progress_line(e);
	}
	for (int i = 0; i < e->nthreads; i++) {
		struct worker *w = e->w[i];
		pthread_join(w->th, NULL);
		for (unsigned b = 0; w->lat && b < LAT_BUCKETS; b++)
			e->lat[b] += w->lat[b];
		if (w->lat_max_ns > e->lat_max_ns)
			e->lat_max_ns = w->lat_max_ns;
	}
	free(tick_due);
	for (size_t i = 0; i < e->ps->nend; i++)
		e->ps->end[i]->d->run_end(e->ps->end[i]->self, e->n_ok, e->n_failed);
	if (e->ps->n) {
		struct gbx_summary sum = {sizeof sum, wl->ntasks, e->n_ok, e->n_failed, e->n_skipped,
					  wl->ntasks - e->n_final, e->n_attempts, e->n_retried,
					  e->n_resumed, (double)(now_ns() - e->t0_ns) / 1e6, e->interrupted};
		for (size_t i = 0; i < e->ps->n; i++) {
			const struct plugin *p = &e->ps->p[i];
			if (p->d->abi_minor >= 1 && p->d->run_summary)
				p->d->run_summary(p->self, &sum);
		}
	}
	if (o->host)
		host_attach(o->host, NULL);

	if (!o->silent)
		summary(e);
	if (e->stats)
		stats_write(e, (double)(now_ns() - e->t0_ns) / 1e6);
	int status = e->interrupted ? 130
		     : (e->n_failed || e->n_skipped || e->n_final < wl->ntasks) ? 1 : 0;
	close_outputs(e);
	engine_free(e);
	if (o->handle_signals) {
		if (sfd >= 0)
			close(sfd);
		sigaction(SIGPIPE, &oldpipe, NULL);
		pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	}
	return status;
}
