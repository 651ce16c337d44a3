/* policy.c - the Lua 5.4 policy host (policy.h is the contract).
 *
 * Owns one lua_State per host and everything in it: the sandbox globals, one
 * environment table per loaded file, the registry refs of the policy
 * functions, and the one task view every call reuses. Invariants:
 *  - the state's stack holds exactly two values between calls: the task view
 *    (index IDX_VIEW) and the message handler (IDX_MSGH); every call leaves
 *    the stack at BASE;
 *  - nothing that can allocate runs outside lua_pcall: with a memory cap any
 *    allocation can fail, and an unprotected failure aborts the process;
 *  - the view's task pointer is set only during a call (NULL otherwise);
 *  - a problem is reported once per (kind, problem class) until the kind's
 *    file is loaded again; every fallback is counted.
 */
#include "policy.h"
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

#include "pguard.h"

#define DEFAULT_BUDGET 1000000
#define DEFAULT_DEADLINE_MS 3000
#define HOOK_STEP 1000         /* instructions between two looks at the clock */
#define DEFAULT_MEM_CAP ((size_t)64 << 20)
#define DEFAULT_INTERVAL_MS 500
#define MIN_INTERVAL_MS 10
#define MAX_CFN_ARGS 16
#define META_MAX_DEPTH 200

/* The permanent stack slots. */
enum { IDX_VIEW = 1, IDX_MSGH = 2, BASE = 2 };

/* Problem classes: each is reported once per kind. */
enum { PB_ERROR = 0, PB_BUDGET, PB_MEMORY, PB_RETURN, PB_TIME };

/* Why the hook stopped a call. */
enum { OVR_NONE = 0, OVR_BUDGET, OVR_TIME, OVR_STOP };

static const char *const kind_name[POL_NKINDS] = {"scheduling", "retry", "scaling",
						   "placement"};
static const char *const fn_name[POL_NKINDS] = {"key", "decide", "decide", "place"};
static const char *const fallback_text[POL_NKINDS] = {
	"using the built-in order", "using the built-in retry rule",
	"keeping the current concurrency", "using least_loaded"};
static const char *const fk_name[POLICY_NFK] = {"exit",  "signal",   "timeout", "spawn",
						"rejected", "error", "oom", "shed"};

/* Task view fields, in the order of the interned name pointers. */
enum vfield {
	VF_ID, VF_KIND, VF_PRIORITY, VF_DEADLINE, VF_EST, VF_CLASS, VF_TARGET,
	VF_ATTEMPTS, VF_CHAIN, VF_RETRIES, VF_TIMEOUT, VF_TAGS, VF_META, VF_RESOURCES, NVF
};
static const char *const vf_name[NVF] = {
	"id",	   "kind",  "priority", "deadline_ms", "est_ms",     "class", "target",
	"attempts", "chain", "retries",  "timeout_ms",  "tags", "meta", "resources"};

/* The full userdata behind every `task` argument. gen changes with every
 * call, so tags and meta tables built on access (kept as the userdata's user
 * values 1 and 2) are reused within one call and rebuilt in the next. */
struct view {
	const struct task *t;
	uint32_t gen, tags_gen, meta_gen;
};

struct slot {
	char *file;            /* as given to policy_load; NULL: none loaded */
	int fn;                /* registry ref of key / decide, or LUA_NOREF */
	int admit;             /* scheduling: registry ref of the optional admit, or LUA_NOREF */
	int line;              /* where fn is defined (0: unknown) */
	int64_t interval_ms;   /* scaling only */
	unsigned reported;     /* bit per problem class already reported */
	int off;               /* a call overran its deadline: fall back without calling
	                          until the file is loaded again */
	uint64_t fallbacks;
};

struct policy {
	lua_State *L;
	struct policy_opts o;
	size_t mem_used, mem_cap;
	int budget;
	int overrun;           /* OVR_*: why the hook stopped this call */
	int used;              /* instructions counted by the hook in this call */
	int64_t deadline_ms;   /* wall-clock limit of one call */
	int64_t deadline_ns;   /* when to look at this call's CPU time, on now_ns() */
	int64_t cpu0_ns;       /* the thread's CPU time when the call started */
	atomic_int stop;       /* policy_interrupt: every call stops at its next hook */
	int load_ref;          /* Lua's own `load`, for the per-file wrappers */
	int envmt_ref;         /* { __index = sandbox globals } */
	struct view *view;
	const char *vf[NVF];   /* interned field names, kept alive by the registry */
	struct slot k[POL_NKINDS];
	const struct res_plan *res; /* the run's admission plan, for views and changes, or NULL */
	const int64_t *est;    /* est_ms from history per task, or NULL */
	/* the last error, filled by the message handler */
	char ewhere[512];
	int eline;
	char emsg[1024];
	/* policy_check: problems go to check_out instead of report */
	struct buf *check_out;
	size_t check_start;
	int check_n;
};

static struct policy *host(lua_State *L)
{
	return *(struct policy **)lua_getextraspace(L);
}

/* ---- memory cap ---- */

/* Refuses growth past the cap: Lua then collects garbage and retries, and
 * raises "not enough memory" when that is not enough. Shrinking never fails. */
static void *cap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct policy *p = ud;
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		p->mem_used -= old;
		return NULL;
	}
	if (nsize > old && p->mem_used - old + nsize > p->mem_cap)
		return NULL;
	void *q = realloc(ptr, nsize);
	if (q)
		p->mem_used = p->mem_used - old + nsize;
	return q;
}

