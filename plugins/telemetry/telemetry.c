/* telemetry.c - the "telemetry" plugin: counters, latency histograms and
 * gauges of a run, written as Prometheus text (a file rewritten every
 * interval, and GET /metrics on 127.0.0.1), a Chrome/Perfetto trace, a JSON
 * summary and an HTML report; alerts and bottleneck hints; telemetry.p99()
 * and telemetry.rate() for policies.
 *
 * It owns the settings, the hooks and the Lua functions; the data layout and
 * who may touch what are in telemetry.h. The per-attempt path (after_task)
 * takes no lock and calls no allocator after a slot's first attempt: a
 * pointer compare finds the (kind, target) series, a few relaxed stores bump
 * its counters and two histograms, and a sampled attempt appends 32 bytes to
 * its slot's timeline. Everything else runs on the main thread at the tick
 * and at the end.
 */
#include <gearbox/plugin.h>
#include <gearbox/plugin_config.h>
#include <gearbox/plugin_json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry.h"

/* The tick the engine calls: its loop runs at least every 200 ms (more often
 * with a scaling policy); interval_ms paces the outputs on top of it. */
#define TICK_MS 100

/* ---- settings ----------------------------------------------------------------- */

/* Settings are read with the SDK's typed helpers (<gearbox/plugin_config.h>):
 * each message names the key, what it takes and what it got. */

/* A file path: a non-empty string; null or absent leaves it off. */
static int get_path(const char *cfg, const char *key, char **out, char *err, size_t errlen)
{
	const char *v = gbx_json_member(cfg, key);
	if (!v || !strncmp(v, "null", 4))
		return 0;
	char buf[4096];
	int rc = gbx_cfg_string(cfg, key, buf, sizeof buf, err, errlen);
	if (rc < 0 || !buf[0]) {
		char raw[64];
		snprintf(err, errlen, "%s: expected a file path (a non-empty string), got %s", key,
		         gbx_cfg_raw(v, raw, sizeof raw));
		return -1;
	}
	if (!(*out = strdup(buf))) {
		snprintf(err, errlen, "%s: out of memory", key);
		return -1;
	}
	return 0;
}

static int parse_alerts(struct tel *T, const char *cfg, char *err, size_t errlen)
{
	const char *obj = gbx_json_member(cfg, "alerts");
	if (!obj || !strncmp(obj, "null", 4))
		return 0;
	if (*obj != '{') {
		snprintf(err, errlen,
		         "alerts: expected an object with min_success_rate, min_throughput "
		         "and/or max_p99_ms");
		return -1;
	}
	const char *it = NULL;
	char key[64];
	while (gbx_json_next_member(obj, &it, key, sizeof key)) {
		int a = -1;
		for (int i = 0; i < NALERT; i++)
			if (!strcmp(key, tel_alert_names[i]))
				a = i;
		if (a < 0) {
			snprintf(err, errlen,
			         "alerts.%s: unknown key (expected min_success_rate, "
			         "min_throughput or max_p99_ms)",
			         key);
			return -1;
		}
	}
	if (!it) {
		snprintf(err, errlen, "alerts: malformed object");
		return -1;
	}
	/* min_success_rate 0..1, min_throughput >= 0 per second, max_p99_ms > 0 */
	static const double lo[NALERT] = {0, 0, 0}, hi[NALERT] = {1, 1e12, 1e12};
	for (int a = 0; a < NALERT; a++) {
		double d = 0;
		int rc = gbx_cfg_number(obj, tel_alert_names[a], lo[a], hi[a], &d, err, errlen);
		if (rc > 0 && a == A_P99 && !(d > 0)) {
			snprintf(err, errlen, "%s: expected a number of milliseconds above 0, got 0",
			         tel_alert_names[a]);
			rc = -1;
		}
		if (rc < 0) { /* name it as it is written: alerts.KEY */
			char m[512];
			snprintf(m, sizeof m, "%s", err);
			snprintf(err, errlen, "alerts.%s", m);
			return -1;
		}
		if (rc > 0) {
			T->alerts[a].on = 1;
			T->alerts[a].threshold = d;
		}
	}
	return 0;
}

