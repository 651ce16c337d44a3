/* prom.c - the Prometheus text exposition (format 0.0.4) of the merged view.
 *
 * Every family gets # HELP and # TYPE once, then its samples; label values
 * are escaped (\\, \", \n). Histograms expose a bucket at every power of two
 * nanoseconds from 2^8 (256 ns) to 2^42 (73 min), which are boundaries of
 * the fine histogram, so the cumulative counts are exact, and +Inf equals
 * _count. The line helpers are unit-tested.
 */
#include "telemetry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LE_FIRST 8
#define LE_LAST  42

void prom_family(struct gbx_buf *b, const char *name, const char *type, const char *help)
{
	gbx_buf_adds(b, "# HELP ");
	gbx_buf_adds(b, name);
	gbx_buf_addc(b, ' ');
	for (const char *s = help; *s; s++) {
		if (*s == '\\')
			gbx_buf_add(b, "\\\\", 2);
		else if (*s == '\n')
			gbx_buf_add(b, "\\n", 2);
		else
			gbx_buf_addc(b, *s);
	}
	gbx_buf_adds(b, "\n# TYPE ");
	gbx_buf_adds(b, name);
	gbx_buf_addc(b, ' ');
	gbx_buf_adds(b, type);
	gbx_buf_addc(b, '\n');
}

void prom_label_value(struct gbx_buf *b, const char *v)
{
	gbx_buf_addc(b, '"');
	for (; *v; v++) {
		if (*v == '\\')
			gbx_buf_add(b, "\\\\", 2);
		else if (*v == '"')
			gbx_buf_add(b, "\\\"", 2);
		else if (*v == '\n')
			gbx_buf_add(b, "\\n", 2);
		else
			gbx_buf_addc(b, *v);
	}
	gbx_buf_addc(b, '"');
}

/* labels: name, value, name, value, ..., NULL; a NULL value skips its pair */
void prom_sample(struct gbx_buf *b, const char *name, const char *const *labels, double v)
{
	gbx_buf_adds(b, name);
	int n = 0;
	for (const char *const *l = labels; l && l[0]; l += 2) {
		if (!l[1])
			continue;
		gbx_buf_addc(b, n++ ? ',' : '{');
		gbx_buf_adds(b, l[0]);
		gbx_buf_addc(b, '=');
		prom_label_value(b, l[1]);
	}
	if (n)
		gbx_buf_addc(b, '}');
	gbx_buf_addc(b, ' ');
	tb_num(b, v, "NaN");
	gbx_buf_addc(b, '\n');
}

/* ---- the families ---------------------------------------------------------- */

static const char *kname(struct tel *T, unsigned k)
{
	const char *n = reg_name(T->kinds, k);
	return n ? n : "?";
}

static const char *tname(struct tel *T, unsigned t)
{
	if (t == T_NONE)
		return NULL;
	const char *n = reg_name(T->targets, t);
	return n ? n : "?";
}

enum { C_ENDED, C_OK, C_RETRIED, C_CACHED, C_REJECTED };

static uint64_t counter_of(const struct agg *a, int which)
{
	switch (which) {
	case C_ENDED:
		return a->ended;
	case C_OK:
		return a->ok;
	case C_RETRIED:
		return a->retried;
	case C_CACHED:
		return a->cached;
	default:
		return a->failed[F_REJECTED];
	}
}

static void pair_counter(struct gbx_buf *b, struct tel *T, const char *name, const char *help,
                         int which)
{
	struct view *v = T->view;
	prom_family(b, name, "counter", help);
	for (unsigned i = 0; i < v->npairs; i++) {
		const char *l[] = {"kind", kname(T, v->pk[i]), "target", tname(T, v->pt[i]), NULL};
		prom_sample(b, name, l, (double)counter_of(v->pair[v->pk[i]][v->pt[i]], which));
	}
}

static void histogram(struct gbx_buf *b, struct tel *T, const char *name, const char *help, int wait)
{
	struct view *v = T->view;
	char bucket[96], count[96], sum[96];
	snprintf(bucket, sizeof bucket, "%s_bucket", name);
	snprintf(count, sizeof count, "%s_count", name);
	snprintf(sum, sizeof sum, "%s_sum", name);
	prom_family(b, name, "histogram", help);
	for (unsigned i = 0; i < v->npairs; i++) {
		const struct agg *a = v->pair[v->pk[i]][v->pt[i]];
		const struct hsum *h = wait ? &a->wait : &a->run;
		const char *k = kname(T, v->pk[i]), *t = tname(T, v->pt[i]);
		char le[32];
		const char *l[] = {"kind", k, "target", t, "le", le, NULL};
		for (int e = LE_FIRST; e <= LE_LAST; e++) {
			snprintf(le, sizeof le, "%.13g", ldexp(1, e) / 1e9);
			prom_sample(b, bucket, l, (double)hsum_count_le(h, (uint64_t)1 << e));
		}
		strcpy(le, "+Inf");
		prom_sample(b, bucket, l, (double)h->count);
		l[4] = NULL;
		prom_sample(b, sum, l, (double)h->sum / 1e9);
		prom_sample(b, count, l, (double)h->count);
	}
}

