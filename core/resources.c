/* resources.c - declared needs, capacities and admission. See resources.h.
 *
 * The plan holds the capacities, what the running attempts use, and per task
 * the need admission counts (spec, class default, or a retry's override). A
 * run where no task needs anything has no plan, and the engine's only cost
 * is one test of a NULL pointer per pick.
 */
#include "resources.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"

/* how deep admission looks past tasks that do not fit (backfill) */
#define RES_SCAN 64

_Static_assert(RES_MAX == sizeof ((struct workload *)0)->need_max / sizeof(int64_t),
	       "workload.need_max has one entry per resource index");

static const char *const builtin[RES_NBUILTIN] = {"cpu", "mem_mb", "io", "gpu"};

struct res_plan {
	const struct workload *wl;
	uint32_t n;                    /* resources named */
	const char *name[RES_MAX];
	int64_t cap[RES_MAX];
	int64_t used[RES_MAX];
	int64_t reserve_after_ns;
	struct res_need cls[5];        /* default need by class */
	const struct res_need **over;  /* per task, or NULL: a retry's change or a mem
					* class estimate (each allocated, owned) */
	int enforce;                   /* config: every exec task */
	int any_enforced;              /* some exec task is enforced */
	int64_t held[RES_MAX];         /* the last pick's reservation, which res_take respects */
	res_admit_fn admit;            /* or NULL */
	void *admit_ud;
	const char **tag;              /* with admit: tags of running tasks, and counts */
	int64_t *tag_n;
	uint32_t ntag, tag_cap;
	uint32_t scratch[RES_SCAN];
	double scratch_key[RES_SCAN];
};

static void names_init(struct res_names *nm)
{
	if (nm->n == 0) {
		for (int i = 0; i < RES_NBUILTIN; i++)
			nm->name[i] = builtin[i];
		nm->n = RES_NBUILTIN;
	}
}

static int name_index(struct res_names *nm, const char *key, struct arena *a)
{
	names_init(nm);
	for (uint32_t i = 0; i < nm->n; i++)
		if (strcmp(nm->name[i], key) == 0)
			return (int)i;
	if (nm->n >= RES_MAX || !a)
		return -1;
	nm->name[nm->n] = arena_strdup(a, key);
	return (int)nm->n++;
}

/* A number >= 0, in thousandths; -1 when it is not one. */
static int64_t milli_of(const json_t *v)
{
	if (!json_is_number(v))
		return -1;
	double d = json_number_value(v);
	if (!(d >= 0) || d > 1e12)
		return -1;
	return (int64_t)llround(d * RES_MILLI);
}

int res_need_parse(json_t *v, struct res_names *names, struct arena *a,
		   struct res_need *need, char *why, size_t whylen)
{
	if (!json_is_object(v)) {
		snprintf(why, whylen, "resources must be an object of numbers, like {\"cpu\": 1, \"mem_mb\": 512}");
		return -1;
	}
	need->est = 0; /* declared, not estimated */
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) {
		if (!*k) {
			snprintf(why, whylen, "resources has an empty name");
			return -1;
		}
		int64_t m = milli_of(x);
		if (m < 0) {
			snprintf(why, whylen, "resources.%.100s must be a number from 0 to 1e12", k);
			return -1;
		}
		int r = name_index(names, k, a);
		if (r < 0) {
			snprintf(why, whylen, "resources.%.100s: more than %d resource names in one workload",
				 k, RES_MAX);
			return -1;
		}
		if (m == 0) {
			need->mask &= ~(1u << r);
			need->amt[r] = 0;
		} else {
			need->mask |= 1u << r;
			need->amt[r] = m;
		}
	}
	return 0;
}