static int parse_config(struct tel *T, const char *cfg, char *err, size_t errlen)
{
	struct tcfg *c = &T->cfg;
	c->interval_ms = 1000;
	c->sample = 1.0;
	c->hints = 1;
	if (get_path(cfg, "prometheus", &c->prometheus, err, errlen) ||
	    get_path(cfg, "trace", &c->trace, err, errlen) ||
	    get_path(cfg, "summary", &c->summary, err, errlen) ||
	    get_path(cfg, "html", &c->html, err, errlen) ||
	    gbx_cfg_int(cfg, "interval_ms", 10, 86400000, &c->interval_ms, err, errlen) < 0 ||
	    gbx_cfg_number(cfg, "sample", 0, 1, &c->sample, err, errlen) < 0 ||
	    gbx_cfg_bool(cfg, "hints", &c->hints, err, errlen) < 0)
		return -1;
	/* listen: a port, as a number or a string of digits; null: off */
	const char *v = gbx_json_member(cfg, "listen");
	if (v && strncmp(v, "null", 4)) {
		int64_t port = 0;
		char s[16];
		if (*v == '"' && gbx_cfg_string(cfg, "listen", s, sizeof s, err, errlen) > 0 && s[0] &&
		    strspn(s, "0123456789") == strlen(s) && strlen(s) <= 5)
			port = atoi(s);
		else if (*v != '"' && gbx_cfg_int(cfg, "listen", 1, 65535, &port, err, errlen) < 0)
			port = 0;
		if (port < 1 || port > 65535) {
			char raw[64];
			snprintf(err, errlen,
			         "listen: expected a TCP port from 1 to 65535 (served on 127.0.0.1), "
			         "got %s",
			         gbx_cfg_raw(v, raw, sizeof raw));
			return -1;
		}
		c->listen = (int)port;
	}
	if (parse_alerts(T, cfg, err, errlen))
		return -1;
	const char *keys[] = {"prometheus", "trace", "summary", "html"};
	char *paths[] = {c->prometheus, c->trace, c->summary, c->html};
	for (int i = 0; i < 4; i++) {
		char why[600];
		if (paths[i] && check_writable(paths[i], why, sizeof why)) {
			snprintf(err, errlen, "%s: %s", keys[i], why);
			return -1;
		}
	}
	return 0;
}

/* ---- the per-attempt path ------------------------------------------------------- */

static struct shard *shard_slow(struct tel *T, int slot)
{
	struct shard *s = shard_new(), *expect = NULL;
	if (!s)
		return NULL;
	if (!atomic_compare_exchange_strong(&T->shards[slot], &expect, s)) {
		shard_free(s);
		return expect;
	}
	int n = atomic_load(&T->nslots);
	while (n < slot + 1 && !atomic_compare_exchange_weak(&T->nslots, &n, slot + 1))
		;
	return s;
}

static struct series *series_slow(struct tel *T, struct shard *s, const char *kind,
                                  const char *target)
{
	unsigned kid = kind == s->lk ? s->lkid : reg_id(T->kinds, kind ? kind : "?");
	unsigned tid = target == s->lt ? s->ltid : target ? reg_id(T->targets, target) : T_NONE;
	struct series *se = s->by[kid][tid];
	if (!se) {
		unsigned n = atomic_load_explicit(&s->nser, memory_order_relaxed);
		/* the hot first line stays one line (C11: the size a multiple of 64) */
		se = aligned_alloc(64, (sizeof *se + 63) & ~(size_t)63);
		if (!se)
			return NULL;
		memset(se, 0, sizeof *se);
		se->kid = (uint16_t)kid;
		se->tid = (uint16_t)tid;
		se->idx = (uint16_t)n;
		s->by[kid][tid] = se;
		s->list[n] = se;
		atomic_store_explicit(&s->nser, n + 1, memory_order_release);
	}
	s->lk = kind;
	s->lkid = kid;
	s->lt = target;
	s->ltid = tid;
	s->ls = se;
	return se;
}

