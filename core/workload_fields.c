/* workload_fields.c - a task's fields in a workload file: each field's type,
 * bounds and message, "defaults", and the checks across fields (workload.c
 * loads the document, workload_matrix.c expands templates). */
#include "workload_int.h"
#include "resources.h"
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const field_name[NFIELDS] = {
	"id", "kind", "argv", "sh", "env", "cwd", "stdin", "timeout_ms", "deps",
	"priority", "deadline_ms", "est_ms", "class", "target", "retries", "inputs",
	"outputs", "cache", "tags", "meta", "cpu_us", "io_ms", "mem_kb",
	"fail_rate", "fail_after", "seed", "resources", "enforce", "node", "keep_children",
};

/* Which fields "defaults" may hold, and the bounds of the integer ones. */
static const struct {
	uint8_t in_defaults;
	int64_t lo, hi;
} field_info[NFIELDS] = {
	[F_ENV] = {1, 0, 0},
	[F_CWD] = {1, 0, 0},
	[F_TIMEOUT] = {1, 0, MS_MAX},
	[F_PRIORITY] = {1, -1000000000, 1000000000},
	[F_DEADLINE] = {1, 0, MS_MAX},
	[F_EST] = {1, 0, MS_MAX},
	[F_CLASS] = {1, 0, 0},
	[F_TARGET] = {1, 0, 0},
	[F_RETRIES] = {1, 0, RETRIES_MAX},
	[F_CACHE] = {1, 0, 0},
	[F_TAGS] = {1, 0, 0},
	[F_META] = {1, 0, 0},
	[F_CPU_US] = {1, 0, 3600000000LL},
	[F_IO_MS] = {1, 0, MS_MAX},
	[F_MEM_KB] = {1, 0, 67108864},
	[F_FAIL_RATE] = {1, 0, 0},
	[F_FAIL_AFTER] = {1, 0, 1000000},
	[F_SEED] = {1, 0, INT64_MAX},
	[F_RESOURCES] = {1, 0, 0},
	[F_ENFORCE] = {1, 0, 0},
	[F_NODE] = {1, 0, 0},
	[F_KEEP_CHILDREN] = {1, 0, 0},
};


static const char *const class_names[] = {"none", "cpu", "io", "mem", "mixed"};

/* ---- task fields ---- */

static int field_lookup(const char *key)
{
	for (int f = 0; f < NFIELDS; f++)
		if (key[0] == field_name[f][0] && strcmp(key, field_name[f]) == 0)
			return f;
	return -1;
}

int wl_type_err(struct ctx *c, const struct place *p, const char *name,
		const char *want, const json_t *v)
{
	return wl_perr(c, p, "%s must be %s, got %s", name, want, wl_jtype(v));
}

static int get_str(struct ctx *c, const struct place *p, const char *name,
		   const json_t *v, int nonempty, char **out, size_t *len)
{
	if (!json_is_string(v))
		return wl_type_err(c, p, name, "a string", v);
	size_t n = json_string_length(v);
	if (nonempty && n == 0)
		return wl_perr(c, p, "%s is empty", name);
	*out = wl_strndup(c, json_string_value(v), n);
	if (len)
		*len = n;
	return 0;
}

/* An array of strings; an empty one is stored as NULL. */
static int get_strs(struct ctx *c, const struct place *p, const char *name,
		    const json_t *v, char ***out)
{
	if (!json_is_array(v))
		return wl_type_err(c, p, name, "an array of strings", v);
	size_t n = json_array_size(v);
	if (n == 0) {
		*out = NULL;
		return 0;
	}
	char **l = arena_alloc(&c->wl->arena, (n + 1) * sizeof *l);
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		if (!json_is_string(e))
			return wl_perr(c, p, "%s[%zu] must be a string, got %s", name,
				    i, wl_jtype(e));
		l[i] = wl_strndup(c, json_string_value(e), json_string_length(e));
	}
	*out = l;
	return 0;
}

/* Merges a task's env object over the inherited list (*envp): inherited
 * entries the task does not name come first, then the task's in its order. */
