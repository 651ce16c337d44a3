/* test_readyq.c - the engine's ready queue (a heap plus an ascending run of
 * equal keys) pops in exactly the order a plain heap does, for pushes in
 * submission order, out of order, with one key or many, interleaved with
 * pops, across ring growth and wrap-around. */
#include <stdlib.h>

#include "check.h"
#include "heap.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* nkeys: distinct keys drawn; inorder: indexes mostly ascending */
static int same_order(int n, int nkeys, int inorder, int pop_every)
{
	struct readyq q = {0};
	struct heap h = {0};
	uint32_t idx = 0;
	int pushed = 0, ok = 1;
	while (pushed < n || readyq_n(&q)) {
		if (pushed < n && (next() % (uint64_t)pop_every || !readyq_n(&q))) {
			double key = (double)(next() % (uint64_t)nkeys);
			uint32_t i = inorder ? idx++ : (uint32_t)(next() % 1000000);
			if (!inorder && next() % 2)
				i = idx++;
			if (readyq_push(&q, key, i) || heap_push(&h, key, i))
				return 0;
			pushed++;
		} else {
			uint32_t a = readyq_pop(&q), b = heap_pop(&h).idx;
			ok &= a == b;
		}
	}
	ok &= h.n == 0;
	readyq_free(&q);
	heap_free(&h);
	return ok;
}

int main(void)
{
	CHECK(same_order(100000, 1, 1, 1000000), "one key, in order, all pushed then popped");
	CHECK(same_order(100000, 1, 1, 3), "one key, in order, pops interleaved (ring wraps)");
	CHECK(same_order(100000, 1, 0, 3), "one key, indexes out of order");
	CHECK(same_order(100000, 3, 1, 4), "three keys, in order");
	CHECK(same_order(100000, 50, 0, 2), "fifty keys, out of order");
	CHECK(same_order(2000, 2, 1, 50), "two keys, long runs between pops");
	struct readyq q = {0};
	CHECK(readyq_push(&q, -5, 7) == 0 && readyq_push(&q, -5, 3) == 0 && readyq_push(&q, -9, 8) == 0 &&
		      readyq_pop(&q) == 8 && readyq_pop(&q) == 3 && readyq_pop(&q) == 7 && readyq_n(&q) == 0,
	      "a higher priority (lower key) and a lower index come first");
	readyq_free(&q);
	return check_done();
}
