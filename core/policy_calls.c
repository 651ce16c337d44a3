/* policy_calls.c - one call per policy kind: scheduling's key and admit, retry's
 * decide, scaling's decide, placement's place, each through the reused view
 * with the limits armed, its answer checked, a fallback on any problem; and
 * the dry-calls of `gearbox check`. */
#include "policy_int.h"
#include "nodes.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static const char *const fk_name[POLICY_NFK] = {"exit",  "signal",   "timeout", "spawn",
						"rejected", "error", "oom", "shed"};

/* ---- calls ---- */

int policy_key(struct policy *p, const struct task *t, double *key)
{
	struct slot *s = &p->k[POL_SCHEDULING];
	if (s->fn == LUA_NOREF)
		return -1;
	if (s->off && !p->check_out) {
		s->fallbacks++;
		return -1;
	}
	lua_State *L = p->L;
	pol_view_set(p, t);
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->fn);
	lua_pushvalue(L, IDX_VIEW);
	pol_arm(p);
	int st = lua_pcall(L, 1, 1, IDX_MSGH);
	p->view->t = NULL;
	if (st == LUA_OK && lua_type(L, -1) == LUA_TNUMBER) {
		double d = lua_tonumber(L, -1);
		lua_settop(L, BASE);
		if (d == d) {
			*key = d;
			return 0;
		}
		pol_problem(p, POL_SCHEDULING, PB_RETURN, s->file, s->line,
			"returned NaN, expected a number");
		return -1;
	}
	if (st != LUA_OK) {
		pol_call_failed(p, POL_SCHEDULING, st);
	} else {
		char tb[64];
		pol_problem(p, POL_SCHEDULING, PB_RETURN, s->file, s->line,
			"returned %s, expected a number", pol_type_phrase(L, -1, tb, sizeof tb));
	}
	lua_settop(L, BASE);
	return -1;
}

/* ---- admit ---- */

int policy_has_admit(const struct policy *p)
{
	return p && p->k[POL_SCHEDULING].admit != LUA_NOREF;
}

static void push_amounts(lua_State *L, const struct policy_admit_state *st, const int64_t *v)
{
	lua_createtable(L, 0, (int)st->n);
	for (uint32_t r = 0; r < st->n; r++) {
		if (v[r] % RES_MILLI == 0)
			lua_pushinteger(L, v[r] / RES_MILLI);
		else
			lua_pushnumber(L, (double)v[r] / RES_MILLI);
		lua_setfield(L, -2, st->names[r]);
	}
}

struct admit_ctx {
	struct policy *p;
	const struct policy_admit_state *st;
	int res;               /* 1 admit, 0 not now, 2 delay, -1 bad */
	int64_t delay;
	char why[160];
};

static int admit_body(lua_State *L)
{
	struct admit_ctx *c = lua_touserdata(L, 1);
	const struct policy_admit_state *st = c->st;
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->p->k[POL_SCHEDULING].admit);
	lua_pushvalue(L, 2); /* the view */
	lua_createtable(L, 0, 4);
	push_amounts(L, st, st->cap);
	lua_setfield(L, -2, "capacity");
	push_amounts(L, st, st->used);
	lua_setfield(L, -2, "used");
	lua_pushinteger(L, st->running);
	lua_setfield(L, -2, "running");
	lua_createtable(L, 0, (int)st->ntags);
	for (uint32_t i = 0; i < st->ntags; i++) {
		lua_pushinteger(L, st->tag_running[i]);
		lua_setfield(L, -2, st->tags[i]);
	}
	lua_setfield(L, -2, "tags");
	lua_call(L, 2, 1);
	int t = lua_type(L, -1);
	if (t == LUA_TBOOLEAN || t == LUA_TNIL) {
		c->res = lua_toboolean(L, -1);
		return 0;
	}
	if (t == LUA_TNUMBER) {
		double ms = lua_tonumber(L, -1);
		if (ms >= 0 && ms <= 3600000) {
			c->res = 2;
			c->delay = (int64_t)llround(ms);
			return 0;
		}
	}
	char tb[64];
	snprintf(c->why, sizeof c->why, "admit returned %s, expected true, false or a delay "
		 "in ms from 0 to 3600000", pol_type_phrase(L, -1, tb, sizeof tb));
	c->res = -1;
	return 0;
}

