/* report.c - the end-of-run outputs built from the merged view: the JSON
 * summary and the HTML report (one self-contained file: inline CSS and SVG,
 * no script, no fonts, nothing fetched). Main thread, after run_summary.
 */
#include "telemetry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON summary -------------------------------------------------------------- */

static void lat_json(struct gbx_buf *b, const struct hsum *h)
{
	struct lat l;
	lat_of(h, &l);
	gbx_buf_adds(b, "{\"count\":");
	tb_num(b, l.count, "null");
	gbx_buf_adds(b, ",\"mean\":");
	tb_num(b, round(l.mean * 1e6) / 1e6, "null");
	gbx_buf_adds(b, ",\"p50\":");
	tb_num(b, round(l.p50 * 1e6) / 1e6, "null");
	gbx_buf_adds(b, ",\"p90\":");
	tb_num(b, round(l.p90 * 1e6) / 1e6, "null");
	gbx_buf_adds(b, ",\"p99\":");
	tb_num(b, round(l.p99 * 1e6) / 1e6, "null");
	gbx_buf_adds(b, ",\"max\":");
	tb_num(b, round(l.max * 1e6) / 1e6, "null");
	gbx_buf_addc(b, '}');
}

static void counters_json(struct gbx_buf *b, const struct agg *a, int with_skipped, int64_t skipped)
{
	gbx_buf_addf(b, "{\"started\":%llu,\"succeeded\":%llu,\"failed\":%llu,\"failed_by\":{",
	        (unsigned long long)a->ended, (unsigned long long)a->ok,
	        (unsigned long long)agg_failed(a));
	for (int f = 0; f < NFAIL; f++)
		gbx_buf_addf(b, "%s\"%s\":%llu", f ? "," : "", tel_fail_names[f],
		        (unsigned long long)a->failed[f]);
	gbx_buf_addf(b, "},\"retried\":%llu,\"cached\":%llu,\"rejected\":%llu",
	        (unsigned long long)a->retried, (unsigned long long)a->cached,
	        (unsigned long long)a->failed[F_REJECTED]);
	if (with_skipped)
		gbx_buf_addf(b, ",\"skipped\":%lld", (long long)skipped);
	gbx_buf_addc(b, '}');
}

static void group_json(struct gbx_buf *b, const struct agg *a)
{
	gbx_buf_adds(b, "{\"counters\":");
	counters_json(b, a, 0, 0);
	gbx_buf_adds(b, ",\"run_ms\":");
	lat_json(b, &a->run);
	gbx_buf_adds(b, ",\"queue_wait_ms\":");
	lat_json(b, &a->wait);
	if (a->res_n) /* ABI 1.5: attempts that ran a subprocess */
		gbx_buf_addf(b, ",\"resources\":{\"attempts\":%llu,\"cpu_ms\":%.3f,\"peak_kb_max\":%llu}",
		        (unsigned long long)a->res_n, (double)a->cpu_us / 1e3,
		        (unsigned long long)a->peak_kb);
	gbx_buf_addc(b, '}');
}

/* The members "NAME": {...} of every group that saw an attempt, named by reg. */
static void groups_json(struct gbx_buf *b, const struct agg *g, unsigned n, const struct reg *reg)
{
	int first = 1;
	for (unsigned i = 0; i < n; i++) {
		if (!g[i].ended)
			continue;
		gbx_buf_adds(b, first ? "\n" : ",\n");
		first = 0;
		gbx_buf_json(b, reg_name(reg, i));
		gbx_buf_addc(b, ':');
		group_json(b, &g[i]);
	}
}

static void stat_json(struct gbx_buf *b, const char *name, double mean, double max, int last)
{
	gbx_buf_addf(b, "\"%s\":{\"mean\":", name);
	tb_num(b, round(mean * 1000) / 1000, "null");
	gbx_buf_adds(b, ",\"max\":");
	tb_num(b, round(max * 1000) / 1000, "null");
	gbx_buf_adds(b, last ? "}" : "},");
}

static void path_json(struct gbx_buf *b, const char *key, const char *path, int last)
{
	gbx_buf_addf(b, "\"%s\":", key);
	gbx_buf_json(b, path);
	if (!last)
		gbx_buf_addc(b, ',');
}