static int on_panic(lua_State *L)
{
	const char *m = lua_tostring(L, -1);
	fprintf(stderr, "gearbox: policy host: unprotected Lua error: %s\n", m ? m : "?");
	return 0;
}

/* ---- budget and error capture ---- */

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A SIGINT or SIGTERM waiting to be taken: the run is about to stop, and
 * the thread that takes signals may be this one, busy in this call (the
 * first keys are computed on the main thread). */
static int stop_pending(void)
{
	sigset_t ps;
	return sigpending(&ps) == 0 && (sigismember(&ps, SIGINT) == 1 || sigismember(&ps, SIGTERM) == 1);
}

/* The count hook, every HOOK_STEP instructions (fewer for a small budget):
 * counts the budget, looks at the clock (C functions that loop inside one
 * instruction are bounded by pguard.c) and at policy_interrupt. Once it has
 * stopped a call it fires at every instruction, so a policy that catches the
 * error with pcall cannot run any further: the next instruction outside that
 * pcall raises again. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
	struct policy *p = host(L);
	if (!p->overrun) {
		if (p->cpu0_ns < 0) /* a call that gets here is not a short one */
			p->cpu0_ns = thread_cpu_ns();
		int step = p->budget - p->used < HOOK_STEP ? p->budget - p->used : HOOK_STEP;
		p->used += step;
		if (atomic_load_explicit(&p->stop, memory_order_relaxed) || stop_pending())
			p->overrun = OVR_STOP;
		else if (p->used >= p->budget)
			p->overrun = OVR_BUDGET;
		else if (now_ns() > p->deadline_ns) {
			/* the limit is on the CPU time the call used, so that a
			 * loaded machine (the thread waiting for a core) does not
			 * stop a policy that works normally; the wall clock (cheap
			 * to read) only says when to look */
			int64_t used = thread_cpu_ns() - p->cpu0_ns;
			int64_t limit = p->deadline_ms * 1000000;
			if (used >= limit)
				p->overrun = OVR_TIME;
			else
				p->deadline_ns = now_ns() + (limit - used);
		}
		if (!p->overrun) {
			int next = p->budget - p->used < HOOK_STEP ? p->budget - p->used : HOOK_STEP;
			lua_sethook(L, budget_hook, LUA_MASKCOUNT, next);
			return;
		}
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	}
	char what[96];
	if (p->overrun == OVR_BUDGET)
		snprintf(what, sizeof what, "instruction budget of %d exceeded", p->budget);
	else if (p->overrun == OVR_TIME)
		snprintf(what, sizeof what, "took longer than %lld ms",
			 (long long)p->deadline_ms);
	else
		snprintf(what, sizeof what, "interrupted");
	if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
		lua_pushfstring(L, "%s:%d: %s", ar->short_src, ar->currentline, what);
	else
		lua_pushfstring(L, "%s", what);
	lua_error(L);
}

static void arm(struct policy *p)
{
	p->overrun = OVR_NONE;
	p->used = 0;
	p->deadline_ns = now_ns() + p->deadline_ms * 1000000;
	p->cpu0_ns = -1; /* read at the hook's first firing: most calls end before */
	lua_sethook(p->L, budget_hook, LUA_MASKCOUNT,
		    p->budget < HOOK_STEP ? p->budget : HOOK_STEP);
}

void policy_interrupt(struct policy *p)
{
	atomic_store(&p->stop, 1);
}

/* Splits Lua's position prefix "SRC:LINE: rest". Returns rest and fills src
 * and line, or returns NULL when m has no prefix. */
static const char *split_loc(const char *m, char *src, size_t srcsz, int *line)
{
	for (const char *c = m; *c && *c != '\n'; c++) {
		if (*c != ':' || c == m || !isdigit((unsigned char)c[1]))
			continue;
		const char *d = c + 1;
		long n = 0;
		while (isdigit((unsigned char)*d)) {
			if (n < 100000000)
				n = n * 10 + (*d - '0');
			d++;
		}
		if (d[0] != ':' || d[1] != ' ')
			continue;
		snprintf(src, srcsz, "%.*s", (int)(c - m), m);
		*line = (int)n;
		return d + 2;
	}
	return NULL;
}

/* The message handler of every call (at IDX_MSGH). Records where the error
 * happened and the message without its position into the host; allocates
 * nothing, so it works when memory is exhausted. */
static int msgh(lua_State *L)
{
	struct policy *p = host(L);
	char src[512];
	int line = 0;
	const char *m;
	p->ewhere[0] = 0;
	p->eline = 0;
	if (lua_type(L, 1) == LUA_TSTRING) {
		m = lua_tostring(L, 1);
	} else if (lua_type(L, 1) == LUA_TNUMBER) {
		snprintf(p->emsg, sizeof p->emsg, "%.14g", lua_tonumber(L, 1));
		m = p->emsg;
	} else {
		snprintf(p->emsg, sizeof p->emsg, "(error object is a %s value)",
			 luaL_typename(L, 1));
		m = p->emsg;
	}
	const char *rest = split_loc(m, src, sizeof src, &line);
	if (rest) {
		snprintf(p->ewhere, sizeof p->ewhere, "%s", src);
		p->eline = line;
		if (m != p->emsg)
			snprintf(p->emsg, sizeof p->emsg, "%s", rest);
		else
			memmove(p->emsg, rest, strlen(rest) + 1);
		return 1;
	}
	if (m != p->emsg)
		snprintf(p->emsg, sizeof p->emsg, "%s", m);
	lua_Debug ar;
	for (int lvl = 1; lua_getstack(L, lvl, &ar); lvl++) {
		if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0)
			continue;
		snprintf(p->ewhere, sizeof p->ewhere, "%s",
			 ar.source[0] == '@' ? ar.source + 1 : ar.short_src);
		p->eline = ar.currentline;
		break;
	}
	return 1;
}

