/* resources.h - declared needs, capacities and admission.
 *
 * A task may declare what it needs (`resources`: cpu, mem_mb, io, gpu and
 * custom names); its `class` gives a default need when it declares none. The
 * config's `resources` gives capacities (defaults: cpu = cores, mem_mb =
 * available memory, io = 3 x cores; a custom name or gpu has none unless
 * given). The engine admits a ready task only when its needs fit beside
 * what runs; `-j` stays an upper bound (docs/resources.md).
 *
 * Amounts are kept in thousandths (a need of 0.5 cpu is 500), so fractional
 * needs add and compare exactly. A workload names at most RES_MAX resources;
 * cpu, mem_mb, io and gpu are always indexes 0..3.
 *
 * Invariants of a plan, all under the engine lock: used[r] is the sum of the
 * needs of the tasks admitted and not yet released; used[r] <= cap[r] for
 * every r (admission never overcommits, tests/integration/t_resources.sh
 * reconstructs it from --events).
 */
#ifndef GBX_RESOURCES_H
#define GBX_RESOURCES_H

#include <stdint.h>
#include <jansson.h>
#include "util.h"
#include "workload.h"

#define RES_MAX 16
#define RES_MILLI 1000
enum { RES_CPU = 0, RES_MEM, RES_IO, RES_GPU, RES_NBUILTIN };

/* One task's needs: amt[r] for every bit r of mask (thousandths). */
struct res_need {
	uint32_t mask;
	uint32_t est;          /* bits of mask that history estimated (a mem class
				* task's memory): admitted by, never enforced */
	int64_t amt[RES_MAX];
};

/* The resource names a workload uses: the four built-ins, then custom names in
 * the order first seen. Owned by the workload (strings in its arena). */
struct res_names {
	const char *name[RES_MAX];
	uint32_t n;
};

/* Parses a task's (or the defaults') `resources` object into *need, naming
 * custom resources in *names. Returns 0, or -1 with why[] set (no place: the
 * caller adds file and task). */
int res_need_parse(json_t *v, struct res_names *names, struct arena *a,
		   struct res_need *need, char *why, size_t whylen);

struct readyq;
struct res_plan;

/* Builds the plan for a run of wl with the config's `resources` object (may
 * be NULL) and the enforce flag (config `enforce`). Sets *out to NULL when no
 * task needs anything (and nothing is enforced): the engine then admits by -j
 * alone, at no cost. Returns 0, or -1 with err naming the config key, or the
 * task and the resource it can never get (exit 2). cfg_path names the config
 * in messages (NULL: "config"). *out is owned by the caller (res_plan_free). */
int res_plan_new(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
		 struct res_plan **out, struct err *err);
/* The same, with a plan even when nothing declares needs (an admit hook
 * wants one). */
int res_plan_new_forced(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
			struct res_plan **out, struct err *err);
/* The same with the history's memory estimates (mem_kb per task, -1 none;
 * may be NULL): a task of class mem that declares no resources needs its
 * estimate of mem_mb (rounded up, at most the capacity). force: a plan even
 * when nothing needs anything. */
int res_plan_new_est(const struct workload *wl, json_t *cfg, int enforce, const char *cfg_path,
		     int force, const int64_t *mem_kb, struct res_plan **out, struct err *err);

/* An admit hook: asked, under the engine lock, about each task that fits.
 * Returns 1 admit, 0 not now (it stays in the queue; backfill goes on), 2
 * the hook took it out of the queue (delayed). The plan then also counts
 * the running tasks of every tag, for res_tags. */
typedef int (*res_admit_fn)(void *ud, uint32_t idx);
void res_set_admit(struct res_plan *p, res_admit_fn fn, void *ud);
/* Tags of running (admitted) tasks and how many carry each; valid until the
 * next take or release. */
uint32_t res_tags(const struct res_plan *p, const char *const **tags, const int64_t **counts);
/* Capacities and use, for an admit state: arrays of res_count entries. */
void res_state(const struct res_plan *p, const char *const **names, const int64_t **cap,
	       const int64_t **used);
