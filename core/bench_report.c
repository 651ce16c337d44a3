/* bench_report.c - what `gearbox bench` shows: the table, JSON and HTML (with
 * SVG charts) reports, the recommended config, and the comparison with saved
 * results (--against). */
#include "bench_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "workload.h"

/* ---- the report --------------------------------------------------------- */

static json_t *stat_obj(const double *x)
{
	json_t *o = json_object();
	for (int k = 0; k < NMETRIC; k++)
		json_object_set_new(o, metric[k].key, json_real(x[k]));
	return o;
}

static json_t *recommended(const struct bench *b)
{
	json_t *plugins = json_object();
	for (int i = 1; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		if (v->configured || v->cold_of || !v->on || !v->on[0] || v->on[1])
			continue; /* a cache is judged warm */
		json_object_set_new(plugins, v->on[0],
				    json_pack("{s:b}", "enabled", !strcmp(v->verdict, "helps")));
	}
	return json_pack("{s:o}", "plugins", plugins);
}

static json_t *variant_json(const struct bench *b, int i)
{
	const struct variant *v = &b->var[i];
	json_t *on = json_array(), *runs = json_array();
	for (char **p = v->on; p && *p; p++)
		json_array_append_new(on, json_string(*p));
	for (int r = 0; r < v->n; r++) {
		double x[NMETRIC];
		for (int k = 0; k < NMETRIC; k++)
			x[k] = v->v[k][r];
		json_array_append_new(runs, stat_obj(x));
	}
	json_t *o = json_pack("{s:s, s:o, s:b, s:o, s:o, s:o, s:o}", "name", v->name, "plugins", on,
			      "configured", v->configured, "median", stat_obj(v->med), "min",
			      stat_obj(v->min), "max", stat_obj(v->max), "runs", runs);
	if (i) {
		json_object_set_new(o, "wall_ratio", json_real(v->ratio));
		json_object_set_new(o, "wall_ratio_ci95", json_pack("[f,f]", v->ci_lo, v->ci_hi));
		json_object_set_new(o, "p_value", json_real(v->p));
		json_object_set_new(o, "verdict", json_string(v->verdict));
	}
	if (v->stateful && !v->cold_of)
		json_object_set_new(o, "warm", json_true());
	if (v->cold) {
		/* the cold runs, as extra fields of the (warm) variant */
		json_t *c = variant_json(b, v->cold);
		json_object_del(c, "name");
		json_object_del(c, "plugins");
		json_object_del(c, "configured");
		json_object_set_new(o, "cold", c);
	}
	return o;
}

static json_t *report_json(const struct bench *b)
{
	json_t *vars = json_array();
	for (int i = 0; i < b->nvar; i++)
		if (!b->var[i].cold_of)
			json_array_append_new(vars, variant_json(b, i));
	return json_pack("{s:i, s:s, s:s?, s:s?, s:I, s:i, s:i, s:f, s:f, s:{s:i, s:s, s:s}, s:o, s:o}",
			 "gearbox_bench", 1, "workload", b->workload, "config", b->config, "profile",
			 b->profile, "tasks", (json_int_t)b->tasks, "repeat", b->repeat, "warmup",
			 b->warmup, "noise", b->noise, "alpha", b->alpha, "machine", "cores", b->cores, "system", b->host,
			 "date", b->when, "variants", vars, "recommended", recommended(b));
}

static void fmt_val(char *s, size_t n, int k, double x)
{
	if (k == M_RSS || k == M_OK)
		snprintf(s, n, "%.1f", x);
	else if (k == M_TPUT)
		snprintf(s, n, x >= 100 ? "%.0f" : "%.2f", x);
	else
		snprintf(s, n, x >= 100 ? "%.1f" : x >= 1 ? "%.3f" : "%.4f", x);
}

