/* engine.c - runs a workload: the ready queue, the workers and their
 * batches, completion, retries, deferrals and halting. One attempt is run by
 * attempt.c; records, the summary and the main thread's loop live in
 * records.c, summary.c and sampler.c; a run's setup and end in engine_run.c
 * (engine_int.h).
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
#include "engine_int.h"
#include "resrun.h"

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

#include "host.h"
#include "nodes.h"

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
void make_ready(struct engine *e, uint32_t idx, int64_t now)
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
void release_dependants(struct engine *e, uint32_t idx, int64_t now)
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
			host_task_end(e->o.host, &wl->tasks[d]);
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
		if (e->res)
			res_release(e->res, idx);
	}
}

void stop_workers(struct engine *e, int level)
{
	if (level > e->stopping)
		e->stopping = level;
	/* plugins' stop flag and stop fd (ABI 1.4): raised when running tasks
	 * are terminated (Ctrl-C, SIGTERM, --halt now); a --halt soon lets them
	 * finish, and so a hook that waits on something for its task */
	if (level == STOP_KILL)
		host_stop(e->o.host);
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

/* Records the end of an attempt: final success or failure, or a retry.
 * Returns 1 when the attempt is final (its output should be shown). */
int complete(struct engine *e, struct worker *w, uint32_t idx, struct attempt *a)
{
	struct task *t = &e->wl->tasks[idx];
	int64_t run_ns = a->end_ns - a->start_ns;
	if (e->res) {
		if (!w->res_freed)
			res_release(e->res, idx);
		if (e->idle) /* what waited for room may fit now */
			pthread_cond_broadcast(&e->cv);
	}
	e->n_attempts++;
	e->sum_run_ns += run_ns;
	if (a->spawn_ns) {
		e->spawn_ns_total += a->spawn_ns;
		e->spawn_count++;
		int64_t us = a->spawn_ns / 1000;
		e->spawn_hist[us < SPAWN_BUCKETS - 1 ? us : SPAWN_BUCKETS - 1]++;
	}
	t->last_exit = a->sig ? -a->sig : a->exit_code;
	if (a->maxrss_kb > 0)
		res_note_mem(e, idx, a);
	if (e->hist && t->spec->kind == KIND_EXEC) /* exec attempts only (history.h) */
		hist_note(e->hist, idx, (double)run_ns / 1e6,
			  a->cg_peak_kb > a->maxrss_kb ? a->cg_peak_kb : a->maxrss_kb,
			  a->ok ? "ok" : fail_kind_name(a->fkind));
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
		res_ev_finished(a, &b);
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
		if (a->node >= 0) { /* and when it started there */
			buf_adds(&b, ",\"node\":");
			buf_json_str(&b, nodes_name(e->o.nodes, a->node));
			buf_addf(&b, ",\"start_ms\":%.3f", elapsed_ms(e, a->start_ns));
		}
		ev_end(e, &b);
	}

	if (a->ok && a->label[0] && !strcmp(a->label, "cached"))
		e->n_cached++; /* the summary counts them */
	if (interrupted) {
		/* not final: a resumed run will start it again */
		e->n_interrupted++;
		t->state = ST_WAITING;
		return 1;
	}
#ifndef GBX_BENCH_NO_NODES /* see attempt.c */
	if (a->fkind == FK_LOST) {
		int r = node_lost(e, idx, a);
		if (r >= 0)
			return r;
	}
