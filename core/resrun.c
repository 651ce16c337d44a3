/* resrun.c - the engine's side of resources: the admission plan and the
 * cgroups of one run, an attempt's limits, and what records and the summary
 * say about needs and measured memory. The engine calls these narrow
 * functions; the logic is resources.c's and cgroup.c's.
 */
#include "resrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Under e->mu, from res_pick: the scheduling policy's admit(task, state). */
static int admit_cb(void *ud, uint32_t idx)
{
	struct engine *e = ud;
	struct policy_admit_state st;
	st.n = res_count(e->res);
	res_state(e->res, &st.names, &st.cap, &st.used);
	st.running = e->running;
	st.ntags = res_tags(e->res, &st.tags, &st.tag_running);
	int64_t delay = 0;
	int r = policy_admit(e->o.policy, &e->wl->tasks[idx], &st, &delay);
	if (r < 0 || r == 1)
		return 1; /* a failing hook is reported once and admits */
	if (r == 0 && e->running > 0)
		return 0; /* asked again at the next pick */
	if (r == 0)
		delay = 100; /* nothing runs, so nothing else would ask again */
	if (delay < 1)
		delay = 1;
	struct task *t = &e->wl->tasks[idx];
	t->state = ST_DELAYED;
	heap_push(&e->delayed, (double)(now_ns() + delay * 1000000), idx);
	if (e->events) {
		struct buf b = {0};
		ev_begin(e, &b, "deferred", idx);
		buf_addf(&b, ",\"delay_ms\":%lld,\"by\":\"admit\"", (long long)delay);
		ev_end(e, &b);
	}
	return 2;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The history file: the config's, or beside the workload. */
void res_history_path(const struct workload *wl, const char *given, char *out, size_t n)
{
	if (*given) {
		snprintf(out, n, "%s", given);
		return;
	}
	const char *p = wl->path ? wl->path : "";
	const char *slash = strrchr(p, '/');
	if (!slash || !strcmp(p, "<command line>"))
		snprintf(out, n, ".gearbox-history.db");
	else
		snprintf(out, n, "%.*s/.gearbox-history.db", (int)(slash - p), p);
}

/* Whether the run has attempts history keeps: exec tasks' (a sim task's
 * duration is what its fields say, and a plugin kind's is the plugin's). */
static int has_exec(const struct workload *wl)
{
	return (wl->facts & WL_HAS_EXEC) != 0;
}

static void history_open(struct engine *e)
{
	if (!has_exec(e->wl))
		return; /* nothing to record or estimate: no database at all */
	char path[4096];
	res_history_path(e->wl, e->o.history, path, sizeof path);
	if (e->o.history_auto) {
		/* on by default, not asked for: a directory the user cannot
		 * write (a shared read-only tree) is no reason for a warning */
		char dir[4096];
		snprintf(dir, sizeof dir, "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		if (access(slash ? (*dir ? dir : "/") : ".", W_OK) ||
		    (!access(path, F_OK) && access(path, W_OK)))
			return;
	}
	e->hist = hist_open(path);
	if (!e->hist)
		return;
	/* reading estimates costs a lookup per task: only for what uses them,
	 * a policy (est_ms, scaling's memory per task) or a mem class task */
	if (!e->o.policy && !(e->wl->facts & WL_HAS_MEMCLASS))
		return;
	uint32_t n = e->wl->ntasks;
	e->hist_est_ms = malloc((n ? n : 1) * sizeof *e->hist_est_ms);
	e->hist_mem_kb = malloc((n ? n : 1) * sizeof *e->hist_mem_kb);
	if (!e->hist_est_ms || !e->hist_mem_kb ||
	    hist_estimates(e->hist, e->wl, e->hist_est_ms, e->hist_mem_kb, NULL)) {
		free(e->hist_est_ms);
		free(e->hist_mem_kb);
		e->hist_est_ms = e->hist_mem_kb = NULL;
	}
	if (e->o.policy && e->hist_est_ms)
		policy_set_est(e->o.policy, e->hist_est_ms);
	if (e->hist_mem_kb)
		e->mem_per_task_kb = res_mem_per_task(e->wl, e->hist_mem_kb);
}

int64_t res_mem_per_task(const struct workload *wl, const int64_t *mem_kb)
{
	/* the p90 of the tasks' own estimates: what most of them stay under */
	uint32_t n = 0;
	for (uint32_t i = 0; i < wl->ntasks; i++)
		n += mem_kb[i] > 0;
	if (!n)
		return 0;
	int64_t *v = malloc(n * sizeof *v);
	if (!v)
		return 0;
	n = 0;
	for (uint32_t i = 0; i < wl->ntasks; i++)
		if (mem_kb[i] > 0)
			v[n++] = mem_kb[i];
	qsort(v, n, sizeof *v, cmp_i64);
	int64_t r = v[(n * 9 + 9) / 10 - 1];
	free(v);
	return r;
}

int res_run_open(struct engine *e, struct cgsys *cg, struct err *err)
{
	const struct run_opts *o = &e->o;
	if (o->history)
		history_open(e);
	int admit = o->policy && policy_has_admit(o->policy);
	if (res_plan_new_est(e->wl, o->resources, o->enforce, o->config_path, admit,
			     e->hist_mem_kb, &e->res, err))
		return -1;
	if (admit)
		res_set_admit(e->res, admit_cb, e);
	if (o->policy)
		policy_set_res(o->policy, e->res);
	if (!e->res || !res_any_enforced(e->res))
		return 0;
	cg_open(cg, 0);
	e->cg = cg;
	if (cg->mode < CG_V1 && !o->quiet && !o->silent) {
		char d[512];
		fprintf(stderr, "gearbox: enforce: %s\n", cg_describe(cg, d, sizeof d));
	}
	return 0;
}

void res_run_close(struct engine *e)
{
	if (e->hist) {
		hist_flush(e->hist, e->wl);
		hist_close(e->hist);
		e->hist = NULL;
		if (e->o.policy)
			policy_set_est(e->o.policy, NULL);
		free(e->hist_est_ms);
		free(e->hist_mem_kb);
		e->hist_est_ms = e->hist_mem_kb = NULL;
	}
	if (e->o.policy)
		policy_set_res(e->o.policy, NULL);
	if (e->cg)
		cg_close(e->cg);
	e->cg = NULL;
	uint32_t r;
	if (e->res && res_busy(e->res, &r))
		fprintf(stderr, "gearbox: internal error: %s is still counted as used (%g) at the end "
			"of the run\n", res_name(e->res, r), (double)res_used(e->res, r) / RES_MILLI);
	res_plan_free(e->res);
	e->res = NULL;
}

void res_attempt_setup(struct engine *e, const struct task *t, struct runner_ctx *rc)
{
	uint32_t idx = (uint32_t)(t - e->wl->tasks);
	if (!res_enforce(e->res, idx)) {
		rc->cg = NULL;
		return;
	}
	const struct res_need *n = res_need_of(e->res, idx);
	rc->cg = e->cg;
	/* an estimate admits; only a declared amount is a limit */
	rc->lim_mem_kb = n->mask & ~n->est & 1u << RES_MEM ? n->amt[RES_MEM] * 1024 / RES_MILLI : 0;
	rc->lim_cpu_milli = n->mask & 1u << RES_CPU ? n->amt[RES_CPU] : 0;
	snprintf(rc->cg_name, sizeof rc->cg_name, "t%u-%u", idx, (unsigned)t->attempts);
}

void res_ev_started(struct engine *e, uint32_t idx, struct buf *b)
{
	if (e->res)
		res_need_json(e->res, res_need_of(e->res, idx), b);
}

void res_ev_finished(const struct attempt *a, struct buf *b)
{
	if (a->maxrss_kb > 0)
		buf_addf(b, ",\"maxrss_kb\":%lld", (long long)a->maxrss_kb);
	if (a->cg_peak_kb >= 0)
		buf_addf(b, ",\"cg_peak_kb\":%lld", (long long)a->cg_peak_kb);
}

int res_check(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
	      FILE *out, struct err *err)
{
	struct res_plan *p = NULL;
	if (res_plan_new(wl, cfg, enforce, cfg_path, &p, err))
		return -1;
	if (!out) {
		res_plan_free(p);
		return 0;
	}
	if (p) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < wl->ntasks; i++)
			n += res_need_of(p, i)->mask != 0;
		fprintf(out, "resources:");
		for (uint32_t r = 0; r < res_count(p); r++) {
			int64_t c = res_cap(p, r);
			if (c % RES_MILLI)
				fprintf(out, "%s %s %g", r ? "," : "", res_name(p, r), (double)c / RES_MILLI);
			else
				fprintf(out, "%s %s %lld", r ? "," : "", res_name(p, r), (long long)(c / RES_MILLI));
		}
		fprintf(out, " (capacities); %u of %u tasks need some\n", n, wl->ntasks);
	} else {
		fprintf(out, "resources: no task declares needs (admission by -j alone)\n");
	}
	struct cgsys cg;
	cg_open(&cg, 1);
	char d[512];
	fprintf(out, "enforce: %s%s\n", cg_describe(&cg, d, sizeof d),
		p && res_any_enforced(p) ? "" : " (no task asks for it)");
	res_plan_free(p);
	return 0;
}

