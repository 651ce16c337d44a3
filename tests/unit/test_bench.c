/* test_bench.c - the statistics behind gearbox bench's verdicts: exact
 * Mann-Whitney p-values against known small-sample tables, the normal
 * approximation for larger samples, and the bootstrap interval of a ratio. */
#include <math.h>
#include <stdlib.h>

#include "bench.h"
#include "check.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

int main(void)
{
	double lo5[] = {1, 2, 3, 4, 5}, hi5[] = {6, 7, 8, 9, 10};
	/* 5 against 5, fully apart: 2 / C(10,5) = 2/252 */
	CHECK(near(bench_mann_whitney_p(lo5, 5, hi5, 5), 2.0 / 252, 1e-12), "5 v 5 apart: p = 2/252");
	CHECK(near(bench_mann_whitney_p(hi5, 5, lo5, 5), 2.0 / 252, 1e-12), "symmetric in its arguments");
	/* 3 against 3, fully apart: 2 / C(6,3) = 0.1, never below 0.05 */
	CHECK(near(bench_mann_whitney_p(lo5, 3, hi5, 3), 0.1, 1e-12), "3 v 3 apart: p = 0.1");
	/* one pair out of order (U = 1): 2 * 2/252 */
	double a[] = {1, 2, 3, 4, 6}, b[] = {5, 7, 8, 9, 10};
	CHECK(near(bench_mann_whitney_p(a, 5, b, 5), 4.0 / 252, 1e-12), "5 v 5, U = 1: p = 4/252");
	/* interleaved: no evidence */
	double c[] = {1, 3, 5, 7, 9}, d[] = {2, 4, 6, 8, 10};
	CHECK(bench_mann_whitney_p(c, 5, d, 5) > 0.5, "5 v 5 interleaved: p > 0.5 (got %g)",
	      bench_mann_whitney_p(c, 5, d, 5));
	CHECK(near(bench_mann_whitney_p(c, 5, c, 5), 1, 1e-12), "a sample against itself: p = 1");
	/* 4 against 6 apart: 2 / C(10,4) = 2/210 */
	CHECK(near(bench_mann_whitney_p(lo5, 4, (double[]){11, 12, 13, 14, 15, 16}, 6), 2.0 / 210, 1e-12),
	      "4 v 6 apart: p = 2/210");
	/* large samples: normal approximation, apart -> tiny, shuffled -> large */
	double x[30], y[30];
	for (int i = 0; i < 30; i++) {
		x[i] = i;
		y[i] = 100 + i;
	}
	CHECK(bench_mann_whitney_p(x, 30, y, 30) < 1e-9, "30 v 30 apart: p tiny");
	for (int i = 0; i < 30; i++)
		y[i] = i + 0.5;
	CHECK(bench_mann_whitney_p(x, 30, y, 30) > 0.5, "30 v 30 interleaved: p > 0.5");

	/* bootstrap ratio of medians */
	double base[] = {1.00, 1.02, 0.98, 1.01, 0.99}, half[] = {0.50, 0.51, 0.49, 0.50, 0.52};
	double l, h, r = bench_ratio_ci(half, 5, base, 5, &l, &h);
	CHECK(near(r, 0.5, 1e-9), "ratio of medians 0.50 / 1.00");
	CHECK(l <= h && l > 0.45 && h < 0.55, "its interval is tight around it [%g, %g]", l, h);
	double l2, h2;
	bench_ratio_ci(half, 5, base, 5, &l2, &h2);
	CHECK(l == l2 && h == h2, "the same samples give the same interval");
	r = bench_ratio_ci(base, 5, base, 5, &l, &h);
	CHECK(r == 1 && l <= 1 && h >= 1, "a sample against itself: 1 inside [%g, %g]", l, h);
	return check_done();
}