/* Lua shortens long file names in messages ("...tail"); gives the full name
 * back when src is one of ours. */
static const char *map_src(const struct policy *p, const char *src, const char *extra)
{
	const char *cand[POL_NKINDS + 1];
	int n = 0;
	if (extra)
		cand[n++] = extra;
	for (int i = 0; i < POL_NKINDS; i++)
		if (p->k[i].file)
			cand[n++] = p->k[i].file;
	for (int i = 0; i < n; i++) {
		if (!strcmp(src, cand[i]))
			return cand[i];
		size_t ls = strlen(src), lf = strlen(cand[i]);
		if (ls > 3 && !strncmp(src, "...", 3) && lf >= ls - 3 &&
		    !strcmp(cand[i] + lf - (ls - 3), src + 3))
			return cand[i];
	}
	return src;
}

/* ---- reporting ---- */

static void emit(struct policy *p, int kind, const char *core)
{
	if (p->check_out) {
		struct buf *b = p->check_out;
		size_t n = strlen(core);
		/* one line per distinct problem */
		const char *q = b->p ? b->p + p->check_start : NULL, *end = q ? b->p + b->len : NULL;
		while (q && q < end) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			size_t ll = nl ? (size_t)(nl - q) : (size_t)(end - q);
			if (ll == n && !memcmp(q, core, n))
				return;
			q += ll + 1;
		}
		buf_adds(b, core);
		buf_adds(b, "\n");
		p->check_n++;
		return;
	}
	char line[GBX_ERRLEN];
	snprintf(line, sizeof line, "policy %s; %s", core, fallback_text[kind]);
	if (p->o.report)
		p->o.report(p->o.report_ud, line);
	else
		fprintf(stderr, "gearbox: %s\n", line);
}

/* Counts a fallback and reports it when its class is new for this kind. The
 * message is formatted only when it is reported. */