/* Calls body(ctx, view of t) in protected mode with the call limits armed:
 * the admit, retry and place functions read their answer into ctx. Returns
 * -1 (reported) when the call failed. */
static int view_call(struct policy *p, int kind, lua_CFunction body, void *ctx,
		     const struct task *t)
{
	lua_State *L = p->L;
	pol_view_set(p, t);
	lua_pushcfunction(L, body);
	lua_pushlightuserdata(L, ctx);
	lua_pushvalue(L, IDX_VIEW);
	pol_arm(p);
	int rc = lua_pcall(L, 2, 0, IDX_MSGH);
	p->view->t = NULL;
	lua_settop(L, BASE);
	if (rc != LUA_OK) {
		pol_call_failed(p, kind, rc);
		return -1;
	}
	return 0;
}

int policy_admit(struct policy *p, const struct task *t, const struct policy_admit_state *st,
		 int64_t *delay_ms)
{
	struct slot *s = &p->k[POL_SCHEDULING];
	if (s->admit == LUA_NOREF)
		return 1;
	struct admit_ctx c = {.p = p, .st = st, .res = -1};
	if (view_call(p, POL_SCHEDULING, admit_body, &c, t))
		return -1;
	if (c.res < 0) {
		pol_problem(p, POL_SCHEDULING, PB_RETURN, s->file, s->line, "%s", c.why);
		return -1;
	}
	*delay_ms = c.delay;
	return c.res;
}

struct retry_ctx {
	struct policy *p;
	const struct policy_failure *f;
	int attempt;
	const struct policy_stats *st;
	int res;               /* 0 give up, 1 retry, -1 bad: why says what */
	int64_t delay;
	struct policy_changes chg;
	char why[512];
};

/* Reads changes.field; returns 0 when absent, 1 when set, -1 when bad. */
static int get_int_field(lua_State *L, int tbl, const char *field, int64_t lo, int64_t hi,
			 int64_t *out)
{
	int t = lua_getfield(L, tbl, field);
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	int isint = 0;
	lua_Integer v = t == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
	lua_pop(L, 1);
	if (!isint || v < lo || v > hi)
		return -1;
	*out = v;
	return 1;
}

/* changes.resources = {name = amount, ...} over the task's needs now: a name
 * the run's plan does not have is refused (no capacity means no admission).
 * Returns -1 with c->why set. */
static int changed_needs(lua_State *L, struct policy *p, int tbl, struct retry_ctx *c)
{
	if (!lua_istable(L, tbl)) {
		snprintf(c->why, sizeof c->why, "changes.resources must be a table of name = amount");
		return -1;
	}
	const struct workload *wl = p->o.wl;
	const struct task *t = p->view->t;
	if (!p->res || !wl || !t || t < wl->tasks || t >= wl->tasks + wl->ntasks)
		return 0; /* nothing admits by needs in this run: nothing to change */
	c->chg.need = *res_need_of(p->res, (uint32_t)(t - wl->tasks));
	lua_pushnil(L);
	while (lua_next(L, tbl)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		uint32_t r = 0;
		while (k && r < res_count(p->res) && strcmp(res_name(p->res, r), k))
			r++;
		double d = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
		if (!k || r >= res_count(p->res)) {
			snprintf(c->why, sizeof c->why, "changes.resources: %s%.60s%s is not a resource of this run",
				 k ? "\"" : "a non-string key", k ? k : "", k ? "\"" : "");
			lua_pop(L, 2);
			return -1;
		}
		if (!(d >= 0) || d > 1e12) {
			snprintf(c->why, sizeof c->why, "changes.resources.%.60s must be a number from 0 to 1e12", k);
			lua_pop(L, 2);
			return -1;
		}
		int64_t m = (int64_t)llround(d * RES_MILLI);
		c->chg.need.amt[r] = m;
		c->chg.need.est &= ~(1u << r); /* given, no longer history's estimate */
		if (m)
			c->chg.need.mask |= 1u << r;
		else
			c->chg.need.mask &= ~(1u << r);
		lua_pop(L, 1);
	}
	c->chg.has_need = 1;
	return 0;
}