#endif
	if (!a->ok && a->fkind >= FK_EXIT && a->fkind <= FK_SHED)
		e->pstats.failures[a->fkind - FK_EXIT]++;
	if (a->ok && t->attempts > 1 && t->last_fkind >= FK_EXIT && t->last_fkind <= FK_SHED)
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
		host_task_end(e->o.host, t);
		release_dependants(e, idx, a->end_ns);
		return 1;
	}
	int64_t delay;
	if (e->stopping == STOP_NONE && a->fkind != FK_SHED && decide_retry(e, t, a, &delay)) {
		if (a->fkind >= FK_EXIT && a->fkind <= FK_SHED)
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
	host_task_end(e->o.host, t);
	note_failure(e, idx, a);
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

/* ---- workers ------------------------------------------------------------- */

/* Under e->mu: a before hook deferred the task; it is ready again later and
 * this does not count as an attempt. */
static void defer(struct engine *e, struct worker *w, uint32_t idx, int64_t delay_ms,
		  const char *plugin)
{
	struct task *t = &e->wl->tasks[idx];
	if (delay_ms > 3600000)
		delay_ms = 3600000; /* as for retries: at most an hour */
	if (delay_ms <= 0)
		delay_ms = GBX_DEFER_TICK_MS; /* the next tick: never a spin */
	if (t->deferrals < UINT16_MAX)
		t->deferrals++;
	e->n_deferred++;
	t->attempts--;
	e->running--;
	w->running = 0;
	if (e->res) {
		res_release(e->res, idx);
		if (e->idle)
			pthread_cond_broadcast(&e->cv);
	}
	if (e->stopping) {
		t->state = ST_WAITING;
		return;
	}
	t->state = ST_DELAYED;
	heap_push(&e->delayed, (double)(now_ns() + delay_ms * 1000000), idx);
	if (e->events) {
		struct buf b = {0};
		ev_begin(e, &b, "deferred", idx);
		buf_adds(&b, ",\"plugin\":");
		buf_json_str(&b, plugin);
		buf_addf(&b, ",\"delay_ms\":%lld,\"deferrals\":%u", (long long)delay_ms,
			 (unsigned)t->deferrals);
		ev_end(e, &b);
	}
	if (e->idle)
		pthread_cond_signal(&e->cv);
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
	static struct spool empty; /* read only: a zero spool is empty */
	if (e->res && w->dn) {
		/* their needs back at once (same spec, same need), not one each */
		struct res_batch rb = {0};
		for (uint32_t i = 0; i < w->dn; i++)
			res_batch_release(e->res, &rb, &e->wl->tasks[w->dq[i].idx], w->dq[i].idx);
		res_batch_end(e->res, &rb, -1);
		w->res_freed = 1;
	}
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
	w->res_freed = 0;
	w->dq_deps = 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *e = w->e;
	/* a task that closes its stdin must not kill an embedding program with
	 * SIGPIPE: the write fails with EPIPE instead; nor may a spill or an
	 * --output-dir file past the file-size limit with SIGXFSZ: EFBIG fails
	 * that task (spool.h) */
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigaddset(&pipe_set, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	struct runner_ctx rc = {.wake_fd = w->wake_fd, .stop = &w->stop, .child = &w->child,
				.kill_grace_ms = e->o.kill_grace_ms, .timing = e->timing,
				.sink = e->o.sink};
	/* read once: these sit in the engine struct next to fields every worker
	 * writes under the lock, and would cost a cache miss per task */
	const struct plugin_set *ps = e->ps;
	const int64_t t0_ns = e->t0_ns;
	const int batch = e->batch;
	struct res_plan *const res = e->res;
	const int shed = e->o.shed_wait_ms >= 0;
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
		/* with declared needs, the first task in order that fits; a batch
		 * claims more only while they fit (claimed counts as running) */
		double k0 = 0;
		if (readyq_n(&e->ready) && !e->stopping &&
		    (!res || res_pick(res, &e->ready, e->wl->tasks, &idx, &k0))) {
			if (!res) {
				k0 = readyq_head_key(&e->ready);
				idx = readyq_pop(&e->ready);
			}
			claim(e, w, idx);
			if (shed && shed_drop(e, w, idx))
				continue; /* dropped, final: pick again */
			if (batch && w->short_ok) {
				/* leave the others at least as many as this one takes,
				 * and claim only tasks of this key with one more of it
				 * left in the queue: nothing more urgent than what the
				 * others will run next can wait behind a long one here */
				uint32_t n = readyq_n(&e->ready) / (2 * (uint32_t)e->jobs);
				if (n > BATCH_MAX - 1)
					n = BATCH_MAX - 1;
				struct res_batch rb;
				if (res && n)
					res_batch_begin(res, idx, &rb);
				while (w->bn < n && readyq_head_key(&e->ready) == k0) {
					uint32_t x = readyq_pop(&e->ready);
					if (!readyq_n(&e->ready) || readyq_head_key(&e->ready) != k0 ||
					    (res && !res_batch_take(res, &rb, &e->wl->tasks[x], x))) {
						readyq_push(&e->ready, k0, x); /* back: the last of its key */
						break;
					}
					w->bq[w->bn++] = x;
					claim(e, w, x);
				}
				if (res && n)
					res_batch_end(res, &rb, 1);
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
				defer(e, w, idx, a.start_ns, a.label);
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
			if (e->o.sink) {
				/* a front end (sink.h) shows the output and may halt */
				int st = e->wl->tasks[idx].state;
				pthread_mutex_unlock(&e->mu);
				int h = e->o.sink->done(e->o.sink->ctx, &e->wl->tasks[idx], &a,
							final && st != ST_WAITING);
				pthread_mutex_lock(&e->mu);
				if (h && !e->halted) {
					e->halted = 1;
					stop_workers(e, h == 2 ? STOP_KILL : STOP_SOON);
				}
				fetched_ns = 0;
			} else if (final && !e->o.silent &&
			    (a.out->len || a.err->len || e->o.verbose || e->o.output_dir)) {
				pthread_mutex_unlock(&e->mu);
				show_output(e, idx, &a);
				/* a spilled file closed outside the lock (freeing its
				 * blocks may take a while); else at the next attempt */
				spool_clear(&w->out);
				spool_clear(&w->err);
				pthread_mutex_lock(&e->mu);
				fetched_ns = 0;
			}
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

void worker_free(struct worker *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	spool_free(&w->out);
	spool_free(&w->err);
	free(w->lat);
	free(w->fold);
	free(w);
}

/* Under e->mu. Starts threads up to n and sets the concurrency. */
int set_jobs(struct engine *e, int n)
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
		w->out.dir = w->err.dir = e->o.output_dir; /* written there as it runs */
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
			if (e->res)
				res_release(e->res, idx);
			make_ready(e, idx, now);
		}
	}
	e->jobs = n;
	pthread_cond_broadcast(&e->cv);
	pthread_cond_broadcast(&e->park_cv);
	return n;
}