void res_note_mem(struct engine *e, uint32_t idx, const struct attempt *a)
{
	int64_t kb = a->cg_peak_kb > a->maxrss_kb ? a->cg_peak_kb : a->maxrss_kb;
	e->mem_n++;
	e->mem_sum_kb += kb;
	if (kb > e->mem_max_kb)
		e->mem_max_kb = kb;
	/* one entry per task: a retry replaces its own when it used more */
	int at = NSLOW;
	for (int i = 0; i < NSLOW && e->topmem[i].kb > 0; i++)
		if (e->topmem[i].idx == idx)
			at = i;
	if (at < NSLOW) {
		if (kb <= e->topmem[at].kb)
			return;
	} else {
		if (kb <= e->topmem[NSLOW - 1].kb)
			return;
		at = NSLOW - 1;
	}
	while (at > 0 && e->topmem[at - 1].kb < kb) {
		e->topmem[at] = e->topmem[at - 1];
		at--;
	}
	e->topmem[at].kb = kb;
	e->topmem[at].idx = idx;
}

void res_summary(struct engine *e, FILE *f)
{
	if (e->n_shed)
		fprintf(f, "gearbox: %u task%s shed (under priority %d after %lld ms in the queue); "
			"--resume runs them\n", e->n_shed, e->n_shed == 1 ? "" : "s", e->o.shed_below,
			(long long)e->o.shed_wait_ms);
	if (!e->topmem[0].kb)
		return;
	fprintf(f, "gearbox: top memory:");
	for (int i = 0; i < NSLOW && e->topmem[i].kb > 0; i++)
		fprintf(f, "%s %s %.1f MB", i ? "," : "", e->wl->tasks[e->topmem[i].idx].id,
			(double)e->topmem[i].kb / 1024);
	fprintf(f, " (peak resident memory)\n");
}
