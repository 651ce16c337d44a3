/* bench_int.h - `gearbox bench`'s internals, shared by bench.c (options,
 * setup, the rounds), bench_run.c (one run, the outputs kept),
 * bench_stats.c (statistics, verdicts) and bench_report.c (reports,
 * --against) and by no one else. */
#ifndef GBX_BENCH_INT_H
#define GBX_BENCH_INT_H

#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "util.h"
#include "workload.h"

enum { M_WALL, M_CPU, M_RSS, M_TPUT, M_P50, M_P99, M_OK, NMETRIC };
static const struct {
	const char *key, *label, *unit;
	int lower_better;
} metric[NMETRIC] = {
	{"wall_s", "wall", "s", 1},
	{"cpu_s", "CPU", "s", 1},
	{"rss_mb", "peak RSS", "MB", 1},
	{"throughput", "throughput", "tasks/s", 0},
	{"p50_ms", "p50 latency", "ms", 1},
	{"p99_ms", "p99 latency", "ms", 1},
	{"success", "success", "%", 0},
};

struct variant {
	char name[64];
	char **on;             /* compared plugins on in this variant, NULL-terminated */
	int configured;        /* the config as it is: no --enable/--disable */
	int stateful;          /* the cache is on: measured warm (its state kept) */
	int cold_of;           /* > 0: the cold runs of variant cold_of */
	int cold;              /* > 0: index of this variant's cold runs */
	double *v[NMETRIC];    /* per measured run */
	int n;
	double med[NMETRIC], min[NMETRIC], max[NMETRIC];
	double ratio, ci_lo, ci_hi; /* wall against the baseline */
	double p;              /* Mann-Whitney p of the wall times against the baseline */
	const char *verdict;
};

struct bench {
	const char *workload, *config, *profile, *jobs, *save, *against, *out;
	const char *format;
	char **policy;         /* --policy args, NULL-terminated */
	int npolicy;
	int repeat, warmup, warm, aa, quiet;
	double noise, threshold, alpha;
	char **plugins;        /* compared, NULL-terminated */
	int nplugins;
	int cache_known;       /* the cache plugin is compared or configured: reset its dir */
	struct variant *var;
	int nvar;
	char *self;            /* /proc/self/exe */
	char *tmp;             /* our scratch directory */
	char **outputs;        /* the workload's declared outputs, deduplicated */
	int *saved;            /* outputs[i] existed before: kept in tmp/out/i */
	size_t nout;
	int64_t tasks;
	int cores;
	char when[32];
	char host[256];
};

struct run {
	double m[NMETRIC];
	int status;            /* the child's exit status, or 128 + signal */
};


/* bench.c */
extern volatile sig_atomic_t bench_interrupted; /* SIGINT or SIGTERM came */
extern volatile pid_t bench_child;              /* the run going on, or 0 */
int bench_bad(const char *fmt, const char *arg);

/* bench_run.c */
int bench_rm_tree(const char *path);
int bench_outputs_save(struct bench *b, const struct workload *wl, struct err *err);
int bench_outputs_restore(struct bench *b);
int bench_is_on(const struct variant *v, const char *name);
int bench_run_once(struct bench *b, const struct variant *v, int seq, struct run *r);

/* bench_stats.c */
double bench_median(const double *v, int n, double *tmp);
double bench_mann_whitney_min_p(int n);
void bench_summarize(struct bench *b);

/* bench_report.c */
int bench_write_report(const struct bench *b, const char *path, const char *format);
int bench_against(const struct bench *b, const char *path, FILE *f);

#endif