/* The trace's pid - 1 for a node: 1 + its id (a node past TEL_NODES shares "other"). */
static unsigned node_slow(struct tel *T, struct shard *s, const char *node)
{
	s->lnode = node;
	s->lnid = 1 + reg_id(T->nodes, node);
	return s->lnid;
}

/* The owner's next chunk: a small one first (a slot with few attempts costs
 * little), big ones after. */
static struct chunk *chunk_next(struct tel *T, struct shard *s)
{
	struct chunk *c = chunk_alloc(T, s->tail ? CHUNK_BIG : CHUNK_FIRST);
	if (!c)
		return NULL;
	if (s->tail)
		atomic_store_explicit(&s->tail->next, c, memory_order_release);
	else
		atomic_store_explicit(&s->head, c, memory_order_release);
	s->tail = c;
	return c;
}

/* One ended attempt, or a fold of count plain successes, into the owner's
 * shard. Everything comes from the struct the host filled (ABI 1.3): no host
 * call on this path. The host picks the sampled tasks (attempt_sample); the
 * others reach here only when not plain, or folded. */
static inline __attribute__((always_inline)) void
record(struct tel *T, struct shard *s, const struct gbx_attempt *a)
{
	const struct gbx_result *r = a->result;
	const char *kind = a->kind, *target = a->target;
	struct series *se =
	    kind == s->lk && target == s->lt ? s->ls : series_slow(T, s, kind, target);
	if (!se)
		return;
	int status = 0;
	if (T->abi15 && (a->peak_kb > 0 || a->cpu_us > 0)) {
		relaxed_add(&se->res_n, a->count);
		relaxed_add(&se->cpu_us, a->cpu_us > 0 ? (uint64_t)a->cpu_us : 0);
		if ((uint64_t)a->peak_kb > atomic_load_explicit(&se->peak_kb, memory_order_relaxed))
			atomic_store_explicit(&se->peak_kb, (uint64_t)a->peak_kb, memory_order_relaxed);
	}
	if (a->count != 1) { /* a fold: plain successes, outside the sample */
		relaxed_add(&se->ok, a->count);
		return;
	}
	if (r->ok) {
		relaxed_inc(&se->ok);
	} else {
		int f = fail_index(r->failure);
		relaxed_inc(&se->failed[f]);
		status = 1 + f;
	}
	if (a->attempt > 1)
		relaxed_inc(&se->retried);
	if (r->label && !strcmp(r->label, "cached")) {
		relaxed_inc(&se->cached);
		status |= ST_CACHED;
	}
	/* the counters above are exact; the detail below is for sampled tasks */
	if (!a->sampled)
		return;
	uint64_t wait_ns = a->wait_ns > 0 ? (uint64_t)a->wait_ns : 0;
	uint64_t run_ns = a->run_ns > 0 ? (uint64_t)a->run_ns : 0;
	hist_add(&se->wait, &se->wait_st, wait_ns);
	hist_add(&se->run, &se->run_st, run_ns);
	if (!T->want_slices)
		return;
	/* products, not quotients: a division is ~15 cycles on this path */
	double start = (double)a->start_ns * 1e-6, run_ms = (double)run_ns * 1e-6;
	if (T->want_bins) {
		/* a short one goes where the slot's last one ended; with sampling
		 * the slot's recorded attempts are not back to back */
		if (T->sample_all && --s->bin_left > 0 && run_ms < s->bin_short)
			s->bins[s->bin_cur] += run_ms;
		else
			bins_add(s, start, run_ms);
	}
	/* a slice: every sampled attempt for a trace file; else (the report
	 * alone) the first few thousand of each slot, for a small run's
	 * timeline drawn attempt by attempt */
	if (!T->want_trace && s->kept >= HTML_SLICES)
		return;
	struct chunk *c = s->tail;
	if ((!c || c->n == c->cap) && !(c = chunk_next(T, s))) {
		s->dropped++;
		return;
	}
	struct slice *sl = &c->s[c->n++];
	s->kept++;
	sl->start_ms = start;
	sl->dur_ms = (float)run_ms;
	sl->wait_ms = (float)((double)wait_ns / 1e6);
	sl->id = a->id;
	sl->ser = se->idx;
	sl->attempt = (uint16_t)(a->attempt > 65535 ? 65535 : a->attempt);
	sl->status = (uint8_t)status;
	sl->node = 0;
	sl->peak_kb = 0;
	sl->cpu_ms = 0;
	if (T->abi15) {
		if (a->node)
			sl->node = (uint8_t)(a->node == s->lnode ? s->lnid : node_slow(T, s, a->node));
		sl->peak_kb = (uint32_t)(a->peak_kb > UINT32_MAX ? UINT32_MAX : a->peak_kb);
		sl->cpu_ms = (float)((double)a->cpu_us * 1e-3);
	}
}

