/* hist.c - bucket bounds, merging and quantiles of the log-linear histograms
 * (layout and error bounds in hist.h). Pure functions: unit-tested directly.
 */
#include "hist.h"

#include <math.h>
#include <string.h>

uint64_t hist_lo(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return i;
	unsigned e = i / HIST_SUB + 2, sub = i % HIST_SUB;
	return (uint64_t)(HIST_SUB + sub) << (e - HIST_SUB_BITS);
}

uint64_t hist_hi(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return (uint64_t)i + 1;
	unsigned e = i / HIST_SUB + 2;
	return hist_lo(i) + ((uint64_t)1 << (e - HIST_SUB_BITS)); /* wraps to 0 only for i = 495 */
}

double hist_mid(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return (double)i + 1;
	uint64_t w = (uint64_t)1 << (i / HIST_SUB + 2 - HIST_SUB_BITS);
	return (double)hist_lo(i) + (double)(w + 1) / 2;
}

void hsum_clear(struct hsum *s)
{
	memset(s, 0, sizeof *s);
}

static void bounds(struct hsum *s, unsigned i)
{
	if (!s->count || i < s->lo_i)
		s->lo_i = i;
	if (!s->count || i > s->hi_i)
		s->hi_i = i;
}

void hsum_add_hist(struct hsum *s, const struct hist *h, const struct hstat *st)
{
	for (unsigned i = 0; i < HIST_N; i++) {
		uint64_t n = atomic_load_explicit(&h->b[i], memory_order_relaxed);
		if (!n)
			continue;
		bounds(s, i);
		s->b[i] += n;
		s->count += n;
	}
	s->sum += atomic_load_explicit(&st->sum, memory_order_relaxed);
	uint64_t m = atomic_load_explicit(&st->max, memory_order_relaxed);
	if (m > s->max)
		s->max = m;
}

void hsum_add(struct hsum *s, const struct hsum *o)
{
	if (!o->count)
		return;
	for (unsigned i = o->lo_i; i <= o->hi_i; i++)
		s->b[i] += o->b[i];
	if (!s->count || o->lo_i < s->lo_i)
		s->lo_i = o->lo_i;
	if (!s->count || o->hi_i > s->hi_i)
		s->hi_i = o->hi_i;
	s->count += o->count;
	s->sum += o->sum;
	if (o->max > s->max)
		s->max = o->max;
}

void hsum_diff(struct hsum *s, const struct hsum *a, const struct hsum *b)
{
	hsum_clear(s);
	if (!a->count)
		return;
	for (unsigned i = a->lo_i; i <= a->hi_i; i++) {
		if (a->b[i] <= b->b[i])
			continue;
		uint64_t n = a->b[i] - b->b[i];
		bounds(s, i);
		s->b[i] = n;
		s->count += n;
	}
	s->sum = a->sum >= b->sum ? a->sum - b->sum : 0;
	s->max = s->count ? a->max : 0;
}

double hsum_quantile(const struct hsum *s, double q)
{
	if (!s->count)
		return 0;
	if (q > 1)
		q = 1;
	double r = ceil(q * (double)s->count - 1e-9);
	uint64_t rank = r < 1 ? 1 : (uint64_t)r;
	uint64_t seen = 0;
	for (unsigned i = s->lo_i; i <= s->hi_i; i++) {
		seen += s->b[i];
		if (seen >= rank) {
			double v = hist_mid(i);
			return v > (double)s->max ? (double)s->max : v;
		}
	}
	return (double)s->max;
}

uint64_t hsum_count_le(const struct hsum *s, uint64_t bound)
{
	if (!s->count)
		return 0;
	unsigned last = hist_index(bound);
	if (hist_hi(last) != bound) {
		if (last == 0)
			return 0;
		last--; /* bound falls inside bucket `last`: count whole buckets only */
	}
	uint64_t n = 0;
	for (unsigned i = s->lo_i; i <= s->hi_i && i <= last; i++)
		n += s->b[i];
	return n;
}
