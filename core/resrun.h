/* resrun.h - the engine's side of resources (resrun.c): a run's admission
 * plan and cgroups, an attempt's limits, and the fields records add. */
#ifndef GBX_RESRUN_H
#define GBX_RESRUN_H

#include "engine_int.h"

/* Before the workers start: builds e->res (NULL when nothing declares needs)
 * and, when a task is enforced, opens the cgroups in *cg (which must outlive
 * the run) as e->cg, with a one-line notice when only rlimits are left.
 * Returns -1 with err set for a task that can never fit (exit 2). */
int res_run_open(struct engine *e, struct cgsys *cg, struct err *err);
void res_run_close(struct engine *e);

/* Outside e->mu, before an exec attempt when e->cg: the limits for rc. */
void res_attempt_setup(struct engine *e, const struct task *t, struct runner_ctx *rc);

/* Fields of the "started" and "finished" events. */
void res_ev_started(struct engine *e, uint32_t idx, struct buf *b);
void res_ev_finished(const struct attempt *a, struct buf *b);

/* Under e->mu: an exec attempt's peak memory, for the summary and --stats. */
void res_note_mem(struct engine *e, uint32_t idx, const struct attempt *a);
/* The summary's "top memory" line (nothing when no attempt reported one). */
void res_summary(struct engine *e, FILE *f);

/* The memory per task the scaling policy sees: the p90 of the tasks' own
 * estimates (mem_kb per task, -1 none); 0 when none has one. */
int64_t res_mem_per_task(const struct workload *wl, const int64_t *mem_kb);

/* The history file: the config's (given non-empty), or beside the workload. */
void res_history_path(const struct workload *wl, const char *given, char *out, size_t n);

/* gearbox check --estimates (check_est.c): what history would give (history:
 * the config's, NULL or "" beside the workload), per task (EST_TASKS, or
 * EST_AUTO up to 20 tasks) or one line per command template. Nothing is
 * created. */
enum { EST_AUTO = 0, EST_TASKS, EST_GROUPS };
int res_check_estimates(const struct workload *wl, const char *history, int mode, FILE *out);

/* gearbox check: capacities, how many tasks need something, and which
 * enforcement this machine gives (out NULL: only the check). -1 with err for
 * a task that can never fit. */
int res_check(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
	      FILE *out, struct err *err);

#endif