int64_t res_default_cap(int r)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;
	switch (r) {
	case RES_CPU:
		return (int64_t)cores * RES_MILLI;
	case RES_IO:
		return (int64_t)cores * 3 * RES_MILLI;
	case RES_MEM: {
		int64_t kb = -1;
		FILE *f = fopen("/proc/meminfo", "r");
		char line[256];
		while (f && fgets(line, sizeof line, f))
			if (sscanf(line, "MemAvailable: %lld kB", (long long *)&kb) == 1)
				break;
		if (f)
			fclose(f);
		if (kb < 0) {
			long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
			kb = pages > 0 && psz > 0 ? (int64_t)pages * (psz / 1024) : 1024 * 1024;
		}
		return kb / 1024 * RES_MILLI;
	}
	default:
		return 0;
	}
}

static void fmt_amt(char *out, size_t n, int64_t m)
{
	if (m % RES_MILLI == 0)
		snprintf(out, n, "%lld", (long long)(m / RES_MILLI));
	else
		snprintf(out, n, "%g", (double)m / RES_MILLI);
}

const struct res_need *res_need_of(const struct res_plan *p, uint32_t idx)
{
	if (p->over && p->over[idx])
		return p->over[idx];
	const struct spec *s = p->wl->tasks[idx].spec;
	return s->need ? s->need : &p->cls[s->cls < 5 ? s->cls : 0];
}

int res_plan_new(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
		 struct res_plan **out, struct err *err)
{
	return res_plan_new_est(wl, cfg, enforce, cfg_path, 0, NULL, out, err);
}

int res_plan_new_forced(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
			struct res_plan **out, struct err *err)
{
	return res_plan_new_est(wl, cfg, enforce, cfg_path, 1, NULL, out, err);
}

/* The mem class's default need: each such task's own estimate, as an
 * override (so batches count it one by one). Returns how many got one. */
static uint32_t mem_estimates(struct res_plan *p, const int64_t *mem_kb)
{
	const struct workload *wl = p->wl;
	uint32_t n = 0;
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		const struct spec *s = wl->tasks[i].spec;
		if (s->cls != CLASS_MEM || s->need || mem_kb[i] <= 0)
			continue;
		struct res_need nd = {0};
		nd.mask = nd.est = 1u << RES_MEM;
		nd.amt[RES_MEM] = (mem_kb[i] + 1023) / 1024 * RES_MILLI; /* whole MB, up */
		res_override(p, i, &nd);
		if (!p->over)
			break; /* out of memory: no estimates, as without history */
		n++;
	}
	return n;
}

