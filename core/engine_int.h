/* engine_int.h - the engine's internals, shared by its modules and by no one
 * else: engine.c (the queue and the workers), engine_run.c (a run's setup
 * and end), retry.c (what follows a failure), attempt.c (one attempt, hooks
 * through runner), records.c (journal, joblog, events, output files, stats),
 * summary.c (the summary and the progress line) and sampler.c (the main
 * thread: signals, sampling, scaling, plugin ticks).
 *
 * Locks: e->mu guards the queue, the task states and the counters;
 * e->ev_mu (the events file) is taken inside e->mu, never the other way;
 * e->out_mu (the terminal) is never held with e->mu.
 */
#ifndef GBX_ENGINE_INT_H
#define GBX_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "engine.h"
#include "heap.h"
#include "plugins.h"
#include "policy.h"
#include "runner.h"
#include "resources.h"
#include "cgroup.h"
#include "history.h"

#define JOBS_LIMIT 4096
#define NSLOW 5
#define TAIL_LINES 5
#define TAIL_BYTES 1024
#define SPAWN_BUCKETS 4096
/* Batches (docs/ARCHITECTURE.md): at most this many tasks per claim, and only
 * after attempts shorter than BATCH_SHORT_NS (without timing: within one tick
 * of the coarse clock, 4 ms here) */
#define BATCH_MAX 8
#define BATCH_SHORT_NS 50000

enum stop_level { STOP_NONE = 0, STOP_SOON, STOP_KILL };

struct worker {
	struct engine *e;
	int idx;
	pthread_t th;
	int wake_fd;
	atomic_int stop;
	atomic_int child;  /* pid of the running subprocess, 0 if none */
	int running;      /* under e->mu: has a task */
	struct spool out, err; /* the attempt's output (spool.h; into --output-dir when given) */
	uint32_t *lat;    /* --stats: this worker's attempt times (merged at the end) */
	int64_t lat_max_ns;
	/* A batch: besides the task it took, up to BATCH_MAX - 1 more short
	 * tasks of the same key claimed in the same pass under e->mu
	 * (docs/ARCHITECTURE.md, "Batches"). Each of bq[0..bn) is taken by one
	 * atomic fetch_add on btake: by this worker, by an idle worker stealing
	 * it, or by a stop or a lower -j that hands it back. */
	uint32_t bq[BATCH_MAX];
	uint32_t bn;      /* under e->mu */
	atomic_uint btake;
	/* attempts of the batch that ended plainly (ok, silent, short): completed
	 * under e->mu in the next pass, not one pass each */
	struct { uint32_t idx; int64_t start_ns, end_ns; } dq[BATCH_MAX];
	uint32_t dn;
	int dq_deps;      /* a task in dq has dependants: complete it before the next */
	int res_freed;    /* completing dq: their needs were released together */
	int short_ok;     /* its last attempt was plain: it may claim a batch */
	struct fold *fold; /* per after_attempt plugin (ABI 1.3 attempt_sample) */
	int64_t fold_due;  /* a fold is 50 ms old from then (INT64_MAX: none pending) */
	int events;        /* e->events != NULL, read once */
	int64_t coarse;   /* without timing: the coarse clock after the last attempt */
};

struct failure {
	struct failure *next;
	uint32_t idx;
	int fkind, exit_code, sig;
	uint16_t attempts;
	char *msg;         /* spawn/error text, or NULL */
	char *tail;        /* last lines of stderr, or NULL */
};

struct engine {
	struct workload *wl;
	struct run_opts o;
	const struct plugin_set *ps;  /* never NULL: no_plugins when none are loaded */
	struct res_plan *res;         /* admission by declared needs (resources.h), or NULL:
				       * by -j alone; its counts change under e->mu */
	struct cgsys *cg;             /* enforcement (cgroup.h), or NULL */
	/* the lock and what is written under it start a cache line of their
	 * own: the read-only fields above (o.host is read per C task, outside
	 * the lock) must not share one with them */
	_Alignas(64) pthread_mutex_t mu;
	pthread_cond_t cv, park_cv;
	struct readyq ready;
	struct heap delayed;
	struct worker **w;
	int nthreads, jobs, running, idle, exited;
	uint32_t n_final, n_ok, n_failed, n_skipped, n_resumed, n_retried, n_late, n_attempts;
	uint32_t n_cached; /* tasks whose final attempt was answered as "cached" */
	uint32_t n_deferred;          /* GBX_DEFER verdicts (plugin ABI 1.4: per plugin in struct plugin) */
	uint32_t n_interrupted;   /* attempts stopped by SIGINT/SIGTERM: not final, run again on --resume */
	uint32_t n_lost;          /* attempts lost with their node (--nodes), run again */
	int stopping;
	int interrupted;          /* the signal that stopped the run (exit 128 + it), or 0 */
	int halted;
	int64_t t0_ns, t0_wall_ms;
	int done_fd;              /* eventfd: the run ended (written by the last worker) */
	int timing;               /* someone reads attempt times: read the clock per attempt */
	int batch;                /* workers may claim batches of short tasks */
	/* outputs */
	pthread_mutex_t out_mu;
	pthread_mutex_t ev_mu;    /* the events file; taken inside e->mu, never the other way */
	int journal_fd;
	FILE *events, *joblog;
	uint64_t joblog_seq;
	int progress_on;
	struct { int64_t ns; uint32_t idx; } slow[NSLOW];
	struct { int64_t kb; uint32_t idx; } topmem[NSLOW]; /* by peak memory (resrun.c) */
	int64_t mem_max_kb, mem_sum_kb;  /* over exec attempts that reported a peak */
	uint32_t n_shed;                 /* dropped by load shedding (failure kind shed) */
	struct history *hist;            /* or NULL; its notes are taken under e->mu */
	int64_t *hist_est_ms, *hist_mem_kb; /* per task from history, -1 unknown; or NULL */
	int64_t mem_per_task_kb;         /* p90 of hist_mem_kb, for scaling; 0 unknown */
	uint64_t mem_n;
	struct failure *failures, **fail_tail;
	int64_t sum_run_ns;
	struct policy_stats pstats;   /* per failure kind, for the retry policy */
	uint32_t n_final_at_tick;     /* for the scaling policy's throughput */
	int64_t spawn_ns_total;
	uint64_t spawn_count;
	uint32_t spawn_hist[SPAWN_BUCKETS]; /* spawn times by microsecond, last = longer */
	/* --stats: attempt run times, log-linear, merged from the workers' own at
	 * the end; NULL when not asked */
	uint32_t *lat;
	int64_t lat_max_ns;
	int stats;                /* --stats: written at the end (records.c) */
	atomic_uint n_rec_lost;   /* records that could not be written: an error */
	int events_failed, joblog_failed; /* said once each */
};