static void report_table(const struct bench *b, FILE *f)
{
	fprintf(f, "gearbox bench %s: %lld tasks, %d variants x %d runs, interleaved (%d warm-up rounds)\n",
		b->workload, (long long)b->tasks, b->nvar, b->repeat, b->warmup);
	fprintf(f, "machine: %d cores, %s; %s\n\n", b->cores, b->host, b->when);
	fprintf(f, "%-14s %-24s %8s %8s %9s %9s %9s %7s  %-20s %s\n", "variant", "wall s (min-max)",
		"CPU s", "RSS MB", "tasks/s", "p50 ms", "p99 ms", "ok %", "wall vs baseline", "verdict");
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		char w[3][24], c[8][24], rat[48];
		fmt_val(w[0], sizeof w[0], M_WALL, v->med[M_WALL]);
		fmt_val(w[1], sizeof w[1], M_WALL, v->min[M_WALL]);
		fmt_val(w[2], sizeof w[2], M_WALL, v->max[M_WALL]);
		char wall[80];
		snprintf(wall, sizeof wall, "%s (%s-%s)", w[0], w[1], w[2]);
		for (int k = M_CPU; k < NMETRIC; k++)
			fmt_val(c[k], sizeof c[k], k, v->med[k]);
		char ver[48] = "";
		if (i) {
			snprintf(rat, sizeof rat, "%.2fx [%.2f, %.2f]", v->ratio, v->ci_lo, v->ci_hi);
			snprintf(ver, sizeof ver, "%s (p %.3f)", v->verdict, v->p);
		} else {
			snprintf(rat, sizeof rat, "1");
		}
		fprintf(f, "%-14s %-24s %8s %8s %9s %9s %9s %7s  %-20s %s\n", v->name, wall, c[M_CPU],
			c[M_RSS], c[M_TPUT], c[M_P50], c[M_P99], c[M_OK], rat, ver);
	}
	fprintf(f, "\nmedians of %d runs; [..] is the 95%% bootstrap interval of the ratio. helps or\n"
		   "hurts: the wall times differ (Mann-Whitney p < %g) by more than %.0f%%; else\n"
		   "within noise.%s\n", b->repeat, b->alpha, b->noise * 100,
		bench_mann_whitney_min_p(b->repeat) >= b->alpha
		    ? " With this few runs no difference can reach that p: use more (--repeat)." : "");
	for (int i = 1; i < b->nvar; i++)
		if (b->var[i].cold) {
			fprintf(f, "A variant with the cache is measured warm (after one unmeasured run that fills\n"
				   "its cache) and judged on that; its (cold) row starts each run from an empty cache.\n");
			break;
		}
	int changed = 0;
	for (int i = 1; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		if (fabs(v->med[M_OK] - b->var[0].med[M_OK]) >= 0.05) {
			if (!changed++)
				fprintf(f, "\n");
			fprintf(f, "note: with %s, %.1f%% of tasks succeed (baseline %.1f%%): it changes results,\n"
				   "      not only speed (a breaker rejects calls; a cache replays old ones)\n",
				v->name, v->med[M_OK], b->var[0].med[M_OK]);
		}
	}
	json_t *rec = recommended(b);
	char *s = json_dumps(rec, JSON_PRESERVE_ORDER);
	fprintf(f, "\nrecommended config (each plugin judged alone, on wall time):\n%s\n", s ? s : "{}");
	free(s);
	json_decref(rec);
}

static void svg_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

/* One horizontal bar chart: a bar per variant at its median, an error bar
 * from min to max. */