static void tel_after(void *self, const struct gbx_attempt *a)
{
	struct tel *T = self;
	int slot = a->slot;
	if ((unsigned)slot < TEL_SLOTS) {
		struct shard *s = atomic_load_explicit(&T->shards[slot], memory_order_acquire);
		if (s || (s = shard_slow(T, slot))) {
			record(T, s, a);
			return;
		}
	}
	pthread_mutex_lock(&T->ovf_mu);
	record(T, T->ovf, a);
	pthread_mutex_unlock(&T->ovf_mu);
}

/* ---- main thread: ticks, snapshot, outputs ------------------------------------------ */

static double now_ms(struct tel *T)
{
	return T->host->now_ms(T->host->ctx);
}

static void gauge_sample(struct tel *T, const struct gbx_metrics *m)
{
	if (T->gs_skip && --T->gs_skip)
		return;
	if (T->ngs == GS_MAX) { /* keep every other one, sample half as often */
		for (unsigned i = 0; i < GS_MAX / 2; i++)
			T->gs[i] = T->gs[2 * i + 1];
		T->ngs = GS_MAX / 2;
		T->gs_every *= 2;
	}
	struct gsample *g = &T->gs[T->ngs++];
	g->t_ms = (float)m->elapsed_ms;
	g->cpu = (float)m->cpu;
	g->mem = (float)m->mem;
	g->tput = (float)m->throughput;
	g->queued = (int32_t)m->queued;
	g->running = (int32_t)m->running;
	g->jobs = (int32_t)m->jobs;
	T->gs_skip = T->gs_every;
}

/* the ring of attempt counts for rate(): [0] all, [1..NK] kinds, [1+NK..] targets */
static void snapshot(struct tel *T, double now)
{
	struct view *v = T->view;
	unsigned pos = T->ring_pos;
	T->ring_t[pos] = now;
	T->ring_n[pos][0] = v->total.ended;
	for (unsigned k = 0; k < NK; k++)
		T->ring_n[pos][1 + k] = v->kind[k].ended;
	for (unsigned t = 0; t < NT; t++)
		T->ring_n[pos][1 + NK + t] = v->target[t].ended;
	T->ring_pos = (pos + 1) % 32;
	if (T->ring_len < 32)
		T->ring_len++;
	/* the newest entry at least a second old; with less history, the run's start */
	double t0 = 0;
	const uint64_t *n0 = NULL;
	for (unsigned i = 1; i < T->ring_len; i++) {
		unsigned j = (pos + 32 - i) % 32;
		if (T->ring_t[j] <= now - 1000) {
			t0 = T->ring_t[j];
			n0 = T->ring_n[j];
			break;
		}
	}
	double dt = (now - t0) / 1e3;
	const uint64_t *n1 = T->ring_n[pos];
	pthread_mutex_lock(&T->snap_mu);
	int n = 0;
	for (unsigned k = 0; k < NK; k++) {
		if (!v->kind[k].ended)
			continue;
		T->snap[n].name = reg_name(T->kinds, k);
		T->snap[n].is_target = 0;
		T->snap[n].p99_ms = hsum_quantile(&v->kind[k].run, 0.99) / 1e6;
		T->snap[n].rate = dt > 0 ? (double)(n1[1 + k] - (n0 ? n0[1 + k] : 0)) / dt : 0;
		n++;
	}
	for (unsigned t = 0; t < T_NONE; t++) {
		if (!v->target[t].ended)
			continue;
		T->snap[n].name = reg_name(T->targets, t);
		T->snap[n].is_target = 1;
		T->snap[n].p99_ms = hsum_quantile(&v->target[t].run, 0.99) / 1e6;
		T->snap[n].rate =
		    dt > 0 ? (double)(n1[1 + NK + t] - (n0 ? n0[1 + NK + t] : 0)) / dt : 0;
		n++;
	}
	T->snap_n = n;
	T->snap_p99_all = hsum_quantile(&v->total.run, 0.99) / 1e6;
	T->snap_rate_all = dt > 0 ? (double)(n1[0] - (n0 ? n0[0] : 0)) / dt : 0;
	T->snap_ready = 1;
	pthread_mutex_unlock(&T->snap_mu);
}