static void problem(struct policy *p, int kind, int cls, const char *where, int line,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void problem(struct policy *p, int kind, int cls, const char *where, int line,
		    const char *fmt, ...)
{
	struct slot *s = &p->k[kind];
	if (!p->check_out) {
		s->fallbacks++;
		if (s->reported & (1u << cls))
			return;
		s->reported |= 1u << cls;
	}
	char msg[1200], core[1900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!where || !*where)
		where = s->file ? s->file : "?";
	if (line > 0)
		snprintf(core, sizeof core, "%s:%d: %s: %s", where, line, fn_name[kind], msg);
	else
		snprintf(core, sizeof core, "%s: %s: %s", where, fn_name[kind], msg);
	emit(p, kind, core);
}

/* A call ended with status st != LUA_OK. */
static void call_failed(struct policy *p, int kind, int st)
{
	struct slot *s = &p->k[kind];
	if (st == LUA_ERRMEM) {
		problem(p, kind, PB_MEMORY, s->file, s->line,
			"not enough memory (the policy memory cap is %.1f MiB)",
			(double)p->mem_cap / (1 << 20));
		return;
	}
	if (st == LUA_ERRERR) { /* the handler itself failed: what it saved is stale */
		p->ewhere[0] = 0;
		snprintf(p->emsg, sizeof p->emsg, "error in error handling");
	}
	int cls = p->overrun == OVR_BUDGET ? PB_BUDGET : p->overrun ? PB_TIME : PB_ERROR;
	if (!p->check_out && (s->reported & (1u << cls))) {
		s->fallbacks++;
		return;
	}
	const char *where = p->ewhere[0] ? map_src(p, p->ewhere, NULL) : s->file;
	int line = p->ewhere[0] ? p->eline : s->line;
	if (p->overrun == OVR_BUDGET)
		problem(p, kind, cls, where, line, "instruction budget of %d exceeded", p->budget);
	else if (p->overrun == OVR_TIME && !p->check_out) {
		s->off = 1; /* each further call would hold the engine for as long */
		problem(p, kind, cls, where, line,
			"took longer than %lld ms (a call's limit); not called again until reloaded",
			(long long)p->deadline_ms);
	} else if (p->overrun == OVR_TIME)
		problem(p, kind, cls, where, line, "took longer than %lld ms (a call's limit)",
			(long long)p->deadline_ms);
	else if (p->overrun == OVR_STOP)
		problem(p, kind, cls, where, line, "interrupted (the run is stopping)");
	else
		problem(p, kind, cls, where, line, "%s", p->emsg);
}

static const char *type_phrase(lua_State *L, int idx, char *buf, size_t n)
{
	int t = lua_type(L, idx);
	if (t == LUA_TNIL || t == LUA_TNONE)
		return "nil";
	snprintf(buf, n, "a %s", lua_typename(L, t));
	return buf;
}

/* ---- the task view ---- */

static void push_json(lua_State *L, json_t *j, int depth)
{
	if (depth > META_MAX_DEPTH)
		luaL_error(L, "task.meta is nested deeper than %d levels", META_MAX_DEPTH);
	luaL_checkstack(L, 4, "task.meta is nested too deeply");
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *v;
		lua_createtable(L, 0, (int)json_object_size(j));
		json_object_foreach(j, key, v) {
			if (json_is_null(v))
				continue;
			push_json(L, v, depth + 1);
			lua_setfield(L, -2, key);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i, n = json_array_size(j);
		lua_createtable(L, n < INT_MAX ? (int)n : INT_MAX, 0);
		for (i = 0; i < n; i++) {
			json_t *v = json_array_get(j, i);
			if (json_is_null(v))
				continue;
			push_json(L, v, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	}
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushnil(L);
		break;
	}
}

static int unknown_field(lua_State *L, const char *k)
{
	int best = -1, bd = 4;
	size_t kl = strlen(k);
	for (int i = 0; i < NVF; i++) {
		/* "deadline" for "deadline_ms" is 3 edits away but an obvious slip */
		int d = kl >= 3 && !strncmp(k, vf_name[i], kl) ? 1 : edit_distance(k, vf_name[i], 3);
		if (d < bd) {
			bd = d;
			best = i;
		}
	}
	if (best >= 0 && (bd <= 2 || kl > 5))
		return luaL_error(L, "task has no field \"%s\" (did you mean \"%s\"?)", k,
				  vf_name[best]);
	return luaL_error(L, "task has no field \"%s\"", k);
}

/* task.resources: what admission counts for it (the plan's view: a retry's
 * change, its declaration or its class's default), else its declaration; a
 * table of name = amount, empty when it needs nothing. */
static void push_needs(lua_State *L, const struct policy *p, const struct task *t)
{
	const struct workload *wl = p->o.wl;
	const struct res_need *n = t->spec->need;
	int in_wl = wl && t >= wl->tasks && t < wl->tasks + wl->ntasks;
	if (p->res && in_wl)
		n = res_need_of(p->res, (uint32_t)(t - wl->tasks));
	lua_createtable(L, 0, 4);
	for (uint32_t r = 0; n && r < RES_MAX; r++) {
		if (!(n->mask & 1u << r))
			continue;
		const char *name = p->res ? res_name(p->res, r)
				   : wl && wl->rnames && r < wl->rnames->n ? wl->rnames->name[r] : NULL;
		if (!name)
			continue;
		if (n->amt[r] % RES_MILLI == 0)
			lua_pushinteger(L, n->amt[r] / RES_MILLI);
		else
			lua_pushnumber(L, (double)n->amt[r] / RES_MILLI);
		lua_setfield(L, -2, name);
	}
}

void policy_set_res(struct policy *p, const struct res_plan *res)
{
	p->res = res;
}

void policy_set_est(struct policy *p, const int64_t *est_ms)
{
	p->est = est_ms;
}

static int view_index(lua_State *L)
{
	struct view *v = lua_touserdata(L, 1);
	if (lua_type(L, 2) != LUA_TSTRING)
		return luaL_error(L, "task fields are strings, got a %s key", luaL_typename(L, 2));
	const char *k = lua_tostring(L, 2);
	const struct task *t = v->t;
	if (!t)
		return luaL_error(L, "task view used outside its call (views are valid "
				     "only during the call they were passed to)");
	struct policy *p = host(L);
	int f;
	/* short strings are interned: the key is usually one of ours */
	for (f = 0; f < NVF && k != p->vf[f]; f++)
		;
	if (f == NVF)
		for (f = 0; f < NVF && strcmp(k, vf_name[f]); f++)
			;
	const struct spec *sp = t->spec;
	switch (f) {
	case VF_ID:
		lua_pushstring(L, t->id);
		break;
	case VF_KIND:
		lua_pushstring(L, sp->kind == KIND_SIM ? "sim" : "exec");
		break;
	case VF_PRIORITY:
		lua_pushinteger(L, t->priority);
		break;
	case VF_DEADLINE:
		if (sp->deadline_ms < 0)
			lua_pushnil(L);
		else
			lua_pushinteger(L, sp->deadline_ms);
		break;
	case VF_EST: {
		int64_t est = sp->est_ms;
		const struct workload *wl = p->o.wl;
		if (est < 0 && p->est && wl && t >= wl->tasks && t < wl->tasks + wl->ntasks)
			est = p->est[t - wl->tasks]; /* the p90 of its history */
		if (est < 0)
			lua_pushnil(L);
		else
			lua_pushinteger(L, est);
		break;
	}
	case VF_CLASS:
		if (sp->cls == CLASS_NONE || sp->cls > CLASS_MIXED)
			lua_pushnil(L);
		else
			lua_pushstring(L, task_class_name(sp->cls));
		break;
	case VF_TARGET:
		if (sp->target)
			lua_pushstring(L, sp->target);
		else
			lua_pushnil(L);
		break;
	case VF_ATTEMPTS:
		lua_pushinteger(L, t->attempts);
		break;
	case VF_CHAIN:
		lua_pushinteger(L, t->chain);
		break;
	case VF_RETRIES:
		lua_pushinteger(L, sp->retries);
		break;
	case VF_TIMEOUT:
		if (t->timeout_ms == 0)
			lua_pushnil(L);
		else
			lua_pushinteger(L, t->timeout_ms);
		break;
	case VF_TAGS:
		if (v->tags_gen == v->gen) {
			lua_getiuservalue(L, 1, 1);
			break;
		}
		{
			int n = 0;
			while (sp->tags && sp->tags[n])
				n++;
			lua_createtable(L, n, 0);
			for (int i = 0; i < n; i++) {
				lua_pushstring(L, sp->tags[i]);
				lua_rawseti(L, -2, i + 1);
			}
		}
		lua_pushvalue(L, -1);
		lua_setiuservalue(L, 1, 1);
		v->tags_gen = v->gen;
		break;
	case VF_META:
		if (!sp->meta) {
			lua_pushnil(L);
			break;
		}
		if (v->meta_gen == v->gen) {
			lua_getiuservalue(L, 1, 2);
			break;
		}
		push_json(L, sp->meta, 0);
		lua_pushvalue(L, -1);
		lua_setiuservalue(L, 1, 2);
		v->meta_gen = v->gen;
		break;
	case VF_RESOURCES:
		push_needs(L, p, t);
		break;
	default:
		return unknown_field(L, k);
	}
	return 1;
}

static int view_newindex(lua_State *L)
{
	return luaL_error(L, "task view is read-only");
}

static int view_tostring(lua_State *L)
{
	struct view *v = lua_touserdata(L, 1);
	if (v->t)
		lua_pushfstring(L, "task %s", v->t->id);
	else
		lua_pushliteral(L, "task (expired view)");
	return 1;
}

static void view_set(struct policy *p, const struct task *t)
{
	p->view->t = t;
	p->view->gen++;
}

/* ---- the sandbox ---- */

/* load(chunk [, name [, mode [, env]]]): text chunks only; the environment
 * defaults to the calling file's (upvalue 2), not the shared globals. */
static int sb_load(lua_State *L)
{
	int has_env = !lua_isnone(L, 4);
	lua_settop(L, 4);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushliteral(L, "t");
	if (has_env)
		lua_pushvalue(L, 4);
	else
		lua_pushvalue(L, lua_upvalueindex(2));
	lua_call(L, 4, LUA_MULTRET);
	return lua_gettop(L) - 4;
}

/* print(...): one line on stderr, "FILE: a<TAB>b". */
static int sb_print(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addstring(&b, lua_tostring(L, lua_upvalueindex(1)));
	luaL_addstring(&b, ": ");
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	size_t len;
	const char *s = lua_tolstring(L, -1, &len);
	fwrite(s, 1, len, stderr);
	return 0;
}

/* setmetatable without finalizers: a __gc would run policy code at arbitrary
 * points of the engine, outside any call and its budget. */
static int sb_setmetatable(lua_State *L)
{
	int t = lua_type(L, 2);
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not available to policies");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

static int sb_collectgarbage(lua_State *L)
{
	const char *opt = luaL_optstring(L, 1, "count");
	if (strcmp(opt, "count"))
		return luaL_error(L, "collectgarbage: only \"count\" is available to policies");
	int kb = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);
	lua_pushnumber(L, (lua_Number)kb + (lua_Number)b / 1024);
	return 1;
}

static void open_lib(lua_State *L, const char *name, lua_CFunction f)
{
	luaL_requiref(L, name, f, 1);
	lua_pop(L, 1);
}

/* Runs protected from policy_new; returns the view and the message handler,
 * which stay at the bottom of the stack for the host's life. */
static int init_body(lua_State *L)
{
	struct policy *p = lua_touserdata(L, 1);
	open_lib(L, LUA_GNAME, luaopen_base);
	open_lib(L, LUA_STRLIBNAME, luaopen_string);
	open_lib(L, LUA_TABLIBNAME, luaopen_table);
	open_lib(L, LUA_MATHLIBNAME, luaopen_math);
	open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);
	pguard_open(L);
	luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
	lua_createtable(L, 0, 2);
	lua_getfield(L, -2, "clock");
	lua_setfield(L, -2, "clock");
	lua_getfield(L, -2, "time");
	lua_setfield(L, -2, "time");
	lua_setglobal(L, "os");
	lua_pop(L, 1);
	/* the full os table must not stay reachable, even from the registry */
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_pushnil(L);
	lua_setfield(L, -2, LUA_OSLIBNAME);
	lua_pop(L, 1);

	lua_getglobal(L, "load");
	p->load_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	static const char *const drop[] = {"dofile", "loadfile", "load", "print", "warn", "require"};
	for (size_t i = 0; i < sizeof drop / sizeof *drop; i++) {
		lua_pushnil(L);
		lua_setglobal(L, drop[i]);
	}
	lua_pushcfunction(L, sb_setmetatable);
	lua_setglobal(L, "setmetatable");
	lua_pushcfunction(L, sb_collectgarbage);
	lua_setglobal(L, "collectgarbage");
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushnil(L);
	lua_setfield(L, -2, "dump"); /* binary chunks cannot be loaded anyway */
	lua_pop(L, 1);

	lua_createtable(L, 0, 1);
	lua_pushglobaltable(L);
	lua_setfield(L, -2, "__index");
	p->envmt_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_createtable(L, NVF, 0);
	for (int i = 0; i < NVF; i++) {
		lua_pushstring(L, vf_name[i]);
		p->vf[i] = lua_tostring(L, -1);
		lua_rawseti(L, -2, i + 1);
	}
	luaL_ref(L, LUA_REGISTRYINDEX);

	p->view = lua_newuserdatauv(L, sizeof *p->view, 2);
	memset(p->view, 0, sizeof *p->view);
	p->view->gen = 1;
	lua_createtable(L, 0, 5);
	lua_pushcfunction(L, view_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, view_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, view_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, "task view");
	lua_setfield(L, -2, "__metatable");
	lua_pushliteral(L, "task view");
	lua_setfield(L, -2, "__name");
	lua_setmetatable(L, -2);
	lua_pushcfunction(L, msgh);
	return 2;
}

struct policy *policy_new(const struct policy_opts *o, struct err *err)
{
	struct policy *p = calloc(1, sizeof *p);
	if (!p) {
		err_set(err, "policy host: out of memory");
		return NULL;
	}
	if (o)
		p->o = *o;
	p->mem_cap = p->o.mem_cap ? p->o.mem_cap : DEFAULT_MEM_CAP;
	int64_t b = p->o.budget > 0 ? p->o.budget : DEFAULT_BUDGET;
	p->budget = b > INT_MAX ? INT_MAX : (int)b;
	p->deadline_ms = p->o.deadline_ms > 0 ? p->o.deadline_ms : DEFAULT_DEADLINE_MS;
	for (int i = 0; i < POL_NKINDS; i++) {
		p->k[i].fn = p->k[i].admit = LUA_NOREF;
		p->k[i].interval_ms = DEFAULT_INTERVAL_MS;
	}
	p->load_ref = p->envmt_ref = LUA_NOREF;
	p->L = lua_newstate(cap_alloc, p);
	if (!p->L) {
		err_set(err, "policy host: cannot create a Lua state within the memory cap of %zu bytes",
			p->mem_cap);
		free(p);
		return NULL;
	}
	lua_State *L = p->L;
	*(struct policy **)lua_getextraspace(L) = p;
	lua_atpanic(L, on_panic);
	lua_pushcfunction(L, init_body);
	lua_pushlightuserdata(L, p);
	if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
		err_set(err, "policy host: cannot set up the Lua sandbox: %s",
			lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
		lua_close(L);
		free(p);
		return NULL;
	}
	return p;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	lua_close(p->L);
	for (int i = 0; i < POL_NKINDS; i++)
		free(p->k[i].file);
	free(p);
}

/* ---- loading ---- */

struct load_ctx {
	struct policy *p;
	int kind;
	const char *file;
	int fn, line, admit;
	int64_t interval_ms;
	int bad;               /* msg holds the complete error */
	char msg[1400];
};

static void load_error(struct load_ctx *c, const char *m)
{
	char src[512];
	int line;
	const char *rest;
	c->bad = 1;
	size_t fl = strlen(c->file);
	if (!strncmp(m, "cannot ", 7) && (rest = strstr(m, c->file)) && !strncmp(rest + fl, ": ", 2))
		snprintf(c->msg, sizeof c->msg, "%s: %.*s: %s", c->file, (int)(rest - m - 1), m,
			 rest + fl + 2);
	else if ((rest = split_loc(m, src, sizeof src, &line)))
		snprintf(c->msg, sizeof c->msg, "%s:%d: %s", map_src(c->p, src, c->file), line, rest);
	else
		snprintf(c->msg, sizeof c->msg, "%s: %s", c->file, m);
}

static int load_body(lua_State *L)
{
	struct load_ctx *c = lua_touserdata(L, 1);
	struct policy *p = c->p;
	const char *fname = fn_name[c->kind];
	if (luaL_loadfilex(L, c->file, "t") != LUA_OK) {
		load_error(c, lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "cannot load");
		return 0;
	}
	int chunk = lua_gettop(L);
	lua_createtable(L, 0, 3);
	int env = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->envmt_ref);
	lua_setmetatable(L, env);
	lua_pushvalue(L, env);
	lua_setfield(L, env, "_G");
	lua_rawgeti(L, LUA_REGISTRYINDEX, p->load_ref);
	lua_pushvalue(L, env);
	lua_pushcclosure(L, sb_load, 2);
	lua_setfield(L, env, "load");
	lua_pushstring(L, c->file);
	lua_pushcclosure(L, sb_print, 1);
	lua_setfield(L, env, "print");
	if (!lua_setupvalue(L, chunk, 1)) /* _ENV */
		lua_pop(L, 1);
	lua_settop(L, chunk);
	lua_call(L, 0, 1);
	char tb[64];
	if (!lua_istable(L, -1)) {
		c->bad = 1;
		snprintf(c->msg, sizeof c->msg,
			 "%s: %s policy must return a table with a function \"%s\" (it returned %s)",
			 c->file, kind_name[c->kind], fname, type_phrase(L, -1, tb, sizeof tb));
		return 0;
	}
	int tbl = lua_gettop(L);
	lua_getfield(L, tbl, fname);
	if (!lua_isfunction(L, -1)) {
		c->bad = 1;
		snprintf(c->msg, sizeof c->msg,
			 "%s: %s policy must return a table with a function \"%s\" (\"%s\" is %s)",
			 c->file, kind_name[c->kind], fname, fname, type_phrase(L, -1, tb, sizeof tb));
		return 0;
	}
	lua_Debug ar;
	lua_pushvalue(L, -1);
	c->line = lua_getinfo(L, ">S", &ar) && ar.linedefined > 0 ? ar.linedefined : 0;
	c->interval_ms = DEFAULT_INTERVAL_MS;
	if (c->kind == POL_SCALING) {
		lua_getfield(L, tbl, "interval_ms");
		if (!lua_isnil(L, -1)) {
			double d = lua_tonumber(L, -1);
			if (lua_type(L, -1) != LUA_TNUMBER || !(d >= MIN_INTERVAL_MS) || d > 86400000.0) {
				c->bad = 1;
				if (lua_type(L, -1) == LUA_TNUMBER)
					snprintf(c->msg, sizeof c->msg,
						 "%s: interval_ms must be a number of ms >= %d (got %g)",
						 c->file, MIN_INTERVAL_MS, d);
				else
					snprintf(c->msg, sizeof c->msg,
						 "%s: interval_ms must be a number of ms >= %d (got %s)",
						 c->file, MIN_INTERVAL_MS, type_phrase(L, -1, tb, sizeof tb));
				return 0;
			}
			c->interval_ms = (int64_t)llround(d);
		}
		lua_pop(L, 1);
	}
	if (c->kind == POL_SCHEDULING) {
		/* optional: admit(task, state) -> true | false | delay ms */
		int at = lua_getfield(L, tbl, "admit");
		if (at != LUA_TNIL && at != LUA_TFUNCTION) {
			c->bad = 1;
			snprintf(c->msg, sizeof c->msg,
				 "%s: \"admit\" must be a function (it is %s)", c->file,
				 type_phrase(L, -1, tb, sizeof tb));
			return 0;
		}
		if (at == LUA_TFUNCTION)
			c->admit = luaL_ref(L, LUA_REGISTRYINDEX);
		else
			lua_pop(L, 1);
	}
	c->fn = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the function */
	return 0;
}

