/* breaker.c - the "breaker" plugin: a circuit breaker per task target, with
 * resilience4j's semantics (the state machine is breaker_sm.c; this file is
 * the glue to the engine).
 *
 * It owns: a map target -> breaker, the hooks, the events, and
 * breaker.state() / breaker.failure_rate() for policies. The settings
 * (plugins.breaker, with per-target overrides) are read by config.c, the
 * shared window on Redis is shared.c. Tasks without a target never touch it.
 *
 * Threads and locks. before_task/after_task run on several workers at once,
 * policies' Lua functions on the dispatcher under the engine's lock, tick and
 * run_end on the main thread. Each breaker has its own mutex around its state
 * machine. The map is read without a lock (slots are published with release
 * stores and tables are only retired, never freed, until fini); it is written
 * under map_mu. host->event takes the engine's lock, and the Lua functions
 * run under it and take a breaker's mutex, so no event is ever written while
 * a breaker's mutex is held: state changes are queued under the mutex and
 * written after it is released, in queue order, under emit_mu (lock order:
 * breaker mu -> q_mu; emit_mu -> q_mu; emit_mu -> engine).
 *
 * The hot path of a healthy target (CLOSED) takes no lock before the call:
 * it reads the state from an atomic mirror; the result takes the breaker's
 * mutex once to be recorded. A call let through just as another thread
 * opened the breaker is the same race resilience4j has, and its result
 * lands in the window like any other late result.
 */
#include <gearbox/plugin.h>
#include <gearbox/plugin_buf.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "breaker_sm.h"
#include "config.h"
#include "shared.h"

/* ---- the map ------------------------------------------------------------- */

struct breaker {
	char *name;
	uint64_t hash;
	pthread_mutex_t mu;
	/* (gen << 8) | state, stored after every state machine call under mu,
	 * read without it on the hot path and by tick */
	_Atomic uint64_t sg;
	struct bk sm; /* under mu */
	struct sh_view shv; /* plugins.breaker.shared: the last shared state seen */
};

struct table {
	size_t cap;            /* a power of two; at most half full */
	struct table *retired; /* older tables, kept for lock-free readers until fini */
	_Atomic(struct breaker *) slot[];
};

/* a state change waiting to be written to --events */
struct pending {
	struct pending *next;
	char *target, *task;
	struct bk_transition tr;
	int64_t wait_open_ms;
};

struct plugin {
	const struct gbx_host *host;
	struct bk_settings cfg; /* plugins.breaker (config.c) */

	pthread_mutex_t map_mu;
	_Atomic(struct table *) tab;
	size_t count; /* under map_mu */

	pthread_mutex_t q_mu, emit_mu;
	struct pending *qhead, *qtail; /* under q_mu */
	struct shared *sh; /* plugins.breaker.shared, or NULL */
};

/* The call a worker thread let through last: before_task and after_task of
 * one attempt run on the same worker, one attempt at a time, so this ties a
 * result to the permit (and breaker) it got without a lookup, and a result
 * our before_task never saw (an earlier plugin answered the task) is not
 * taken for a call. Keyed by the plugin instance, so two engines in one
 * process (distinct workers anyway) cannot mix them up. */
struct mark {
	const struct plugin *p;
	const gbx_task *t;
	struct breaker *k;
	uint32_t gen;
};
static _Thread_local struct mark tl_mark;

/* the breakers' clock (the state machine reads it only when it needs to) */
static int64_t mono_ns(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct breaker *map_find(struct plugin *p, const char *name, uint64_t h)
{
	struct table *t = atomic_load_explicit(&p->tab, memory_order_acquire);
	size_t mask = t->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct breaker *k = atomic_load_explicit(&t->slot[i], memory_order_acquire);
		if (!k)
			return NULL;
		if (k->hash == h && !strcmp(k->name, name))
			return k;
	}
}

static struct table *table_new(size_t cap)
{
	struct table *t = calloc(1, sizeof *t + cap * sizeof t->slot[0]);
	if (t)
		t->cap = cap;
	return t;
}

static void table_put(struct table *t, struct breaker *k)
{
	size_t mask = t->cap - 1, i = k->hash & mask;
	while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
		i = (i + 1) & mask;
	atomic_store_explicit(&t->slot[i], k, memory_order_release);
}

static const struct bk_config *settings_for(const struct plugin *p, const char *name)
{
	for (size_t i = 0; i < p->cfg.ntcfg; i++)
		if (!strcmp(p->cfg.tcfg[i].name, name))
			return &p->cfg.tcfg[i].s;
	return &p->cfg.base;
}

