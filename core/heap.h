/* heap.h - a binary min-heap of (key, seq) pairs, used for the ready queue
 * (key from the scheduling order, seq = submission order so ties keep it) and
 * for the retry timers (key = due time). Not thread-safe: the engine lock
 * guards it.
 */
#ifndef GBX_HEAP_H
#define GBX_HEAP_H

#include <stdint.h>
#include <stdlib.h>

struct heap_ent {
	double key;
	uint32_t idx;
};

struct heap {
	struct heap_ent *a;
	uint32_t n, cap;
};

static inline int heap_less(const struct heap_ent *x, const struct heap_ent *y)
{
	return x->key < y->key || (x->key == y->key && x->idx < y->idx);
}

static inline int heap_push(struct heap *h, double key, uint32_t idx)
{
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 64;
		struct heap_ent *na = realloc(h->a, (size_t)cap * sizeof *na);
		if (!na)
			return -1;
		h->a = na;
		h->cap = cap;
	}
	uint32_t i = h->n++;
	struct heap_ent e = {key, idx};
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!heap_less(&e, &h->a[p]))
			break;
		h->a[i] = h->a[p];
		i = p;
	}
	h->a[i] = e;
	return 0;
}

static inline struct heap_ent heap_pop(struct heap *h)
{
	struct heap_ent top = h->a[0];
	struct heap_ent last = h->a[--h->n];
	uint32_t i = 0, n = h->n;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(&h->a[c + 1], &h->a[c]))
			c++;
		if (!heap_less(&h->a[c], &last))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (n)
		h->a[i] = last;
	return top;
}

static inline void heap_free(struct heap *h)
{
	free(h->a);
	h->a = NULL;
	h->n = h->cap = 0;
}

/* The ready queue: a heap plus a run, a ring of indexes that all have one
 * key and ascend. Tasks mostly become ready in submission order with equal
 * keys (no scheduling policy, one priority): those append to the run, which
 * costs O(1) both ways and reads memory in order; anything else goes to the
 * heap. Pop takes the smaller head by (key, idx), so the order is exactly
 * what the heap alone would give. */
struct readyq {
	struct heap h;
	uint32_t *run;
	uint32_t head, len, cap;
	uint32_t last;         /* the run's last index */
	double key;            /* the run's key */
};

static inline uint32_t readyq_n(const struct readyq *q)
{
	return q->h.n + q->len;
}

static inline int readyq_push(struct readyq *q, double key, uint32_t idx)
{
	if (q->len && !(key == q->key && idx > q->last))
		return heap_push(&q->h, key, idx);
	if (q->len == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 64;
		uint32_t *n = malloc((size_t)cap * sizeof *n);
		if (!n)
			return -1;
		for (uint32_t i = 0; i < q->len; i++)
			n[i] = q->run[(q->head + i) % q->cap];
		free(q->run);
		q->run = n;
		q->head = 0;
		q->cap = cap;
	}
	if (!q->len)
		q->key = key;
	q->run[(q->head + q->len++) % q->cap] = idx;
	q->last = idx;
	return 0;
}

/* The key of the first; the queue must not be empty. */
static inline double readyq_head_key(const struct readyq *q)
{
	if (q->len) {
		struct heap_ent r = {q->key, q->run[q->head]};
		if (!q->h.n || heap_less(&r, &q->h.a[0]))
			return q->key;
	}
	return q->h.a[0].key;
}

/* The first (smallest key, then index); the queue must not be empty. */
static inline uint32_t readyq_pop(struct readyq *q)
{
	if (q->len) {
		struct heap_ent r = {q->key, q->run[q->head]};
		if (!q->h.n || heap_less(&r, &q->h.a[0])) {
			q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
			q->len--;
			return r.idx;
		}
	}
	return heap_pop(&q->h).idx;
}

static inline void readyq_free(struct readyq *q)
{
	heap_free(&q->h);
	free(q->run);
	q->run = NULL;
	q->head = q->len = q->cap = 0;
}

#endif
