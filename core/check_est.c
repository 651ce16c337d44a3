/* check_est.c - gearbox check --estimates: what the history would give,
 * per task for a small workload, else one line per command template (the
 * tasks of a matrix entry, or tasks with the same command), so a million
 * tasks print a few lines. */
#include "resrun.h"
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* up to this many tasks, --estimates lists each one */
#define EST_TASK_LINES 20
/* at most this many template lines; the rest are counted */
#define EST_GROUP_LINES 50

static void task_line(FILE *out, const struct task *t, int64_t est, int64_t kb, uint32_t cnt)
{
	const struct spec *s = t->spec;
	fprintf(out, "  %s: ", t->id);
	if (s->est_ms >= 0)
		fprintf(out, "est_ms %lld (given)", (long long)s->est_ms);
	else if (est >= 0)
		fprintf(out, "est_ms %lld", (long long)est);
	else
		fprintf(out, "est_ms unknown");
	if (kb >= 0)
		fprintf(out, ", mem_mb %.1f", (double)kb / 1024);
	fprintf(out, ", %u sample%s", cnt, cnt == 1 ? "" : "s");
	if (s->cls == CLASS_MEM && !s->need)
		fprintf(out, kb > 0 ? "; class mem: admitted by mem_mb %lld\n"
				    : "; class mem: no need without an estimate\n",
			(long long)((kb + 1023) / 1024));
	else
		fprintf(out, "\n");
}

/* ---- groups ---- */

struct grp {
	char *tmpl;
	uint32_t first, n;          /* its first task; how many */
	uint32_t given, hist, unknown, withmem, memcls, memcls_est;
	uint64_t samples;
};

struct pair {
	uint32_t g;
	int64_t v;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->g != y->g)
		return x->g < y->g ? -1 : 1;
	return x->v < y->v ? -1 : x->v > y->v;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The estimates of a group's tasks: v[0..n) sorted. */
static void dist(FILE *out, const struct pair *v, size_t n, double scale, const char *fmt)
{
	char a[32], b[32], c[32];
	snprintf(a, sizeof a, fmt, (double)v[(n - 1) / 2].v / scale);
	snprintf(b, sizeof b, fmt, (double)v[(n * 9 + 9) / 10 - 1].v / scale);
	snprintf(c, sizeof c, fmt, (double)v[n - 1].v / scale);
	if (!strcmp(a, c))
		fprintf(out, "%s", a);
	else
		fprintf(out, "%s median, %s p90, %s max", a, b, c);
}