static void write_error(struct tel *T, const char *msg)
{
	T->host->log(T->host->ctx, 2, msg);
}

static void publish(struct tel *T, double now, int final)
{
	if (!T->cfg.prometheus && !T->http)
		return;
	prom_render(&T->prom, T, now, final);
	if (T->prom.oom) {
		T->prom.oom = 0;
		return;
	}
	if (T->http)
		http_publish(T->http, T->prom.p, T->prom.len);
	char err[700];
	if (T->cfg.prometheus &&
	    write_atomic(T->cfg.prometheus, T->prom.p, T->prom.len, err, sizeof err)) {
		if (!T->logged_prom_err || final)
			write_error(T, err);
		T->logged_prom_err = 1;
	}
}

static void tel_run_start(void *self, int64_t ntasks)
{
	struct tel *T = self;
	T->ntasks = ntasks;
	T->started = 1;
	T->next_interval_ms = (double)T->cfg.interval_ms;
	char err[700];
	if (T->want_slices && timeline_start(T, err, sizeof err))
		write_error(T, err);
	view_merge(T);
	publish(T, 0, 0);
}

static void tel_tick(void *self, const struct gbx_metrics *m)
{
	struct tel *T = self;
	if (T->ended)
		return;
	size_t have = m->size < sizeof T->m ? m->size : sizeof T->m;
	memset(&T->m, 0, sizeof T->m);
	memcpy(&T->m, m, have);
	T->m.size = sizeof T->m;
	if (have < sizeof T->m)
		T->m.elapsed_ms = now_ms(T);
	T->have_m = 1;
	double now = T->m.elapsed_ms;
	gauge_sample(T, &T->m);
	view_merge(T);
	snapshot(T, now);
	if (now >= T->next_interval_ms) {
		alerts_eval(T, now, 0);
		publish(T, now, 0);
		while (T->next_interval_ms <= now)
			T->next_interval_ms += (double)T->cfg.interval_ms;
	}
}

/* ABI 1.5: the figures plugins published (the cache's hits per level...), read
 * once at the end: every plugin's run_end has run before run_summary. */
static void read_figures(struct tel *T)
{
	const struct gbx_host *h = T->host;
	if (!T->abi15 || !GBX_HOST_HAS(h, counters) || !h->counters)
		return;
	size_t n = h->counters(h->ctx, NULL, 0);
	free(T->ctr);
	T->ctr = n ? calloc(n, sizeof *T->ctr) : NULL;
	T->nctr = T->ctr ? h->counters(h->ctx, T->ctr, n) : 0;
	if (T->nctr > n)
		T->nctr = n;
}

