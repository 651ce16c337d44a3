/* calib.c - prints the spin count (common.h's spin) that takes 1 us here: the
 * lowest of 7 timings of 20,000,000 iterations, so that a slow moment on a
 * shared machine does not make "1 us" shorter. */
#include "common.h"

int main(void)
{
	const unsigned long k = 20000000;
	int64_t best = INT64_MAX;
	for (int r = 0; r < 7; r++) {
		int64_t t0 = now_ns();
		spin(k);
		int64_t dt = now_ns() - t0;
		if (dt < best)
			best = dt;
	}
	printf("%lu\n", (unsigned long)((double)k * 1000.0 / (double)best + 0.5));
	return 0;
}