static void svg_chart(const struct bench *b, FILE *f, int k)
{
	double top = 0;
	for (int i = 0; i < b->nvar; i++)
		top = b->var[i].max[k] > top ? b->var[i].max[k] : top;
	if (top <= 0)
		top = 1;
	const int lw = 130, cw = 420, bh = 22, h = b->nvar * bh + 30;
	fprintf(f, "<figure><figcaption>%s (%s): median, min to max</figcaption>\n", metric[k].label,
		metric[k].unit);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n",
		lw + cw + 90, h);
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		double y = 6 + i * bh;
		double x0 = lw, xm = lw + cw * v->med[k] / top;
		double xa = lw + cw * v->min[k] / top, xb = lw + cw * v->max[k] / top;
		const char *col = !i ? "#888" : !strcmp(v->verdict, "helps") ? "#2a7"
					      : !strcmp(v->verdict, "hurts") ? "#c44" : "#58b";
		fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">", lw - 6, y + 14);
		svg_text(f, v->name);
		fprintf(f, "</text>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x0,
			y + 2, xm - x0 > 0.5 ? xm - x0 : 0.5, bh - 6, col);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", xa, xb,
			y + bh / 2.0 - 1, y + bh / 2.0 - 1);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", xa, xa,
			y + 5, y + bh - 7);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", xb, xb,
			y + 5, y + bh - 7);
		char s[32];
		fmt_val(s, sizeof s, k, v->med[k]);
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\">%s</text>\n", xb + 4, y + 14, s);
	}
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"2\" y2=\"%d\" stroke=\"#444\"/>\n</svg></figure>\n", lw,
		lw, h - 24);
}

static void report_html(const struct bench *b, FILE *f)
{
	fputs("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>gearbox bench: ", f);
	svg_text(f, b->workload);
	fputs("</title>\n<style>body{font:14px sans-serif;margin:2em;max-width:960px}"
	      "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
	      "text-align:right}td:first-child,th:first-child{text-align:left}"
	      "figure{margin:1em 0}figcaption{font-weight:bold}.helps{color:#2a7}.hurts{color:#c44}"
	      "pre{background:#f4f4f4;padding:.5em}</style></head><body>\n<h1>gearbox bench: ",
	      f);
	svg_text(f, b->workload);
	fprintf(f, "</h1>\n<p>%lld tasks; %d variants &times; %d runs, interleaved; %d cores, ",
		(long long)b->tasks, b->nvar, b->repeat, b->cores);
	svg_text(f, b->host);
	fprintf(f, "; %s.</p>\n<table><tr><th>variant</th>", b->when);
	for (int k = 0; k < NMETRIC; k++)
		fprintf(f, "<th>%s (%s)</th>", metric[k].label, metric[k].unit);
	fputs("<th>wall vs baseline [95% CI]</th><th>verdict</th></tr>\n", f);
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		fputs("<tr><td>", f);
		svg_text(f, v->name);
		fputs("</td>", f);
		for (int k = 0; k < NMETRIC; k++) {
			char s[32];
			fmt_val(s, sizeof s, k, v->med[k]);
			fprintf(f, "<td>%s</td>", s);
		}
		if (i)
			fprintf(f, "<td>%.2f [%.2f, %.2f]</td><td class=\"%s\">%s (p %.3f)</td></tr>\n",
				v->ratio, v->ci_lo, v->ci_hi, v->verdict[0] == 'h' ? v->verdict : "",
				v->verdict, v->p);
		else
			fputs("<td>1</td><td></td></tr>\n", f);
	}
	fputs("</table>\n", f);
	for (int k = 0; k < NMETRIC - 1; k++)
		svg_chart(b, f, k);
	json_t *rec = recommended(b);
	char *s = json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputs("<h2>Recommended config</h2>\n<pre>", f);
	svg_text(f, s ? s : "{}");
	fputs("</pre>\n</body></html>\n", f);
	free(s);
	json_decref(rec);
}

