/* bench_stats.c - the statistics behind `gearbox bench`'s verdicts: medians,
 * the bootstrap interval of a ratio of medians, the exact Mann-Whitney test,
 * and a verdict per variant. */
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

/* ---- statistics --------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(const double *v, int n, double *tmp)
{
	memcpy(tmp, v, (size_t)n * sizeof *v);
	qsort(tmp, (size_t)n, sizeof *tmp, cmp_dbl);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#define BOOT 2000

/* bench_median(a) / bench_median(b) and its 95% percentile-bootstrap interval: both
 * samples resampled with replacement BOOT times. The seed is fixed, so the
 * same runs give the same interval. */
double bench_ratio_ci(const double *a, int na, const double *b, int nb, double *lo, double *hi)
{
	int m = na > nb ? na : nb;
	double *ra = malloc((size_t)m * sizeof *ra), *tmp = malloc((size_t)m * sizeof *tmp);
	double *boot = malloc(BOOT * sizeof *boot);
	double mb = 0, r = 0;
	if (!ra || !tmp || !boot || !na || !nb) {
		*lo = *hi = NAN;
		goto out;
	}
	mb = bench_median(b, nb, tmp);
	r = mb > 0 ? bench_median(a, na, tmp) / mb : NAN;
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (int k = 0; k < BOOT; k++) {
		for (int i = 0; i < na; i++)
			ra[i] = a[rng_next(&seed) % (uint64_t)na];
		double x = bench_median(ra, na, tmp);
		for (int i = 0; i < nb; i++)
			ra[i] = b[rng_next(&seed) % (uint64_t)nb];
		double y = bench_median(ra, nb, tmp);
		boot[k] = y > 0 ? x / y : NAN;
	}
	qsort(boot, BOOT, sizeof *boot, cmp_dbl);
	*lo = boot[(int)(0.025 * BOOT)];
	*hi = boot[(int)(0.975 * BOOT) - 1];
out:
	free(ra);
	free(tmp);
	free(boot);
	return r;
}

/* Two-sided p-value of the Mann-Whitney U test that a and b come from the
 * same distribution: exact (no ties assumed) when both samples are small,
 * else the normal approximation. Rank-based, so one wild run cannot make a
 * difference, and honest about few runs: 3 against 3 can never reach 0.05. */
double bench_mann_whitney_p(const double *a, int na, const double *b, int nb)
{
	double u = 0;
	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			u += a[i] > b[j] ? 1 : a[i] == b[j] ? 0.5 : 0;
	double mean = (double)na * nb / 2, lo = u < mean ? u : (double)na * nb - u;
	if (na <= 20 && nb <= 20) {
		/* F(m, k): orderings of m a's and n b's whose U (pairs with the
		 * a above the b) is k, as doubles */
		int umax = na * nb;
		double *f = calloc((size_t)(na + 1) * (size_t)(umax + 1), sizeof *f);
		if (!f)
			return 1;
#define F(m, k) f[(size_t)(m) * (size_t)(umax + 1) + (size_t)(k)]
		for (int m = 0; m <= na; m++)
			F(m, 0) = 1; /* with 0 b's */
		/* N(m, n, k) = N(m-1, n, k-n) + N(m, n-1, k): the largest item is
		 * an a (above all n b's) or a b; in place, m rising, n one at a time */
		for (int n = 1; n <= nb; n++)
			for (int m = 1; m <= na; m++)
				for (int k = 0; k <= m * n; k++)
					F(m, k) = (k >= n ? F(m - 1, k - n) : 0) + F(m, k);
		double total = 0, tail = 0;
		for (int k = 0; k <= umax; k++) {
			total += F(na, k);
			if (k <= lo + 1e-9)
				tail += F(na, k);
		}
#undef F
		free(f);
		double p = 2 * tail / total;
		return p > 1 ? 1 : p;
	}
	double sd = sqrt((double)na * nb * (na + nb + 1) / 12.0);
	double z = (mean - lo - 0.5) / sd;
	return z <= 0 ? 1 : erfc(z / sqrt(2));
}

/* The smallest p n runs against n can give (complete separation). */
double bench_mann_whitney_min_p(int n)
{
	double c = 1; /* C(2n, n) */
	for (int i = 1; i <= n; i++)
		c = c * (n + i) / i;
	return 2 / c;
}

/* helps / hurts: the wall times differ (Mann-Whitney p below alpha) and the
 * medians by more than the noise floor; else within noise. */
static const char *verdict_of(const struct variant *v, double alpha, double noise)
{
	if (v->p < alpha && v->ratio < 1 - noise)
		return "helps";
	if (v->p < alpha && v->ratio > 1 + noise)
		return "hurts";
	return "within noise";
}

void bench_summarize(struct bench *b)
{
	double *tmp = malloc((size_t)b->repeat * sizeof *tmp);
	if (!tmp)
		return;
	for (int i = 0; i < b->nvar; i++) {
		struct variant *v = &b->var[i];
		for (int k = 0; k < NMETRIC; k++) {
			v->med[k] = bench_median(v->v[k], v->n, tmp);
			v->min[k] = tmp[0];
			v->max[k] = tmp[v->n - 1];
		}
		if (i == 0) {
			v->ratio = v->ci_lo = v->ci_hi = 1;
			v->verdict = "";
			continue;
		}
		v->ratio = bench_ratio_ci(v->v[M_WALL], v->n, b->var[0].v[M_WALL], b->var[0].n, &v->ci_lo,
				    &v->ci_hi);
		v->p = bench_mann_whitney_p(v->v[M_WALL], v->n, b->var[0].v[M_WALL], b->var[0].n);
		v->verdict = verdict_of(v, b->alpha, b->noise);
	}
	free(tmp);
}

