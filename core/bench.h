/* bench.h - `gearbox bench`: which plugins pay on a workload, with numbers.
 *
 * Runs the workload as separate `gearbox run` processes: the baseline (every
 * compared plugin off), each plugin alone on, and the configured set, N times
 * each in interleaved rounds. Reports medians, spreads, ratios to the
 * baseline with bootstrap confidence intervals, a verdict per plugin and a
 * recommended config; saves results and compares against saved ones.
 * docs/bench.md is the user's guide.
 */
#ifndef GBX_BENCH_H
#define GBX_BENCH_H

/* argv[0] is "bench". Returns the exit status: 0 done, 1 a regression
 * against --against, 2 bad input or a run that could not start, 130
 * interrupted. */
int bench_main(int argc, char **argv);

extern const char bench_usage[];

/* The statistics behind the verdicts, exposed for tests/unit/test_bench.c. */
/* Two-sided Mann-Whitney U p-value of samples a and b (exact when both have
 * at most 20 values, else the normal approximation). */
double bench_mann_whitney_p(const double *a, int na, const double *b, int nb);
/* median(a) / median(b), with its 95% percentile-bootstrap interval in
 * [*lo, *hi] (a fixed seed: the same samples give the same interval). */
double bench_ratio_ci(const double *a, int na, const double *b, int nb, double *lo, double *hi);

#endif
