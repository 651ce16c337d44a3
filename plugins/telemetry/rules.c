/* rules.c - alerts (thresholds evaluated on the interval tick and once over
 * the whole run at the end) and bottleneck hints (computed at the end from
 * the gauge samples and the histograms). Main thread only.
 *
 * Alerts over a window: the attempts that ended since the previous
 * evaluation. A rule with no attempts in its window (success rate, p99) is
 * not evaluated; throughput is (no attempts is 0/s). An alert "fires" when
 * its condition starts to hold (an event telemetry.alert, state firing) and
 * "resolves" when it stops (state resolved). At the end, each rule is also
 * evaluated over the whole run, and fires then if it holds and is not
 * already firing.
 */
#include "telemetry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const tel_alert_names[NALERT] = {"min_success_rate", "min_throughput", "max_p99_ms"};

static void alert_event(struct tel *T, int a, const char *state, double now_ms, int whole_run)
{
	const struct alert *al = &T->alerts[a];
	char f[512];
	struct gbx_buf b = {0};
	gbx_buf_adds(&b, "\"alert\":\"");
	gbx_buf_adds(&b, tel_alert_names[a]);
	gbx_buf_adds(&b, "\",\"state\":\"");
	gbx_buf_adds(&b, state);
	gbx_buf_adds(&b, "\",\"value\":");
	tb_num(&b, al->value, "null");
	gbx_buf_adds(&b, ",\"threshold\":");
	tb_num(&b, al->threshold, "null");
	gbx_buf_adds(&b, ",\"over\":\"");
	gbx_buf_adds(&b, whole_run ? "run" : "window");
	gbx_buf_adds(&b, "\",\"at_ms\":");
	tb_num(&b, floor(now_ms * 1000) / 1000, "null");
	snprintf(f, sizeof f, "%s", b.p ? b.p : "");
	gbx_buf_free(&b);
	T->host->event(T->host->ctx, "telemetry.alert", NULL, f);
}

static void judge(struct tel *T, int a, double value, double now_ms, int whole_run)
{
	struct alert *al = &T->alerts[a];
	int bad = a == A_P99 ? value > al->threshold : value < al->threshold;
	al->value = value;
	al->last_ms = now_ms;
	if (bad) {
		if (!al->fired)
			al->worst = value;
		else
			al->worst = a == A_P99 ? fmax(al->worst, value) : fmin(al->worst, value);
		if (!al->firing) {
			if (!al->fired)
				al->first_ms = now_ms;
			al->firing = 1;
			al->fired++;
			alert_event(T, a, "firing", now_ms, whole_run);
			/* on the terminal too: an alert nobody sees is no alert */
			char m[256];
			snprintf(m, sizeof m, "alert %s fired at %.0f ms: %g, %s %g (over the %s)",
			         tel_alert_names[a], now_ms, value, a == A_P99 ? "above" : "below",
			         al->threshold, whole_run ? "whole run" : "last interval");
			T->host->log(T->host->ctx, 1, m);
		}
	} else if (al->firing && !whole_run) {
		al->firing = 0;
		alert_event(T, a, "resolved", now_ms, whole_run);
	}
}

void alerts_eval(struct tel *T, double now_ms, int final)
{
	struct view *v = T->view;
	const struct agg *tot = &v->total;
	if (!final) {
		uint64_t n = tot->ended - T->win_ended, ok = tot->ok - T->win_ok;
		double dt = now_ms - T->win_t;
		if (T->alerts[A_SUCCESS].on && n)
			judge(T, A_SUCCESS, (double)ok / (double)n, now_ms, 0);
		if (T->alerts[A_THROUGHPUT].on && dt > 0)
			judge(T, A_THROUGHPUT, (double)n / (dt / 1e3), now_ms, 0);
		if (T->alerts[A_P99].on && n && T->win_run) {
			struct hsum w;
			hsum_diff(&w, &tot->run, T->win_run);
			judge(T, A_P99, hsum_quantile(&w, 0.99) / 1e6, now_ms, 0);
		}
	} else {
		double wall = T->have_sum ? T->sum.wall_ms : now_ms;
		if (T->alerts[A_SUCCESS].on && tot->ended)
			judge(T, A_SUCCESS, (double)tot->ok / (double)tot->ended, now_ms, 1);
		if (T->alerts[A_THROUGHPUT].on && wall > 0)
			judge(T, A_THROUGHPUT, (double)tot->ended / (wall / 1e3), now_ms, 1);
		if (T->alerts[A_P99].on && tot->ended)
			judge(T, A_P99, hsum_quantile(&tot->run, 0.99) / 1e6, now_ms, 1);
	}
	T->win_t = now_ms;
	T->win_ended = tot->ended;
	T->win_ok = tot->ok;
	if (T->win_run)
		*T->win_run = tot->run;
}

/* ---- hints ------------------------------------------------------------------ */

static struct hint *add_hint(struct tel *T, const char *name)
{
	if (T->nhints >= HINT_MAX)
		return NULL;
	struct hint *h = &T->hints[T->nhints++];
	memset(h, 0, sizeof *h);
	h->name = name;
	return h;
}

