/* dag.c - the dependency graph of a workload: id index, CSR edges, checks, depths.
 *
 * Owns wl->index (open addressing, linear probing, ids -> index + 1),
 * wl->deps/wl->outs and the per-task offsets, and the derived numbers (chain,
 * depth, critical_ms, roots, sinks). Everything is O(V + E) and iterative:
 * a million-task chain must not touch the C stack. Edges keep the order the
 * deps were listed in (deps) and task order (outs). In a cycle message
 * "a -> b" reads "a depends on b".
 */
#include "workload.h"
#include "resources.h"

#include <stdlib.h>
#include <string.h>

#define CYCLE_MSG_MAX 1200 /* bytes of ids in a cycle message before eliding */
/* An index entry is task index + 1 in its low IDX_BITS bits and 6 bits of the
 * id's hash above them: most probes that hit another id end there, without
 * reading that task and its id (two cache misses and a strcmp). */
#define IDX_BITS 26
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define IDX_AHEAD 8 /* ids hashed, and their slots prefetched, this far ahead */

static uint64_t hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static uint32_t tag_of(uint64_t h)
{
	return (uint32_t)(h >> 58) << IDX_BITS;
}

static const char *file_of(const struct workload *wl)
{
	return wl->path ? wl->path : "<workload>";
}

/* The dep ids of task i: a C task's own list, else its spec's. */
static const char *const *deps_of(const struct workload *wl, uint32_t i)
{
	if (wl->task_deps && wl->task_deps[i])
		return wl->task_deps[i];
	const struct spec *sp = wl->tasks[i].spec;
	return sp ? (const char *const *)sp->deps : NULL;
}

/* Builds wl->index and, in the same pass over the tasks, sets each one's
 * dep_off and ndeps (nouts to 0); *ne gets the number of edges. */
static int build_index(struct workload *wl, uint64_t *ne, struct err *err)
{
	free(wl->index);
	wl->index = NULL;
	wl->index_cap = 0;
	uint64_t need = (uint64_t)wl->ntasks + wl->ntasks / 3 + 1, cap = 16;
	while (cap < need)
		cap <<= 1;
	if (wl->ntasks >= IDX_MASK)
		return err_set(err, "%s: too many tasks (%u; the limit is %u)", file_of(wl),
			       wl->ntasks, IDX_MASK - 1);
	uint32_t *idx = calloc(cap, sizeof *idx);
	if (!idx)
		return err_set(err, "%s: out of memory for the id index", file_of(wl));
	uint32_t mask = (uint32_t)cap - 1, n = wl->ntasks;
	uint64_t ahead[IDX_AHEAD], edges = 0;
	for (uint32_t k = 0; k < n + IDX_AHEAD; k++) {
		if (k >= IDX_AHEAD) { /* insert task i, hashed IDX_AHEAD steps ago */
			uint32_t i = k - IDX_AHEAD, tag = tag_of(ahead[i % IDX_AHEAD]);
			struct task *t = &wl->tasks[i];
			const char *id = t->id;
			const char *const *dl = deps_of(wl, i);
			uint32_t nd = 0;
			while (dl && dl[nd])
				nd++;
			t->dep_off = (uint32_t)edges; /* checked by the caller */
			t->ndeps = nd;
			t->nouts = 0;
			edges += nd;
			uint32_t h = (uint32_t)ahead[i % IDX_AHEAD] & mask;
			for (; idx[h]; h = (h + 1) & mask) {
				uint32_t j = (idx[h] & IDX_MASK) - 1;
				if ((idx[h] & ~IDX_MASK) == tag && strcmp(wl->tasks[j].id, id) == 0) {
					err_set(err, "%s: duplicate task id \"%s\" (tasks #%u and #%u)",
						file_of(wl), id, j, i);
					free(idx);
					return -1;
				}
			}
			idx[h] = (i + 1) | tag;
		}
		if (k < n) { /* the slot of task k is fetched while others are inserted */
			uint64_t hk = hash_id(wl->tasks[k].id);
			ahead[k % IDX_AHEAD] = hk;
			__builtin_prefetch(&idx[hk & mask], 1);
		}
	}
	wl->index = idx;
	wl->index_cap = (uint32_t)cap;
	*ne = edges;
	return 0;
}