int policy_load(struct policy *p, int kind, const char *file, struct err *err)
{
	if (kind < 0 || kind >= POL_NKINDS)
		return err_set(err, "policy: unknown policy kind %d", kind);
	if (!file || !*file)
		return err_set(err, "policy: no file given for the %s policy", kind_name[kind]);
	lua_State *L = p->L;
	struct load_ctx c = {.p = p, .kind = kind, .file = file, .fn = LUA_NOREF,
			     .admit = LUA_NOREF};
	lua_pushcfunction(L, load_body);
	lua_pushlightuserdata(L, &c);
	arm(p);
	int st = lua_pcall(L, 1, 0, IDX_MSGH);
	lua_settop(L, BASE);
	if (st != LUA_OK) {
		if (c.fn != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, c.fn);
		if (c.admit != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, c.admit);
		if (st == LUA_ERRMEM)
			return err_set(err, "%s: not enough memory (the policy memory cap is %.1f MiB)",
				       file, (double)p->mem_cap / (1 << 20));
		const char *where = p->ewhere[0] ? map_src(p, p->ewhere, file) : file;
		char m[sizeof p->emsg];
		if (p->overrun == OVR_BUDGET)
			snprintf(m, sizeof m, "instruction budget of %d exceeded", p->budget);
		else
			snprintf(m, sizeof m, "%s", p->emsg);
		if (p->ewhere[0] && p->eline > 0)
			return err_set(err, "%s:%d: %s", where, p->eline, m);
		return err_set(err, "%s: %s", where, m);
	}
	if (c.bad) {
		if (c.admit != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, c.admit);
		return err_set(err, "%s", c.msg);
	}
	char *copy = strdup(file);
	if (!copy) {
		luaL_unref(L, LUA_REGISTRYINDEX, c.fn);
		if (c.admit != LUA_NOREF)
			luaL_unref(L, LUA_REGISTRYINDEX, c.admit);
		return err_set(err, "%s: out of memory", file);
	}
	struct slot *s = &p->k[kind];
	if (s->fn != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, s->fn);
	if (s->admit != LUA_NOREF)
		luaL_unref(L, LUA_REGISTRYINDEX, s->admit);
	free(s->file);
	s->file = copy;
	s->fn = c.fn;
	s->admit = c.admit;
	s->line = c.line;
	s->interval_ms = c.interval_ms;
	s->reported = 0;
	s->off = 0;
	return 0;
}

