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
 * This file holds the state, its limits (memory cap, budget, CPU time,
 * interruption), error capture and reporting, and loading; the task view is
 * in policy_view.c, the sandbox globals and plugins' functions in
 * policy_sandbox.c, the calls per kind and `gearbox check` in policy_calls.c
 * (their shared internals: policy_int.h).
 */
#include "policy_int.h"

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

static const char *const kind_name[POL_NKINDS] = {"scheduling", "retry", "scaling",
						   "placement"};
static const char *const fn_name[POL_NKINDS] = {"key", "decide", "decide", "place"};
static const char *const fallback_text[POL_NKINDS] = {
	"using the built-in order", "using the built-in retry rule",
	"keeping the current concurrency", "using least_loaded"};

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

/* Looks at policy_interrupt, a pending SIGINT or SIGTERM and the call's CPU
 * time (the wall clock, cheap to read, says when to look), and sets
 * p->overrun when the call must stop. */
static void limits_check(struct policy *p)
{
	if (p->cpu0_ns < 0) /* a call that gets here is not a short one */
		p->cpu0_ns = thread_cpu_ns();
	if (atomic_load_explicit(&p->stop, memory_order_relaxed) || stop_pending())
		p->overrun = OVR_STOP;
	else if (p->used >= p->budget)
		p->overrun = OVR_BUDGET;
	else if (now_ns() > p->deadline_ns) {
		/* the limit is on the CPU time the call used, so that a loaded
		 * machine (the thread waiting for a core) does not stop a policy
		 * that works normally */
		int64_t used = thread_cpu_ns() - p->cpu0_ns;
		int64_t limit = p->deadline_ms * 1000000;
		if (used >= limit)
			p->overrun = OVR_TIME;
		else
			p->deadline_ns = now_ns() + (limit - used);
	}
}

static void overrun_text(const struct policy *p, char *what, size_t n)
{
	if (p->overrun == OVR_BUDGET)
		snprintf(what, n, "instruction budget of %d exceeded", p->budget);
	else if (p->overrun == OVR_TIME)
		snprintf(what, n, "took longer than %lld ms", (long long)p->deadline_ms);
	else
		snprintf(what, n, "interrupted");
}

/* The count hook, every HOOK_STEP instructions (fewer for a small budget):
 * counts the budget, looks at the clock and at policy_interrupt (C functions
 * that loop inside one instruction are bounded by pguard.c and lpat.c, whose
 * matcher calls pol_pattern_tick). Once it has stopped a call it fires at
 * every instruction, so a policy that catches the error with pcall cannot
 * run any further: the next instruction outside that pcall raises again. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
	struct policy *p = host(L);
	if (!p->overrun) {
		int step = p->budget - p->used < HOOK_STEP ? p->budget - p->used : HOOK_STEP;
		p->used += step;
		limits_check(p);
		if (!p->overrun) {
			int next = p->budget - p->used < HOOK_STEP ? p->budget - p->used : HOOK_STEP;
			lua_sethook(L, budget_hook, LUA_MASKCOUNT, next);
			return;
		}
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	}
	char what[96];
	overrun_text(p, what, sizeof what);
	if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
		lua_pushfstring(L, "%s:%d: %s", ar->short_src, ar->currentline, what);
	else
		lua_pushfstring(L, "%s", what);
	lua_error(L);
}

/* lpat.c's tick, every LPAT_TICK steps of a long match: the same limits as
 * the hook's but the instruction count, so a pattern match stops on SIGINT,
 * SIGTERM, policy_interrupt or the call's CPU time like Lua code does. */
void pol_pattern_tick(lua_State *L)
{
	struct policy *p = host(L);
	if (!p->overrun) {
		limits_check(p);
		if (!p->overrun)
			return;
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	}
	char what[96];
	overrun_text(p, what, sizeof what);
	luaL_where(L, 1); /* the policy's line that called string.find, ... */
	lua_pushstring(L, what);
	lua_concat(L, 2);
	lua_error(L);
}

void pol_arm(struct policy *p)
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
int pol_msgh(lua_State *L)
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
void pol_problem(struct policy *p, int kind, int cls, const char *where, int line,
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
void pol_call_failed(struct policy *p, int kind, int st)
{
	struct slot *s = &p->k[kind];
	if (st == LUA_ERRMEM) {
		pol_problem(p, kind, PB_MEMORY, s->file, s->line,
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
		pol_problem(p, kind, cls, where, line, "instruction budget of %d exceeded", p->budget);
	else if (p->overrun == OVR_TIME && !p->check_out) {
		s->off = 1; /* each further call would hold the engine for as long */
		pol_problem(p, kind, cls, where, line,
			"took longer than %lld ms (a call's limit); not called again until reloaded",
			(long long)p->deadline_ms);
	} else if (p->overrun == OVR_TIME)
		pol_problem(p, kind, cls, where, line, "took longer than %lld ms (a call's limit)",
			(long long)p->deadline_ms);
	else if (p->overrun == OVR_STOP)
		pol_problem(p, kind, cls, where, line, "interrupted (the run is stopping)");
	else
		pol_problem(p, kind, cls, where, line, "%s", p->emsg);
}

const char *pol_type_phrase(lua_State *L, int idx, char *buf, size_t n)
{
	int t = lua_type(L, idx);
	if (t == LUA_TNIL || t == LUA_TNONE)
		return "nil";
	snprintf(buf, n, "a %s", lua_typename(L, t));
	return buf;
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
	p->pat.steps = p->o.pattern_steps > 0 ? (uint64_t)p->o.pattern_steps : 0;
	p->pat.tick = pol_pattern_tick;
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
	lua_pushcfunction(L, pol_init_body);
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
	lua_pushcclosure(L, pol_sb_load, 2);
	lua_setfield(L, env, "load");
	lua_pushstring(L, c->file);
	lua_pushcclosure(L, pol_sb_print, 1);
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
			 c->file, kind_name[c->kind], fname, pol_type_phrase(L, -1, tb, sizeof tb));
		return 0;
	}
	int tbl = lua_gettop(L);
	lua_getfield(L, tbl, fname);
	if (!lua_isfunction(L, -1)) {
		c->bad = 1;
		snprintf(c->msg, sizeof c->msg,
			 "%s: %s policy must return a table with a function \"%s\" (\"%s\" is %s)",
			 c->file, kind_name[c->kind], fname, fname, pol_type_phrase(L, -1, tb, sizeof tb));
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
						 c->file, MIN_INTERVAL_MS, pol_type_phrase(L, -1, tb, sizeof tb));
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
				 pol_type_phrase(L, -1, tb, sizeof tb));
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
	pol_arm(p);
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