static int retry_body(lua_State *L)
{
	struct retry_ctx *c = lua_touserdata(L, 1);
	struct policy *p = c->p;
	const struct policy_failure *f = c->f;
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->k[POL_RETRY].fn);
	lua_pushvalue(L, 2); /* the view */
	lua_createtable(L, 0, 5);
	lua_pushstring(L, f->kind ? f->kind : "error");
	lua_setfield(L, -2, "kind");
	if (f->exit_code != -1) {
		lua_pushinteger(L, f->exit_code);
		lua_setfield(L, -2, "exit");
	}
	if (f->signal != 0) {
		lua_pushinteger(L, f->signal);
		lua_setfield(L, -2, "signal");
	}
	lua_pushnumber(L, f->ms);
	lua_setfield(L, -2, "ms");
	if (f->message) {
		lua_pushstring(L, f->message);
		lua_setfield(L, -2, "message");
	}
	lua_pushinteger(L, c->attempt);
	lua_createtable(L, 0, POLICY_NFK);
	for (int i = 0; i < POLICY_NFK; i++) {
		uint64_t fl = c->st ? c->st->failures[i] : 0, r = c->st ? c->st->retries[i] : 0,
			 ok = c->st ? c->st->retry_ok[i] : 0;
		lua_createtable(L, 0, 4);
		lua_pushinteger(L, (lua_Integer)fl);
		lua_setfield(L, -2, "failures");
		lua_pushinteger(L, (lua_Integer)r);
		lua_setfield(L, -2, "retries");
		lua_pushinteger(L, (lua_Integer)ok);
		lua_setfield(L, -2, "retry_ok");
		if (r > 0) {
			lua_pushnumber(L, (double)ok / (double)r);
			lua_setfield(L, -2, "success_rate");
		}
		lua_setfield(L, -2, fk_name[i]);
	}
	lua_call(L, 4, 2);
	int d = lua_gettop(L) - 1, chg = d + 1;
	char tb[64];
	int t = lua_type(L, d);
	if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, d))) {
		c->res = 0;
		return 0;
	}
	c->res = -1;
	if (t != LUA_TNUMBER) {
		snprintf(c->why, sizeof c->why,
			 "returned %s, expected a delay in ms (a number) or nil to give up",
			 pol_type_phrase(L, d, tb, sizeof tb));
		return 0;
	}
	double ms = lua_tonumber(L, d);
	if (!(ms >= 0) || ms > 1e12) {
		snprintf(c->why, sizeof c->why,
			 "returned the delay %g, expected a number of ms from 0 to 1e12", ms);
		return 0;
	}
	c->delay = (int64_t)llround(ms);
	t = lua_type(L, chg);
	if (t == LUA_TTABLE) {
		int r = get_int_field(L, chg, "timeout_ms", 1, INT64_MAX / 2, &c->chg.timeout_ms);
		if (r < 0) {
			snprintf(c->why, sizeof c->why,
				 "changes.timeout_ms must be an integer number of ms > 0");
			return 0;
		}
		c->chg.has_timeout = r;
		int64_t prio = 0;
		r = get_int_field(L, chg, "priority", INT32_MIN, INT32_MAX, &prio);
		if (r < 0) {
			snprintf(c->why, sizeof c->why,
				 "changes.priority must be an integer (32-bit)");
			return 0;
		}
		c->chg.has_priority = r;
		c->chg.priority = (int32_t)prio;
		if (lua_getfield(L, chg, "resources") != LUA_TNIL &&
		    changed_needs(L, p, lua_gettop(L), c))
			return 0;
		lua_pop(L, 1);
	} else if (t != LUA_TNIL) {
		snprintf(c->why, sizeof c->why,
			 "returned %s as its second value, expected a table of changes or nil",
			 pol_type_phrase(L, chg, tb, sizeof tb));
		return 0;
	}
	c->res = 1;
	return 0;
}