static void finish(struct tel *T)
{
	if (T->ended)
		return;
	T->ended = 1;
	T->end_ms = now_ms(T);
	view_merge(T);
	snapshot(T, T->end_ms);
	if (T->have_m && T->ngs < GS_MAX) { /* a last sample at the end, for the charts */
		struct gsample g;
		if (T->ngs)
			g = T->gs[T->ngs - 1];
		else
			memset(&g, 0, sizeof g);
		g.t_ms = (float)(T->have_sum ? T->sum.wall_ms : T->end_ms);
		g.running = 0;
		g.queued = 0;
		T->gs[T->ngs++] = g;
	}
	alerts_eval(T, T->end_ms, 1);
	read_figures(T);
	if (T->cfg.hints) {
		hints_compute(T);
		for (int i = 0; i < T->nhints; i++) {
			struct gbx_buf b = {0};
			gbx_buf_addf(&b, "\"hint\":\"%s\",\"message\":", T->hints[i].name);
			gbx_buf_json(&b, T->hints[i].message);
			gbx_buf_addf(&b, ",\"figures\":{%s}", T->hints[i].figures);
			if (!b.oom)
				T->host->event(T->host->ctx, "telemetry.hint", NULL, b.p);
			gbx_buf_free(&b);
		}
	}
	publish(T, T->end_ms, 1);
	char err[700];
	if (timeline_finish(T, err, sizeof err))
		write_error(T, err);
	if (T->cfg.summary && summary_write(T, T->cfg.summary, err, sizeof err))
		write_error(T, err);
	if (T->cfg.html && html_write(T, T->cfg.html, err, sizeof err))
		write_error(T, err);
}

static void tel_run_end(void *self, int64_t ok, int64_t failed)
{
	struct tel *T = self;
	(void)ok;
	(void)failed;
	if (T->host->abi_minor < 1) /* no run_summary from this host: finish now */
		finish(T);
}

static void tel_run_summary(void *self, const struct gbx_summary *s)
{
	struct tel *T = self;
	size_t have = s->size < sizeof T->sum ? s->size : sizeof T->sum;
	memset(&T->sum, 0, sizeof T->sum);
	memcpy(&T->sum, s, have);
	T->have_sum = 1;
	finish(T);
}

/* ---- Lua functions (dispatcher thread, engine lock held: read the snapshot) ------- */

static int key_arg(const struct gbx_value *args, int nargs, const char **key, const char *fn,
                   struct gbx_value *ret)
{
	*key = NULL;
	if (nargs < 1 || args[0].type == GBX_NIL)
		return 0;
	if (args[0].type == GBX_STR && args[0].str) {
		*key = args[0].str;
		return 0;
	}
	ret->type = GBX_STR;
	ret->str = fn;
	return -1;
}

static const struct lkey *find_key(struct tel *T, const char *key)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < T->snap_n; i++)
			if (T->snap[i].is_target == pass && !strcmp(T->snap[i].name, key))
				return &T->snap[i];
	return NULL;
}

static int lua_p99(void *self, const struct gbx_value *args, int nargs, struct gbx_value *ret)
{
	struct tel *T = self;
	const char *key;
	if (key_arg(args, nargs, &key,
	            "telemetry.p99: expected a task kind or target name, or no argument", ret))
		return -1;
	ret->type = GBX_NIL;
	pthread_mutex_lock(&T->snap_mu);
	if (T->snap_ready) {
		const struct lkey *k = key ? find_key(T, key) : NULL;
		if (k || !key) {
			ret->type = GBX_NUM;
			ret->num = k ? k->p99_ms : T->snap_p99_all;
		}
	}
	pthread_mutex_unlock(&T->snap_mu);
	return 0;
}

static int lua_rate(void *self, const struct gbx_value *args, int nargs, struct gbx_value *ret)
{
	struct tel *T = self;
	const char *key;
	if (key_arg(args, nargs, &key,
	            "telemetry.rate: expected a task kind or target name, or no argument", ret))
		return -1;
	ret->type = GBX_NUM;
	ret->num = 0;
	pthread_mutex_lock(&T->snap_mu);
	if (T->snap_ready) {
		const struct lkey *k = key ? find_key(T, key) : NULL;
		if (key && !k)
			ret->type = GBX_NIL;
		else
			ret->num = k ? k->rate : T->snap_rate_all;
	}
	pthread_mutex_unlock(&T->snap_mu);
	return 0;
}

/* ---- life cycle ------------------------------------------------------------------- */

static void tel_free(struct tel *T)
{
	if (!T)
		return;
	http_stop(T->http);
	timeline_free(T);
	for (int i = 0; i < TEL_SLOTS; i++)
		shard_free(atomic_load(&T->shards[i]));
	shard_free(T->ovf);
	reg_free(T->kinds);
	reg_free(T->targets);
	reg_free(T->nodes);
	free(T->ctr);
	view_free(T->view);
	free(T->gs);
	free(T->win_run);
	gbx_buf_free(&T->prom);
	free(T->cfg.prometheus);
	free(T->cfg.trace);
	free(T->cfg.summary);
	free(T->cfg.html);
	pthread_mutex_destroy(&T->ovf_mu);
	pthread_mutex_destroy(&T->snap_mu);
	free(T);
}