int policy_reload(struct policy *p, struct err *err)
{
	char all[GBX_ERRLEN] = "";
	size_t used = 0;
	int rc = 0;
	for (int i = 0; i < POL_NKINDS; i++) {
		if (!p->k[i].file)
			continue;
		struct err e;
		if (policy_load(p, i, p->k[i].file, &e) == 0)
			continue;
		rc = -1;
		int n = snprintf(all + used, sizeof all - used, "%s%s; keeping the previous policy",
				 used ? "\n" : "", e.msg);
		if (n > 0)
			used += (size_t)n < sizeof all - used ? (size_t)n : sizeof all - used - 1;
	}
	if (rc)
		err_set(err, "%s", all);
	return rc;
}

int policy_has(const struct policy *p, int kind)
{
	return p && kind >= 0 && kind < POL_NKINDS && p->k[kind].fn != LUA_NOREF;
}

const char *policy_file(const struct policy *p, int kind)
{
	return p && kind >= 0 && kind < POL_NKINDS ? p->k[kind].file : NULL;
}

uint64_t policy_fallbacks(const struct policy *p, int kind)
{
	return p && kind >= 0 && kind < POL_NKINDS ? p->k[kind].fallbacks : 0;
}

size_t policy_mem_used(const struct policy *p)
{
	return p ? p->mem_used : 0;
}

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
	view_set(p, t);
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->fn);
	lua_pushvalue(L, IDX_VIEW);
	arm(p);
	int st = lua_pcall(L, 1, 1, IDX_MSGH);
	p->view->t = NULL;
	if (st == LUA_OK && lua_type(L, -1) == LUA_TNUMBER) {
		double d = lua_tonumber(L, -1);
		lua_settop(L, BASE);
		if (d == d) {
			*key = d;
			return 0;
		}
		problem(p, POL_SCHEDULING, PB_RETURN, s->file, s->line,
			"returned NaN, expected a number");
		return -1;
	}
	if (st != LUA_OK) {
		call_failed(p, POL_SCHEDULING, st);
	} else {
		char tb[64];
		problem(p, POL_SCHEDULING, PB_RETURN, s->file, s->line,
			"returned %s, expected a number", type_phrase(L, -1, tb, sizeof tb));
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
		 "in ms from 0 to 3600000", type_phrase(L, -1, tb, sizeof tb));
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
	view_set(p, t);
	lua_pushcfunction(L, body);
	lua_pushlightuserdata(L, ctx);
	lua_pushvalue(L, IDX_VIEW);
	arm(p);
	int rc = lua_pcall(L, 2, 0, IDX_MSGH);
	p->view->t = NULL;
	lua_settop(L, BASE);
	if (rc != LUA_OK) {
		call_failed(p, kind, rc);
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
		problem(p, POL_SCHEDULING, PB_RETURN, s->file, s->line, "%s", c.why);
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
			 type_phrase(L, d, tb, sizeof tb));
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
			 type_phrase(L, chg, tb, sizeof tb));
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
		problem(p, POL_RETRY, PB_RETURN, s->file, s->line, "%s", c.why);
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
			 type_phrase(L, -1, tb, sizeof tb));
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
	arm(p);
	int rc = lua_pcall(L, 1, 0, IDX_MSGH);
	lua_settop(L, BASE);
	if (rc != LUA_OK) {
		call_failed(p, POL_SCALING, rc);
		return -1;
	}
	if (!c.ok) {
		problem(p, POL_SCALING, PB_RETURN, s->file, s->line, "%s", c.why);
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
		 type_phrase(L, -1, tb, sizeof tb));
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
		problem(p, POL_PLACEMENT, PB_RETURN, s->file, s->line, "%s", c.why);
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

