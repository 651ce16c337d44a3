/* policy.h - the Lua 5.4 policy host: scheduling, retry and scaling decisions
 * as scripts.
 *
 * One host per engine, one lua_State in it, shared by the three policy kinds
 * (each file gets its own sandboxed environment). The host is not thread-safe:
 * the engine calls it only under its lock, so calls never overlap. Every call
 * runs under an instruction budget, and the state under a memory cap. A policy
 * that raises, overruns or returns the wrong type is reported once (file, line,
 * function) and that call returns "fall back": the engine uses its built-in
 * decision and the run goes on.
 */
#ifndef GBX_POLICY_H
#define GBX_POLICY_H

#include <stdint.h>
#include "util.h"
#include "workload.h"
#include "resources.h"

enum policy_kind { POL_SCHEDULING = 0, POL_RETRY, POL_SCALING, POL_PLACEMENT, POL_NKINDS };

struct policy_opts {
	int64_t budget;        /* Lua VM instructions per call; 0: default 1,000,000 */
	size_t mem_cap;        /* bytes for the whole Lua state; 0: default 64 MiB */
	int64_t deadline_ms;   /* CPU time limit of one call; 0: default 3,000 */
	int64_t pattern_steps; /* matcher steps of one string.find, match, gsub or gmatch
	                          step, beyond 16 per subject byte (lpat.h); 0: 1e7 */
	const struct workload *wl; /* tasks the views read */
	void (*report)(void *ud, const char *msg); /* where "reported once" messages go
	                  (one line, no "gearbox: " prefix, no newline); NULL: stderr */
	void *report_ud;
};

/* What failed, for retry decide(task, failure, attempt, stats). */
struct policy_failure {
	const char *kind;      /* "exit" | "signal" | "timeout" | "spawn" | "rejected" | "error" */
	int exit_code;         /* -1 when none */
	int signal;            /* 0 when none */
	double ms;             /* how long the attempt ran */
	const char *message;   /* or NULL */
};

/* Per failure kind, over the run so far, for the retry policy's `stats`. */
#define POLICY_NFK 8      /* exit, signal, timeout, spawn, rejected, error, oom, shed */
struct policy_stats {
	uint64_t failures[POLICY_NFK];    /* attempts that failed with this kind */
	uint64_t retries[POLICY_NFK];     /* retries started after a failure of this kind */
	uint64_t retry_ok[POLICY_NFK];    /* of those, retries that succeeded */
};

/* Changes for the next attempt, returned by retry decide as its second value. */
struct policy_changes {
	int has_timeout, has_priority;
	int64_t timeout_ms;
	int32_t priority;
	int has_need;          /* `resources = {...}`: the task's needs, changed name by name */
	struct res_need need;
};

/* Scaling inputs. cpu and mem are utilization in [0, 1] (from /proc). */
struct policy_metrics {
	double cpu, mem;
	int64_t queued, running, jobs, cores, done, failed, min_jobs, max_jobs;
	double avg_ms;         /* mean run time of finished attempts */
	double throughput;     /* tasks finished per second over the last interval */
	double elapsed_ms;     /* since the run started */
	double mem_avail_mb;   /* the machine's available memory (MemAvailable) */
	double mem_per_task_mb; /* the p90 of the tasks' history peak memory, 0 unknown */
};

struct policy;

/* Creates a host (no policy loaded yet). Returns NULL with err set. */
struct policy *policy_new(const struct policy_opts *o, struct err *err);
void policy_free(struct policy *p);

/* Loads `file` as the policy of `kind`, replacing any previous one. Checks the
 * returned table has the required function (key / decide) of the right type.
 * Returns 0, or -1 with err naming the file, the line and the problem. */
int policy_load(struct policy *p, int kind, const char *file, struct err *err);

/* Re-reads every loaded file. A file that fails to load keeps its old policy;
 * err says which and why. Returns 0 when all reloaded, -1 otherwise. */
int policy_reload(struct policy *p, struct err *err);

/* 1 when a policy of this kind is loaded. */
int policy_has(const struct policy *p, int kind);
/* The loaded file of this kind, or NULL. */
const char *policy_file(const struct policy *p, int kind);