/* A fold (ABI 1.3 attempt_sample): plain successes of tasks outside one
 * after_attempt plugin's sample, counted on this worker while they share a
 * kind and target, and delivered as one call. */
struct fold {
	const char *kind, *target;
	int64_t first_ns;         /* when the first one ended: a fold waits 50 ms at most */
	uint32_t n;
	int node;                 /* ABI 1.5: the node of them all (attempt.node), -1 local */
	int64_t peak_kb, cpu_us;  /* ABI 1.5: the largest, the sum */
};

static inline double elapsed_ms(const struct engine *e, int64_t ns)
{
	return (double)(ns - e->t0_ns) / 1e6;
}

/* ---- engine.c ----------------------------------------------------------- */
int set_jobs(struct engine *e, int n);              /* under e->mu */
void stop_workers(struct engine *e, int level);     /* under e->mu */
void make_ready(struct engine *e, uint32_t idx, int64_t now);                 /* under e->mu */
int complete(struct engine *e, struct worker *w, uint32_t idx, struct attempt *a); /* under e->mu */
void release_dependants(struct engine *e, uint32_t idx, int64_t now);       /* under e->mu */
void worker_free(struct worker *w);

/* ---- retry.c (under e->mu) ---------------------------------------------- */
int decide_retry(struct engine *e, struct task *t, const struct attempt *a, int64_t *delay);
int node_lost(struct engine *e, uint32_t idx, struct attempt *a);
int shed_drop(struct engine *e, struct worker *w, uint32_t idx);

/* ---- attempt.c (outside e->mu) ------------------------------------------ */
int attempt_run(struct engine *e, struct worker *w, struct runner_ctx *rc,
		const struct plugin_set *ps, int64_t t0_ns, uint32_t idx,
		int64_t *fetched_ns, struct attempt *a);
int attempt_plain(struct worker *w, const struct runner_ctx *rc, const struct attempt *a);
void folds_flush(const struct plugin_set *ps, struct worker *w);
int folds_pending(const struct plugin_set *ps, const struct worker *w);

/* ---- records.c ---------------------------------------------------------- */
/* Log-linear buckets of nanoseconds: 16 per power of two, so a bucket's
 * midpoint is within 1/32 (3.1%) of any value in it. */
#define LAT_SUB 16
#define LAT_BUCKETS (64 * LAT_SUB)
static inline unsigned lat_bucket(uint64_t ns)
{
	if (ns < LAT_SUB)
		return (unsigned)ns;
	unsigned x = 63u - (unsigned)__builtin_clzll(ns); /* >= 4 */
	return (x - 3) * LAT_SUB + (unsigned)((ns >> (x - 4)) & (LAT_SUB - 1));
}
void ev_begin(struct engine *e, struct buf *b, const char *what, uint32_t idx);
void ev_end(struct engine *e, struct buf *b);        /* writes and frees b */
void ev_simple(struct engine *e, const char *what, uint32_t idx);
void journal_write(struct engine *e, uint32_t idx, const char *status, const struct attempt *a);
void joblog_write(struct engine *e, uint32_t idx, const struct attempt *a);
void stats_write(struct engine *e, double wall_ms);
void show_output(struct engine *e, uint32_t idx, struct attempt *a); /* outside e->mu */
int open_outputs(struct engine *e, struct err *err);
void close_outputs(struct engine *e);
/* Flushes the events file and the joblog, counting a failure in e->n_rec_lost:
 * before the summary, which says how many records were lost. */
void records_flush(struct engine *e);

/* ---- summary.c ---------------------------------------------------------- */
void note_slow(struct engine *e, uint32_t idx, int64_t ns);          /* under e->mu */
void note_failure(struct engine *e, uint32_t idx, const struct attempt *a); /* under e->mu */
void progress_line(struct engine *e);
void summary(struct engine *e);
void summary_plugins(struct engine *e);

/* ---- sampler.c (the main thread) ---------------------------------------- */
#include <signal.h>
struct sigstate {
	sigset_t oldmask;
	struct sigaction oldpipe;
};
/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (workers inherit
 * the mask) and returns a signalfd for them, or -1; SIGPIPE is ignored.
 * signals_give_back restores what was there and closes the fd. */
int signals_take(struct sigstate *st);
void signals_give_back(struct sigstate *st, int sfd);
int read_jobs_file(const char *path, struct timespec *mtime);
void sampler_loop(struct engine *e, int sfd, struct timespec *jobs_mtime);

#endif
