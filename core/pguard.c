/* pguard.c - bounds on the C library functions a policy can make loop.
 *
 * The instruction budget and the per-call deadline are checked by a count
 * hook, which only runs between Lua instructions: a C function that loops
 * inside one instruction escapes both. These are the ones in the sandbox
 * that loop without allocating (the memory cap bounds the rest):
 *  - string.rep("", 1e15): loops 1e15 times producing nothing. An empty
 *    result is returned at once; a non-empty one is bounded by the cap.
 *  - table.move(a, 1, 1e15, 2): moves nils without allocating. The count is
 *    capped (PGUARD_MAX_MOVE).
 *  - pattern matching (string.find, match, gmatch, gsub): backtracking over
 *    quantified items is polynomial in the subject with the number of
 *    quantifiers as the exponent ("a*a*a*a*b" on 1,000 bytes runs for
 *    years). Before calling Lua's matcher, the worst-case number of steps is
 *    bounded from the pattern and the subject's length (each start position
 *    times, per quantified item, every length it may take); a call whose
 *    bound exceeds PGUARD_MAX_STEPS raises an error naming the pattern. The
 *    bound is an over-estimate: a legitimate pattern with several
 *    quantifiers on a subject of many kilobytes is refused too, which a
 *    policy (task ids, tags) does not meet in practice.
 * Each wrapper keeps Lua's original function as its upvalue and calls it
 * once the arguments are within bounds, so results are Lua's own.
 */
#include "pguard.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

/* Worst-case matcher steps allowed per call: about 0.1-0.5 s. */
#define PGUARD_MAX_STEPS 1e8
/* Elements table.move may move per call. */
#define PGUARD_MAX_MOVE ((lua_Integer)1 << 24)

/* Calls the original (upvalue 1) with every argument; returns its results. */
static int call_orig(lua_State *L)
{
	int n = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET);
	return lua_gettop(L);
}

static int g_rep(lua_State *L)
{
	size_t l, lsep = 0;
	luaL_checklstring(L, 1, &l);
	luaL_checkinteger(L, 2);
	if (!lua_isnoneornil(L, 3))
		luaL_checklstring(L, 3, &lsep);
	if (l + lsep == 0) { /* the result is empty whatever the count */
		lua_pushliteral(L, "");
		return 1;
	}
	return call_orig(L);
}

static int g_move(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
	if (e >= f && (e - f >= PGUARD_MAX_MOVE || e - f < 0))
		return luaL_error(L, "table.move: %I elements is more than the %I a policy may move",
				  (lua_Integer)(e - f + 1), PGUARD_MAX_MOVE);
	return call_orig(L);
}

/* Skips one single-character item at p (a class, a set, '.', or a literal);
 * returns what follows it, or NULL when the pattern is malformed (Lua's
 * matcher then raises its own error). */
static const char *skip_item(const char *p, const char *end)
{
	if (*p == '%')
		return p + 2 <= end ? p + 2 : NULL;
	if (*p != '[')
		return p + 1;
	p++;
	if (p < end && *p == '^')
		p++;
	do { /* the first ']' is a literal */
		if (p >= end)
			return NULL;
		if (*p == '%') {
			p++;
			if (p >= end)
				return NULL;
		}
		p++;
	} while (p < end && *p != ']');
	return p < end ? p + 1 : NULL;
}

/* The worst-case steps of matching pat against a subject of n bytes from
 * every start position (all of them unless anchored). */
double pguard_cost(const char *pat, size_t plen, size_t n, int anchor_ok)
{
	const char *p = pat, *end = pat + plen;
	double cost = 1, per = (double)n + 1;
	if (anchor_ok && p < end && *p == '^')
		p++;
	else
		cost = per;
	while (p < end && cost <= PGUARD_MAX_STEPS) {
		if (*p == '(' || *p == ')') {
			p++;
			continue;
		}
		if (*p == '%' && p + 1 < end && p[1] == 'b') {
			cost *= per; /* a balanced match scans ahead */
			p += 4;
			continue;
		}
		if (*p == '%' && p + 1 < end && p[1] == 'f') {
			p += 2;
			if (p >= end || !(p = skip_item(p, end)))
				break;
			continue;
		}
		if (*p == '%' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
			cost *= per; /* a back reference compares its capture */
			p += 2;
			continue;
		}
		if (*p == '$' && p + 1 == end)
			break;
		const char *q = skip_item(p, end);
		if (!q)
			break;
		if (q < end && (*q == '*' || *q == '+' || *q == '-')) {
			cost *= per;
			q++;
		} else if (q < end && *q == '?') {
			cost *= 2;
			q++;
		}
		p = q;
	}
	return cost;
}

/* find, match, gmatch, gsub: subject at 1, pattern at 2. */
static int g_pattern(lua_State *L, const char *fname, int anchor_ok)
{
	size_t n, plen;
	luaL_checklstring(L, 1, &n);
	const char *pat = luaL_checklstring(L, 2, &plen);
	if (!strcmp(fname, "find") && lua_toboolean(L, 4))
		return call_orig(L); /* a plain find is linear */
	double cost = pguard_cost(pat, plen, n, anchor_ok);
	if (cost > PGUARD_MAX_STEPS) {
		char m[256]; /* lua_pushfstring has no precision */
		snprintf(m, sizeof m,
			 "string.%s: pattern \"%.60s\" may take more than %.0e steps on a "
			 "subject of %zu bytes (too many quantifiers for its length)",
			 fname, pat, PGUARD_MAX_STEPS, n);
		return luaL_error(L, "%s", m);
	}
	return call_orig(L);
}

static int g_find(lua_State *L) { return g_pattern(L, "find", 1); }
static int g_match(lua_State *L) { return g_pattern(L, "match", 1); }
static int g_gmatch(lua_State *L) { return g_pattern(L, "gmatch", 0); }
static int g_gsub(lua_State *L) { return g_pattern(L, "gsub", 1); }

static void wrap(lua_State *L, const char *name, lua_CFunction f)
{
	lua_getfield(L, -1, name);
	lua_pushcclosure(L, f, 1);
	lua_setfield(L, -2, name);
}

void pguard_open(lua_State *L)
{
	lua_getglobal(L, LUA_STRLIBNAME);
	wrap(L, "rep", g_rep);
	wrap(L, "find", g_find);
	wrap(L, "match", g_match);
	wrap(L, "gmatch", g_gmatch);
	wrap(L, "gsub", g_gsub);
	lua_pop(L, 1);
	lua_getglobal(L, LUA_TABLIBNAME);
	wrap(L, "move", g_move);
	lua_pop(L, 1);
}