static int get_env(struct ctx *c, const struct place *p, json_t *v, char ***envp)
{
	if (!json_is_object(v))
		return wl_type_err(c, p, "env", "an object of strings", v);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) {
		if (!*k)
			return wl_perr(c, p, "env has an empty variable name");
		if (strchr(k, '='))
			return wl_perr(c, p, "env name \"%s\" contains '='", k);
		if (!json_is_string(x))
			return wl_perr(c, p, "env \"%s\" must be a string, got %s", k,
				    wl_jtype(x));
	}
	char **base = *envp;
	size_t nb = wl_list_len(base), nt = json_object_size(v), n = 0;
	if (nb + nt == 0) {
		*envp = NULL;
		return 0;
	}
	char **l = arena_alloc(&c->wl->arena, (nb + nt + 1) * sizeof *l);
	for (size_t i = 0; i < nb; i++) {
		const char *eq = strchr(base[i], '=');
		if (!json_object_getn(v, base[i], (size_t)(eq - base[i])))
			l[n++] = base[i];
	}
	json_object_foreach(v, k, x) {
		c->sb.len = 0;
		wl_buf_adds(c, &c->sb, k);
		wl_buf_add(c, &c->sb, "=", 1);
		wl_buf_add(c, &c->sb, json_string_value(x), json_string_length(x));
		l[n++] = wl_strndup(c, c->sb.p, c->sb.len);
	}
	*envp = l;
	return 0;
}

static int get_int(struct ctx *c, const struct place *p, int f, const json_t *v,
		   int64_t *out)
{
	const char *name = field_name[f];
	if (!json_is_integer(v))
		return wl_type_err(c, p, name, "an integer", v);
	long long x = json_integer_value(v);
	long long lo = field_info[f].lo, hi = field_info[f].hi;
	if (lo == 0 && x < 0)
		return wl_perr(c, p, "%s is negative (%lld)", name, x);
	if (x > hi || x < lo) {
		if (lo == 0)
			return wl_perr(c, p, "%s %lld is absurd (the limit is %lld)",
				    name, x, hi);
		return wl_perr(c, p, "%s %lld is absurd (it must be between %lld and %lld)",
			    name, x, lo, hi);
	}
	*out = x;
	return 0;
}

static int get_choice(struct ctx *c, const struct place *p, const char *name,
		      const json_t *v, const char *const *names, int lo, int n,
		      const char *what)
{
	if (!json_is_string(v))
		return wl_type_err(c, p, name, "a string", v);
	const char *s = json_string_value(v);
	int k = wl_lookup(s, names, lo, n);
	if (k >= 0)
		return k;
	char valid[128] = "", h[96];
	for (int i = lo; i < n; i++) {
		strcat(valid, names[i]);
		if (i + 1 < n)
			strcat(valid, ", ");
	}
	wl_perr(c, p, "unknown %s \"%s\"%s (valid %s: %s)", name, s,
	     wl_dym(h, sizeof h, nearest_name(s, names + lo, (size_t)(n - lo), NULL)), what, valid);
	return -1;
}