/* How many calls of this kind fell back (errors, overruns, bad returns),
 * reported or not. Reset by nothing; policy_check does not count. */
uint64_t policy_fallbacks(const struct policy *p, int kind);
/* Bytes the Lua state holds now (against policy_opts.mem_cap). */
size_t policy_mem_used(const struct policy *p);

/* Makes every call, the running one included, stop at its next count hook
 * (within a few thousand instructions; C functions are bounded by pguard.c)
 * and fall back. For a run that is stopping. The only function here that
 * may be called from another thread, at any time. */
void policy_interrupt(struct policy *p);

/* Scheduling: key(task). Returns 0 and sets *key, or -1 to fall back. */
int policy_key(struct policy *p, const struct task *t, double *key);

/* Retry: decide(task, failure, attempt, stats). Returns 1 to retry after
 * *delay_ms (with *chg filled when a second value was returned), 0 to give up,
 * -1 to fall back. */
int policy_retry(struct policy *p, const struct task *t, const struct policy_failure *f,
		 int attempt, const struct policy_stats *st, int64_t *delay_ms,
		 struct policy_changes *chg);

/* The run's admission plan (resources.h) that task views (`task.resources`)
 * and retry changes (`resources = {...}`) use; NULL: none. Borrowed. */
void policy_set_res(struct policy *p, const struct res_plan *res);

/* Admission (resources.h): the scheduling policy's optional
 * admit(task, state), called under the engine lock for a task whose needs
 * fit. state: capacity and used (name = amount), running, and tags (tag =
 * running tasks carrying it). */
struct policy_admit_state {
	uint32_t n;                 /* resources */
	const char *const *names;
	const int64_t *cap, *used;  /* thousandths */
	int64_t running;
	uint32_t ntags;
	const char *const *tags;
	const int64_t *tag_running;
};
int policy_has_admit(const struct policy *p);
/* Returns 1 admit, 0 not now, 2 not before *delay_ms, -1 fall back (admit). */
int policy_admit(struct policy *p, const struct task *t, const struct policy_admit_state *st,
		 int64_t *delay_ms);

/* Estimates from history (per task of the policy's workload, -1 unknown):
 * `task.est_ms` shows them for tasks whose est_ms is not given. Borrowed;
 * NULL: none. */
void policy_set_est(struct policy *p, const int64_t *est_ms);

/* Scaling: decide(metrics). Returns 0 and sets *jobs, or -1 to fall back
 * (hold). The caller clamps to [min_jobs, max_jobs]. */
int policy_scale(struct policy *p, const struct policy_metrics *m, int64_t *jobs);
/* Placement (--nodes): place(task, nodes) over the n node views v (nodes.h:
 * the nodes that may take the task and have a free slot). Returns the index
 * into v of the node it named (by name or 1-based position), or -1 to fall
 * back to the built-in least_loaded (nil is a fallback too, not reported). */
struct node_view;
int policy_place(struct policy *p, const struct task *t, const struct node_view *v, int n);

/* The scaling policy's interval_ms (default 500). */
int64_t policy_scale_interval(const struct policy *p);

/* gearbox check: loads nothing new, dry-calls each loaded policy on sample
 * tasks (from wl when it has any, else synthetic ones) and on sample failures
 * and metrics. Returns the number of problems; each is appended to `out` as a
 * line naming the file, the line and the problem. */
int policy_check(struct policy *p, struct buf *out);

/* Functions that plugins add for policies: `table.name(...)`. Arguments and
 * the result are plain values (nil, boolean, number, string). */
enum policy_vtype { PV_NIL = 0, PV_BOOL, PV_NUM, PV_STR, PV_TASK };
struct policy_value {
	int type;
	double num;            /* PV_NUM, and PV_BOOL as 0/1 */
	const char *str;       /* PV_STR: borrowed for the call (argument) or copied by the host (result) */
	const struct task *task; /* PV_TASK (arguments only): the task a view shows */
};
typedef int (*policy_cfn)(void *ud, const struct policy_value *args, int nargs,
			  struct policy_value *ret);
int policy_register_fn(struct policy *p, const char *table, const char *name, policy_cfn fn,
		       void *ud, struct err *err);

#endif