int res_plan_new_est(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
		     int force, const int64_t *mem_kb, struct res_plan **out, struct err *err)
{
	*out = NULL;
	const char *file = cfg_path ? cfg_path : "config";
	/* nothing to admit or enforce: no plan, and no pass over the tasks (the
	 * config's capacities are still checked below when there is one) */
	int none = !force && !(wl->facts & WL_HAS_NEED) &&
		   !(mem_kb && (wl->facts & WL_HAS_MEMCLASS)) &&
		   !(wl->facts & WL_HAS_ENFORCE) && !(enforce && (wl->facts & WL_HAS_ENFORCE_DEF));
	if (none && !cfg)
		return 0;
	if (cfg && !json_is_object(cfg))
		return err_set(err, "%s: resources must be an object of capacities, like "
			       "{\"cpu\": 4, \"mem_mb\": 8192, \"db\": 1}", file);
	struct res_plan *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(err, "out of memory");
	p->wl = wl;
	p->enforce = enforce;
	p->reserve_after_ns = 5000LL * 1000000;
	struct res_names local = {0};
	const struct res_names *nm = wl->rnames ? wl->rnames : &local;
	names_init(&local);
	p->n = nm->n;
	for (uint32_t r = 0; r < nm->n; r++) {
		p->name[r] = nm->name[r];
		p->cap[r] = res_default_cap((int)r);
	}
	/* capacities the config gives; a name no task uses is fine (a shared
	 * config), but it still has to be a number */
	const char *k;
	json_t *x;
	json_object_foreach(cfg, k, x) {
		if (strcmp(k, "reserve_after_ms") == 0) {
			if (!json_is_integer(x) || json_integer_value(x) < 0) {
				res_plan_free(p);
				return err_set(err, "%s: resources.reserve_after_ms must be an integer >= 0", file);
			}
			p->reserve_after_ns = (int64_t)json_integer_value(x) * 1000000;
			continue;
		}
		int64_t m = milli_of(x);
		if (m < 0) {
			res_plan_free(p);
			return err_set(err, "%s: resources.%s must be a number from 0 to 1e12 (a capacity)",
				       file, k);
		}
		for (uint32_t r = 0; r < p->n; r++)
			if (strcmp(p->name[r], k) == 0)
				p->cap[r] = m;
	}
	/* class defaults; mem's is each task's estimate (below), none without */
	p->cls[CLASS_CPU].mask = 1u << RES_CPU;
	p->cls[CLASS_CPU].amt[RES_CPU] = RES_MILLI;
	p->cls[CLASS_IO].mask = 1u << RES_IO;
	p->cls[CLASS_IO].amt[RES_IO] = RES_MILLI;
	p->cls[CLASS_MIXED].mask = 1u << RES_CPU | 1u << RES_IO;
	p->cls[CLASS_MIXED].amt[RES_CPU] = RES_MILLI;
	p->cls[CLASS_MIXED].amt[RES_IO] = RES_MILLI;

	if (none) {
		res_plan_free(p);
		return 0;
	}
	int any = mem_kb && mem_estimates(p, mem_kb) > 0;
	p->any_enforced = (wl->facts & WL_HAS_ENFORCE) || (enforce && (wl->facts & WL_HAS_ENFORCE_DEF));
	any |= p->any_enforced || (wl->facts & WL_HAS_NEED);
	/* the largest needs (dag_build's) fit: no task is impossible, and no
	 * pass over the tasks is needed to name one (an estimate is clamped) */
	int fit = 1;
	for (uint32_t r = 0; r < p->n; r++)
		fit &= wl->need_max[r] <= p->cap[r];
	for (uint32_t i = 0; !fit && i < wl->ntasks; i++) {
		const struct task *t = &wl->tasks[i];
		if (i && t->spec == wl->tasks[i - 1].spec)
			continue; /* matrix instances share a spec (and a need): once */
		const struct res_need *nd = res_need_of(p, i);
		for (uint32_t r = 0; r < p->n; r++) {
			if (!(nd->mask & 1u << r) || nd->amt[r] <= p->cap[r])
				continue;
			char a[32], c[32];
			fmt_amt(a, sizeof a, nd->amt[r]);
			fmt_amt(c, sizeof c, p->cap[r]);
			err_set(err, "%s: task \"%s\" needs %s %s but the capacity is %s%s (it could "
				"never start)", wl->path ? wl->path : "workload", t->id, a, p->name[r], c,
				r >= RES_NBUILTIN || r == RES_GPU
					? (p->cap[r] ? "" : "; give one in the config's \"resources\"")
					: "");
			res_plan_free(p);
			return -1;
		}
	}
	if (!any && !force) {
		res_plan_free(p);
		return 0;
	}
	*out = p;
	return 0;
}

void res_plan_free(struct res_plan *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; p->over && i < p->wl->ntasks; i++)
		free((void *)p->over[i]);
	free(p->over);
	free(p->tag);
	free(p->tag_n);
	free(p);
}

static int fits(const struct res_plan *p, const struct res_need *n, const int64_t *held)
{
	uint32_t m = n->mask;
	while (m) {
		int r = __builtin_ctz(m);
		m &= m - 1;
		if (p->used[r] + held[r] + n->amt[r] > p->cap[r])
			return 0;
	}
	return 1;
}