/* A breaker's critical sections are a few dozen instructions, taken by every
 * worker on every call to a hot target: an adaptive mutex spins briefly
 * before it sleeps, instead of a futex round trip when two workers collide. */
static void breaker_mutex_init(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
#ifdef PTHREAD_MUTEX_ADAPTIVE_NP
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
}

static void publish(struct breaker *k)
{
	atomic_store_explicit(&k->sg, (uint64_t)k->sm.gen << 8 | (uint64_t)k->sm.state,
	                      memory_order_release);
}

static void breaker_free(struct breaker *k)
{
	if (!k)
		return;
	bk_fini(&k->sm);
	pthread_mutex_destroy(&k->mu);
	free(k->name);
	free(k);
}

/* The breaker of target `name`, created on first use. NULL only when out of
 * memory (the caller then lets the call through: a breaker that cannot
 * track a target must not stop its work). */
static struct breaker *map_get(struct plugin *p, const char *name)
{
	uint64_t h = hash_str(name);
	struct breaker *k = map_find(p, name, h);
	if (k)
		return k;
	pthread_mutex_lock(&p->map_mu);
	k = map_find(p, name, h); /* another worker may have just added it */
	if (k)
		goto out;
	struct table *t = atomic_load_explicit(&p->tab, memory_order_relaxed);
	if ((p->count + 1) * 2 > t->cap) {
		struct table *nt = table_new(t->cap * 2);
		if (!nt)
			goto out;
		for (size_t i = 0; i < t->cap; i++) {
			struct breaker *o = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
			if (o)
				table_put(nt, o);
		}
		/* readers that still look at t either find what they want there
		 * or fall back to this locked path and see nt */
		nt->retired = t;
		atomic_store_explicit(&p->tab, nt, memory_order_release);
		t = nt;
	}
	k = calloc(1, sizeof *k);
	if (!k || !(k->name = strdup(name)))
		goto fail;
	const struct bk_config *s = settings_for(p, name);
	k->hash = h;
	sh_view_init(&k->shv);
	breaker_mutex_init(&k->mu);
	if (bk_init(&k->sm, s, mono_ns, NULL)) {
		pthread_mutex_destroy(&k->mu);
		goto fail;
	}
	publish(k);
	if (p->sh) /* a first read of the shared state, without waiting for it */
		sh_send(p->sh, &k->shv, k->name, &k->sm.c, -1, 0);
	table_put(t, k);
	p->count++;
	goto out;
fail:
	if (k)
		free(k->name);
	free(k);
	k = NULL;
out:
	pthread_mutex_unlock(&p->map_mu);
	return k;
}

/* Every breaker, sorted by target (for the summary), in a new array the
 * caller frees; *n its length. Main thread. */
static struct breaker **map_list(struct plugin *p, size_t *n)
{
	pthread_mutex_lock(&p->map_mu);
	struct table *t = atomic_load_explicit(&p->tab, memory_order_relaxed);
	struct breaker **all = malloc((p->count + 1) * sizeof *all);
	*n = 0;
	for (size_t i = 0; all && i < t->cap; i++) {
		struct breaker *k = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
		if (k)
			all[(*n)++] = k;
	}
	pthread_mutex_unlock(&p->map_mu);
	return all;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct breaker *const *)a)->name, (*(struct breaker *const *)b)->name);
}

/* ---- events -------------------------------------------------------------- */

/* Event fields and log lines grow in the SDK's struct gbx_buf (targets and
 * task ids have no length limit). Out of memory sets oom and the line is
 * dropped whole, never cut in the middle of a JSON string. */

/* The text, or "" when out of memory; stays owned by b. */
static const char *sb_str(struct gbx_buf *b)
{
	return b->p && !b->oom ? b->p : "";
}

/* Under k->mu: queues the state change in tr for writing. Out of memory
 * loses the event, never the state change itself. */
static void queue_change(struct plugin *p, struct breaker *k, const struct bk_transition *tr,
                         const char *task)
{
	struct pending *e = calloc(1, sizeof *e);
	if (!e)
		return;
	e->target = strdup(k->name);
	e->task = task ? strdup(task) : NULL;
	e->tr = *tr;
	e->wait_open_ms = k->sm.c.wait_open_ms;
	pthread_mutex_lock(&p->q_mu);
	if (p->qtail)
		p->qtail->next = e;
	else
		p->qhead = e;
	p->qtail = e;
	pthread_mutex_unlock(&p->q_mu);
}

