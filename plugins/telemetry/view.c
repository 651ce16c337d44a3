/* view.c - the name registries, the shards' allocation, and the merged view
 * the main thread builds from every shard (threading rules in telemetry.h).
 */
#include "telemetry.h"

#include <stdlib.h>
#include <string.h>

const char *const tel_fail_names[NFAIL] = {"exit",  "signal",   "timeout",
                                           "spawn", "rejected", "error"};

/* ---- registries: name -> small id, lock-free lookups ---------------------- */

struct reg *reg_new(unsigned cap)
{
	struct reg *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	unsigned size = 8;
	while (size < cap * 4)
		size *= 2;
	r->cap = cap;
	r->mask = size - 1;
	r->tab = calloc(size, sizeof *r->tab);
	r->names = calloc(cap + 1, sizeof *r->names);
	if (!r->tab || !r->names || !(r->names[cap] = strdup("other"))) {
		reg_free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

static int probe(struct reg *r, const char *name, uint64_t h, unsigned *id)
{
	for (unsigned i = (unsigned)h & r->mask;; i = (i + 1) & r->mask) {
		const char *n = atomic_load_explicit(&r->tab[i].name, memory_order_acquire);
		if (!n)
			return -1;
		if (r->tab[i].h == h && !strcmp(n, name)) {
			*id = r->tab[i].id;
			return 0;
		}
	}
}

unsigned reg_id(struct reg *r, const char *name)
{
	uint64_t h = str_hash(name);
	unsigned id;
	if (!probe(r, name, h, &id))
		return id;
	if (atomic_load_explicit(&r->n, memory_order_acquire) >= r->cap || !strcmp(name, "other"))
		return r->cap;
	pthread_mutex_lock(&r->mu);
	if (probe(r, name, h, &id)) {
		unsigned n = atomic_load_explicit(&r->n, memory_order_relaxed);
		char *copy = n < r->cap ? strdup(name) : NULL;
		if (!copy) {
			id = r->cap;
		} else {
			unsigned i = (unsigned)h & r->mask;
			while (atomic_load_explicit(&r->tab[i].name, memory_order_relaxed))
				i = (i + 1) & r->mask;
			r->names[n] = copy;
			r->tab[i].h = h;
			r->tab[i].id = n;
			atomic_store_explicit(&r->tab[i].name, copy, memory_order_release);
			atomic_store_explicit(&r->n, n + 1, memory_order_release);
			id = n;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return id;
}

const char *reg_name(const struct reg *r, unsigned id)
{
	if (id == r->cap)
		return r->names[r->cap];
	if (id < atomic_load_explicit(&((struct reg *)r)->n, memory_order_acquire))
		return r->names[id];
	return NULL;
}

void reg_free(struct reg *r)
{
	if (!r)
		return;
	if (r->names)
		for (unsigned i = 0; i <= r->cap; i++)
			free(r->names[i]);
	free(r->names);
	free(r->tab);
	if (r->tab)
		pthread_mutex_destroy(&r->mu);
	free(r);
}

/* ---- shards --------------------------------------------------------------- */

static const char never; /* a pointer no task string can equal */

struct shard *shard_new(void)
{
	/* the owner's fields in one cache line (C11: the size a multiple of 64) */
	struct shard *s = aligned_alloc(64, (sizeof *s + 63) & ~(size_t)63);
	if (s) {
		memset(s, 0, sizeof *s);
		s->lk = s->lt = &never;
		s->bin_ms = TL_BIN0_MS;
		s->bin_inv = 1 / TL_BIN0_MS;
	}
	return s;
}

void shard_free(struct shard *s)
{
	if (!s)
		return;
	unsigned n = atomic_load_explicit(&s->nser, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		free(s->list[i]);
	for (struct chunk *c = s->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(s);
}

/* Adds [start, start + dur) to the busy bins (owner only). It also points
 * bin_cur at the bin where the attempt ended: the next BIN_SYNC - 1 short
 * attempts of the slot (shorter than 1/256 of a bin) are added there without
 * asking the host for their start (a call into the engine that is half of
 * the bins' cost). A slot's attempts follow one another, so the busy time is
 * exact and only its place can be off, by at most 7/256 of a bin's worth of
 * busy time per sync (when the slot sat idle between short attempts). */
void bins_add(struct shard *s, double start_ms, double dur_ms)
{
	double end = start_ms + dur_ms;
	if (start_ms < 0 || !(dur_ms >= 0))
		return;
	while (end >= s->bin_ms * TL_BINS) {
		for (unsigned i = 0; i < TL_BINS / 2; i++)
			s->bins[i] = s->bins[2 * i] + s->bins[2 * i + 1];
		memset(s->bins + TL_BINS / 2, 0, TL_BINS / 2 * sizeof *s->bins);
		s->bin_ms *= 2;
		s->bin_inv = 1 / s->bin_ms;
	}
	int i = (int)(start_ms * s->bin_inv), j = (int)(end * s->bin_inv);
	if (j >= TL_BINS) /* end is a hair under the limit, rounded up */
		j = TL_BINS - 1;
	s->bin_cur = j;
	s->bin_left = BIN_SYNC;
	s->bin_short = s->bin_ms / 256;
	if (i >= j) {
		s->bins[j] += dur_ms;
		return;
	}
	s->bins[i] += (i + 1) * s->bin_ms - start_ms;
	for (int k = i + 1; k < j; k++)
		s->bins[k] += s->bin_ms;
	s->bins[j] += end - j * s->bin_ms;
}

/* ---- merged view ------------------------------------------------------------ */

struct view *view_new(void)
{
	return calloc(1, sizeof(struct view));
}

void view_free(struct view *v)
{
	if (!v)
		return;
	for (unsigned i = 0; i < v->npairs; i++)
		free(v->pair[v->pk[i]][v->pt[i]]);
	free(v);
}

static void agg_clear(struct agg *a)
{
	a->ended = a->ok = a->retried = a->cached = 0;
	a->res_n = a->cpu_us = a->peak_kb = 0;
	memset(a->failed, 0, sizeof a->failed);
	hsum_clear(&a->wait);
	hsum_clear(&a->run);
}

void agg_add(struct agg *a, const struct agg *o)
{
	a->ended += o->ended;
	a->ok += o->ok;
	a->retried += o->retried;
	a->cached += o->cached;
	a->res_n += o->res_n;
	a->cpu_us += o->cpu_us;
	if (o->peak_kb > a->peak_kb)
		a->peak_kb = o->peak_kb;
	for (int f = 0; f < NFAIL; f++)
		a->failed[f] += o->failed[f];
	hsum_add(&a->wait, &o->wait);
	hsum_add(&a->run, &o->run);
}

uint64_t agg_failed(const struct agg *a)
{
	uint64_t n = 0;
	for (int f = 0; f < NFAIL; f++)
		n += a->failed[f];
	return n;
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void add_series(struct view *v, const struct series *se)
{
	struct agg *a = v->pair[se->kid][se->tid];
	if (!a) {
		a = calloc(1, sizeof *a);
		if (!a)
			return;
		v->pair[se->kid][se->tid] = a;
		v->pk[v->npairs] = se->kid;
		v->pt[v->npairs] = se->tid;
		v->npairs++;
	}
	/* histograms first: the counters (read after) are then at least as new.
	 * ended comes from the counters, which count every attempt; with
	 * sampling the histograms hold the sampled tasks' attempts only */
	hsum_add_hist(&a->run, &se->run, &se->run_st);
	hsum_add_hist(&a->wait, &se->wait, &se->wait_st);
	uint64_t ok = LD(se->ok), ended = ok;
	a->ok += ok;
	a->retried += LD(se->retried);
	a->cached += LD(se->cached);
	a->res_n += LD(se->res_n);
	a->cpu_us += LD(se->cpu_us);
	if (LD(se->peak_kb) > a->peak_kb)
		a->peak_kb = LD(se->peak_kb);
	for (int f = 0; f < NFAIL; f++) {
		uint64_t x = LD(se->failed[f]);
		a->failed[f] += x;
		ended += x;
	}
	a->ended += ended;
}

static void merge_shard(struct view *v, struct shard *s)
{
	unsigned n = atomic_load_explicit(&s->nser, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		add_series(v, s->list[i]);
}

void view_merge(struct tel *T)
{
	struct view *v = T->view;
	for (unsigned i = 0; i < v->npairs; i++)
		agg_clear(v->pair[v->pk[i]][v->pt[i]]);
	int n = atomic_load_explicit(&T->nslots, memory_order_acquire);
	for (int i = 0; i < n; i++) {
		struct shard *s = atomic_load_explicit(&T->shards[i], memory_order_acquire);
		if (s)
			merge_shard(v, s);
	}
	pthread_mutex_lock(&T->ovf_mu);
	merge_shard(v, T->ovf);
	pthread_mutex_unlock(&T->ovf_mu);
	/* per kind, per target, total */
	agg_clear(&v->total);
	for (unsigned i = 0; i < v->npairs; i++) {
		agg_clear(&v->kind[v->pk[i]]);
		agg_clear(&v->target[v->pt[i]]);
	}
	for (unsigned i = 0; i < v->npairs; i++) {
		const struct agg *a = v->pair[v->pk[i]][v->pt[i]];
		agg_add(&v->kind[v->pk[i]], a);
		agg_add(&v->target[v->pt[i]], a);
		agg_add(&v->total, a);
	}
}

void lat_of(const struct hsum *h, struct lat *l)
{
	l->count = (double)h->count;
	l->mean = h->count ? (double)h->sum / (double)h->count / 1e6 : 0;
	l->p50 = hsum_quantile(h, 0.50) / 1e6;
	l->p90 = hsum_quantile(h, 0.90) / 1e6;
	l->p99 = hsum_quantile(h, 0.99) / 1e6;
	l->max = (double)h->max / 1e6;
}