static uint64_t slices_kept(struct tel *T, uint64_t *dropped)
{
	uint64_t n = 0;
	*dropped = 0;
	int nslots = atomic_load(&T->nslots);
	for (int i = 0; i <= nslots; i++) {
		struct shard *s = i < nslots ? atomic_load(&T->shards[i]) : T->ovf;
		if (!s)
			continue;
		*dropped += s->dropped;
		for (struct chunk *c = s->head; c; c = c->next)
			n += c->n;
	}
	return n;
}

void summary_json(struct tel *T, struct gbx_buf *b)
{
	struct view *v = T->view;
	const struct gbx_summary *s = &T->sum;
	double wall = T->have_sum ? s->wall_ms : T->end_ms;
	gbx_buf_adds(b, "{\n\"generator\":\"gearbox telemetry 0.1.0\",\n\"run\":");
	if (T->have_sum)
		gbx_buf_addf(b,
		        "{\"tasks\":%lld,\"ok\":%lld,\"failed\":%lld,\"skipped\":%lld,\"not_"
		        "started\":%lld,"
		        "\"attempts\":%lld,\"retried\":%lld,\"resumed\":%lld,\"wall_ms\":%.3f,"
		        "\"interrupted\":%s}",
		        (long long)s->tasks, (long long)s->ok, (long long)s->failed,
		        (long long)s->skipped, (long long)s->not_started, (long long)s->attempts,
		        (long long)s->retried, (long long)s->resumed, s->wall_ms,
		        s->interrupted ? "true" : "false");
	else
		gbx_buf_addf(b, "{\"tasks\":%lld,\"wall_ms\":%.3f}", (long long)T->ntasks, wall);
	gbx_buf_adds(b, ",\n\"counters\":");
	counters_json(b, &v->total, 1, T->have_sum ? s->skipped : 0);
	gbx_buf_adds(b, ",\n\"throughput_per_s\":");
	tb_num(b, wall > 0 ? round((double)v->total.ended / (wall / 1e3) * 1000) / 1000 : 0,
	       "null");
	gbx_buf_adds(b, ",\n\"latency_ms\":{\"run\":");
	lat_json(b, &v->total.run);
	gbx_buf_adds(b, ",\"queue_wait\":");
	lat_json(b, &v->total.wait);
	gbx_buf_adds(b, "},\n\"kinds\":{");
	groups_json(b, v->kind, NK, T->kinds);
	gbx_buf_adds(b, "},\n\"targets\":{");
	groups_json(b, v->target, T_NONE, T->targets);
	gbx_buf_adds(b, "},\n\"plugin_counters\":{");
	for (size_t i = 0; i < T->nctr; i++) {
		gbx_buf_adds(b, i ? ",\n" : "\n");
		gbx_buf_json(b, T->ctr[i].name);
		gbx_buf_addf(b, ":%lld", (long long)T->ctr[i].n);
	}
	gbx_buf_adds(b, "},\n\"gauges\":{");
	double cpu = 0, cpu_max = 0, mem = 0, mem_max = 0, q = 0, q_max = 0, r = 0, r_max = 0,
	       j = 0, j_max = 0;
	for (unsigned i = 0; i < T->ngs; i++) {
		const struct gsample *g = &T->gs[i];
		cpu += g->cpu, mem += g->mem, q += g->queued, r += g->running, j += g->jobs;
		cpu_max = fmax(cpu_max, g->cpu), mem_max = fmax(mem_max, g->mem);
		q_max = fmax(q_max, g->queued), r_max = fmax(r_max, g->running);
		j_max = fmax(j_max, g->jobs);
	}
	double n = T->ngs ? T->ngs : 1;
	gbx_buf_addf(b, "\"samples\":%u,\"cores\":%lld,", T->ngs, (long long)T->m.cores);
	stat_json(b, "cpu", cpu / n, cpu_max, 0);
	stat_json(b, "mem", mem / n, mem_max, 0);
	stat_json(b, "queued", q / n, q_max, 0);
	stat_json(b, "running", r / n, r_max, 0);
	stat_json(b, "jobs", j / n, j_max, 1);
	uint64_t dropped, kept = slices_kept(T, &dropped);
	gbx_buf_adds(b, "},\n\"sample\":");
	tb_num(b, T->cfg.sample, "null");
	gbx_buf_addf(b, ",\n\"timeline\":{\"slices\":%llu,\"dropped\":%llu},\n",
	        (unsigned long long)kept, (unsigned long long)dropped);
	gbx_buf_adds(b, "\"histogram\":{\"unit\":\"ns\",\"buckets_per_power_of_two\":8,"
	           "\"bucket_width_max\":0.125,\"quantile_error_max\":0.0625},\n\"alerts\":[");
	int first = 1;
	for (int a = 0; a < NALERT; a++) {
		const struct alert *al = &T->alerts[a];
		if (!al->on)
			continue;
		gbx_buf_adds(b, first ? "\n" : ",\n");
		first = 0;
		gbx_buf_addf(b, "{\"alert\":\"%s\",\"threshold\":", tel_alert_names[a]);
		tb_num(b, al->threshold, "null");
		gbx_buf_addf(b, ",\"fired\":%d,\"firing\":%s,\"first_ms\":", al->fired,
		        al->firing ? "true" : "false");
		if (al->fired)
			tb_num(b, round(al->first_ms * 1000) / 1000, "null");
		else
			gbx_buf_adds(b, "null");
		gbx_buf_adds(b, ",\"worst\":");
		if (al->fired)
			tb_num(b, round(al->worst * 1e6) / 1e6, "null");
		else
			gbx_buf_adds(b, "null");
		gbx_buf_adds(b, ",\"run_value\":");
		tb_num(b, round(al->value * 1e6) / 1e6, "null");
		gbx_buf_addc(b, '}');
	}
	gbx_buf_adds(b, "],\n\"hints\":[");
	for (int h = 0; h < T->nhints; h++) {
		gbx_buf_adds(b, h ? ",\n" : "\n");
		gbx_buf_addf(b, "{\"hint\":\"%s\",\"message\":", T->hints[h].name);
		gbx_buf_json(b, T->hints[h].message);
		gbx_buf_addf(b, ",\"figures\":{%s}}", T->hints[h].figures);
	}
	gbx_buf_adds(b, "],\n\"outputs\":{");
	path_json(b, "prometheus", T->cfg.prometheus, 0);
	path_json(b, "trace", T->cfg.trace, 0);
	path_json(b, "summary", T->cfg.summary, 0);
	path_json(b, "html", T->cfg.html, 1);
	gbx_buf_adds(b, "}\n}\n");
}