void hints_compute(struct tel *T)
{
	T->nhints = 0;
	unsigned n = T->ngs;
	if (n < 3)
		return;
	double cpu = 0, cpu_max = 0, mem = 0, mem_max = 0, run = 0, jobs = 0, queued = 0;
	unsigned idle_empty = 0, backlog = 0;
	int cores = (int)T->m.cores;
	for (unsigned i = 0; i < n; i++) {
		const struct gsample *g = &T->gs[i];
		cpu += g->cpu;
		mem += g->mem;
		cpu_max = fmax(cpu_max, g->cpu);
		mem_max = fmax(mem_max, g->mem);
		run += g->running;
		jobs += g->jobs;
		queued += g->queued;
		idle_empty += g->queued == 0 && g->running < g->jobs;
		backlog += g->queued >= g->jobs && g->jobs > 0;
	}
	cpu /= n;
	mem /= n;
	run /= n;
	jobs /= n;
	queued /= n;
	double busy = jobs > 0 ? run / jobs : 0;
	double per_task = run > 0 && cores > 0 ? cpu * cores / run : 0;
	double f_idle = (double)idle_empty / n, f_backlog = (double)backlog / n;
	const struct agg *tot = &T->view->total;
	double wait_p50 = hsum_quantile(&tot->wait, 0.5) / 1e6,
	       run_p50 = hsum_quantile(&tot->run, 0.5) / 1e6;
	struct hint *h;

	if (cpu >= 0.85 && (h = add_hint(T, "cpu_bound"))) {
		snprintf(h->message, sizeof h->message,
		         "CPU-bound: the machine's CPUs were %.0f%% busy on average (%d cores, "
		         "%.1f jobs): "
		         "more jobs will not help; fewer may",
		         cpu * 100, cores, jobs);
		snprintf(h->figures, sizeof h->figures,
		         "\"cpu_mean\":%.3f,\"cpu_max\":%.3f,\"cores\":%d,\"jobs_mean\":%.2f,"
		         "\"running_mean\":%.2f,\"samples\":%u",
		         cpu, cpu_max, cores, jobs, run, n);
	}
	if (mem_max >= 0.90 && (h = add_hint(T, "memory_bound"))) {
		snprintf(h->message, sizeof h->message,
		         "memory-bound: memory use reached %.0f%% (mean %.0f%%) with %.1f jobs: "
		         "fewer jobs or smaller tasks",
		         mem_max * 100, mem * 100, jobs);
		snprintf(h->figures, sizeof h->figures,
		         "\"mem_mean\":%.3f,\"mem_max\":%.3f,\"jobs_mean\":%.2f,\"samples\":%u",
		         mem, mem_max, jobs, n);
	}
	if (busy >= 0.8 && run >= 1 && per_task < 0.3 && cpu < 0.85 &&
	    (h = add_hint(T, "io_wait"))) {
		snprintf(h->message, sizeof h->message,
		         "I/O wait: slots were %.0f%% busy but a running task used %.2f of a core "
		         "on average: "
		         "tasks wait on I/O; more jobs would overlap the waits",
		         busy * 100, per_task);
		snprintf(h->figures, sizeof h->figures,
		         "\"slot_busy\":%.3f,\"cpu_mean\":%.3f,\"cores\":%d,\"running_mean\":%.2f,"
		         "\"cores_per_running_task\":%.3f,\"samples\":%u",
		         busy, cpu, cores, run, per_task, n);
	}
	if (f_idle >= 0.5 && (h = add_hint(T, "dependency_wait"))) {
		snprintf(h->message, sizeof h->message,
		         "dependency wait: %.0f%% of the time %.1f of %.1f slots sat idle with "
		         "nothing ready: "
		         "dependency chains (or retry delays) limit the parallelism",
		         f_idle * 100, jobs - run, jobs);
		snprintf(h->figures, sizeof h->figures,
		         "\"idle_empty_fraction\":%.3f,\"idle_slots_mean\":%.2f,\"jobs_mean\":%.2f,"
		         "\"running_mean\":%.2f,\"queued_mean\":%.2f,\"samples\":%u",
		         f_idle, jobs - run, jobs, run, queued, n);
	}
	if (f_backlog >= 0.5 && cpu < 0.7 && mem_max < 0.8 &&
	    (h = add_hint(T, "concurrency_too_low"))) {
		snprintf(h->message, sizeof h->message,
		         "concurrency too low: for %.0f%% of the run at least as many tasks waited "
		         "(%.1f) as "
		         "could run (%.1f jobs) while the CPUs were %.0f%% busy: raise jobs",
		         f_backlog * 100, queued, jobs, cpu * 100);
		snprintf(h->figures, sizeof h->figures,
		         "\"backlog_fraction\":%.3f,\"queued_mean\":%.2f,\"jobs_mean\":%.2f,\"cpu_"
		         "mean\":%.3f,\"mem_max\":%.3f,\"cores\":%d,\"wait_p50_ms\":%.3f,\"run_p50_"
		         "ms\":%.3f,\"samples\":%u",
		         f_backlog, queued, jobs, cpu, mem_max, cores, wait_p50, run_p50, n);
	}
}