static int tel_init(const struct gbx_host *host, const char *config_json, void **self, char *err,
                    size_t errlen)
{
	if (host->abi_minor < 3 || !GBX_HOST_HAS(host, now_ms) || !host->now_ms) {
		snprintf(err, errlen,
		         "this gearbox is too old: telemetry needs plugin ABI 1.3 (attempt_sample), "
		         "the host has %u.%u",
		         host->abi_major, host->abi_minor);
		return -1;
	}
	struct tel *T = calloc(1, sizeof *T);
	if (!T) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	T->host = host;
	pthread_mutex_init(&T->ovf_mu, NULL);
	pthread_mutex_init(&T->snap_mu, NULL);
	T->kinds = reg_new(TEL_KINDS);
	T->targets = reg_new(TEL_TARGETS);
	T->nodes = reg_new(TEL_NODES);
	T->view = view_new();
	T->ovf = shard_new();
	T->gs = calloc(GS_MAX, sizeof *T->gs);
	T->win_run = calloc(1, sizeof *T->win_run);
	T->gs_every = 1;
	if (!T->kinds || !T->targets || !T->nodes || !T->view || !T->ovf || !T->gs || !T->win_run) {
		snprintf(err, errlen, "out of memory");
		tel_free(T);
		return -1;
	}
	if (parse_config(T, config_json, err, errlen)) {
		tel_free(T);
		return -1;
	}
	if (!T->cfg.prometheus && !T->cfg.trace && !T->cfg.summary && !T->cfg.html &&
	    !T->cfg.listen)
		host->log(host->ctx, 1,
		          "no output configured, so nothing is written: set plugins.telemetry."
		          "summary, html, trace, prometheus or listen (policies can still read "
		          "telemetry.p99 and telemetry.rate)");
	T->want_slices = T->cfg.trace || T->cfg.html;
	T->want_bins = T->cfg.html != NULL;
	T->want_trace = T->cfg.trace != NULL;
	T->sample_all = T->cfg.sample >= 1;
	T->abi15 = host->abi_minor >= 5;
	if (T->cfg.listen && http_start(T, T->cfg.listen, err, errlen)) {
		tel_free(T);
		return -1;
	}
	if (host->lua_fn && (host->lua_fn(host->ctx, "telemetry", "p99", lua_p99, T) ||
	                     host->lua_fn(host->ctx, "telemetry", "rate", lua_rate, T))) {
		snprintf(err, errlen, "cannot add telemetry.p99 and telemetry.rate for policies");
		tel_free(T);
		return -1;
	}
	*self = T;
	return 0;
}

/* ABI 1.3: the host samples the tasks; the rest of the plain successes come
 * folded, which keeps the counters exact at a fraction of the calls. */
static double tel_sample(void *self)
{
	return ((struct tel *)self)->cfg.sample;
}

static void tel_fini(void *self)
{
	tel_free(self);
}

static const char *const tel_config_keys[] = {"prometheus", "interval_ms", "listen", "trace",
                                              "summary",    "html",        "sample", "alerts",
                                              "hints",      NULL};

GBX_PLUGIN_EXPORT = {
    .abi_major = GBX_PLUGIN_ABI_MAJOR,
    .abi_minor = GBX_PLUGIN_ABI_MINOR,
    .name = "telemetry",
    .version = "0.1.0",
    .description =
        "metrics (Prometheus), a Perfetto trace, a JSON summary and an HTML report of a run",
    .config_keys = tel_config_keys,
    .init = tel_init,
    .fini = tel_fini,
    .run_start = tel_run_start,
    .run_end = tel_run_end,
    .after_attempt = tel_after,
    .attempt_sample = tel_sample,
    .tick = tel_tick,
    .tick_ms = TICK_MS,
    .run_summary = tel_run_summary,
};
