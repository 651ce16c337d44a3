/* engine.h - runs a loaded workload: ready queue, workers, retries, halting,
 * journal, joblog, events, progress and summary.
 *
 * Threads: `jobs` worker threads pull from one ready queue under the engine
 * lock; a worker runs its task itself (an in-process sim task, or a subprocess
 * it spawns and watches with poll). Whichever thread holds the lock plays the
 * dispatcher: it completes tasks, releases dependants and picks the next one.
 * The caller's thread (engine_run) handles signals, the progress line and
 * periodic work. See docs/ARCHITECTURE.md.
 */
#ifndef GBX_ENGINE_H
#define GBX_ENGINE_H

#include <stdint.h>
#include <jansson.h>
#include "workload.h"

struct policy;
struct plugin_set;
struct hostctx;
struct task_sink;

enum halt_mode { HALT_NEVER = 0, HALT_SOON, HALT_NOW };

struct run_opts {
	int jobs;                 /* initial concurrency, >= 1 */
	int jobs_max;             /* upper bound for engine_set_jobs (0: no bound but 4096) */
	const char *jobs_file;    /* -j FILE: concurrency re-read from this file while running */
	int halt;                 /* enum halt_mode */
	int halt_fail;            /* failures (count) that trigger the halt */
	int halt_fail_pct;        /* or, when > 0, percent of all tasks */
	const char *journal;
	int resume;
	const char *joblog;
	const char *events;
	const char *stats;        /* --stats FILE: counts and attempt latency quantiles as JSON at the end */
	const char *output_dir;
	int progress;             /* 1 on, 0 off, -1 when stderr is a terminal */
	int quiet, verbose;
	int silent;               /* no task output, progress or summary (embedding) */
	int64_t kill_grace_ms;    /* SIGTERM, then SIGKILL after this */
	int64_t retry_base_ms;    /* built-in backoff: base * 2^(attempt-1), capped */
	int64_t retry_cap_ms;
	int jobs_min;             /* bounds for the scaling policy (0: 1 and jobs_max) */
	struct policy *policy;    /* Lua policies, or NULL (used, not owned) */
	int watch_policies;       /* reload a policy file when it changes */
	struct plugin_set *plugins; /* loaded plugins, or NULL (used, not owned) */
	struct hostctx *host;     /* their host context, or NULL */
	json_t *resources;        /* the config's capacities (borrowed), or NULL: defaults */
	int enforce;              /* the config's `enforce` */
	int64_t shed_wait_ms;     /* load shedding (`shed`): -1 off; drop tasks under */
	int32_t shed_below;       /* shed_below priority that waited longer than this */
	const char *history;      /* the history store (history.h): "" beside the workload,
				   * a file, or NULL: none */
	int history_auto;         /* history is on by default, not asked for: skipped
				   * quietly where its directory is not writable */
	const char *config_path;  /* for messages, or NULL */
	int handle_signals;       /* take SIGINT/SIGTERM/SIGHUP (the CLI does; embedders need not) */
	struct nodes *nodes;      /* --nodes: attempts run on agents (nodes.c), or NULL (used, not owned) */
	int lost_uses_retries;    /* an attempt lost with its node counts against retries */
	const struct task_sink *sink; /* a front end that starts attempts and takes their
				   * output and ends (sink.h), or NULL */
};

void run_opts_init(struct run_opts *o);

/* Runs every task of wl (which the engine uses but does not own). Returns the
 * process exit status: 0 all succeeded, 1 some failed or were skipped, 2 the
 * run could not start (err set: journal or events file unusable), 130
 * interrupted. Prints task output, progress and the summary as configured. */
int engine_run(struct workload *wl, const struct run_opts *o, struct err *err);

#endif