static void rate_field(struct gbx_buf *b, const char *name, double v)
{
	if (v < 0)
		gbx_buf_addf(b, ",\"%s\":-1", name);
	else
		gbx_buf_addf(b, ",\"%s\":%.2f", name, v);
}

/* Writes the queued state changes, oldest first. Call with no breaker's
 * mutex held (host->event takes the engine's lock). */
static void flush_changes(struct plugin *p)
{
	pthread_mutex_lock(&p->emit_mu);
	for (;;) {
		pthread_mutex_lock(&p->q_mu);
		struct pending *e = p->qhead;
		if (e) {
			p->qhead = e->next;
			if (!p->qhead)
				p->qtail = NULL;
		}
		pthread_mutex_unlock(&p->q_mu);
		if (!e)
			break;
		struct gbx_buf f = {0};
		gbx_buf_addf(&f, "\"target\":");
		gbx_buf_json(&f, e->target ? e->target : "");
		gbx_buf_addf(&f, ",\"from\":\"%s\",\"to\":\"%s\"", bk_state_name(e->tr.from),
		       bk_state_name(e->tr.to));
		rate_field(&f, "failure_rate", e->tr.failure_rate);
		rate_field(&f, "slow_call_rate", e->tr.slow_call_rate);
		gbx_buf_addf(&f, ",\"calls\":%u,\"failed\":%u,\"slow\":%u", e->tr.calls, e->tr.failed,
		       e->tr.slow);
		if (e->tr.to == BK_OPEN)
			gbx_buf_addf(&f, ",\"wait_open_ms\":%lld", (long long)e->wait_open_ms);
		if (e->task) {
			gbx_buf_addf(&f, ",\"task\":");
			gbx_buf_json(&f, e->task);
		}
		if (!f.oom)
			p->host->event(p->host->ctx, "breaker.transition", NULL, sb_str(&f));
		free(f.p);
		free(e->target);
		free(e->task);
		free(e);
	}
	pthread_mutex_unlock(&p->emit_mu);
}

/* ---- hooks --------------------------------------------------------------- */

static void bk_before(void *self, const gbx_task *t, struct gbx_before *ans)
{
	struct plugin *p = self;
	tl_mark.p = NULL; /* whatever happens below, no stale mark survives */
	const char *target = p->host->task_target(t);
	if (!target)
		return;
	struct breaker *k = map_get(p, target);
	if (!k)
		return;
	uint64_t sg = atomic_load_explicit(&k->sg, memory_order_acquire);
	int state = (int)(sg & 0xff);
	if (state == BK_DISABLED)
		return; /* not even a mark: nothing is recorded */
	int64_t sdelay;
	if (p->sh && state != BK_FORCED_OPEN && sh_check(&k->shv, &sdelay) == BK_OPEN) {
		/* other processes' calls opened the target's shared window */
		static _Thread_local char sreason[512];
		pthread_mutex_lock(&k->mu);
		int hold = k->sm.c.on_open == BK_HOLD_CALLS;
		if (hold)
			k->sm.n_held++;
		else
			k->sm.n_rejected++;
		pthread_mutex_unlock(&k->mu);
		if (hold) {
			ans->verdict = GBX_DEFER;
			ans->delay_ms = sdelay;
		} else {
			snprintf(sreason, sizeof sreason,
			         "target \"%s\" is OPEN in the shared state (half-open in %lld ms)",
			         target, (long long)sdelay);
			ans->verdict = GBX_REJECT;
			ans->reason = sreason;
		}
		return;
	}
	if (state == BK_CLOSED) {
		tl_mark = (struct mark){p, t, k, (uint32_t)(sg >> 8)};
		return;
	}
	struct bk_transition tr;
	uint32_t gen;
	int64_t delay;
	pthread_mutex_lock(&k->mu);
	int v = bk_permit(&k->sm, (uintptr_t)t, &gen, &delay, &tr);
	state = k->sm.state;
	int permitted = k->sm.c.permitted_half_open;
	if (tr.happened)
		queue_change(p, k, &tr, p->host->task_id(t));
	publish(k);
	pthread_mutex_unlock(&k->mu);
	if (tr.happened)
		flush_changes(p);

	/* The host copies the reason when we return, before this thread calls
	 * us again: a per-thread buffer is enough. */
	static _Thread_local char reason[512];
	switch (v) {
	case BK_ALLOW:
		tl_mark = (struct mark){p, t, k, gen};
		return;
	case BK_HOLD:
		ans->verdict = GBX_DEFER;
		ans->delay_ms = delay > 0 ? delay : 1;
		return;
	default:
		if (state == BK_FORCED_OPEN)
			snprintf(reason, sizeof reason, "target \"%s\" is FORCED_OPEN", target);
		else if (state == BK_OPEN)
			snprintf(reason, sizeof reason,
			         "target \"%s\" is OPEN (half-open in %lld ms)", target,
			         (long long)delay);
		else
			snprintf(reason, sizeof reason,
			         "target \"%s\" is HALF_OPEN and its %d trial calls are out",
			         target, permitted);
		ans->verdict = GBX_REJECT;
		ans->reason = reason;
	}
}