/* ---- functions from plugins ---- */

struct cfn_box {
	policy_cfn fn;
	void *ud;
};

static int sb_cfn(lua_State *L)
{
	struct cfn_box *b = lua_touserdata(L, lua_upvalueindex(1));
	const char *name = lua_tostring(L, lua_upvalueindex(2));
	struct policy_value args[MAX_CFN_ARGS];
	int n = lua_gettop(L);
	if (n > MAX_CFN_ARGS)
		return luaL_error(L, "%s: too many arguments (%d, at most %d)", name, n,
				  MAX_CFN_ARGS);
	for (int i = 0; i < n; i++) {
		struct policy_value *a = &args[i];
		memset(a, 0, sizeof *a);
		switch (lua_type(L, i + 1)) {
		case LUA_TNIL:
			a->type = PV_NIL;
			break;
		case LUA_TBOOLEAN:
			a->type = PV_BOOL;
			a->num = lua_toboolean(L, i + 1);
			break;
		case LUA_TNUMBER:
			a->type = PV_NUM;
			a->num = lua_tonumber(L, i + 1);
			break;
		case LUA_TSTRING:
			a->type = PV_STR;
			a->str = lua_tostring(L, i + 1);
			break;
		case LUA_TUSERDATA: {
			/* the task view: handed to the plugin as the task it shows */
			struct policy *hp = host(L);
			if (lua_touserdata(L, i + 1) == (void *)hp->view && hp->view->t) {
				a->type = PV_TASK;
				a->task = hp->view->t;
				break;
			}
		}
			/* fall through */
		default:
			return luaL_error(L, "%s: argument %d: unsupported argument type (%s)", name,
					  i + 1, luaL_typename(L, i + 1));
		}
	}
	struct policy_value ret = {.type = PV_NIL};
	int rc = b->fn(b->ud, args, n, &ret);
	if (rc < 0) {
		if (ret.type == PV_STR && ret.str)
			return luaL_error(L, "%s failed: %s", name, ret.str);
		return luaL_error(L, "%s failed (error %d)", name, rc);
	}
	switch (ret.type) {
	case PV_BOOL:
		lua_pushboolean(L, ret.num != 0);
		break;
	case PV_NUM:
		lua_pushnumber(L, ret.num);
		break;
	case PV_STR:
		if (ret.str)
			lua_pushstring(L, ret.str);
		else
			lua_pushnil(L);
		break;
	default:
		lua_pushnil(L);
		break;
	}
	return 1;
}

