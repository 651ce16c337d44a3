/* attempt.c - one attempt of a task, outside the engine lock: the plugins'
 * before hooks (which may answer, reject or defer it), the runner of its kind
 * (exec, sim, a plugin's kind), and the after hooks, with the folds of
 * attempt_sample (ABI 1.3) kept per worker.
 */
#include "engine_int.h"
#include "resrun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "nodes.h"

/* ---- plugin hooks on the task path (outside e->mu) ----------------------- */

int fail_kind_of(const char *s)
{
	for (int k = FK_EXIT; k <= FK_ERROR; k++)
		if (s && !strcmp(s, fail_kind_name(k)))
			return k;
	return FK_ERROR;
}

void attempt_take_result(struct attempt *a, const struct gbx_result *r)
{
	a->ok = r->ok != 0;
	a->fkind = a->ok ? FK_NONE : fail_kind_of(r->failure);
	a->exit_code = r->ok && r->exit_code < 0 ? 0 : r->exit_code;
	a->sig = r->signal;
	if (r->out_len && a->out)
		spool_add(a->out, r->out, r->out_len);
	if (r->err_len && a->err)
		spool_add(a->err, r->err, r->err_len);
}

void attempt_answered(struct attempt *a, const char *plugin, const struct gbx_before *ans,
		      int64_t untimed_start)
{
	const struct gbx_result *r = &ans->result;
	/* the plugin may have done the work itself (a pool): take its time */
	a->end_ns = now_ns();
	a->start_ns = r->ms > 0 && r->ms < 86400000.0 ? a->end_ns - (int64_t)(r->ms * 1e6)
		    : untimed_start >= 0 ? untimed_start : a->end_ns;
	attempt_take_result(a, r);
	a->exit_code = r->exit_code;
	snprintf(a->label, sizeof a->label, "%s", ans->label ? ans->label : plugin);
	if (!a->ok && ans->message) /* ABI 1.4; a 1.3 plugin leaves it zero */
		snprintf(a->msg, sizeof a->msg, "%s: %s", a->label, ans->message);
}

void attempt_rejected(struct attempt *a, const char *plugin, const struct gbx_before *ans)
{
	a->start_ns = a->end_ns = now_ns();
	a->ok = 0;
	a->fkind = FK_REJECTED;
	a->exit_code = -1;
	snprintf(a->msg, sizeof a->msg, "rejected by %s: %s", plugin,
		 ans->reason ? ans->reason : "no reason given");
}

/* Calls one before_task hook; a verdict other than RUN fills the attempt
 * (ANSWER, REJECT) or asks for a deferral (the delay travels in start_ns). */
static int before_hook(const struct plugin *p, const gbx_task *gt, struct attempt *a)
{
	struct gbx_before ans;
	memset(&ans, 0, sizeof ans);
	p->d->before_task(p->self, gt, &ans);
	switch (ans.verdict) {
	case GBX_ANSWER:
		attempt_answered(a, p->d->name, &ans, -1);
		return GBX_ANSWER;
	case GBX_REJECT:
		attempt_rejected(a, p->d->name, &ans);
		return GBX_REJECT;
	case GBX_DEFER:
		atomic_fetch_add_explicit(&((struct plugin *)p)->deferrals, 1, memory_order_relaxed);
		a->start_ns = ans.delay_ms > 0 ? ans.delay_ms : 0;
		snprintf(a->label, sizeof a->label, "%s", p->d->name);
		return GBX_DEFER;
	default:
		return GBX_RUN;
	}
}

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
	at.node = f->node >= 0 ? nodes_name(w->e->o.nodes, f->node) : NULL;
	at.peak_kb = f->peak_kb;
	at.cpu_us = f->cpu_us;
	f->n = 0;
	ps->attempt[i]->d->after_attempt(ps->attempt[i]->self, &at);
}

/* Outside e->mu: every fold this worker holds (before it waits, and at the end). */
void folds_flush(const struct plugin_set *ps, struct worker *w)
{
	for (size_t i = 0; i < ps->nattempt; i++)
		fold_flush(ps, w, i);
	w->fold_due = INT64_MAX;
}

int folds_pending(const struct plugin_set *ps, const struct worker *w)
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

/* ABI 1.5 gbx_attempt.peak_kb: the cgroup's peak under enforce, else wait4's */
static inline int64_t peak_kb(const struct attempt *a)
{
	return a->cg_peak_kb > a->maxrss_kb ? a->cg_peak_kb : a->maxrss_kb;
}

/* A spilled output for the plugins: the file mapped, so gbx_result keeps its
 * contract (out_len contiguous bytes) without the heap holding them. An
 * output that cannot be mapped fails the attempt (kind "error": the cache
 * keeps none of those) and the plugins see it empty. */
static void view_output(struct attempt *a, struct gbx_result *r, void **om, void **em)
{
	r->out = spool_view(a->out, om);
	r->err = spool_view(a->err, em);
	r->out_len = a->out->len;
	r->err_len = a->err->len;
	if (r->out && r->err)
		return;
	int en = errno;
	spool_unview(a->out, *om);
	spool_unview(a->err, *em);
	*om = *em = NULL;
	a->ok = 0;
	a->fkind = FK_ERROR;
	snprintf(a->msg, sizeof a->msg, "its %s (%llu bytes) could not be mapped for the plugins: %s",
		 r->out ? "stderr" : "stdout", (unsigned long long)(r->out ? a->err->len : a->out->len),
		 strerror(en));
	r->out = r->err = "";
	r->out_len = r->err_len = 0;
}