static void bk_after(void *self, const gbx_task *t, const struct gbx_result *r)
{
	struct plugin *p = self;
	if (tl_mark.p != p || tl_mark.t != t)
		return; /* not a call we let through (no target, held, answered earlier) */
	struct breaker *k = tl_mark.k;
	uint32_t gen = tl_mark.gen;
	tl_mark.p = NULL;

	/* k->sm.c is read-only after bk_init: no lock needed to read it */
	int outcome = bk_classify(&k->sm.c, r->ok, r->failure, r->exit_code);
	/* A plugin after us answered the task instead of running it (a cache
	 * hit): the target was not called. The label is there from ABI 1.1 on;
	 * an older host's result ends before it. */
	if (p->host->abi_minor >= 1 && r->label)
		outcome = BK_IGNORED;
	if (p->sh && outcome != BK_IGNORED)
		sh_send(p->sh, &k->shv, k->name, &k->sm.c, outcome, r->ms > k->sm.c.slow_call_ms);
	struct bk_transition tr = {0};
	pthread_mutex_lock(&k->mu);
	if (outcome == BK_IGNORED)
		bk_release(&k->sm, gen, (uintptr_t)t);
	else if (bk_record(&k->sm, outcome, r->ms, gen, (uintptr_t)t, &tr))
		queue_change(p, k, &tr, p->host->task_id(t));
	publish(k);
	pthread_mutex_unlock(&k->mu);
	if (tr.happened)
		flush_changes(p);
}

/* OPEN turns HALF_OPEN on time even when no task of that target asks (all
 * held ones come back at the end of the wait anyway): for the events and
 * for policies that read breaker.state(). */
static void bk_tick_hook(void *self, const struct gbx_metrics *m)
{
	struct plugin *p = self;
	(void)m;
	struct table *t = atomic_load_explicit(&p->tab, memory_order_acquire);
	int any = 0;
	for (size_t i = 0; i < t->cap; i++) {
		struct breaker *k = atomic_load_explicit(&t->slot[i], memory_order_acquire);
		if (k && p->sh) /* refresh the local copy of the shared state */
			sh_send(p->sh, &k->shv, k->name, &k->sm.c, -1, 0);
		if (!k || (atomic_load_explicit(&k->sg, memory_order_acquire) & 0xff) != BK_OPEN)
			continue;
		struct bk_transition tr;
		pthread_mutex_lock(&k->mu);
		if (bk_tick(&k->sm, &tr)) {
			queue_change(p, k, &tr, NULL);
			any = 1;
		}
		publish(k);
		pthread_mutex_unlock(&k->mu);
	}
	if (any)
		flush_changes(p);
}

static void bk_run_start(void *self, int64_t ntasks)
{
	struct plugin *p = self;
	(void)ntasks;
	size_t n;
	struct breaker **all = map_list(p, &n);
	for (size_t i = 0; all && i < n; i++) {
		struct bk *b = &all[i]->sm;
		pthread_mutex_lock(&all[i]->mu);
		memset(b->changes, 0, sizeof b->changes);
		b->n_calls = b->n_failed = b->n_slow = b->n_held = b->n_rejected = b->n_stale = 0;
		pthread_mutex_unlock(&all[i]->mu);
	}
	free(all);
}

/* The summary: per target that changed state or refused calls, its state
 * changes and counts, as a log line and a breaker.summary event. */
