/* policy_sandbox.c - the globals a policy file sees: the safe subset of the
 * standard libraries, text-only load, print to the report, a setmetatable and
 * collectgarbage that cannot escape the limits, and the functions plugins
 * register (policy_register_fn). */
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

/* ---- the sandbox ---- */

/* load(chunk [, name [, mode [, env]]]): text chunks only; the environment
 * defaults to the calling file's (upvalue 2), not the shared globals. */
int pol_sb_load(lua_State *L)
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
int pol_sb_print(lua_State *L)
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
int pol_init_body(lua_State *L)
{
	struct policy *p = lua_touserdata(L, 1);
	open_lib(L, LUA_GNAME, luaopen_base);
	open_lib(L, LUA_STRLIBNAME, luaopen_string);
	open_lib(L, LUA_TABLIBNAME, luaopen_table);
	open_lib(L, LUA_MATHLIBNAME, luaopen_math);
	open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);
	pguard_open(L, &p->pat);
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
	lua_pushcfunction(L, pol_view_index);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, pol_view_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, pol_view_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, "task view");
	lua_setfield(L, -2, "__metatable");
	lua_pushliteral(L, "task view");
	lua_setfield(L, -2, "__name");
	lua_setmetatable(L, -2);
	lua_pushcfunction(L, pol_msgh);
	return 2;
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