void res_plan_free(struct res_plan *p);

/* The need that admission uses for task idx (its override, its spec's, or
 * its class's default); never NULL. */
const struct res_need *res_need_of(const struct res_plan *p, uint32_t idx);

/* Under the engine lock: the first task in the ready queue's order whose
 * needs fit, with backfill past tasks that do not (looking at most a bounded
 * number deep) unless one of them has waited longer than reserve_after_ms:
 * then what it needs is held back for it. Takes the task out of the queue
 * and counts its needs as used. Returns 1 and *idx (its queue key in *key),
 * or 0 when nothing fits
 * (the queue is unchanged). */
int res_pick(struct res_plan *p, struct readyq *q, const struct task *tasks, uint32_t *idx,
	     double *key);
/* Under the engine lock: counts idx's needs as used when they fit now (a
 * batch claiming one more task of the head's key). Returns 1 when taken. */
int res_take(struct res_plan *p, uint32_t idx);
/* A batch claiming more tasks of its first one's key (engine.c), and a
 * batch's completions: tasks sharing one spec (a matrix's instances) share
 * its need, so they are counted together, one fit test and one update for
 * all of them, instead of one call each. Tasks with another spec, and every
 * task once a retry changed some need or an admit hook is set, go one by
 * one. Under the engine lock, begin .. end in one pass. */
struct res_batch {
	const struct spec *spec;  /* the shared spec, or NULL: one by one */
	uint32_t room;            /* claims: how many more of its need fit */
	uint32_t n;               /* taken (or released) and not yet counted */
};
/* Claims: idx was just picked (res_pick); b counts further claims. */
void res_batch_begin(struct res_plan *p, uint32_t idx, struct res_batch *b);
int res_batch_take_slow(struct res_plan *p, struct res_batch *b, uint32_t idx);
/* Like res_take(p, idx) for task t = &tasks[idx]. */
static inline int res_batch_take(struct res_plan *p, struct res_batch *b, const struct task *t,
				 uint32_t idx)
{
	if (t->spec == b->spec && b->room) {
		b->room--;
		b->n++;
		return 1;
	}
	return res_batch_take_slow(p, b, idx);
}
/* Counts what b took (claims) or gave back (releases); b is empty again. */
void res_batch_end(struct res_plan *p, struct res_batch *b, int sign);
/* Releases: like res_release(p, idx) for t = &tasks[idx]; b starts zeroed. */
void res_batch_release_slow(struct res_plan *p, struct res_batch *b, const struct task *t,
			    uint32_t idx);
static inline void res_batch_release(struct res_plan *p, struct res_batch *b,
				     const struct task *t, uint32_t idx)
{
	if (t->spec == b->spec)
		b->n++;
	else
		res_batch_release_slow(p, b, t, idx);
}

/* Nonzero when something is still counted as used (at the end of a run
 * that is an accounting error); *r gets the first such resource. */
int res_busy(const struct res_plan *p, uint32_t *r);
/* Under the engine lock: the attempt of idx admitted by res_pick ended (or did
 * not start): its needs are free again. */
void res_release(struct res_plan *p, uint32_t idx);

/* A retry policy changed task idx's needs for its next attempt. An amount over
 * the capacity is clamped to it (the task stays possible). */
void res_override(struct res_plan *p, uint32_t idx, const struct res_need *n);

/* For views and the summary: resource count, name, capacity and use now. */
uint32_t res_count(const struct res_plan *p);
const char *res_name(const struct res_plan *p, uint32_t r);
int64_t res_cap(const struct res_plan *p, uint32_t r);
int64_t res_used(const struct res_plan *p, uint32_t r);
int res_enforce(const struct res_plan *p, uint32_t idx);
int res_any_enforced(const struct res_plan *p);

/* Appends `"needs":{"cpu":1,...}` (with a leading comma) for events. */
void res_need_json(const struct res_plan *p, const struct res_need *n, struct buf *b);

/* Default capacities of this machine (thousandths), for check and docs. */
int64_t res_default_cap(int r);

#endif