int64_t workload_find(const struct workload *wl, const char *id)
{
	if (!wl || !id)
		return -1;
	if (!wl->index) { /* not built yet */
		for (uint32_t i = 0; i < wl->ntasks; i++)
			if (strcmp(wl->tasks[i].id, id) == 0)
				return i;
		return -1;
	}
	uint32_t mask = wl->index_cap - 1;
	uint64_t hash = hash_id(id);
	uint32_t tag = tag_of(hash);
	for (uint32_t h = (uint32_t)hash & mask; wl->index[h]; h = (h + 1) & mask) {
		uint32_t j = (wl->index[h] & IDX_MASK) - 1;
		if ((wl->index[h] & ~IDX_MASK) == tag && strcmp(wl->tasks[j].id, id) == 0)
			return j;
	}
	return -1;
}

static int missing_dep(const struct workload *wl, uint32_t i, const char *dep,
		       struct err *err)
{
	const char *best = NULL;
	int bd = 3;
	for (uint32_t j = 0; j < wl->ntasks && bd > 1; j++) {
		int d = edit_distance(dep, wl->tasks[j].id, 2);
		if (d < bd) {
			bd = d;
			best = wl->tasks[j].id;
		}
	}
	if (best)
		return err_set(err, "%s: task \"%s\": dependency \"%s\" does not exist (did you mean \"%s\"?)",
			       file_of(wl), wl->tasks[i].id, dep, best);
	return err_set(err, "%s: task \"%s\": dependency \"%s\" does not exist",
		       file_of(wl), wl->tasks[i].id, dep);
}

/* Called when Kahn's pass left tasks unprocessed (their pending > 0): each of
 * them has an unprocessed dep, so walking those from any of them must come
 * back to a task already on the walk. Names that cycle. */
static int report_cycle(struct workload *wl, uint32_t start, struct err *err)
{
	uint32_t n = wl->ntasks;
	uint32_t *step = calloc(n, sizeof *step), *path = malloc(n * sizeof *path);
	if (!step || !path) {
		free(step);
		free(path);
		return err_set(err, "%s: dependency cycle (out of memory naming it)",
			       file_of(wl));
	}
	uint32_t v = start, len = 0;
	while (!step[v]) {
		step[v] = ++len;
		path[len - 1] = v;
		const struct task *t = &wl->tasks[v];
		uint32_t next = v;
		for (uint32_t k = 0; k < t->ndeps; k++)
			if (wl->tasks[wl->deps[t->dep_off + k]].pending) {
				next = wl->deps[t->dep_off + k];
				break;
			}
		v = next;
	}
	uint32_t *cyc = path + step[v] - 1, clen = len - (step[v] - 1), lo = 0;
	for (uint32_t k = 1; k < clen; k++) /* start at the first task in file order */
		if (cyc[k] < cyc[lo])
			lo = k;
	struct buf b = {0};
	buf_adds(&b, wl->tasks[cyc[lo]].id);
	for (uint32_t k = 1; k < clen; k++) {
		if (b.len > CYCLE_MSG_MAX && k + 1 < clen) {
			buf_addf(&b, " -> ... (%u more)", clen - k - 1);
			k = clen - 1;
		}
		buf_adds(&b, " -> ");
		buf_adds(&b, wl->tasks[cyc[(lo + k) % clen]].id);
	}
	buf_adds(&b, " -> ");
	buf_adds(&b, wl->tasks[cyc[lo]].id);
	err_set(err, "%s: dependency cycle: %s", file_of(wl), b.p);
	buf_free(&b);
	free(step);
	free(path);
	return -1;
}