static void count_tags(struct res_plan *p, uint32_t idx, int sign)
{
	char **tags = p->wl->tasks[idx].spec->tags;
	for (; tags && *tags; tags++) {
		uint32_t i = 0;
		while (i < p->ntag && strcmp(p->tag[i], *tags))
			i++;
		if (i == p->ntag) {
			if (sign < 0)
				continue;
			if (p->ntag == p->tag_cap) {
				uint32_t cap = p->tag_cap ? p->tag_cap * 2 : 8;
				const char **nt = realloc(p->tag, cap * sizeof *nt);
				if (nt)
					p->tag = nt;
				int64_t *nn = realloc(p->tag_n, cap * sizeof *nn);
				if (nn)
					p->tag_n = nn;
				if (!nt || !nn)
					continue; /* not counted: admit sees one fewer */
				p->tag_cap = cap;
			}
			p->tag[p->ntag] = *tags;
			p->tag_n[p->ntag++] = 0;
		}
		p->tag_n[i] += sign;
	}
}

static void take(struct res_plan *p, const struct res_need *n, int sign)
{
	uint32_t m = n->mask;
	while (m) {
		int r = __builtin_ctz(m);
		m &= m - 1;
		p->used[r] += sign * n->amt[r];
	}
}

int res_pick(struct res_plan *p, struct readyq *q, const struct task *tasks, uint32_t *idx,
	     double *key)
{
	int64_t now = 0; /* read only when a task does not fit */
	int64_t *held = p->held;
	memset(held, 0, sizeof p->held);
	int reserved = 0, found = 0;
	uint32_t ns = 0;
	while (readyq_n(q) && ns < RES_SCAN) {
		double k = readyq_head_key(q);
		uint32_t x = readyq_pop(q);
		const struct res_need *n = res_need_of(p, x);
		int fit = fits(p, n, held), ok = fit;
		if (ok && p->admit) {
			ok = p->admit(p->admit_ud, x);
			if (ok == 2)
				continue; /* the hook delayed it: out of the queue */
		}
		if (ok) {
			take(p, n, 1);
			if (p->admit)
				count_tags(p, x, 1);
			*idx = x;
			*key = k;
			found = 1;
			break;
		}
		p->scratch[ns] = x;
		p->scratch_key[ns++] = k;
		/* the first task that has waited too long holds back what it
		 * needs: later ones backfill only around it, so it cannot starve */
		if (!fit && !reserved && !now)
			now = now_ns();
		if (!fit && !reserved && now - tasks[x].ready_ns >= p->reserve_after_ns) {
			reserved = 1;
			uint32_t m = n->mask;
			while (m) {
				int r = __builtin_ctz(m);
				m &= m - 1;
				int64_t free_now = p->cap[r] - p->used[r];
				held[r] = n->amt[r] < free_now ? n->amt[r] : free_now;
			}
		}
	}
	while (ns) { /* back in: (key, index) order is restored exactly */
		ns--;
		readyq_push(q, p->scratch_key[ns], p->scratch[ns]);
	}
	return found;
}

int res_take(struct res_plan *p, uint32_t idx)
{
	const struct res_need *n = res_need_of(p, idx);
	if (!fits(p, n, p->held) || p->admit) /* every admission asks the hook */
		return 0;
	take(p, n, 1);
	return 1;
}

/* the batch path applies when needs follow specs alone */
static int by_spec(const struct res_plan *p) { return !p->over && !p->admit; }

void res_batch_begin(struct res_plan *p, uint32_t idx, struct res_batch *b)
{
	b->n = 0;
	b->room = 0;
	b->spec = NULL;
	if (!by_spec(p))
		return;
	const struct res_need *n = res_need_of(p, idx);
	uint64_t room = UINT32_MAX;
	uint32_t m = n->mask;
	while (m) {
		int r = __builtin_ctz(m);
		m &= m - 1;
		int64_t left = p->cap[r] - p->used[r] - p->held[r];
		if (n->amt[r] <= 0)
			continue;
		uint64_t k = left > 0 ? (uint64_t)(left / n->amt[r]) : 0;
		if (k < room)
			room = k;
	}
	b->spec = p->wl->tasks[idx].spec;
	b->room = (uint32_t)room;
}