static int parse_field(struct ctx *c, const struct place *p, int f, json_t *v,
		       struct spec *sp)
{
	const char *name = field_name[f];
	int k;
	int64_t x = 0;
	switch (f) {
	case F_ID:
		return 0; /* checked by parse_fields */
	case F_KIND:
		if (json_is_string(v) && c->reg) {
			for (size_t i = 0; i < c->reg->nkinds; i++) {
				if (strcmp(json_string_value(v), c->reg->kinds[i].name) == 0) {
					sp->kind = KIND_PLUGIN;
					sp->pkind = (uint16_t)i;
					sp->kind_name = c->reg->kinds[i].name;
					return 0;
				}
			}
		}
		if ((k = get_choice(c, p, name, v, task_kind_names, 0, 2, "kinds")) < 0)
			return -1;
		sp->kind = (uint8_t)k;
		return 0;
	case F_CLASS:
		if ((k = get_choice(c, p, name, v, class_names, 1, 5, "classes")) < 0)
			return -1;
		sp->cls = (uint8_t)k;
		return 0;
	case F_ARGV:
		if (json_is_array(v) && json_array_size(v) == 0)
			return wl_perr(c, p, "argv is empty");
		if (get_strs(c, p, name, v, &sp->argv))
			return -1;
		if (!sp->argv[0][0])
			return wl_perr(c, p, "argv[0] is empty");
		return 0;
	case F_SH:
		return get_str(c, p, name, v, 1, &sp->sh, NULL);
	case F_ENV:
		return get_env(c, p, v, &sp->env);
	case F_CWD:
		return get_str(c, p, name, v, 1, &sp->cwd, NULL);
	case F_STDIN:
		return get_str(c, p, name, v, 0, &sp->stdin_data, &sp->stdin_len);
	case F_TARGET:
		return get_str(c, p, name, v, 0, &sp->target, NULL);
	case F_DEPS:
		return get_strs(c, p, name, v, &sp->deps);
	case F_TAGS:
		return get_strs(c, p, name, v, &sp->tags);
	case F_NODE:
		return get_strs(c, p, name, v, &sp->node);
	case F_INPUTS:
		return get_strs(c, p, name, v, &sp->inputs);
	case F_OUTPUTS:
		return get_strs(c, p, name, v, &sp->outputs);
	case F_CACHE:
		if (!json_is_boolean(v))
			return wl_type_err(c, p, name, "true or false", v);
		sp->cache = json_is_true(v) ? 1 : 0;
		return 0;
	case F_KEEP_CHILDREN:
		if (!json_is_boolean(v))
			return wl_type_err(c, p, name, "true or false", v);
		sp->keep_children = json_is_true(v) ? 1 : 0;
		return 0;
	case F_META:
		sp->meta = v; /* borrowed until wl_commit() takes a reference */
		return 0;
	case F_ENFORCE:
		if (!json_is_boolean(v))
			return wl_type_err(c, p, name, "true or false", v);
		sp->enforce = json_is_true(v) ? 1 : 0;
		return 0;
	case F_RESOURCES: {
		/* over the defaults' needs, name by name */
		struct workload *wl = c->wl;
		if (!wl->rnames)
			wl->rnames = arena_alloc(&wl->arena, sizeof *wl->rnames);
		struct res_need *nd = arena_alloc(&wl->arena, sizeof *nd);
		if (sp->need)
			*nd = *sp->need;
		char why[256];
		if (res_need_parse(v, wl->rnames, &wl->arena, nd, why, sizeof why))
			return wl_perr(c, p, "%s", why);
		sp->need = nd->mask ? nd : NULL;
		return 0;
	}
	case F_FAIL_RATE: {
		if (!json_is_number(v))
			return wl_type_err(c, p, name, "a number", v);
		double r = json_number_value(v);
		if (r < 0)
			return wl_perr(c, p, "fail_rate is negative (%g)", r);
		if (r > 1)
			return wl_perr(c, p, "fail_rate %g is absurd (it must be between 0 and 1)", r);
		sp->fail_rate = r;
		return 0;
	}
	default:
		break;
	}
	if (get_int(c, p, f, v, &x))
		return -1;
	switch (f) {
	case F_TIMEOUT: sp->timeout_ms = x; break;
	case F_PRIORITY: sp->priority = (int32_t)x; break;
	case F_DEADLINE: sp->deadline_ms = x; break;
	case F_EST: sp->est_ms = x; break;
	case F_RETRIES: sp->retries = (int32_t)x; break;
	case F_CPU_US: sp->cpu_us = x; break;
	case F_IO_MS: sp->io_ms = x; break;
	case F_MEM_KB: sp->mem_kb = x; break;
	case F_FAIL_AFTER: sp->fail_after = (int32_t)x; break;
	case F_SEED: sp->seed = (uint64_t)x; break;
	}
	return 0;
}