/* Puts a task in its state before a run. */
/* Adds spec s's facts to wl->facts (consecutive tasks mostly share one). */
static void add_facts(struct workload *wl, const struct spec *s, const struct spec **last)
{
	if (!s || s == *last)
		return;
	*last = s;
	uint32_t f = 0;
	if (s->need || s->cls == CLASS_CPU || s->cls == CLASS_IO || s->cls == CLASS_MIXED)
		f |= WL_HAS_NEED;
	if (s->need) {
		for (uint32_t m = s->need->mask; m; m &= m - 1) {
			int r = __builtin_ctz(m);
			if (s->need->amt[r] > wl->need_max[r])
				wl->need_max[r] = s->need->amt[r];
		}
	} else if (s->cls == CLASS_CPU || s->cls == CLASS_MIXED || s->cls == CLASS_IO) {
		/* the class defaults (resources.c): one cpu, one io slot */
		int r = s->cls == CLASS_IO ? RES_IO : RES_CPU;
		if (wl->need_max[r] < RES_MILLI)
			wl->need_max[r] = RES_MILLI;
		if (s->cls == CLASS_MIXED && wl->need_max[RES_IO] < RES_MILLI)
			wl->need_max[RES_IO] = RES_MILLI;
	}
	if (!s->need && s->cls == CLASS_MEM)
		f |= WL_HAS_MEMCLASS;
	if (s->kind == KIND_EXEC)
		f |= WL_HAS_EXEC | (s->enforce > 0 ? WL_HAS_ENFORCE : 0) |
		     (s->enforce < 0 ? WL_HAS_ENFORCE_DEF : 0);
	wl->facts |= f;
}

static void task_reset(struct task *t)
{
	t->pending = t->ndeps;
	t->state = ST_WAITING;
	t->attempts = 0;
	t->last_fkind = 0;
	t->last_exit = 0;
	t->priority = t->spec ? t->spec->priority : 0;
	t->timeout_ms = t->spec ? t->spec->timeout_ms : 0;
}

/* dag_build without edges (independent tasks: a matrix of sims, the quick
 * form, C callbacks), in one pass: each task is a root, a sink and a chain
 * of one. */
static int no_edges(struct workload *wl, struct err *err)
{
	wl->deps = malloc(sizeof *wl->deps);
	wl->outs = malloc(sizeof *wl->outs);
	if (!wl->deps || !wl->outs) {
		free(wl->deps);
		free(wl->outs);
		wl->deps = wl->outs = NULL;
		return err_set(err, "%s: out of memory building the dependency graph",
			       file_of(wl));
	}
	const struct spec *last = NULL;
	wl->facts = 0;
	memset(wl->need_max, 0, sizeof wl->need_max);
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		struct task *t = &wl->tasks[i];
		add_facts(wl, t->spec, &last);
		int64_t est = t->spec && t->spec->est_ms > 0 ? t->spec->est_ms : 0;
		t->out_off = 0;
		t->chain = 1;
		if (est > wl->critical_ms)
			wl->critical_ms = est;
		task_reset(t);
	}
	wl->depth = wl->ntasks ? 1 : 0;
	wl->roots = wl->sinks = wl->ntasks;
	return 0;
}