int policy_retry(struct policy *p, const struct task *t, const struct policy_failure *f,
		 int attempt, const struct policy_stats *st, int64_t *delay_ms,
		 struct policy_changes *chg)
{
	struct slot *s = &p->k[POL_RETRY];
	if (s->fn == LUA_NOREF)
		return -1;
	if (s->off && !p->check_out) {
		s->fallbacks++;
		return -1;
	}
	struct retry_ctx c = {.p = p, .f = f, .attempt = attempt, .st = st, .res = -1};
	if (view_call(p, POL_RETRY, retry_body, &c, t))
		return -1;
	if (c.res < 0) {
		pol_problem(p, POL_RETRY, PB_RETURN, s->file, s->line, "%s", c.why);
		return -1;
	}
	if (chg)
		*chg = c.chg;
	if (c.res == 1 && delay_ms)
		*delay_ms = c.delay;
	return c.res;
}

struct scale_ctx {
	struct policy *p;
	const struct policy_metrics *m;
	int ok;
	int64_t jobs;
	char why[256];
};

static int scale_body(lua_State *L)
{
	struct scale_ctx *c = lua_touserdata(L, 1);
	const struct policy_metrics *m = c->m;
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->p->k[POL_SCALING].fn);
	lua_createtable(L, 0, 15);