struct reg_ctx {
	const char *table, *name;
	policy_cfn fn;
	void *ud;
	int bad;
};

static int register_body(lua_State *L)
{
	struct reg_ctx *c = lua_touserdata(L, 1);
	int t = lua_getglobal(L, c->table);
	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setglobal(L, c->table);
	} else if (t != LUA_TTABLE) {
		c->bad = 1;
		return 0;
	}
	struct cfn_box *b = lua_newuserdatauv(L, sizeof *b, 0);
	b->fn = c->fn;
	b->ud = c->ud;
	lua_pushfstring(L, "%s.%s", c->table, c->name);
	lua_pushcclosure(L, sb_cfn, 2);
	lua_setfield(L, -2, c->name);
	return 0;
}

int policy_register_fn(struct policy *p, const char *table, const char *name, policy_cfn fn,
		       void *ud, struct err *err)
{
	if (!table || !*table || !name || !*name || !fn)
		return err_set(err, "policy_register_fn: a table name, a function name and a "
				    "function are required");
	struct reg_ctx c = {.table = table, .name = name, .fn = fn, .ud = ud};
	lua_State *L = p->L;
	lua_pushcfunction(L, register_body);
	lua_pushlightuserdata(L, &c);
	int st = lua_pcall(L, 1, 0, 0);
	if (st != LUA_OK) {
		lua_settop(L, BASE);
		return err_set(err, "policy_register_fn %s.%s: not enough memory", table, name);
	}
	lua_settop(L, BASE);
	if (c.bad)
		return err_set(err,
			       "policy_register_fn %s.%s: the global \"%s\" exists and is not a table",
			       table, name, table);
	return 0;
}