int dag_build(struct workload *wl, struct err *err)
{
	uint32_t n = wl->ntasks;
	free(wl->deps);
	free(wl->outs);
	wl->deps = wl->outs = NULL;
	wl->nedges = 0;
	wl->depth = wl->roots = wl->sinks = 0;
	wl->critical_ms = 0;
	uint64_t ne = 0;
	if (build_index(wl, &ne, err))
		return -1;
	if (ne >= UINT32_MAX)
		return err_set(err, "%s: too many dependencies (more than %u)", file_of(wl),
			       UINT32_MAX - 1);
	if (ne == 0)
		return no_edges(wl, err);
	uint32_t *deps = malloc((ne ? ne : 1) * sizeof *deps);
	uint32_t *outs = malloc((ne ? ne : 1) * sizeof *outs);
	uint32_t *tmp = calloc(n ? n : 1, sizeof *tmp);
	uint32_t *order = malloc((n ? n : 1) * sizeof *order);
	int64_t *cp = malloc((n ? n : 1) * sizeof *cp);
	int rc = -1;
	if (!deps || !outs || !tmp || !order || !cp) {
		err_set(err, "%s: out of memory building the dependency graph", file_of(wl));
		goto out;
	}
	wl->deps = deps;
	wl->outs = outs;

	/* Resolve; tmp[j] == i + 1 marks j as already a dep of task i. */
	for (uint32_t i = 0; i < n; i++) {
		struct task *t = &wl->tasks[i];
		const char *const *dl = deps_of(wl, i);
		for (uint32_t k = 0; k < t->ndeps; k++) {
			const char *name = dl[k];
			int64_t j = workload_find(wl, name);
			if (j < 0) {
				missing_dep(wl, i, name, err);
				goto out;
			}
			if (tmp[j] == i + 1) {
				err_set(err, "%s: task \"%s\": dependency \"%s\" is listed twice",
					file_of(wl), t->id, name);
				goto out;
			}
			tmp[j] = i + 1;
			deps[t->dep_off + k] = (uint32_t)j;
			wl->tasks[j].nouts++;
		}
	}
	uint32_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		wl->tasks[i].out_off = off;
		tmp[i] = off; /* fill cursor */
		off += wl->tasks[i].nouts;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct task *t = &wl->tasks[i];
		for (uint32_t k = 0; k < t->ndeps; k++)
			outs[tmp[deps[t->dep_off + k]]++] = i;
	}
	wl->nedges = ne;

	/* Kahn's algorithm, with pending as the in-degree. */
	uint32_t head = 0, tail = 0;
	for (uint32_t i = 0; i < n; i++) {
		wl->tasks[i].pending = wl->tasks[i].ndeps;
		if (!wl->tasks[i].ndeps)
			order[tail++] = i;
	}
	while (head < tail) {
		const struct task *t = &wl->tasks[order[head++]];
		for (uint32_t k = 0; k < t->nouts; k++) {
			uint32_t o = outs[t->out_off + k];
			if (--wl->tasks[o].pending == 0)
				order[tail++] = o;
		}
	}
	if (tail < n) {
		uint32_t start = 0;
		while (!wl->tasks[start].pending)
			start++;
		report_cycle(wl, start, err);
		goto out;
	}

	/* Dependants come later in topological order: walk it backwards. */
	for (uint32_t k = n; k-- > 0;) {
		uint32_t v = order[k];
		struct task *t = &wl->tasks[v];
		uint32_t chain = 0;
		int64_t best = 0;
		for (uint32_t e = 0; e < t->nouts; e++) {
			uint32_t o = outs[t->out_off + e];
			if (wl->tasks[o].chain > chain)
				chain = wl->tasks[o].chain;
			if (cp[o] > best)
				best = cp[o];
		}
		t->chain = chain + 1;
		cp[v] = best + (t->spec && t->spec->est_ms > 0 ? t->spec->est_ms : 0);
		if (t->chain > wl->depth)
			wl->depth = t->chain;
		if (cp[v] > wl->critical_ms)
			wl->critical_ms = cp[v];
	}
	const struct spec *last = NULL;
	wl->facts = 0;
	memset(wl->need_max, 0, sizeof wl->need_max);
	for (uint32_t i = 0; i < n; i++) {
		struct task *t = &wl->tasks[i];
		wl->roots += t->ndeps == 0;
		wl->sinks += t->nouts == 0;
		add_facts(wl, t->spec, &last);
		task_reset(t);
	}
	rc = 0;
out:
	if (rc) {
		free(deps);
		free(outs);
		wl->deps = wl->outs = NULL;
		wl->nedges = 0;
	}
	free(tmp);
	free(order);
	free(cp);
	return rc;
}