static void gauge(struct gbx_buf *b, const char *name, const char *help, double v)
{
	prom_family(b, name, "gauge", help);
	prom_sample(b, name, NULL, v);
}

void prom_render(struct gbx_buf *b, struct tel *T, double now_ms, int final)
{
	struct view *v = T->view;
	const struct gbx_metrics *m = &T->m;
	b->len = 0;
	gbx_buf_reserve(b, 4096);
	pair_counter(b, T, "gearbox_attempts_total",
	             "Attempts started and ended (ran, or answered or rejected by a plugin); "
	             "the ones in flight are in gearbox_running",
	             C_ENDED);
	pair_counter(b, T, "gearbox_succeeded_total", "Attempts that succeeded", C_OK);
	prom_family(b, "gearbox_failed_total", "counter", "Attempts that failed, by failure kind");
	for (unsigned i = 0; i < v->npairs; i++) {
		const struct agg *a = v->pair[v->pk[i]][v->pt[i]];
		for (int f = 0; f < NFAIL; f++) {
			const char *l[] = {
			    "kind",    kname(T, v->pk[i]), "target", tname(T, v->pt[i]),
			    "failure", tel_fail_names[f],  NULL};
			prom_sample(b, "gearbox_failed_total", l, (double)a->failed[f]);
		}
	}
	pair_counter(b, T, "gearbox_retried_total", "Attempts after a task's first (retries)",
	             C_RETRIED);
	pair_counter(b, T, "gearbox_cached_total",
	             "Attempts answered by the cache instead of running", C_CACHED);
	pair_counter(
	    b, T, "gearbox_rejected_total",
	    "Attempts rejected by a plugin (also in gearbox_failed_total{failure=\"rejected\"})",
	    C_REJECTED);
	prom_family(b, "gearbox_skipped_total", "counter",
	            "Tasks skipped because a dependency failed (known when the run ends)");
	prom_sample(b, "gearbox_skipped_total", NULL, T->have_sum ? (double)T->sum.skipped : 0);
	prom_family(b, "gearbox_cpu_seconds_total", "counter",
	            "User + system CPU time of the attempts that ran a subprocess");
	for (unsigned i = 0; i < v->npairs; i++) {
		const char *l[] = {"kind", kname(T, v->pk[i]), "target", tname(T, v->pt[i]), NULL};
		prom_sample(b, "gearbox_cpu_seconds_total", l,
		            (double)v->pair[v->pk[i]][v->pt[i]]->cpu_us / 1e6);
	}
	prom_family(b, "gearbox_peak_memory_bytes", "gauge",
	            "The largest peak memory of an attempt's subprocess so far");
	for (unsigned i = 0; i < v->npairs; i++) {
		const char *l[] = {"kind", kname(T, v->pk[i]), "target", tname(T, v->pt[i]), NULL};
		prom_sample(b, "gearbox_peak_memory_bytes", l,
		            (double)v->pair[v->pk[i]][v->pt[i]]->peak_kb * 1024);
	}
	histogram(b, T, "gearbox_queue_wait_seconds",
	          "Time an attempt waited in the ready queue before a worker took it", 1);
	histogram(b, T, "gearbox_run_seconds",
	          "Run time of an attempt (0 when a plugin answered or rejected it)", 0);
	gauge(b, "gearbox_tasks", "Tasks in the workload", (double)T->ntasks);
	gauge(b, "gearbox_queued", "Tasks ready and waiting for a worker", (double)m->queued);
	gauge(b, "gearbox_running", "Attempts running now", final ? 0 : (double)m->running);
	gauge(b, "gearbox_jobs", "Concurrency: how many tasks may run at once", (double)m->jobs);
	gauge(b, "gearbox_cores", "CPU cores of the machine", (double)m->cores);
	gauge(b, "gearbox_cpu_utilization", "CPU utilization of the machine, 0 to 1", m->cpu);
	gauge(b, "gearbox_memory_utilization", "Memory utilization of the machine, 0 to 1", m->mem);
	gauge(b, "gearbox_throughput", "Tasks finished per second (the engine's figure)",
	      m->throughput);
	gauge(b, "gearbox_elapsed_seconds", "Time since the run started", now_ms / 1e3);
	gauge(b, "gearbox_run_finished", "1 once the run has ended", final ? 1 : 0);
	if (T->nctr) { /* read at the end (host->counters, ABI 1.5) */
		prom_family(b, "gearbox_plugin_counter", "gauge",
		            "A counter a plugin published with host->counter_set (e.g. cache.mem.hits), read at the end");
		for (size_t i = 0; i < T->nctr; i++) {
			const char *l[] = {"name", T->ctr[i].name, NULL};
			prom_sample(b, "gearbox_plugin_counter", l, (double)T->ctr[i].n);
		}
	}
	int any = 0;
	for (int a = 0; a < NALERT; a++)
		any |= T->alerts[a].on;
	if (any) {
		prom_family(b, "gearbox_alert_firing", "gauge",
		            "1 while an alert's condition holds (plugins.telemetry.alerts)");
		for (int a = 0; a < NALERT; a++) {
			if (!T->alerts[a].on)
				continue;
			const char *l[] = {"alert", tel_alert_names[a], NULL};
			prom_sample(b, "gearbox_alert_firing", l, T->alerts[a].firing ? 1 : 0);
		}
	}
}