static int by_count(const void *a, const void *b, void *ud)
{
	const struct grp *g = ud;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (g[x].n != g[y].n)
		return g[x].n > g[y].n ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int group_lines(FILE *out, const struct workload *wl, const int64_t *est,
		       const int64_t *kb, const uint32_t *cnt)
{
	uint32_t n = wl->ntasks, ng = 0, capg = 64, hcap = 1024;
	uint32_t *gid = malloc((n ? n : 1) * sizeof *gid);
	struct grp *g = calloc(capg, sizeof *g);
	uint32_t *ht = calloc(hcap, sizeof *ht); /* group + 1, by template */
	int rc = -1;
	if (!gid || !g || !ht)
		goto done;
	const struct spec *last = NULL;
	uint32_t last_g = 0;
	char tmpl[1024];
	for (uint32_t i = 0; i < n; i++) {
		const struct spec *s = wl->tasks[i].spec;
		const struct spec *k = s->from ? s->from : s; /* a matrix entry's own */
		if (k == last) {
			gid[i] = last_g;
			continue;
		}
		struct task tt;
		memset(&tt, 0, sizeof tt);
		tt.spec = k;
		hist_template(&tt, tmpl, sizeof tmpl);
		uint64_t h = hash_str(tmpl);
		uint32_t at = (uint32_t)h & (hcap - 1);
		while (ht[at] && strcmp(g[ht[at] - 1].tmpl, tmpl))
			at = (at + 1) & (hcap - 1);
		if (!ht[at]) {
			if (ng == capg) {
				struct grp *ng2 = realloc(g, 2 * capg * sizeof *g);
				if (!ng2)
					goto done;
				memset(ng2 + capg, 0, capg * sizeof *g);
				g = ng2;
				capg *= 2;
			}
			g[ng].tmpl = strdup(tmpl);
			if (!g[ng].tmpl)
				goto done;
			g[ng].first = i;
			ht[at] = ++ng;
			if (ng * 2 > hcap) { /* grow and rehash */
				uint32_t nc = hcap * 2, *nt = calloc(nc, sizeof *nt);
				if (!nt)
					goto done;
				for (uint32_t j = 0; j < ng; j++) {
					uint32_t p = (uint32_t)hash_str(g[j].tmpl) & (nc - 1);
					while (nt[p])
						p = (p + 1) & (nc - 1);
					nt[p] = j + 1;
				}
				free(ht);
				ht = nt;
				hcap = nc;
				at = 0;
				while (ht[at] != ng)
					at++;
			}
		}
		last = k;
		last_g = gid[i] = ht[at] - 1;
	}
	struct pair *pe = malloc((n ? n : 1) * sizeof *pe), *pm = malloc((n ? n : 1) * sizeof *pm);
	uint32_t *ord = malloc((ng ? ng : 1) * sizeof *ord);
	size_t ne = 0, nm = 0;
	if (!pe || !pm || !ord) {
		free(pe);
		free(pm);
		free(ord);
		goto done;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct grp *x = &g[gid[i]];
		const struct spec *s = wl->tasks[i].spec;
		x->n++;
		x->samples += cnt[i];
		int64_t e = s->est_ms >= 0 ? s->est_ms : est[i];
		if (s->est_ms >= 0)
			x->given++;
		else if (est[i] >= 0)
			x->hist++;
		else
			x->unknown++;
		if (e >= 0)
			pe[ne++] = (struct pair){gid[i], e};
		if (kb[i] >= 0) {
			x->withmem++;
			pm[nm++] = (struct pair){gid[i], kb[i]};
		}
		if (s->cls == CLASS_MEM && !s->need) {
			x->memcls++;
			x->memcls_est += kb[i] > 0;
		}
	}
	qsort(pe, ne, sizeof *pe, cmp_pair);
	qsort(pm, nm, sizeof *pm, cmp_pair);
	/* where each group's values start in pe and pm */
	size_t *oe = calloc(ng + 1, sizeof *oe), *om = calloc(ng + 1, sizeof *om);
	if (!oe || !om) {
		free(oe);
		free(om);
		free(pe);
		free(pm);
		free(ord);
		goto done;
	}
	for (size_t j = 0; j < ne; j++)
		oe[pe[j].g + 1]++;
	for (size_t j = 0; j < nm; j++)
		om[pm[j].g + 1]++;
	for (uint32_t j = 0; j < ng; j++) {
		oe[j + 1] += oe[j];
		om[j + 1] += om[j];
		ord[j] = j;
	}
	qsort_r(ord, ng, sizeof *ord, by_count, g);
	uint32_t shown = ng < EST_GROUP_LINES ? ng : EST_GROUP_LINES;
	for (uint32_t j = 0; j < shown; j++) {
		const struct grp *x = &g[ord[j]];
		size_t ke = oe[ord[j] + 1] - oe[ord[j]], km = om[ord[j] + 1] - om[ord[j]];
		fprintf(out, "  %u task%s like %s (%.60s%s): est_ms ", x->n, x->n == 1 ? "" : "s",
			wl->tasks[x->first].id, x->tmpl, strlen(x->tmpl) > 60 ? "..." : "");
		if (ke)
			dist(out, pe + oe[ord[j]], ke, 1, "%.0f");
		else
			fprintf(out, "unknown");
		if (x->given || x->unknown) {
			const char *sep = " (";
			if (x->hist) {
				fprintf(out, "%s%u from history", sep, x->hist);
				sep = ", ";
			}
			if (x->given) {
				fprintf(out, "%s%u given", sep, x->given);
				sep = ", ";
			}
			if (x->unknown && ke)
				fprintf(out, "%s%u unknown", sep, x->unknown);
			fprintf(out, "%s", ke ? ")" : x->given || x->hist ? ")" : "");
		}
		if (km) {
			fprintf(out, ", mem_mb ");
			dist(out, pm + om[ord[j]], km, 1024, "%.1f");
			if (km < x->n)
				fprintf(out, " (%zu of %u)", km, x->n);
		}
		fprintf(out, ", %llu sample%s", (unsigned long long)x->samples, x->samples == 1 ? "" : "s");
		if (x->memcls_est)
			fprintf(out, "; class mem: %u admitted by their estimate", x->memcls_est);
		if (x->memcls > x->memcls_est)
			fprintf(out, "%s%u with no need without an estimate", x->memcls_est ? ", " : "; class mem: ",
				x->memcls - x->memcls_est);
		fprintf(out, "\n");
	}
	if (shown < ng) {
		uint64_t rest = 0;
		for (uint32_t j = shown; j < ng; j++)
			rest += g[ord[j]].n;
		fprintf(out, "  ... and %u more templates (%llu tasks): --estimates=tasks lists every task\n",
			ng - shown, (unsigned long long)rest);
	}
	free(oe);
	free(om);
	free(pe);
	free(pm);
	free(ord);
	rc = 0;
done:
	for (uint32_t j = 0; g && j < ng; j++)
		free(g[j].tmpl);
	free(g);
	free(ht);
	free(gid);
	return rc;
}

int res_check_estimates(const struct workload *wl, const char *history, int mode, FILE *out)
{
	char path[4096];
	res_history_path(wl, history ? history : "", path, sizeof path);
	if (access(path, F_OK)) {
		fprintf(out, "estimates: no history at %s yet (runs of the workload's exec tasks "
			"write it)\n", path);
		return 0;
	}
	struct history *h = hist_open(path);
	if (!h)
		return -1;
	uint32_t n = wl->ntasks ? wl->ntasks : 1;
	int64_t *est = malloc(n * sizeof *est), *kb = malloc(n * sizeof *kb);
	uint32_t *cnt = malloc(n * sizeof *cnt);
	int rc = -1;
	if (est && kb && cnt && !hist_estimates(h, wl, est, kb, cnt)) {
		int per_task = mode == EST_TASKS || (mode == EST_AUTO && wl->ntasks <= EST_TASK_LINES);
		fprintf(out, "estimates from %s (p90 of successful attempts; what est_ms and "
			"admission use)%s:\n", path,
			per_task ? "" : ", by command template (--estimates=tasks lists every task)");
		rc = 0;
		if (per_task)
			for (uint32_t i = 0; i < wl->ntasks; i++)
				task_line(out, &wl->tasks[i], est[i], kb[i], cnt[i]);
		else
			rc = group_lines(out, wl, est, kb, cnt);
		int64_t per = res_mem_per_task(wl, kb);
		if (!rc && per > 0)
			fprintf(out, "memory per task (scaling policies' mem_per_task_mb): %.1f MB\n",
				(double)per / 1024);
	}
	free(est);
	free(kb);
	free(cnt);
	hist_close(h);
	return rc;
}
