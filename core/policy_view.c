/* policy_view.c - the task view a policy function gets: one reused userdata
 * whose fields (id, kind, priority, ..., tags, meta, resources) are read from
 * the task on access; tags and meta are built once per call; writes are refused. */
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

int pol_view_index(lua_State *L)
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

int pol_view_newindex(lua_State *L)
{
	return luaL_error(L, "task view is read-only");
}

int pol_view_tostring(lua_State *L)
{
	struct view *v = lua_touserdata(L, 1);
	if (v->t)
		lua_pushfstring(L, "task %s", v->t->id);
	else
		lua_pushliteral(L, "task (expired view)");
	return 1;
}

void pol_view_set(struct policy *p, const struct task *t)
{
	p->view->t = t;
	p->view->gen++;
}