void res_batch_end(struct res_plan *p, struct res_batch *b, int sign)
{
	if (b->n && b->spec) {
		const struct res_need *n = b->spec->need ? b->spec->need
			: &p->cls[b->spec->cls < 5 ? b->spec->cls : 0];
		uint32_t m = n->mask;
		while (m) {
			int r = __builtin_ctz(m);
			m &= m - 1;
			p->used[r] += sign * (int64_t)b->n * n->amt[r];
		}
	}
	b->n = 0;
}

int res_batch_take_slow(struct res_plan *p, struct res_batch *b, uint32_t idx)
{
	/* another need, or no room left: count what was taken, then one by one */
	res_batch_end(p, b, 1);
	b->spec = NULL;
	b->room = 0;
	return res_take(p, idx);
}

void res_batch_release_slow(struct res_plan *p, struct res_batch *b, const struct task *t,
			    uint32_t idx)
{
	res_batch_end(p, b, -1);
	if (by_spec(p)) {
		b->spec = t->spec;
		b->n = 1;
	} else {
		b->spec = NULL;
		res_release(p, idx);
	}
}

void res_set_admit(struct res_plan *p, res_admit_fn fn, void *ud)
{
	p->admit = fn;
	p->admit_ud = ud;
}

uint32_t res_tags(const struct res_plan *p, const char *const **tags, const int64_t **counts)
{
	*tags = (const char *const *)p->tag;
	*counts = p->tag_n;
	return p->ntag;
}

void res_state(const struct res_plan *p, const char *const **names, const int64_t **cap,
	       const int64_t **used)
{
	*names = p->name;
	*cap = p->cap;
	*used = p->used;
}

int res_busy(const struct res_plan *p, uint32_t *r)
{
	for (uint32_t i = 0; i < p->n; i++) {
		if (p->used[i]) {
			*r = i;
			return 1;
		}
	}
	return 0;
}

void res_release(struct res_plan *p, uint32_t idx)
{
	take(p, res_need_of(p, idx), -1);
	if (p->admit)
		count_tags(p, idx, -1);
}

void res_override(struct res_plan *p, uint32_t idx, const struct res_need *n)
{
	if (!p->over && !(p->over = calloc(p->wl->ntasks, sizeof *p->over)))
		return; /* keeps the old need: the task is still admissible */
	/* one allocation per changed task: most tasks never have one */
	struct res_need *o = (struct res_need *)p->over[idx];
	if (!o && !(o = malloc(sizeof *o)))
		return;
	*o = *n;
	for (uint32_t r = 0; r < RES_MAX; r++)
		if (o->mask & 1u << r && o->amt[r] > p->cap[r])
			o->amt[r] = p->cap[r];
	p->over[idx] = o;
}

uint32_t res_count(const struct res_plan *p) { return p->n; }
const char *res_name(const struct res_plan *p, uint32_t r) { return r < p->n ? p->name[r] : NULL; }
int64_t res_cap(const struct res_plan *p, uint32_t r) { return r < p->n ? p->cap[r] : 0; }
int64_t res_used(const struct res_plan *p, uint32_t r) { return r < p->n ? p->used[r] : 0; }

int res_enforce(const struct res_plan *p, uint32_t idx)
{
	const struct spec *s = p->wl->tasks[idx].spec;
	return s->kind == KIND_EXEC && (s->enforce >= 0 ? s->enforce : p->enforce);
}

int res_any_enforced(const struct res_plan *p) { return p->any_enforced; }

void res_need_json(const struct res_plan *p, const struct res_need *n, struct buf *b)
{
	buf_adds(b, ",\"needs\":{");
	int first = 1;
	for (uint32_t r = 0; r < p->n; r++) {
		if (!(n->mask & 1u << r))
			continue;
		char a[32];
		fmt_amt(a, sizeof a, n->amt[r]);
		buf_addf(b, "%s", first ? "" : ",");
		buf_json_str(b, p->name[r]);
		buf_addf(b, ":%s", a);
		first = 0;
	}
	buf_adds(b, "}");
}