static int unknown_field(struct ctx *c, const struct place *p, const char *key,
			 enum mode mode)
{
	char h[96];
	if (strcmp(key, "vars") == 0)
		return wl_perr(c, p, "unknown field \"vars\" (vars belong in a \"matrix\" entry)");
	const char *guess = nearest_name(key, field_name, NFIELDS, NULL);
	if (!guess && mode == M_TEMPLATE)
		guess = nearest_name(key, (const char *const[]){"vars"}, 1, NULL);
	return wl_perr(c, p, "unknown field \"%.200s\"%s", key, wl_dym(h, sizeof h, guess));
}

static int in_list(const char *const *l, const char *key)
{
	for (; l && *l; l++)
		if (strcmp(*l, key) == 0)
			return 1;
	return 0;
}

/* Whether a plugin declared `key`: for any task, or for this task's kind. */
static int reg_field(const struct ctx *c, json_t *obj, const char *key)
{
	if (!c->reg)
		return 0;
	if (in_list(c->reg->fields, key))
		return 1;
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	for (size_t i = 0; kind && i < c->reg->nkinds; i++)
		if (strcmp(kind, c->reg->kinds[i].name) == 0)
			return in_list(c->reg->kinds[i].fields, key);
	return 0;
}

/* Parses a task, a matrix template (its vars skipped) or the defaults into
 * *sp, which the caller set to a copy of the defaults. Sets p->id. */
int wl_parse_fields(struct ctx *c, struct place *p, json_t *obj,
		    struct spec *sp, enum mode mode)
{
	const char *key;
	json_t *v, *idv = NULL;
	if (!json_is_object(obj))
		return wl_perr(c, p, "must be an object, got %s", wl_jtype(obj));
	if (mode != M_DEFAULTS) {
		idv = json_object_get(obj, "id");
		if (json_is_string(idv) &&
		    !wl_id_problem(json_string_value(idv), json_string_length(idv)))
			p->id = json_string_value(idv);
	}
	/* Unknown fields first: a typo explains the errors that would follow. */
	json_object_foreach(obj, key, v) {
		int f = field_lookup(key);
		if (f < 0) {
			if (mode == M_TEMPLATE && strcmp(key, "vars") == 0)
				continue;
			if (mode != M_DEFAULTS && reg_field(c, obj, key)) {
				sp->extra = obj; /* borrowed until wl_commit() takes a reference */
				continue;
			}
			return unknown_field(c, p, key, mode);
		}
		if (mode == M_DEFAULTS && !field_info[f].in_defaults)
			return wl_perr(c, p, "\"%s\" cannot be given in defaults, only per task",
				    key);
	}
	if (mode != M_DEFAULTS) {
		if (!idv)
			return wl_perr(c, p, "missing id");
		if (!json_is_string(idv))
			return wl_type_err(c, p, "id", "a string", idv);
		/* a template's id is checked once substituted */
		const char *why = json_string_length(idv) == 0
			? "id is empty"
			: mode == M_TASK ? wl_id_problem(json_string_value(idv),
						      json_string_length(idv))
					 : NULL;
		if (why)
			return wl_perr(c, p, "%s", why);
	}
	unsigned seen = 0;
	json_object_foreach(obj, key, v) {
		int f = field_lookup(key);
		if (f < 0)
			continue; /* vars */
		seen |= 1u << f;
		if (parse_field(c, p, f, v, sp))
			return -1;
	}
	if (mode == M_DEFAULTS)
		return 0;
	unsigned cmd = seen & (1u << F_ARGV | 1u << F_SH);
	if (cmd == (1u << F_ARGV | 1u << F_SH))
		return wl_perr(c, p, "has both argv and sh (give one)");
	if (!(seen & 1u << F_KIND)) {
		if (!cmd)
			return wl_perr(c, p, "needs argv, sh or kind");
		sp->kind = KIND_EXEC;
	} else if (sp->kind == KIND_EXEC && !cmd) {
		return wl_perr(c, p, "kind \"exec\" needs argv or sh");
	} else if (sp->kind == KIND_SIM && cmd) {
		return wl_perr(c, p, "kind \"sim\" takes no %s", cmd & 1u << F_ARGV ? "argv" : "sh");
	}
	return 0;
}



const char *task_class_name(int cls)
{
	return cls >= 0 && cls < 5 ? class_names[cls] : "unknown";
}