/* Writes the report to path (atomically) or stdout. */
int bench_write_report(const struct bench *b, const char *path, const char *format)
{
	struct buf tmp = {0};
	FILE *f = stdout;
	if (path) {
		buf_addf(&tmp, "%s.tmp.%d", path, (int)getpid());
		f = fopen(tmp.p, "we");
		if (!f) {
			fprintf(stderr, "gearbox bench: %s: %s\n", path, strerror(errno));
			buf_free(&tmp);
			return -1;
		}
	}
	if (!strcmp(format, "json")) {
		json_t *j = report_json(b);
		json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', f);
		json_decref(j);
	} else if (!strcmp(format, "html")) {
		report_html(b, f);
	} else {
		report_table(b, f);
	}
	int rc = 0;
	if (path) {
		if (ferror(f) | fclose(f) || rename(tmp.p, path)) {
			fprintf(stderr, "gearbox bench: %s: %s\n", path, strerror(errno));
			unlink(tmp.p);
			rc = -1;
		}
	} else {
		fflush(f);
	}
	buf_free(&tmp);
	return rc;
}

/* ---- --against ---------------------------------------------------------- */

/* Compares wall, CPU and peak RSS of each variant with the same variant in a
 * saved report. Returns the number of regressions, or -1 on bad input. */
int bench_against(const struct bench *b, const char *path, FILE *f)
{
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je);
	if (!doc) {
		if (je.line > 0)
			fprintf(stderr, "gearbox bench: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
		else
			fprintf(stderr, "gearbox bench: %s: %s\n", path, je.text);
		return -1;
	}
	json_t *vars = json_object_get(doc, "variants");
	if (!json_is_integer(json_object_get(doc, "gearbox_bench")) || !json_is_array(vars)) {
		fprintf(stderr, "gearbox bench: %s: not a file written by gearbox bench --save\n", path);
		json_decref(doc);
		return -1;
	}
	static const int keys[] = {M_WALL, M_CPU, M_RSS};
	int regressions = 0, compared = 0;
	fprintf(f, "\nagainst %s (a regression: over %.0f%% worse, Mann-Whitney p < %g):\n", path,
		b->threshold * 100, b->alpha);
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		json_t *old = NULL, *x;
		size_t j;
		/* a cold variant is saved as the "cold" field of its warm one */
		const char *want = v->cold_of ? b->var[v->cold_of].name : v->name;
		json_array_foreach(vars, j, x) {
			const char *nm = json_string_value(json_object_get(x, "name"));
			if (nm && !strcmp(nm, want))
				old = v->cold_of ? json_object_get(x, "cold") : x;
		}
		json_t *runs = json_object_get(old, "runs");
		int no = json_is_array(runs) ? (int)json_array_size(runs) : 0;
		if (!no) {
			fprintf(f, "  %-14s not in the saved results\n", v->name);
			continue;
		}
		double *ov = malloc((size_t)no * sizeof *ov);
		if (!ov)
			break;
		compared++;
		for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++) {
			int k = keys[q];
			int bad_run = 0;
			for (int r = 0; r < no; r++) {
				json_t *val = json_object_get(json_array_get(runs, (size_t)r), metric[k].key);
				bad_run |= !json_is_number(val);
				ov[r] = json_number_value(val);
			}
			if (bad_run) {
				fprintf(stderr, "gearbox bench: %s: variant %s: runs without %s\n", path,
					v->name, metric[k].key);
				free(ov);
				json_decref(doc);
				return -1;
			}
			double lo, hi, r = bench_ratio_ci(v->v[k], v->n, ov, no, &lo, &hi);
			double p = bench_mann_whitney_p(v->v[k], v->n, ov, no);
			int reg = r > 1 + b->threshold && p < b->alpha;
			regressions += reg;
			fprintf(f, "  %-14s %-10s %.2fx [%.2f, %.2f] p %.3f%s\n", q ? "" : v->name,
				metric[k].label, r, lo, hi, p, reg ? "  REGRESSION" : "");
		}
		free(ov);
	}
	json_decref(doc);
	if (!compared)
		fprintf(f, "  no variant in common: nothing compared\n");
	fprintf(f, "%d regression%s\n", regressions, regressions == 1 ? "" : "s");
	return regressions;
}