static void after_hooks(const struct plugin_set *ps, struct worker *w, int64_t t0_ns,
			const struct task *t, struct attempt *a)
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
			     f->node != a->node || a->end_ns - f->first_ns >= FOLD_NS ||
			     f->n == FOLD_MAX))
			fold_flush(ps, w, i);
		if (!f->n) {
			f->kind = kind;
			f->target = s->target;
			f->first_ns = a->end_ns;
			f->node = a->node;
			f->peak_kb = f->cpu_us = 0;
			if (a->end_ns + FOLD_NS < w->fold_due)
				w->fold_due = a->end_ns + FOLD_NS;
		}
		f->n++;
		f->cpu_us += a->user_us + a->sys_us;
		if (peak_kb(a) > f->peak_kb)
			f->peak_kb = peak_kb(a);
	}
	if (!whole)
		return;
	struct gbx_result r;
	void *om = NULL, *em = NULL;
	view_output(a, &r, &om, &em);
	r.ok = a->ok;
	r.failure = a->ok ? NULL : fail_kind_name(a->fkind);
	r.exit_code = a->exit_code;
	r.signal = a->sig;
	r.ms = (double)(a->end_ns - a->start_ns) * 1e-6; /* a product: per attempt */
	r.label = a->label[0] ? a->label : NULL;
	for (size_t i = 0; i < ps->nafter; i++)
		ps->after[i]->d->after_task(ps->after[i]->self, gt, &r);
	if (!ps->nattempt) {
		spool_unview(a->out, om);
		spool_unview(a->err, em);
		return;
	}
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
	at.node = a->node >= 0 ? nodes_name(w->e->o.nodes, a->node) : NULL;
	at.peak_kb = peak_kb(a);
	at.cpu_us = a->user_us + a->sys_us;
	for (size_t i = 0; i < ps->nattempt; i++) {
		struct plugin *p = ps->attempt[i];
		at.sampled = h < p->sample_thresh;
		if (plain && !at.sampled)
			continue; /* folded above */
		if (w->fold[i].n) /* the plugin sees attempts in the order they ended */
			fold_flush(ps, w, i);
		p->d->after_attempt(p->self, &at);
	}
	spool_unview(a->out, om);
	spool_unview(a->err, em);
}

#ifndef GBX_BENCH_NO_NODES
struct feed {
	const struct task_sink *sk;
	const struct task *t;
	int fd;
};

static void feed_chunk(void *ctx, const char *p, size_t n)
{
	struct feed *f = ctx;
	f->sk->chunk(f->sk->ctx, f->t, f->fd, p, n);
}

/* --nodes: out of the way of the local path. With a task sink (gearbox
 * parallel -S), the sink starts the attempt here as exec.c would (its
 * waits, its command, its timeout) and gets the output when the agent's
 * answer brings it. */
__attribute__((cold, noinline)) static void run_remote(struct engine *e, const struct task *t,
						       struct runner_ctx *rc, struct attempt *a)
{
	const struct task_sink *sk = rc->sink;
	if (!sk || t->spec->kind != KIND_EXEC) {
		nodes_run(e->o.nodes, t, rc, a);
		return;
	}
	struct task t2 = *t;
	struct spec s2 = *t->spec;
	char *const *av = sk->start ? sk->start(sk->ctx, t, t->slot + 1, &t2.timeout_ms) : NULL;
	if (av) {
		s2.argv = (char **)av;
		s2.sh = NULL;
	}
	t2.spec = &s2;
	nodes_run(e->o.nodes, &t2, rc, a);
	if (sk->chunk) {
		struct feed f = {sk, t, 1};
		spool_each(a->out, feed_chunk, &f);
		f.fd = 2;
		spool_each(a->err, feed_chunk, &f);
	}
}
#endif

/* Runs one attempt with the runner of the task's kind. */
static void run_attempt(struct engine *e, const struct task *t, struct runner_ctx *rc,
			struct attempt *a)
{
#ifndef GBX_BENCH_NO_NODES /* tests/bench/bench_nodes.sh builds without, to price this */
	if (__builtin_expect(e->o.nodes != NULL, 0)) {
		run_remote(e, t, rc, a); /* on an agent (plugin kinds too: nodeplug.h) */
		return;
	}
#endif
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
		attempt_take_result(a, &r);
		return;
	}
	default:
		if (e->cg)
			res_attempt_setup(e, t, rc);
		exec_run(t, rc, a);
	}
}

/* Outside e->mu: one attempt of task idx, the before hooks through the after
 * hooks. Returns the before hooks' verdict (GBX_DEFER: a.start_ns holds the
 * delay and nothing ran). */
int attempt_run(struct engine *e, struct worker *w, struct runner_ctx *rc,
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
	spool_clear(&w->out); /* what the last attempt left (its file closed) */
	spool_clear(&w->err);
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
	attempt_check_output(a); /* a plugin's answer or kind, a node's output */
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
int attempt_plain(struct worker *w, const struct runner_ctx *rc, const struct attempt *a)
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

