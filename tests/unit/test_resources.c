/* test_resources.c - admission's accounting (core/resources.c): a batch that
 * claims tasks sharing a spec counts them together, stops exactly where the
 * next one would overcommit, falls back to one by one for another need, a
 * retry's override or an admit hook, and its releases bring every use back
 * to zero. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "heap.h"
#include "resources.h"

static struct workload *load(const char *text)
{
	struct workload *wl = NULL;
	struct err err = {0};
	if (workload_load_string(text, strlen(text), "t.json", &wl, &err))
		fprintf(stderr, "%s\n", err.msg);
	return wl;
}

static struct res_plan *plan(struct workload *wl, const char *cfg)
{
	json_error_t je;
	json_t *c = json_loads(cfg, 0, &je);
	struct res_plan *p = NULL;
	struct err err = {0};
	if (res_plan_new(wl, c, 0, NULL, &p, &err))
		fprintf(stderr, "%s\n", err.msg);
	json_decref(c);
	return p;
}

/* picks the head, then claims up to want more through a batch; returns how
 * many were claimed besides the head, in got[] */
static uint32_t claim(struct res_plan *p, struct readyq *q, struct workload *wl, uint32_t want,
		      uint32_t *got)
{
	uint32_t idx, n = 0;
	double k;
	if (!res_pick(p, q, wl->tasks, &idx, &k))
		return UINT32_MAX;
	got[n] = idx;
	struct res_batch rb;
	res_batch_begin(p, idx, &rb);
	while (n < want && readyq_n(q)) {
		uint32_t x = readyq_pop(q);
		if (!res_batch_take(p, &rb, &wl->tasks[x], x)) {
			readyq_push(q, k, x);
			break;
		}
		got[++n] = x;
	}
	res_batch_end(p, &rb, 1);
	return n;
}

static void release(struct res_plan *p, struct workload *wl, const uint32_t *idx, uint32_t n)
{
	struct res_batch rb = {0};
	for (uint32_t i = 0; i < n; i++)
		res_batch_release(p, &rb, &wl->tasks[idx[i]], idx[i]);
	res_batch_end(p, &rb, -1);
}

int main(void)
{
	/* 10 of one spec (cpu 1), then 2 of another (cpu 0.5) */
	struct workload *wl = load(
		"{\"matrix\":[{\"id\":\"a{i}\",\"kind\":\"sim\",\"resources\":{\"cpu\":1,\"mem_mb\":10},"
		"\"vars\":{\"i\":[0,1,2,3,4,5,6,7,8,9]}}],"
		"\"tasks\":[{\"id\":\"b0\",\"kind\":\"sim\",\"resources\":{\"cpu\":0.5}},"
		"{\"id\":\"b1\",\"kind\":\"sim\",\"resources\":{\"cpu\":0.5}}]}");
	CHECK(wl != NULL, "workload loads");
	if (!wl)
		return check_done();
	struct res_plan *p = plan(wl, "{\"cpu\": 3, \"mem_mb\": 100}");
	CHECK(p != NULL, "a plan with needs");
	if (!p)
		return check_done();
	uint32_t a = UINT32_MAX, b = UINT32_MAX;
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		if (strcmp(wl->tasks[i].id, "a0") == 0)
			a = i;
		if (strcmp(wl->tasks[i].id, "b0") == 0)
			b = i;
	}
	struct readyq q = {0};
	for (uint32_t i = 0; i < 10; i++)
		readyq_push(&q, 0, a + i);
	uint32_t got[16], got2[16];

	/* room for 3 at cpu 1 of 3: the head and 2 more, the third is refused */
	uint32_t n = claim(p, &q, wl, 7, got);
	CHECK(n == 2, "a batch claims exactly up to the capacity (2 besides the head, got %u)", n);
	CHECK(res_used(p, RES_CPU) == 3000 && res_used(p, RES_MEM) == 30000,
	      "what a batch claimed is counted once at its end (cpu %lld, mem %lld)",
	      (long long)res_used(p, RES_CPU), (long long)res_used(p, RES_MEM));
	CHECK(readyq_n(&q) == 7, "the refused task is back in the queue (%u)", readyq_n(&q));
	uint32_t idx;
	double k;
	CHECK(!res_pick(p, &q, wl->tasks, &idx, &k), "nothing more fits");
	release(p, wl, got, 3);
	CHECK(res_used(p, RES_CPU) == 0 && res_used(p, RES_MEM) == 0,
	      "a batch's releases bring use back to zero");

	/* a task of another spec in the middle of a batch goes one by one and
	 * the batch still stops at the capacity: a, b, a, a (1 + 0.5 + 1 = 2.5,
	 * a fourth of 1 would be 3.5) */
	/* distinct keys set the order */
	while (readyq_n(&q))
		readyq_pop(&q);
	readyq_push(&q, 1, a + 0);
	readyq_push(&q, 2, b);
	readyq_push(&q, 3, a + 1);
	readyq_push(&q, 4, a + 2);
	n = claim(p, &q, wl, 7, got);
	CHECK(n == 2 && got[1] == b && got[2] == a + 1,
	      "another need in the batch: counted one by one, stops before overcommitting (%u)", n);
	CHECK(res_used(p, RES_CPU) == 2500, "cpu 2.5 in use (%lld)", (long long)res_used(p, RES_CPU));
	release(p, wl, got, n + 1);
	CHECK(res_used(p, RES_CPU) == 0 && res_used(p, RES_MEM) == 0,
	      "mixed releases bring use back to zero (cpu %lld, mem %lld)",
	      (long long)res_used(p, RES_CPU), (long long)res_used(p, RES_MEM));

	/* a retry grew one task's need: that task is no longer like its siblings */
	struct res_need big = *wl->tasks[a + 3].spec->need;
	big.amt[RES_CPU] = 2000;
	res_override(p, a + 3, &big);
	while (readyq_n(&q))
		readyq_pop(&q);
	for (uint32_t i = 3; i < 6; i++)
		readyq_push(&q, 0, a + i);
	n = claim(p, &q, wl, 7, got2);
	CHECK(n == 1 && res_used(p, RES_CPU) == 3000,
	      "an override is counted as itself (2 + 1 of 3; %u more, cpu %lld)", n,
	      (long long)res_used(p, RES_CPU));
	release(p, wl, got2, n + 1);
	CHECK(res_used(p, RES_CPU) == 0 && res_used(p, RES_MEM) == 0,
	      "an override's release is its own need");

	readyq_free(&q);
	res_plan_free(p);
	workload_free(wl);
	return check_done();
}