#define NUMF(f)                                                                \
	do {                                                                   \
		lua_pushnumber(L, m->f);                                       \
		lua_setfield(L, -2, #f);                                       \
	} while (0)
#define INTF(f)                                                                \
	do {                                                                   \
		lua_pushinteger(L, m->f);                                      \
		lua_setfield(L, -2, #f);                                       \
	} while (0)
	NUMF(cpu);
	NUMF(mem);
	INTF(queued);
	INTF(running);
	INTF(jobs);
	INTF(cores);
	INTF(done);
	INTF(failed);
	INTF(min_jobs);
	INTF(max_jobs);
	NUMF(avg_ms);
	NUMF(throughput);
	NUMF(elapsed_ms);
	NUMF(mem_avail_mb);
	NUMF(mem_per_task_mb);
#undef NUMF
#undef INTF
	lua_call(L, 1, 1);
	char tb[64];
	if (lua_type(L, -1) != LUA_TNUMBER) {
		snprintf(c->why, sizeof c->why, "returned %s, expected a number of jobs",
			 pol_type_phrase(L, -1, tb, sizeof tb));
		return 0;
	}
	double d = lua_tonumber(L, -1);
	if (!(d > -1e15 && d < 1e15)) {
		snprintf(c->why, sizeof c->why, "returned %g, expected a number of jobs", d);
		return 0;
	}
	c->jobs = (int64_t)llround(d);
	c->ok = 1;
	return 0;
}

int policy_scale(struct policy *p, const struct policy_metrics *m, int64_t *jobs)
{
	struct slot *s = &p->k[POL_SCALING];
	if (s->fn == LUA_NOREF)
		return -1;
	if (s->off && !p->check_out) {
		s->fallbacks++;
		return -1;
	}
	lua_State *L = p->L;
	struct scale_ctx c = {.p = p, .m = m};
	lua_pushcfunction(L, scale_body);
	lua_pushlightuserdata(L, &c);
	pol_arm(p);
	int rc = lua_pcall(L, 1, 0, IDX_MSGH);
	lua_settop(L, BASE);
	if (rc != LUA_OK) {
		pol_call_failed(p, POL_SCALING, rc);
		return -1;
	}
	if (!c.ok) {
		pol_problem(p, POL_SCALING, PB_RETURN, s->file, s->line, "%s", c.why);
		return -1;
	}
	*jobs = c.jobs;
	return 0;
}

int64_t policy_scale_interval(const struct policy *p)
{
	return p && p->k[POL_SCALING].fn != LUA_NOREF ? p->k[POL_SCALING].interval_ms
						       : DEFAULT_INTERVAL_MS;
}

/* ---- placement (--nodes) ---- */

struct place_ctx {
	struct policy *p;
	const struct node_view *v;
	int n;
	int idx;               /* chosen, or -1 */
	int bad;
	char why[256];
};

static int place_body(lua_State *L)
{
	struct place_ctx *c = lua_touserdata(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, c->p->k[POL_PLACEMENT].fn);
	lua_pushvalue(L, 2); /* the task view */
	lua_createtable(L, c->n, 0);
	for (int i = 0; i < c->n; i++) {
		const struct node_view *v = &c->v[i];
		lua_createtable(L, 0, 12);
		lua_pushstring(L, v->name);
		lua_setfield(L, -2, "name");
		lua_pushinteger(L, v->slots);
		lua_setfield(L, -2, "slots");
		lua_pushinteger(L, v->running);
		lua_setfield(L, -2, "running");
		lua_pushinteger(L, v->cores);
		lua_setfield(L, -2, "cores");
		lua_pushinteger(L, v->mem_mb);
		lua_setfield(L, -2, "mem_mb");
		lua_pushnumber(L, v->load);
		lua_setfield(L, -2, "load");
		lua_pushnumber(L, v->slots > 0 ? (double)v->running / v->slots : 1.0);
		lua_setfield(L, -2, "busy");
		lua_newtable(L);
		for (int k = 0; v->labels && v->labels[k]; k++) {
			lua_pushstring(L, v->labels[k]);
			lua_rawseti(L, -2, k + 1);
		}
		lua_setfield(L, -2, "labels");
		lua_createtable(L, 0, 4); /* this task's kind on this node */
		lua_pushinteger(L, (lua_Integer)v->kind_runs);
		lua_setfield(L, -2, "runs");
		lua_pushinteger(L, (lua_Integer)v->kind_ok);
		lua_setfield(L, -2, "ok");
		lua_pushnumber(L, v->kind_avg_ms);
		lua_setfield(L, -2, "avg_ms");
		lua_setfield(L, -2, "history");
		lua_rawseti(L, -2, i + 1);
	}
	lua_call(L, 2, 1);
	c->idx = -1;
	if (lua_isnil(L, -1))
		return 0;
	if (lua_type(L, -1) == LUA_TSTRING) {
		const char *name = lua_tostring(L, -1);
		for (int i = 0; i < c->n; i++)
			if (!strcmp(name, c->v[i].name))
				c->idx = i;
		if (c->idx < 0) {
			c->bad = 1;
			snprintf(c->why, sizeof c->why, "returned \"%.60s\", which is not one of the "
				 "nodes it was given", name);
		}
		return 0;
	}
	if (lua_isinteger(L, -1)) {
		lua_Integer i = lua_tointeger(L, -1);
		if (i >= 1 && i <= c->n) {
			c->idx = (int)i - 1;
			return 0;
		}
		c->bad = 1;
		snprintf(c->why, sizeof c->why, "returned %lld, expected a node name or a position "
			 "from 1 to %d", (long long)i, c->n);
		return 0;
	}
	char tb[64];
	c->bad = 1;
	snprintf(c->why, sizeof c->why, "returned %s, expected a node name, a position or nil",
		 pol_type_phrase(L, -1, tb, sizeof tb));
	return 0;
}

int policy_place(struct policy *p, const struct task *t, const struct node_view *v, int n)
{
	struct slot *s = &p->k[POL_PLACEMENT];
	if (s->fn == LUA_NOREF)
		return -1;
	struct place_ctx c = {.p = p, .v = v, .n = n, .idx = -1};
	if (view_call(p, POL_PLACEMENT, place_body, &c, t))
		return -1;
	if (c.bad) {
		pol_problem(p, POL_PLACEMENT, PB_RETURN, s->file, s->line, "%s", c.why);
		return -1;
	}
	return c.idx;
}

/* ---- gearbox check ---- */

int policy_check(struct policy *p, struct buf *out)
{
	/* synthetic tasks: one with every optional field set, one with none */
	char id0[] = "sample-1", id1[] = "sample-2", tag0[] = "sample", target[] = "db";
	char *tags[] = {tag0, NULL};
	struct spec full = {.kind = KIND_SIM, .cls = CLASS_CPU, .cache = -1, .target = target,
			    .tags = tags, .timeout_ms = 60000, .deadline_ms = 5000,
			    .est_ms = 1200, .priority = 5, .retries = 3};
	struct spec bare = {.kind = KIND_EXEC, .cache = -1, .deadline_ms = -1, .est_ms = -1};
	struct task synth[2] = {
		{.id = id0, .spec = &full, .chain = 3, .priority = 5, .timeout_ms = 60000},
		{.id = id1, .spec = &bare, .chain = 1, .attempts = 2},
	};
	const struct task *tasks[3];
	int nt = 0;
	const struct workload *wl = p->o.wl;
	if (wl && wl->ntasks > 0)
		for (uint32_t i = 0; i < wl->ntasks && nt < 3; i++)
			tasks[nt++] = &wl->tasks[i];
	else
		for (int i = 0; i < 2; i++)
			tasks[nt++] = &synth[i];

	p->check_out = out;
	p->check_start = out->len;
	p->check_n = 0;
	if (policy_has(p, POL_SCHEDULING)) {
		for (int i = 0; i < nt; i++) {
			double k;
			policy_key(p, tasks[i], &k);
		}
	}
	if (policy_has(p, POL_RETRY)) {
		struct policy_failure fe = {.kind = "exit", .exit_code = 1, .ms = 120.0};
		struct policy_failure ft = {.kind = "timeout", .exit_code = -1, .signal = 15,
					    .ms = 60000.0, .message = "timed out after 60000 ms"};
		struct policy_stats st0, st1;
		memset(&st0, 0, sizeof st0);
		memset(&st1, 0, sizeof st1);
		for (int i = 0; i < POLICY_NFK; i++) {
			st1.failures[i] = 10;
			st1.retries[i] = 6;
			st1.retry_ok[i] = 3;
		}
		int64_t d;
		struct policy_changes chg;
		policy_retry(p, tasks[0], &fe, 1, &st0, &d, &chg);
		policy_retry(p, tasks[nt - 1], &ft, 2, &st1, &d, &chg);
	}
	if (policy_has(p, POL_SCALING)) {
		struct policy_metrics m = {.cpu = 0.5, .mem = 0.4, .queued = 12, .running = 4,
					   .jobs = 4, .cores = 4, .done = 20, .failed = 1,
					   .min_jobs = 1, .max_jobs = 16, .avg_ms = 250.0,
					   .throughput = 16.0, .elapsed_ms = 1000.0,
					   .mem_avail_mb = 8000.0, .mem_per_task_mb = 500.0};
		int64_t j;
		policy_scale(p, &m, &j);
	}
	if (policy_has(p, POL_PLACEMENT)) {
		const char *l0[] = {"n1", "gpu", NULL}, *l1[] = {"n2", NULL};
		struct node_view nv[2] = {
			{.name = "n1", .index = 0, .slots = 4, .running = 1, .cores = 4,
			 .mem_mb = 16384, .load = 0.3, .labels = l0, .kind_runs = 10,
			 .kind_ok = 9, .kind_avg_ms = 120.0},
			{.name = "n2", .index = 1, .slots = 8, .running = 6, .cores = 8,
			 .mem_mb = 32768, .load = 0.8, .labels = l1}};
		for (int i = 0; i < nt; i++)
			policy_place(p, tasks[i], nv, 2);
	}
	p->check_out = NULL;
	return p->check_n;
}

