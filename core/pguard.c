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
 *    years). These four are lpat.c's matcher, which counts its steps, stops
 *    a call past its budget with an error naming the pattern, and calls the
 *    policy host's tick on the way (SIGINT, SIGTERM, the CPU-time limit).
 * string.rep and table.move keep Lua's original function as their upvalue
 * and call it once the arguments are within bounds, so results are Lua's own.
 */
#include "pguard.h"
#include "lpat.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

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

static void wrap(lua_State *L, const char *name, lua_CFunction f)
{
	lua_getfield(L, -1, name);
	lua_pushcclosure(L, f, 1);
	lua_setfield(L, -2, name);
}

void pguard_open(lua_State *L, const struct lpat_limits *lim)
{
	lua_getglobal(L, LUA_STRLIBNAME);
	wrap(L, "rep", g_rep);
	lpat_open(L, lim);
	lua_pop(L, 1);
	lua_getglobal(L, LUA_TABLIBNAME);
	wrap(L, "move", g_move);
	lua_pop(L, 1);
}
