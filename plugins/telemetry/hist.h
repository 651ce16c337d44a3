/* hist.h - log-linear latency histograms (HdrHistogram's layout, 3 sub-bucket
 * bits).
 *
 * Values are integer nanoseconds. Each power of two [2^e, 2^(e+1)) is split
 * into 8 equal buckets, and values up to 16 ns have a bucket each, so:
 *
 *   - a bucket (lo, hi] is at most 1/8 of lo wide: hi - lo <= lo / 8;
 *   - a quantile is reported as the middle of its bucket, which is within
 *     1/16 (6.25%) of the true value (exact up to 16 ns), and never above
 *     the exact maximum, which is kept on the side;
 *   - every power of two is a bucket boundary, so counts at le = 2^k ns
 *     (the Prometheus buckets) are exact.
 *
 * The index is a count-leading-zeros and two shifts. 496 buckets cover all
 * of uint64_t (0 to 584 years).
 *
 * Two flavours: `struct hist` is written by one thread (its owner) with
 * relaxed atomic loads and stores, so other threads may read it at any time
 * (plain increments, no read-modify-write: no lock prefix on the hot path);
 * `struct hsum` is a plain copy for readers to merge, subtract and query.
 */
#ifndef TEL_HIST_H
#define TEL_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 3
#define HIST_SUB      (1u << HIST_SUB_BITS) /* buckets per power of two */
#define HIST_N        496u                  /* (63 - 2) * 8 + 8 */

/* Bucket of value v: buckets are (lo, hi] in v (bucket 0 also holds 0), so
 * the index is taken on u = v - 1. */
static inline unsigned hist_index(uint64_t v)
{
	uint64_t u = v - (v != 0);
	if (u < 2 * HIST_SUB)
		return (unsigned)u;
	unsigned e = 63u - (unsigned)__builtin_clzll(u); /* e >= 4 */
	return (e - 2) * HIST_SUB + (unsigned)((u >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* Lower (exclusive) and upper (inclusive) bound of bucket i, in ns. */
uint64_t hist_lo(unsigned i);
uint64_t hist_hi(unsigned i);
/* The value a quantile in bucket i is reported as: the middle of (lo, hi],
 * or hi itself when the bucket holds one integer. */
double hist_mid(unsigned i);

struct hist {
	_Atomic uint64_t b[HIST_N];
};
/* the sum and the maximum, apart from the buckets so that a user can keep
 * several of them in one cache line */
struct hstat {
	_Atomic uint64_t sum, max;
};

static inline void relaxed_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

static inline void relaxed_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* Records v. Only the owner thread may call it. */
static inline void hist_add(struct hist *h, struct hstat *st, uint64_t v)
{
	relaxed_inc(&h->b[hist_index(v)]);
	atomic_store_explicit(&st->sum, atomic_load_explicit(&st->sum, memory_order_relaxed) + v,
	                      memory_order_relaxed);
	if (v > atomic_load_explicit(&st->max, memory_order_relaxed))
		atomic_store_explicit(&st->max, v, memory_order_relaxed);
}

struct hsum {
	uint64_t b[HIST_N];
	uint64_t count, sum, max; /* count is the sum of b[] */
	unsigned lo_i, hi_i;      /* first and last non-empty bucket (when count > 0) */
};

void hsum_clear(struct hsum *s);
/* Adds a live histogram (read with relaxed loads: a concurrent writer makes
 * it a little stale, never torn: count always equals the buckets' sum). */
void hsum_add_hist(struct hsum *s, const struct hist *h, const struct hstat *st);
void hsum_add(struct hsum *s, const struct hsum *o);
/* s = a - b, for a window between two snapshots of the same histogram
 * (max is a's: the exact maximum of a window is not known). */
void hsum_diff(struct hsum *s, const struct hsum *a, const struct hsum *b);
/* The nearest-rank q-quantile (0 < q <= 1) in ns: the smallest recorded value
 * v such that at least ceil(q * count) values are <= v, reported as hist_mid
 * of its bucket and capped at max. 0 when empty. */
double hsum_quantile(const struct hsum *s, double q);
/* How many values are <= bound ns; exact when bound is a bucket's upper
 * bound (every power of two is). */
uint64_t hsum_count_le(const struct hsum *s, uint64_t bound);
/* Nanoseconds from milliseconds (truncated), 0 for negative, NaN or huge
 * values: a signed conversion is one instruction and yields INT64_MIN out
 * of range, where an unsigned one needs a range check (this is on every
 * attempt's path, twice). */
static inline uint64_t ms_to_ns(double ms)
{
	int64_t ns = (int64_t)(ms * 1e6);
	return ns > 0 ? (uint64_t)ns : 0;
}

#endif