/* Writes b to path atomically (unless building it ran out of memory) and frees it. */
static int tb_save(struct gbx_buf *b, const char *path, char *err, size_t errlen)
{
	int rc;
	if (b->oom) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = -1;
	} else {
		rc = write_atomic(path, b->p, b->len, err, errlen);
	}
	gbx_buf_free(b);
	return rc;
}

int summary_write(struct tel *T, const char *path, char *err, size_t errlen)
{
	struct gbx_buf b = {0};
	summary_json(T, &b);
	return tb_save(&b, path, err, errlen);
}

/* ---- HTML report --------------------------------------------------------------- */

static const char *dur_label(double ns, char *out, size_t n)
{
	if (ns < 1e3)
		snprintf(out, n, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(out, n, "%.3g µs", ns / 1e3);
	else if (ns < 1e9)
		snprintf(out, n, "%.3g ms", ns / 1e6);
	else
		snprintf(out, n, "%.3g s", ns / 1e9);
	return out;
}

/* a "nice" step for an axis from 0 to max with about n ticks */
static double nice_step(double max, int n)
{
	if (max <= 0)
		return 1;
	double raw = max / n, p = pow(10, floor(log10(raw))), f = raw / p;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static const char *palette[] = {"#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"};
#define C_FAIL   "#e15759"
#define C_CACHED "#bab0ac"

struct box {
	double x, y, w, h; /* plot area inside the svg */
};

static void time_axis(struct gbx_buf *b, const struct box *p, double wall_ms)
{
	double step = nice_step(wall_ms, 8);
	for (double t = 0; t <= wall_ms + step * 1e-9; t += step) {
		double x = p->x + t / wall_ms * p->w;
		gbx_buf_addf(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' class='grid'/>", x, p->y,
		        x, p->y + p->h);
		if (wall_ms >= 2000)
			gbx_buf_addf(
			    b,
			    "<text x='%.1f' y='%.1f' class='ax' text-anchor='middle'>%g s</text>",
			    x, p->y + p->h + 14, t / 1e3);
		else
			gbx_buf_addf(
			    b,
			    "<text x='%.1f' y='%.1f' class='ax' text-anchor='middle'>%g ms</text>",
			    x, p->y + p->h + 14, t);
	}
}

/* Adds a slot's busy time to ncol columns spanning [0, wall) (a bin's time
 * is spread evenly over it), times scale (1 / sample: the bins hold the
 * sampled tasks' attempts). */
static double sample_scale(const struct tel *T)
{
	return T->cfg.sample > 0 && T->cfg.sample < 1 ? 1 / T->cfg.sample : 1;
}

static void resample(const struct shard *s, double *col, int ncol, double wall, double scale)
{
	double cw = wall / ncol;
	for (int k = 0; k < TL_BINS; k++) {
		if (s->bins[k] <= 0)
			continue;
		double a = k * s->bin_ms, e = a + s->bin_ms, dens = scale * s->bins[k] / s->bin_ms;
		for (int c = (int)(a / cw); c < ncol && c * cw < e; c++) {
			double lo = fmax(a, c * cw), hi = fmin(e, (c + 1) * cw);
			if (hi > lo && c >= 0)
				col[c] += (hi - lo) * dens;
		}
	}
}

/* lanes of the timeline: the slots that ran something */
static void timeline(struct gbx_buf *b, struct tel *T, double wall_ms)
{
	int nslots = atomic_load(&T->nslots);
	int lanes = 0;
	uint64_t kept = 0, dropped = 0;
	for (int i = 0; i <= nslots; i++) {
		struct shard *s = i < nslots ? atomic_load(&T->shards[i]) : T->ovf;
		if (!s || !atomic_load(&s->nser))
			continue;
		lanes++;
		kept += s->kept;
		dropped += s->dropped;
	}
	/* attempt by attempt when every attempt has its slice and they are few */
	int direct = kept <= 4000 && !dropped && kept == T->view->total.ended;
	gbx_buf_adds(b, "<section class='wide'><h2>Timeline <small>one row per worker slot; ");
	if (direct) {
		gbx_buf_adds(b, "one bar per attempt, by kind:");
		for (unsigned k = 0; k < NK; k++) {
			if (!T->view->kind[k].ended)
				continue;
			gbx_buf_addf(b, " <i class='k' style='background:%s'></i>", palette[k % 6]);
			tb_html(b, reg_name(T->kinds, k));
		}
		gbx_buf_adds(b, " <i class='k' style='background:" C_FAIL
		           "'></i>failed <i class='k' style='background:" C_CACHED "'></i>cached");
	} else {
		gbx_buf_adds(b, "shade: share of the time the slot was busy");
	}
	gbx_buf_adds(b, "</small></h2>\n");
	if (!lanes || wall_ms <= 0) {
		gbx_buf_adds(b, "<p class='note'>Nothing ran.</p></section>\n");
		return;
	}
	double lane_h = lanes <= 8 ? 24 : lanes <= 32 ? 200.0 / lanes > 6 ? 200.0 / lanes : 6 : 3;
	struct box p = {60, 8, 1040, lanes * lane_h};
	gbx_buf_addf(b, "<svg width='1110' height='%.0f' role='img' aria-label='timeline'>", p.h + 30);
	time_axis(b, &p, wall_ms);
	int lane = 0;
	enum { COLS = 530 };
	double *col = direct ? NULL : calloc(COLS, sizeof *col);
	for (int i = 0; i <= nslots; i++) {
		struct shard *s = i < nslots ? atomic_load(&T->shards[i]) : T->ovf;
		if (!s || !atomic_load(&s->nser))
			continue;
		double y = p.y + lane * lane_h;
		if (lane_h >= 10) {
			if (i < nslots)
				gbx_buf_addf(b,
				        "<text x='%.0f' y='%.1f' class='ax' text-anchor='end'>slot "
				        "%d</text>",
				        p.x - 6, y + lane_h * 0.7, i);
			else
				gbx_buf_addf(b,
				        "<text x='%.0f' y='%.1f' class='ax' "
				        "text-anchor='end'>other</text>",
				        p.x - 6, y + lane_h * 0.7);
		}
		if (direct) {
			for (struct chunk *c = s->head; c; c = c->next)
				for (unsigned k = 0; k < c->n; k++) {
					const struct slice *sl = &c->s[k];
					double x = p.x + sl->start_ms / wall_ms * p.w;
					double w = sl->dur_ms / wall_ms * p.w;
					const char *color =
					    sl->status & ST_CACHED ? C_CACHED
					    : (sl->status & 0x7f)
					        ? C_FAIL
					        : palette[s->list[sl->ser]->kid % 6];
					gbx_buf_addf(b,
					        "<rect x='%.2f' y='%.1f' width='%.2f' "
					        "height='%.1f' fill='%s'><title>",
					        x, y + 1, w < 0.8 ? 0.8 : w, lane_h - 2, color);
					tb_html(b, sl->id ? sl->id : "?");
					gbx_buf_addf(
					    b,
					    " (attempt %u): %.3f ms, waited %.3f ms</title></rect>",
					    sl->attempt, sl->dur_ms, sl->wait_ms);
				}
		} else if (col) {
			memset(col, 0, COLS * sizeof *col);
			resample(s, col, COLS, wall_ms, sample_scale(T));
			double cw = wall_ms / COLS;
			for (int k = 0; k < COLS; k++) {
				double f = col[k] / cw;
				if (f <= 0.002)
					continue;
				gbx_buf_addf(b,
				        "<rect x='%.2f' y='%.1f' width='%.2f' height='%.1f' "
				        "fill='#4e79a7' fill-opacity='%.2f'/>",
				        p.x + k * p.w / COLS, y + (lane_h >= 4 ? 1 : 0),
				        p.w / COLS + 0.05, lane_h >= 4 ? lane_h - 2 : lane_h,
				        f > 1      ? 1
				        : f < 0.08 ? 0.08
				                   : f);
			}
		}
		lane++;
	}
	free(col);
	gbx_buf_addf(
	    b,
	    "<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' class='frame'/></svg></section>\n",
	    p.x, p.y, p.w, p.h);
}

/* running (mean over bins, from the slices), jobs, running and queued from the ticks */
static void concurrency(struct gbx_buf *b, struct tel *T, double wall_ms)
{
	gbx_buf_adds(b, "<section><h2>Concurrency over time</h2>\n");
	if (wall_ms <= 0) {
		gbx_buf_adds(b, "<p class='note'>No data.</p></section>\n");
		return;
	}
	enum { BINS = 200 };
	double run[BINS] = {0}, bw = wall_ms / BINS;
	int have_trace = 0;
	int nslots = atomic_load(&T->nslots);
	for (int i = 0; i <= nslots; i++) {
		struct shard *s = i < nslots ? atomic_load(&T->shards[i]) : T->ovf;
		if (!s || !atomic_load(&s->nser))
			continue;
		have_trace = 1;
		resample(s, run, BINS, wall_ms, sample_scale(T));
	}
	double scale = 1;
	double ymax = 1, qmax = 1;
	for (int k = 0; k < BINS; k++) {
		run[k] = run[k] / bw * scale;
		ymax = fmax(ymax, run[k]);
	}
	for (unsigned i = 0; i < T->ngs; i++) {
		ymax = fmax(ymax, fmax(T->gs[i].jobs, T->gs[i].running));
		qmax = fmax(qmax, T->gs[i].queued);
	}
	double step = nice_step(ymax, 4);
	ymax = ceil(ymax / step) * step;
	double qstep = nice_step(qmax, 4);
	qmax = ceil(qmax / qstep) * qstep;
	struct box p = {40, 10, 470, 190};
	gbx_buf_adds(b, "<svg width='545' height='232' role='img' aria-label='concurrency'>");
	time_axis(b, &p, wall_ms);
	for (double y = 0; y <= ymax + step * 1e-9; y += step)
		gbx_buf_addf(b, "<text x='%.0f' y='%.1f' class='ax' text-anchor='end'>%g</text>",
		        p.x - 5, p.y + p.h - y / ymax * p.h + 4, y);
	for (double y = 0; y <= qmax + qstep * 1e-9; y += qstep)
		gbx_buf_addf(b, "<text x='%.0f' y='%.1f' class='ax qa'>%g</text>", p.x + p.w + 5,
		        p.y + p.h - y / qmax * p.h + 4, y);
	if (have_trace) {
		gbx_buf_addf(b, "<path class='area' d='M%.1f %.1f", p.x, p.y + p.h);
		for (int k = 0; k < BINS; k++) {
			double yy = p.y + p.h - run[k] / ymax * p.h;
			gbx_buf_addf(b, " L%.1f %.1f L%.1f %.1f", p.x + k * p.w / BINS, yy,
			        p.x + (k + 1) * p.w / BINS, yy);
		}
		gbx_buf_addf(b, " L%.1f %.1f Z'/>", p.x + p.w, p.y + p.h);
	}
	static const int order[] = {1, 2, 0}; /* jobs last, dashed, over running */
	for (int li = 0; li < 3 && T->ngs; li++) {
		int line = order[li];
		gbx_buf_addf(b, "<path class='l%d' d='", line);
		double lastx = p.x, lasty = 0;
		for (unsigned i = 0; i < T->ngs; i++) {
			const struct gsample *g = &T->gs[i];
			double val = line == 0 ? g->jobs : line == 1 ? g->running : g->queued;
			double top = line == 2 ? qmax : ymax;
			double x = p.x + g->t_ms / wall_ms * p.w, y = p.y + p.h - val / top * p.h;
			if (x > p.x + p.w)
				x = p.x + p.w;
			if (i == 0)
				gbx_buf_addf(b, "M%.1f %.1f", p.x, y);
			else
				gbx_buf_addf(b, " L%.1f %.1f", x,
				        lasty); /* steps: a gauge holds until the next tick */
			gbx_buf_addf(b, " L%.1f %.1f", x, y);
			lastx = x;
			lasty = y;
		}
		gbx_buf_addf(b, " L%.1f %.1f'/>", fmax(lastx, p.x + p.w), lasty);
	}
	gbx_buf_addf(b, "<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' class='frame'/></svg>\n",
	        p.x, p.y, p.w, p.h);
	gbx_buf_adds(b, "<p class='legend'>");
	if (have_trace)
		gbx_buf_addf(b, "<i class='k' style='background:#a0cbe8'></i>running, mean per %.3g ms ",
		        bw);
	gbx_buf_adds(b,
	        "<br><small>at each tick:</small> <i class='k' style='background:#f28e2b'></i>jobs "
	        "<i class='k' style='background:#4e79a7'></i>running "
	        "<i class='k' style='background:#76b7b2'></i>queued (right axis)</p></section>\n");
}

/* bars of the fine buckets on a log axis, with p50 / p90 / p99 marks */
static void histo_svg(struct gbx_buf *b, const char *title, const struct hsum *h, const char *color)
{
	gbx_buf_addf(b, "<div class='hist'><h3>%s <small>", title);
	char l1[32], l2[32], l3[32], l4[32];
	if (h->count)
		gbx_buf_addf(b, "p50 %s · p90 %s · p99 %s · max %s · n %llu",
		        dur_label(hsum_quantile(h, 0.5), l1, 32),
		        dur_label(hsum_quantile(h, 0.9), l2, 32),
		        dur_label(hsum_quantile(h, 0.99), l3, 32),
		        dur_label((double)h->max, l4, 32), (unsigned long long)h->count);
	gbx_buf_adds(b, "</small></h3>");
	if (!h->count) {
		gbx_buf_adds(b, "<p class='note'>No attempts.</p></div>\n");
		return;
	}
	struct box p = {40, 8, 226, 120};
	double lo = log10(fmax(1, (double)hist_lo(h->lo_i))), hi = log10((double)hist_hi(h->hi_i));
	lo = floor(lo);
	hi = ceil(hi);
	if (hi <= lo)
		hi = lo + 1;
	uint64_t top = 1;
	for (unsigned i = h->lo_i; i <= h->hi_i; i++)
		if (h->b[i] > top)
			top = h->b[i];
	gbx_buf_adds(b, "<svg width='282' height='150' role='img'>");
	for (double d = lo; d <= hi; d++) {
		double x = p.x + (d - lo) / (hi - lo) * p.w;
		char lab[32];
		gbx_buf_addf(b, "<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.0f' class='grid'/>", x, p.y,
		        x, p.y + p.h);
		if (hi - lo <= 6 || (int)(d - lo) % 2 == 0)
			gbx_buf_addf(b,
			        "<text x='%.1f' y='%.0f' class='ax' text-anchor='middle'>%s</text>",
			        x, p.y + p.h + 14, dur_label(pow(10, d), lab, sizeof lab));
	}
	gbx_buf_addf(b, "<text x='%.0f' y='%.0f' class='ax' text-anchor='end'>%llu</text>", p.x - 4,
	        p.y + 8, (unsigned long long)top);
	gbx_buf_addf(b, "<text x='%.0f' y='%.0f' class='ax' text-anchor='end'>0</text>", p.x - 4,
	        p.y + p.h);
	for (unsigned i = h->lo_i; i <= h->hi_i; i++) {
		if (!h->b[i])
			continue;
		double x0 = p.x + (log10(fmax(1, (double)hist_lo(i))) - lo) / (hi - lo) * p.w;
		double x1 = p.x + (log10((double)hist_hi(i)) - lo) / (hi - lo) * p.w;
		double bh = (double)h->b[i] / (double)top * p.h;
		if (bh < 1)
			bh = 1;
		gbx_buf_addf(b, "<rect x='%.2f' y='%.2f' width='%.2f' height='%.2f' fill='%s'/>", x0,
		        p.y + p.h - bh, x1 - x0 > 0.6 ? x1 - x0 : 0.6, bh, color);
	}
	const double qs[] = {0.5, 0.9, 0.99};
	const char *qn[] = {"p50", "p90", "p99"};
	for (int k = 0; k < 3; k++) {
		double v = hsum_quantile(h, qs[k]);
		double x = p.x + (log10(fmax(1, v)) - lo) / (hi - lo) * p.w;
		gbx_buf_addf(b,
		        "<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.0f' class='q'/>"
		        "<text x='%.1f' y='%.0f' class='ax qn'>%s</text>",
		        x, p.y + 2 + 9 * k, x, p.y + p.h, x + 2, p.y + 9 + 9 * k, qn[k]);
	}
	gbx_buf_addf(b,
	        "<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' class='frame'/></svg></div>\n",
	        p.x, p.y, p.w, p.h);
}

static void lat_row(struct gbx_buf *b, const char *name, const struct agg *a)
{
	char x[6][32];
	gbx_buf_adds(b, "<tr><td>");
	tb_html(b, name);
	gbx_buf_addf(b,
	        "</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%s</td><td>%s</"
	        "td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
	        (unsigned long long)a->ended, (unsigned long long)a->ok,
	        (unsigned long long)agg_failed(a), (unsigned long long)a->retried,
	        dur_label(hsum_quantile(&a->run, 0.5), x[0], 32),
	        dur_label(hsum_quantile(&a->run, 0.9), x[1], 32),
	        dur_label(hsum_quantile(&a->run, 0.99), x[2], 32),
	        dur_label((double)a->run.max, x[3], 32),
	        dur_label(hsum_quantile(&a->wait, 0.5), x[4], 32),
	        dur_label(hsum_quantile(&a->wait, 0.99), x[5], 32));
}

static const char css[] =
    "body{font:13px/1.35 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:14px "
    "20px;color:#222;background:#fff}"
    "h1{font-size:19px;margin:0 0 4px}h2{font-size:14px;margin:10px 0 "
    "4px}h3{font-size:12px;margin:4px 0}"
    "small{color:#666;font-weight:normal}.stats{color:#333;margin:0 0 6px}.stats b{font-weight:600}"
    ".grid2{display:flex;gap:18px;align-items:flex-start}.hists{display:flex;flex-wrap:wrap;gap:"
    "4px 8px;width:572px}"
    ".hist{width:282px}svg text.ax{font-size:10px;fill:#555}svg .grid{stroke:#e4e4e4}"
    "svg .frame{fill:none;stroke:#999}svg .q{stroke:#333;stroke-dasharray:2 2}svg "
    "text.qn{font-size:9px;fill:#333}"
    "svg .area{fill:#a0cbe8;stroke:none}svg "
    ".l0{fill:none;stroke:#f28e2b;stroke-width:2;stroke-dasharray:7 4}"
    "svg .l1{fill:none;stroke:#4e79a7;stroke-width:1.5}svg "
    ".l2{fill:none;stroke:#76b7b2;stroke-width:1.5;stroke-dasharray:5 3}"
    "svg text.qa{fill:#5a9e99}i.k{display:inline-block;width:10px;height:10px;margin:0 3px 0 "
    "8px;vertical-align:-1px}"
    ".legend{margin:2px 0;color:#444}.note{color:#666}table{border-collapse:collapse;margin:4px 0 "
    "10px}"
    "td,th{border-bottom:1px solid #e4e4e4;padding:2px "
    "8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    ".alert{background:#fdecea;border-left:4px solid #e15759;padding:4px 8px;margin:4px 0}"
    ".hint{background:#fff7e0;border-left:4px solid #edc948;padding:4px 8px;margin:4px 0}"
    "code{font-size:11px;color:#555}";

int html_write(struct tel *T, const char *path, char *err, size_t errlen)
{
	struct view *v = T->view;
	const struct gbx_summary *s = &T->sum;
	double wall = T->have_sum ? s->wall_ms : T->end_ms;
	struct gbx_buf b = {0};
	gbx_buf_adds(&b, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
	            "<title>gearbox run report</title><style>");
	gbx_buf_adds(&b, css);
	gbx_buf_adds(&b, "</style></head><body>\n<h1>gearbox run report</h1>\n<p class='stats'>");
	if (T->have_sum)
		gbx_buf_addf(&b,
		        "<b>%lld</b> tasks: <b>%lld</b> ok, <b>%lld</b> failed, <b>%lld</b> skipped"
		        "%s · <b>%lld</b> attempts, %lld retried · wall <b>%.3f s</b> · ",
		        (long long)s->tasks, (long long)s->ok, (long long)s->failed,
		        (long long)s->skipped, s->not_started ? " (some not started)" : "",
		        (long long)s->attempts, (long long)s->retried, s->wall_ms / 1e3);
	gbx_buf_addf(&b, "<b>%.1f</b> attempts/s · %lld cores, up to %d jobs</p>\n",
	        wall > 0 ? (double)v->total.ended / (wall / 1e3) : 0, (long long)T->m.cores,
	        (int)fmax(T->m.jobs, 0));
	for (int a = 0; a < NALERT; a++) {
		const struct alert *al = &T->alerts[a];
		if (!al->fired)
			continue;
		gbx_buf_addf(&b,
		        "<div class='alert'><b>alert %s</b>: fired %d time%s, first at %.0f ms; "
		        "worst %g, "
		        "threshold %g%s</div>\n",
		        tel_alert_names[a], al->fired, al->fired == 1 ? "" : "s", al->first_ms,
		        al->worst, al->threshold, al->firing ? " (still firing at the end)" : "");
	}
	for (int h = 0; h < T->nhints; h++) {
		gbx_buf_addf(&b, "<div class='hint'><b>hint %s</b>: ", T->hints[h].name);
		tb_html(&b, T->hints[h].message);
		gbx_buf_adds(&b, " <code>");
		tb_html(&b, T->hints[h].figures);
		gbx_buf_adds(&b, "</code></div>\n");
	}
	timeline(&b, T, wall);
	gbx_buf_adds(&b, "<div class='grid2'>\n");
	concurrency(&b, T, wall);
	gbx_buf_adds(&b, "<section><h2>Latency <small>log scale; buckets 1/8 of a power of two "
	            "wide</small></h2><div class='hists'>\n");
	histo_svg(&b, "run time, all", &v->total.run, "#4e79a7");
	histo_svg(&b, "queue wait, all", &v->total.wait, "#f28e2b");
	int shown = 0;
	for (unsigned k = 0; k < NK && shown < 2; k++) {
		if (!v->kind[k].ended || v->kind[k].ended == v->total.ended)
			continue;
		char t[96];
		snprintf(t, sizeof t, "run time, kind %.40s", reg_name(T->kinds, k));
		struct gbx_buf esc = {0};
		tb_html(&esc, t);
		histo_svg(&b, esc.p ? esc.p : "", &v->kind[k].run, palette[k % 6]);
		gbx_buf_free(&esc);
		shown++;
	}
	gbx_buf_adds(&b, "</div></section></div>\n");
	gbx_buf_adds(
	    &b,
	    "<section class='wide'><h2>Per kind and "
	    "target</h2><table><tr><th></th><th>attempts</th><th>ok</th>"
	    "<th>failed</th><th>retried</th><th>run p50</th><th>p90</th><th>p99</th><th>max</th>"
	    "<th>wait p50</th><th>wait p99</th></tr>\n");
	lat_row(&b, "all", &v->total);
	for (unsigned k = 0; k < NK; k++) {
		if (!v->kind[k].ended)
			continue;
		char name[200];
		snprintf(name, sizeof name, "kind %s", reg_name(T->kinds, k));
		lat_row(&b, name, &v->kind[k]);
	}
	for (unsigned t = 0; t < T_NONE; t++) {
		if (!v->target[t].ended)
			continue;
		char name[200];
		snprintf(name, sizeof name, "target %s", reg_name(T->targets, t));
		lat_row(&b, name, &v->target[t]);
	}
	gbx_buf_adds(
	    &b,
	    "</table>\n<p class='note'>Quantiles are within 6.25% of the exact value (log-linear "
	    "histograms, 8 buckets per power of two). Made by the gearbox telemetry plugin; "
	    "this file is self-contained.</p>\n</body></html>\n");
	return tb_save(&b, path, err, errlen);
}