static void bk_run_end(void *self, int64_t ok, int64_t failed)
{
	struct plugin *p = self;
	(void)ok;
	(void)failed;
	size_t n;
	struct breaker **all = map_list(p, &n);
	if (!all)
		return;
	qsort(all, n, sizeof *all, by_name);
	size_t shown = 0, quiet = 0;
	for (size_t i = 0; i < n; i++) {
		struct breaker *k = all[i];
		struct gbx_buf line = {0}, ev = {0}, tr = {0};
		int nchanges = 0;
		pthread_mutex_lock(&k->mu);
		const struct bk *b = &k->sm;
		gbx_buf_addf(&ev, "\"target\":");
		gbx_buf_json(&ev, k->name);
		gbx_buf_addf(&ev, ",\"transitions\":{");
		for (int f = 0; f < BK_NSTATES; f++)
			for (int to = 0; to < BK_NSTATES; to++) {
				if (!b->changes[f][to])
					continue;
				gbx_buf_addf(&tr, "%s%s->%s %u", nchanges ? ", " : "", bk_state_name(f),
				       bk_state_name(to), b->changes[f][to]);
				gbx_buf_addf(&ev, "%s\"%s->%s\":%u", nchanges ? "," : "",
				       bk_state_name(f), bk_state_name(to), b->changes[f][to]);
				nchanges++;
			}
		gbx_buf_addf(&ev,
		       "},\"calls\":%llu,\"failed\":%llu,\"slow\":%llu,\"held\":%llu,"
		       "\"rejected\":%llu,\"state\":\"%s\"",
		       (unsigned long long)b->n_calls, (unsigned long long)b->n_failed,
		       (unsigned long long)b->n_slow, (unsigned long long)b->n_held,
		       (unsigned long long)b->n_rejected, bk_state_name(b->state));
		int interesting = nchanges || b->n_held || b->n_rejected;
		if (interesting)
			gbx_buf_addf(&line,
			       "target \"%s\": %s%s; %llu calls recorded (%llu failed, %llu slow), "
			       "%llu held, %llu rejected; now %s",
			       k->name, nchanges ? "" : "no state change", sb_str(&tr),
			       (unsigned long long)b->n_calls, (unsigned long long)b->n_failed,
			       (unsigned long long)b->n_slow, (unsigned long long)b->n_held,
			       (unsigned long long)b->n_rejected, bk_state_name(b->state));
		pthread_mutex_unlock(&k->mu);
		if (interesting && !ev.oom)
			p->host->event(p->host->ctx, "breaker.summary", NULL, sb_str(&ev));
		/* a run with thousands of flapping targets gets a bounded log */
		if (interesting && shown < 20 && !line.oom) {
			p->host->log(p->host->ctx, 0, sb_str(&line));
			shown++;
		} else if (interesting) {
			quiet++;
		}
		free(line.p);
		free(ev.p);
		free(tr.p);
	}
	if (quiet) {
		char more[128];
		snprintf(more, sizeof more,
		         "... and %zu more targets (breaker.summary events in --events)", quiet);
		p->host->log(p->host->ctx, 0, more);
	}
	free(all);
}

/* ---- functions for policies ---------------------------------------------- */

/* The target a policy asks about: a string, or a task view (ABI 1.1).
 * Returns 0 with *target NULL when there is none (nil, a task without one),
 * -1 for another type. */
static int lua_target(struct plugin *p, const struct gbx_value *a, int n, const char **target)
{
	*target = NULL;
	if (n < 1 || a[0].type == GBX_NIL)
		return 0;
	if (a[0].type == GBX_STR && a[0].str) {
		*target = a[0].str;
		return 0;
	}
	if (a[0].type == GBX_TASK && a[0].task) {
		*target = p->host->task_target(a[0].task);
		return 0;
	}
	return -1;
}

/* breaker.state(target): "CLOSED", "OPEN", ... or nil for a target with no
 * breaker yet. Runs under the engine's lock: no event, no log. An OPEN
 * breaker whose wait is over reads OPEN until a task or the tick moves it. */
static int lua_state(void *self, const struct gbx_value *a, int n, struct gbx_value *ret)
{
	struct plugin *p = self;
	const char *target;
	if (lua_target(p, a, n, &target)) {
		ret->type = GBX_STR;
		ret->str = "breaker.state: expected a target name or a task";
		return -1;
	}
	struct breaker *k = target ? map_find(p, target, hash_str(target)) : NULL;
	if (!k) {
		ret->type = GBX_NIL;
		return 0;
	}
	ret->type = GBX_STR;
	ret->str = bk_state_name((int)(atomic_load_explicit(&k->sg, memory_order_acquire) & 0xff));
	return 0;
}

/* breaker.failure_rate(target): percent, -1 below minimum_calls (or in a
 * state without a window), nil for a target with no breaker yet. */
static int lua_failure_rate(void *self, const struct gbx_value *a, int n, struct gbx_value *ret)
{
	struct plugin *p = self;
	const char *target;
	if (lua_target(p, a, n, &target)) {
		ret->type = GBX_STR;
		ret->str = "breaker.failure_rate: expected a target name or a task";
		return -1;
	}
	struct breaker *k = target ? map_find(p, target, hash_str(target)) : NULL;
	if (!k) {
		ret->type = GBX_NIL;
		return 0;
	}
	pthread_mutex_lock(&k->mu);
	double fr = bk_failure_rate(&k->sm);
	pthread_mutex_unlock(&k->mu);
	ret->type = GBX_NUM;
	ret->num = fr;
	return 0;
}

/* ---- life cycle ------------------------------------------------------------ */

static void plugin_free(struct plugin *p)
{
	if (!p)
		return;
	sh_close(p->sh); /* its thread writes into the breakers' views */
	struct table *t = atomic_load_explicit(&p->tab, memory_order_relaxed);
	if (t)
		for (size_t i = 0; i < t->cap; i++)
			breaker_free(atomic_load_explicit(&t->slot[i], memory_order_relaxed));
	while (t) {
		struct table *r = t->retired;
		free(t);
		t = r;
	}
	bk_settings_free(&p->cfg);
	while (p->qhead) {
		struct pending *e = p->qhead;
		p->qhead = e->next;
		free(e->target);
		free(e->task);
		free(e);
	}
	pthread_mutex_destroy(&p->map_mu);
	pthread_mutex_destroy(&p->q_mu);
	pthread_mutex_destroy(&p->emit_mu);
	free(p);
}

static int bk_init_hook(const struct gbx_host *host, const char *config_json, void **self,
                        char *err, size_t errlen)
{
	struct plugin *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->host = host;
	pthread_mutex_init(&p->map_mu, NULL);
	pthread_mutex_init(&p->q_mu, NULL);
	pthread_mutex_init(&p->emit_mu, NULL);
	atomic_init(&p->tab, table_new(16));
	if (!atomic_load_explicit(&p->tab, memory_order_relaxed))
		goto oom;
	if (bk_settings_read(config_json, &p->cfg, err, errlen))
		goto fail;
	if (p->cfg.shared && !(p->sh = sh_open(host, p->cfg.shared, err, errlen)))
		goto fail;
	/* configured targets exist from the start: a policy sees their state,
	 * and FORCED_OPEN / DISABLED show up before any task */
	for (size_t i = 0; i < p->cfg.ntcfg; i++)
		if (!map_get(p, p->cfg.tcfg[i].name))
			goto oom;
	if (GBX_HOST_HAS(host, lua_fn) && host->lua_fn &&
	    (host->lua_fn(host->ctx, "breaker", "state", lua_state, p) ||
	     host->lua_fn(host->ctx, "breaker", "failure_rate", lua_failure_rate, p))) {
		snprintf(err, errlen,
		         "cannot add breaker.state and breaker.failure_rate for policies");
		goto fail;
	}
	*self = p;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	plugin_free(p);
	return -1;
}

static void bk_fini_hook(void *self)
{
	plugin_free(self);
}

/* A target's settings that no task of the run has do nothing: say so. */
static int bk_validate_run(void *self, const struct gbx_run_info *ri, char *err, size_t errlen)
{
	struct plugin *p = self;
	(void)err, (void)errlen;
	return bk_settings_check_run(&p->cfg, p->host, ri);
}

GBX_PLUGIN_EXPORT = {
    .abi_major = GBX_PLUGIN_ABI_MAJOR,
    .abi_minor = GBX_PLUGIN_ABI_MINOR,
    .name = "breaker",
    .version = "0.1.0",
    .description = "circuit breaker per task target (resilience4j semantics): hold or reject "
                   "tasks while their target fails",
    .config_keys = bk_config_keys,
    .init = bk_init_hook,
    .fini = bk_fini_hook,
    .run_start = bk_run_start,
    .run_end = bk_run_end,
    .before_task = bk_before,
    .after_task = bk_after,
    .tick = bk_tick_hook,
    .tick_ms = 100,
    .validate_run = bk_validate_run,
};
