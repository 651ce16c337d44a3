/* workload.c - loads workload files and the quick form into struct workload.
 *
 * Owns the JSON workload format (DESIGN.md, "Workload file"): validation with
 * messages that name the file, the place and the problem; defaults; matrix
 * expansion; and the GNU parallel quick form. Invariants once loaded:
 *  - every string, spec and list lives in wl->arena, but for the ids and deps
 *    of given C tasks (struct wl_given), which the caller keeps alive; specs
 *    are immutable;
 *  - a spec of a JSON task is shared only by consecutive tasks (the instances
 *    of one matrix entry whose only substituted field is the id), and each
 *    distinct one holds one reference to its meta, dropped by workload_free;
 *    C tasks share a spec per retries value, anywhere in the task order, and
 *    hold no reference: wl->json holds the one to the defaults' meta;
 *  - the JSON document is not kept: the strings were copied and meta is held
 *    by reference.
 * The DAG (edges, index, chain lengths) is dag.c's.
 */
#include "workload.h"
#include "parallel.h"
#include "resources.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef WORKLOAD_MAX_TASKS /* the fuzz build lowers it to keep inputs cheap */
#define WORKLOAD_MAX_TASKS 50000000u
#endif
#define ID_MAX 256
#define MS_MAX 2592000000LL /* 30 days */
#define QUICK_PATH "<command line>"

enum field {
	F_ID, F_KIND, F_ARGV, F_SH, F_ENV, F_CWD, F_STDIN, F_TIMEOUT, F_DEPS,
	F_PRIORITY, F_DEADLINE, F_EST, F_CLASS, F_TARGET, F_RETRIES, F_INPUTS,
	F_OUTPUTS, F_CACHE, F_TAGS, F_META, F_CPU_US, F_IO_MS, F_MEM_KB,
	F_FAIL_RATE, F_FAIL_AFTER, F_SEED, F_RESOURCES, F_ENFORCE, F_NODE, F_KEEP_CHILDREN, NFIELDS
};

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
	[F_RETRIES] = {1, 0, 1000},
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

static const char *const top_names[] = {"name", "defaults", "tasks", "matrix"};
const char *const task_kind_names[2] = {"exec", "sim"};
static const char *const class_names[] = {"none", "cpu", "io", "mem", "mixed"};

enum mode { M_TASK, M_TEMPLATE, M_DEFAULTS };

/* Where an error is: "defaults" (i < 0), or arr[i] with the id when known. */
struct place {
	const char *arr;
	long i;
	const char *id;
};

/* One matrix variable with its values rendered as strings. */
struct var {
	const char *name;
	size_t nlen, n;
	const char **val;
	size_t *len;
};

struct ctx {
	struct workload *wl;
	const struct kind_registry *reg;
	const char *file;
	struct err *err;
	const struct wl_given *given; /* or NULL */
	struct spec **cspec; /* the C tasks' specs by retries, or NULL */
	int ckind;           /* their kind's index in reg, or -1 */
	struct spec dflt;  /* the defaults; its meta is borrowed from the document */
	uint32_t cap;      /* tasks allocated */
	char *pool;        /* unaligned string space carved from the arena */
	size_t pool_left;
	struct buf sb;     /* substitution scratch */
	/* the matrix entry being expanded */
	struct var *vars;
	size_t nvars, maxnlen, *cur;
	struct buf nums;   /* numeric var values, rendered */
	/* where tasks came from, for the duplicate-id message */
	uint32_t nplain;
	uint32_t *mstart;  /* first task of each matrix entry */
	const char **mid;  /* its id template (borrowed from the document) */
	long cur_matrix;   /* the matrix entry being expanded, or -1 */
	size_t nmatrix;
};

/* ---- small helpers ---- */

static char *pool_strndup(struct ctx *c, const char *s, size_t n)
{
	if (n >= 1024)
		return arena_strndup(&c->wl->arena, s, n);
	if (n + 1 > c->pool_left) {
		c->pool_left = 64 * 1024;
		c->pool = arena_alloc(&c->wl->arena, c->pool_left);
	}
	char *p = c->pool;
	memcpy(p, s, n);
	p[n] = 0;
	c->pool += n + 1;
	c->pool_left -= n + 1;
	return p;
}

static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a JSON value";
}

/* " (did you mean "x"?)" or "" */
static const char *dym(char *out, size_t sz, const char *guess)
{
	if (guess)
		snprintf(out, sz, " (did you mean \"%s\"?)", guess);
	else
		out[0] = 0;
	return out;
}

static int lookup(const char *s, const char *const *names, int lo, int n)
{
	for (int i = lo; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static size_t list_len(char *const *l)
{
	size_t n = 0;
	while (l && l[n])
		n++;
	return n;
}

static int perr(struct ctx *c, const struct place *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct ctx *c, const struct place *p, const char *fmt, ...)
{
	char msg[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->i < 0)
		return err_set(c->err, "%s: %s: %s", c->file, p->arr, msg);
	if (p->id)
		return err_set(c->err, "%s: %s[%ld] (id \"%s\"): %s", c->file,
			       p->arr, p->i, p->id, msg);
	return err_set(c->err, "%s: %s[%ld]: %s", c->file, p->arr, p->i, msg);
}

static const char *id_problem(const char *id, size_t len)
{
	if (len == 0)
		return "id is empty";
	if (len > ID_MAX)
		return "id is longer than 256 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)id[i];
		if (ch < 0x20 || ch == 0x7f)
			return "id contains a control character";
	}
	return NULL;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* jansson quotes the offending input, which may be binary: escape it. */
static void sanitize(char *out, size_t sz, const char *in)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	while (*s) {
		size_t n = utf8_len(s);
		if (n == 1 && *s >= 0x20 && *s != 0x7f) {
			if (o + 2 > sz)
				break;
			out[o++] = (char)*s++;
		} else if (n > 1) {
			if (o + n + 1 > sz)
				break;
			memcpy(out + o, s, n);
			o += n;
			s += n;
		} else {
			if (o + 5 > sz)
				break;
			snprintf(out + o, 5, "\\x%02x", *s++);
			o += 4;
		}
	}
	out[o] = 0;
}

static void spec_init(struct spec *sp)
{
	memset(sp, 0, sizeof *sp);
	sp->cache = -1;
	sp->deadline_ms = -1;
	sp->est_ms = -1;
	sp->enforce = -1;
}

/* Appends a task; a spec's meta reference is taken by its first task. */
static int commit(struct ctx *c, const char *id, const struct spec *sp, int first)
{
	struct workload *wl = c->wl;
	if (wl->ntasks >= c->cap)
		return err_set(c->err, "%s: internal error: task count changed while loading",
			       c->file);
	struct task *t = &wl->tasks[wl->ntasks++];
	t->id = id;
	t->spec = sp;
	if (first && sp->meta)
		json_incref(sp->meta);
	if (first && sp->extra)
		json_incref(sp->extra);
	return 0;
}

/* ---- task fields ---- */

static int field_lookup(const char *key)
{
	for (int f = 0; f < NFIELDS; f++)
		if (key[0] == field_name[f][0] && strcmp(key, field_name[f]) == 0)
			return f;
	return -1;
}

static int type_err(struct ctx *c, const struct place *p, const char *name,
		    const char *want, const json_t *v)
{
	return perr(c, p, "%s must be %s, got %s", name, want, jtype(v));
}

static int get_str(struct ctx *c, const struct place *p, const char *name,
		   const json_t *v, int nonempty, char **out, size_t *len)
{
	if (!json_is_string(v))
		return type_err(c, p, name, "a string", v);
	size_t n = json_string_length(v);
	if (nonempty && n == 0)
		return perr(c, p, "%s is empty", name);
	*out = pool_strndup(c, json_string_value(v), n);
	if (len)
		*len = n;
	return 0;
}

/* An array of strings; an empty one is stored as NULL. */
static int get_strs(struct ctx *c, const struct place *p, const char *name,
		    const json_t *v, char ***out)
{
	if (!json_is_array(v))
		return type_err(c, p, name, "an array of strings", v);
	size_t n = json_array_size(v);
	if (n == 0) {
		*out = NULL;
		return 0;
	}
	char **l = arena_alloc(&c->wl->arena, (n + 1) * sizeof *l);
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		if (!json_is_string(e))
			return perr(c, p, "%s[%zu] must be a string, got %s", name,
				    i, jtype(e));
		l[i] = pool_strndup(c, json_string_value(e), json_string_length(e));
	}
	*out = l;
	return 0;
}

/* Merges a task's env object over the inherited list (*envp): inherited
 * entries the task does not name come first, then the task's in its order. */
static int get_env(struct ctx *c, const struct place *p, json_t *v, char ***envp)
{
	if (!json_is_object(v))
		return type_err(c, p, "env", "an object of strings", v);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) {
		if (!*k)
			return perr(c, p, "env has an empty variable name");
		if (strchr(k, '='))
			return perr(c, p, "env name \"%s\" contains '='", k);
		if (!json_is_string(x))
			return perr(c, p, "env \"%s\" must be a string, got %s", k,
				    jtype(x));
	}
	char **base = *envp;
	size_t nb = list_len(base), nt = json_object_size(v), n = 0;
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
		buf_adds(&c->sb, k);
		buf_add(&c->sb, "=", 1);
		buf_add(&c->sb, json_string_value(x), json_string_length(x));
		l[n++] = pool_strndup(c, c->sb.p, c->sb.len);
	}
	*envp = l;
	return 0;
}

static int get_int(struct ctx *c, const struct place *p, int f, const json_t *v,
		   int64_t *out)
{
	const char *name = field_name[f];
	if (!json_is_integer(v))
		return type_err(c, p, name, "an integer", v);
	long long x = json_integer_value(v);
	long long lo = field_info[f].lo, hi = field_info[f].hi;
	if (lo == 0 && x < 0)
		return perr(c, p, "%s is negative (%lld)", name, x);
	if (x > hi || x < lo) {
		if (lo == 0)
			return perr(c, p, "%s %lld is absurd (the limit is %lld)",
				    name, x, hi);
		return perr(c, p, "%s %lld is absurd (it must be between %lld and %lld)",
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
		return type_err(c, p, name, "a string", v);
	const char *s = json_string_value(v);
	int k = lookup(s, names, lo, n);
	if (k >= 0)
		return k;
	char valid[128] = "", h[96];
	for (int i = lo; i < n; i++) {
		strcat(valid, names[i]);
		if (i + 1 < n)
			strcat(valid, ", ");
	}
	perr(c, p, "unknown %s \"%s\"%s (valid %s: %s)", name, s,
	     dym(h, sizeof h, nearest_name(s, names + lo, (size_t)(n - lo), NULL)), what, valid);
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
			return perr(c, p, "argv is empty");
		if (get_strs(c, p, name, v, &sp->argv))
			return -1;
		if (!sp->argv[0][0])
			return perr(c, p, "argv[0] is empty");
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
			return type_err(c, p, name, "true or false", v);
		sp->cache = json_is_true(v) ? 1 : 0;
		return 0;
	case F_KEEP_CHILDREN:
		if (!json_is_boolean(v))
			return type_err(c, p, name, "true or false", v);
		sp->keep_children = json_is_true(v) ? 1 : 0;
		return 0;
	case F_META:
		sp->meta = v; /* borrowed until commit() takes a reference */
		return 0;
	case F_ENFORCE:
		if (!json_is_boolean(v))
			return type_err(c, p, name, "true or false", v);
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
			return perr(c, p, "%s", why);
		sp->need = nd->mask ? nd : NULL;
		return 0;
	}
	case F_FAIL_RATE: {
		if (!json_is_number(v))
			return type_err(c, p, name, "a number", v);
		double r = json_number_value(v);
		if (r < 0)
			return perr(c, p, "fail_rate is negative (%g)", r);
		if (r > 1)
			return perr(c, p, "fail_rate %g is absurd (it must be between 0 and 1)", r);
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
		return perr(c, p, "unknown field \"vars\" (vars belong in a \"matrix\" entry)");
	const char *guess = nearest_name(key, field_name, NFIELDS, NULL);
	if (!guess && mode == M_TEMPLATE)
		guess = nearest_name(key, (const char *const[]){"vars"}, 1, NULL);
	return perr(c, p, "unknown field \"%.200s\"%s", key, dym(h, sizeof h, guess));
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
static int parse_fields(struct ctx *c, struct place *p, json_t *obj,
			struct spec *sp, enum mode mode)
{
	const char *key;
	json_t *v, *idv = NULL;
	if (!json_is_object(obj))
		return perr(c, p, "must be an object, got %s", jtype(obj));
	if (mode != M_DEFAULTS) {
		idv = json_object_get(obj, "id");
		if (json_is_string(idv) &&
		    !id_problem(json_string_value(idv), json_string_length(idv)))
			p->id = json_string_value(idv);
	}
	/* Unknown fields first: a typo explains the errors that would follow. */
	json_object_foreach(obj, key, v) {
		int f = field_lookup(key);
		if (f < 0) {
			if (mode == M_TEMPLATE && strcmp(key, "vars") == 0)
				continue;
			if (mode != M_DEFAULTS && reg_field(c, obj, key)) {
				sp->extra = obj; /* borrowed until commit() takes a reference */
				continue;
			}
			return unknown_field(c, p, key, mode);
		}
		if (mode == M_DEFAULTS && !field_info[f].in_defaults)
			return perr(c, p, "\"%s\" cannot be given in defaults, only per task",
				    key);
	}
	if (mode != M_DEFAULTS) {
		if (!idv)
			return perr(c, p, "missing id");
		if (!json_is_string(idv))
			return type_err(c, p, "id", "a string", idv);
		/* a template's id is checked once substituted */
		const char *why = json_string_length(idv) == 0
			? "id is empty"
			: mode == M_TASK ? id_problem(json_string_value(idv),
						      json_string_length(idv))
					 : NULL;
		if (why)
			return perr(c, p, "%s", why);
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
		return perr(c, p, "has both argv and sh (give one)");
	if (!(seen & 1u << F_KIND)) {
		if (!cmd)
			return perr(c, p, "needs argv, sh or kind");
		sp->kind = KIND_EXEC;
	} else if (sp->kind == KIND_EXEC && !cmd) {
		return perr(c, p, "kind \"exec\" needs argv or sh");
	} else if (sp->kind == KIND_SIM && cmd) {
		return perr(c, p, "kind \"sim\" takes no %s", cmd & 1u << F_ARGV ? "argv" : "sh");
	}
	return 0;
}

/* ---- matrix ---- */

static void vars_clear(struct ctx *c)
{
	for (size_t i = 0; i < c->nvars; i++) {
		free(c->vars[i].val);
		free(c->vars[i].len);
	}
	free(c->vars);
	free(c->cur);
	c->vars = NULL;
	c->cur = NULL;
	c->nvars = c->maxnlen = 0;
	c->nums.len = 0;
}

static void render_number(struct buf *b, const json_t *v)
{
	char tmp[40];
	if (json_is_integer(v)) {
		snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
	} else {
		double d = json_real_value(v);
		for (int prec = 15; prec <= 17; prec++) { /* shortest that round-trips */
			snprintf(tmp, sizeof tmp, "%.*g", prec, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
	}
	buf_add(b, tmp, strlen(tmp) + 1);
}

/* Validates and renders the vars of a matrix entry; *count is the product. */
static int parse_vars(struct ctx *c, const struct place *p, json_t *vars,
		      uint64_t *count)
{
	vars_clear(c);
	if (!vars)
		return perr(c, p, "missing vars (a matrix entry needs \"vars\": {\"name\": [values...]})");
	if (!json_is_object(vars))
		return type_err(c, p, "vars", "an object", vars);
	size_t nv = json_object_size(vars);
	if (nv == 0)
		return perr(c, p, "vars is empty");
	c->vars = calloc(nv, sizeof *c->vars);
	c->cur = calloc(nv, sizeof *c->cur);
	if (!c->vars || !c->cur)
		return perr(c, p, "out of memory");
	c->nvars = nv;
	const char *k;
	json_t *a;
	size_t i = 0;
	uint64_t prod = 1;
	json_object_foreach(vars, k, a) {
		struct var *v = &c->vars[i++];
		v->name = k;
		v->nlen = strlen(k);
		if (v->nlen == 0)
			return perr(c, p, "vars has an empty name");
		if (strpbrk(k, "{}"))
			return perr(c, p, "var name \"%s\" contains a brace", k);
		if (v->nlen > c->maxnlen)
			c->maxnlen = v->nlen;
		if (!json_is_array(a))
			return perr(c, p, "vars.%s must be an array of strings or numbers, got %s",
				    k, jtype(a));
		v->n = json_array_size(a);
		if (v->n == 0)
			return perr(c, p, "vars.%s is empty", k);
		if (prod > WORKLOAD_MAX_TASKS / v->n)
			return perr(c, p, "expands to more than %u tasks (the limit)",
				    (unsigned)WORKLOAD_MAX_TASKS);
		prod *= v->n;
		v->val = malloc(v->n * sizeof *v->val);
		v->len = malloc(v->n * sizeof *v->len);
		if (!v->val || !v->len)
			return perr(c, p, "out of memory");
		for (size_t j = 0; j < v->n; j++) {
			const json_t *e = json_array_get(a, j);
			if (json_is_string(e)) {
				v->val[j] = json_string_value(e);
				v->len[j] = json_string_length(e);
			} else if (json_is_number(e)) {
				size_t at = c->nums.len;
				render_number(&c->nums, e);
				v->val[j] = NULL; /* set below: nums may move */
				v->len[j] = c->nums.len - at - 1;
			} else {
				return perr(c, p, "vars.%s[%zu] must be a string or a number, got %s",
					    k, j, jtype(e));
			}
		}
	}
	size_t off = 0;
	for (i = 0; i < nv; i++)
		for (size_t j = 0; j < c->vars[i].n; j++)
			if (!c->vars[i].val[j]) {
				c->vars[i].val[j] = c->nums.p + off;
				off += c->vars[i].len[j] + 1;
			}
	*count = prod;
	return 0;
}

/* The var named by the text s[0..n) , or -1. */
static int var_at(const struct ctx *c, const char *s, size_t n)
{
	for (size_t i = 0; i < c->nvars; i++)
		if (c->vars[i].nlen == n && memcmp(c->vars[i].name, s, n) == 0)
			return (int)i;
	return -1;
}

/* Finds the next "{name}" of a var at or after s: returns its start and sets
 * *v and *end, or returns NULL. Braces around anything else are plain text. */
static const char *next_var(const struct ctx *c, const char *s, int *v,
			    const char **end)
{
	for (; (s = strchr(s, '{')); s++) {
		size_t n = 0;
		while (n <= c->maxnlen && s[1 + n] && s[1 + n] != '}')
			n++;
		if (s[1 + n] != '}')
			continue;
		if ((*v = var_at(c, s + 1, n)) >= 0) {
			*end = s + n + 2;
			return s;
		}
	}
	return NULL;
}

static int has_var(const struct ctx *c, const char *s)
{
	int v;
	const char *end;
	return s && next_var(c, s, &v, &end) != NULL;
}

static int list_has_var(const struct ctx *c, char *const *l, int env)
{
	for (size_t i = 0; l && l[i]; i++)
		if (has_var(c, env ? strchr(l[i], '=') + 1 : l[i]))
			return 1;
	return 0;
}

/* Writes s with the current values substituted into c->sb (after its first
 * `keep` bytes); returns the number of substitutions. */
static size_t subst(struct ctx *c, const char *s, size_t keep)
{
	size_t nsub = 0;
	int v;
	const char *at, *end;
	c->sb.len = keep;
	buf_add(&c->sb, "", 0);
	while ((at = next_var(c, s, &v, &end))) {
		const struct var *var = &c->vars[v];
		buf_add(&c->sb, s, (size_t)(at - s));
		buf_add(&c->sb, var->val[c->cur[v]], var->len[c->cur[v]]);
		s = end;
		nsub++;
	}
	buf_adds(&c->sb, s);
	return nsub;
}

static char *subst_str(struct ctx *c, char *s)
{
	if (!s || !subst(c, s, 0))
		return s;
	return pool_strndup(c, c->sb.p, c->sb.len);
}

/* A list with each element substituted; the template's list when none changes.
 * For env only the value after '=' is substituted. */
static char **subst_list(struct ctx *c, char **l, int env)
{
	size_t n = list_len(l);
	char **out = l;
	for (size_t i = 0; i < n; i++) {
		size_t keep = 0;
		if (env) {
			keep = (size_t)(strchr(l[i], '=') - l[i]) + 1;
			c->sb.len = 0;
			buf_add(&c->sb, l[i], keep);
		}
		if (!subst(c, l[i] + keep, keep))
			continue;
		if (out == l) {
			out = arena_alloc(&c->wl->arena, (n + 1) * sizeof *out);
			memcpy(out, l, n * sizeof *out);
		}
		out[i] = pool_strndup(c, c->sb.p, c->sb.len);
	}
	return out;
}

static int needs_own_spec(const struct ctx *c, const struct spec *t)
{
	return has_var(c, t->sh) || has_var(c, t->cwd) || has_var(c, t->stdin_data) ||
	       has_var(c, t->target) || list_has_var(c, t->argv, 0) ||
	       list_has_var(c, t->env, 1) || list_has_var(c, t->deps, 0) ||
	       list_has_var(c, t->tags, 0) || list_has_var(c, t->inputs, 0) ||
	       list_has_var(c, t->outputs, 0) || list_has_var(c, t->node, 0);
}

static int expand(struct ctx *c, struct place *p, struct spec *tsp,
		  const char *tid, uint64_t count)
{
	int own = needs_own_spec(c, tsp);
	for (uint64_t k = 0; k < count; k++) {
		subst(c, tid, 0);
		const char *why = id_problem(c->sb.p, c->sb.len);
		if (why) {
			p->id = NULL;
			return perr(c, p, "instance %llu: %s", (unsigned long long)k + 1, why);
		}
		char *id = pool_strndup(c, c->sb.p, c->sb.len);
		struct spec *sp = tsp;
		if (own) {
			p->id = id;
			sp = arena_alloc(&c->wl->arena, sizeof *sp);
			*sp = *tsp;
			sp->argv = subst_list(c, tsp->argv, 0);
			sp->sh = subst_str(c, tsp->sh);
			sp->env = subst_list(c, tsp->env, 1);
			sp->cwd = subst_str(c, tsp->cwd);
			sp->stdin_data = subst_str(c, tsp->stdin_data);
			if (sp->stdin_data != tsp->stdin_data)
				sp->stdin_len = strlen(sp->stdin_data);
			sp->target = subst_str(c, tsp->target);
			sp->deps = subst_list(c, tsp->deps, 0);
			sp->tags = subst_list(c, tsp->tags, 0);
			sp->inputs = subst_list(c, tsp->inputs, 0);
			sp->outputs = subst_list(c, tsp->outputs, 0);
			sp->node = subst_list(c, tsp->node, 0);
			if (sp->argv && !sp->argv[0][0])
				return perr(c, p, "argv[0] is empty");
			if (sp->sh && !sp->sh[0])
				return perr(c, p, "sh is empty");
			if (sp->cwd && !sp->cwd[0])
				return perr(c, p, "cwd is empty");
		}
		if (commit(c, id, sp, own || k == 0))
			return -1;
		for (size_t v = c->nvars; v-- > 0;) { /* the last var runs fastest */
			if (++c->cur[v] < c->vars[v].n)
				break;
			c->cur[v] = 0;
		}
	}
	return 0;
}

/* ---- the document ---- */

/* Tasks the document will make, counted before anything is allocated;
 * malformed entries count 0 here and are reported when parsed. */
static int count_tasks(struct ctx *c, json_t *tasks, json_t *matrix, uint64_t *out)
{
	uint64_t total = json_array_size(tasks);
	if (c->given)
		total += json_array_size(c->given->json) + (uint64_t)c->given->nc;
	for (size_t k = 0; k < json_array_size(matrix); k++) {
		json_t *vars = json_object_get(json_array_get(matrix, k), "vars");
		const char *name;
		json_t *a;
		uint64_t prod = 1;
		if (!json_is_object(vars) || json_object_size(vars) == 0)
			continue;
		json_object_foreach(vars, name, a) {
			uint64_t n = json_array_size(a);
			if (n && prod > WORKLOAD_MAX_TASKS / n)
				return err_set(c->err, "%s: matrix[%zu]: expands to more than %u tasks (the limit)",
					       c->file, k, (unsigned)WORKLOAD_MAX_TASKS);
			prod *= n;
		}
		total += prod;
		if (total > WORKLOAD_MAX_TASKS)
			return err_set(c->err, "%s: more than %u tasks in all (the limit)",
				       c->file, (unsigned)WORKLOAD_MAX_TASKS);
	}
	if (total > WORKLOAD_MAX_TASKS)
		return err_set(c->err, "%s: more than %u tasks in all (the limit)", c->file,
			       (unsigned)WORKLOAD_MAX_TASKS);
	*out = total;
	return 0;
}

/* Appends given C task k, checked as its JSON form would be, at tasks[ntasks]. */
static int add_ctask(struct ctx *c, uint32_t k)
{
	struct workload *wl = c->wl;
	const struct wl_ctask *ct = &c->given->c[k];
	struct place p = {"tasks", (long)wl->ntasks, NULL};
	const char *id = ct->id ? ct->id : "";
	const char *why = id_problem(id, strlen(id));
	if (why)
		return perr(c, &p, "%s", why);
	p.id = id;
	int64_t hi = field_info[F_RETRIES].hi;
	if (ct->retries < 0)
		return perr(c, &p, "retries is negative (%d)", ct->retries);
	if (ct->retries > hi)
		return perr(c, &p, "retries %d is absurd (the limit is %lld)", ct->retries,
			    (long long)hi);
	struct spec *sp = c->cspec[ct->retries];
	if (!sp) {
		sp = arena_alloc(&wl->arena, sizeof *sp);
		*sp = c->dflt;
		sp->kind = KIND_PLUGIN;
		sp->pkind = (uint16_t)c->ckind;
		sp->kind_name = c->reg->kinds[c->ckind].name;
		sp->retries = ct->retries;
		c->cspec[ct->retries] = sp;
		if (sp->meta && !wl->json)
			wl->json = json_incref(sp->meta);
	}
	uint32_t i = wl->ntasks;
	if (commit(c, id, sp, 0))
		return -1;
	wl->c_index[i] = k;
	if (ct->deps) {
		if (!wl->task_deps && !(wl->task_deps = calloc(c->cap, sizeof *wl->task_deps)))
			return err_set(c->err, "%s: out of memory for %u tasks", c->file, c->cap);
		wl->task_deps[i] = ct->deps;
	}
	return 0;
}

/* Readies the C tasks' kind and tables. */
static int ctasks_init(struct ctx *c)
{
	struct workload *wl = c->wl;
	c->ckind = -1;
	if (!c->given || !c->given->c_kind)
		return 0;
	const char *kind = c->given->c_kind;
	size_t k = 0;
	while (c->reg && k < c->reg->nkinds && strcmp(c->reg->kinds[k].name, kind) != 0)
		k++;
	if (!c->reg || k == c->reg->nkinds)
		return err_set(c->err, "%s: internal error: task kind \"%s\" is not registered",
			       c->file, kind);
	c->ckind = (int)k;
	if (!c->given->nc)
		return 0;
	c->cspec = calloc((size_t)field_info[F_RETRIES].hi + 1, sizeof *c->cspec);
	wl->c_index = malloc((size_t)c->cap * sizeof *wl->c_index);
	if (!c->cspec || !wl->c_index)
		return err_set(c->err, "%s: out of memory for %u tasks", c->file, c->cap);
	memset(wl->c_index, 0xff, (size_t)c->cap * sizeof *wl->c_index); /* UINT32_MAX */
	return 0;
}

static int load_doc(struct ctx *c, json_t *doc)
{
	struct workload *wl = c->wl;
	json_t *name = NULL, *defaults = NULL, *tasks = NULL, *matrix = NULL;
	const char *key;
	json_t *v;
	char h[96];
	if (!json_is_object(doc))
		return err_set(c->err, "%s: the top level must be an object, got %s",
			       c->file, jtype(doc));
	json_object_foreach(doc, key, v) {
		int k = lookup(key, top_names, 0, 4);
		static const char *const want[] = {"a string", "an object", "an array", "an array"};
		if (k < 0)
			return err_set(c->err, "%s: unknown top-level field \"%.200s\"%s",
				       c->file, key,
				       dym(h, sizeof h, nearest_name(key, top_names, 4, NULL)));
		int ok = k == 0 ? json_is_string(v) : k == 1 ? json_is_object(v) : json_is_array(v);
		if (!ok)
			return err_set(c->err, "%s: \"%s\" must be %s, got %s", c->file,
				       key, want[k], jtype(v));
		json_t **slot[] = {&name, &defaults, &tasks, &matrix};
		*slot[k] = v;
	}
	if (name)
		wl->name = pool_strndup(c, json_string_value(name), json_string_length(name));
	spec_init(&c->dflt);
	if (defaults) {
		struct place p = {"defaults", -1, NULL};
		if (parse_fields(c, &p, defaults, &c->dflt, M_DEFAULTS))
			return -1;
	}
	uint64_t total = 0;
	if (count_tasks(c, tasks, matrix, &total))
		return -1;
	wl->tasks = calloc(total ? total : 1, sizeof *wl->tasks);
	c->nmatrix = json_array_size(matrix);
	c->mstart = calloc(c->nmatrix + 1, sizeof *c->mstart);
	c->mid = calloc(c->nmatrix + 1, sizeof *c->mid);
	if (!wl->tasks || !c->mstart || !c->mid)
		return err_set(c->err, "%s: out of memory for %llu tasks", c->file,
			       (unsigned long long)total);
	c->cap = (uint32_t)total;
	if (ctasks_init(c))
		return -1;

	/* the document's tasks, then the given ones in their order */
	const struct wl_given *g = c->given;
	size_t nfile = json_array_size(tasks), njson = g ? json_array_size(g->json) : 0;
	uint32_t nc = g ? g->nc : 0, ci = 0;
	for (size_t i = 0; i < nfile + njson; i++) {
		json_t *t = i < nfile ? json_array_get(tasks, i) : json_array_get(g->json, i - nfile);
		while (i >= nfile && ci < nc && ci < g->json_at[i - nfile])
			if (add_ctask(c, ci++))
				return -1;
		struct place p = {"tasks", (long)wl->ntasks, NULL};
		struct spec *sp = arena_alloc(&wl->arena, sizeof *sp);
		*sp = c->dflt;
		if (parse_fields(c, &p, t, sp, M_TASK))
			return -1;
		if (sp->kind == KIND_PLUGIN && (int)sp->pkind == c->ckind)
			return perr(c, &p, "kind \"%s\" is only for C tasks (gbx_engine_submit_fn)",
				    sp->kind_name);
		const json_t *idv = json_object_get(t, "id");
		char *id = pool_strndup(c, json_string_value(idv), json_string_length(idv));
		if (commit(c, id, sp, 1))
			return -1;
	}
	while (ci < nc)
		if (add_ctask(c, ci++))
			return -1;
	c->nplain = wl->ntasks;

	for (size_t k = 0; k < c->nmatrix; k++) {
		struct place p = {"matrix", (long)k, NULL};
		c->cur_matrix = (long)k;
		json_t *e = json_array_get(matrix, k);
		struct spec *tsp = arena_alloc(&wl->arena, sizeof *tsp);
		*tsp = c->dflt;
		uint64_t count = 0;
		if (parse_fields(c, &p, e, tsp, M_TEMPLATE))
			return -1;
		if (tsp->kind == KIND_PLUGIN && (int)tsp->pkind == c->ckind)
			return perr(c, &p, "kind \"%s\" is only for C tasks (gbx_engine_submit_fn)",
				    tsp->kind_name);
		if (parse_vars(c, &p, json_object_get(e, "vars"), &count))
			return -1;
		c->mstart[k] = wl->ntasks;
		c->mid[k] = json_string_value(json_object_get(e, "id"));
		if (expand(c, &p, tsp, c->mid[k], count))
			return -1;
	}
	c->mstart[c->nmatrix] = wl->ntasks;
	return 0;
}

/* ---- duplicate ids, located for the message ---- */

struct idx {
	const char *id;
	uint32_t i;
};

static int idx_cmp(const void *a, const void *b)
{
	const struct idx *x = a, *y = b;
	int r = strcmp(x->id, y->id);
	return r ? r : (x->i > y->i) - (x->i < y->i);
}

static void where(const struct ctx *c, uint32_t i, char *out, size_t sz, size_t *entry)
{
	*entry = SIZE_MAX;
	if (i < c->nplain) {
		snprintf(out, sz, "tasks[%u]", i);
		return;
	}
	size_t lo = 0, hi = c->nmatrix; /* last entry with mstart <= i */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (c->mstart[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	*entry = lo;
	snprintf(out, sz, "matrix[%zu]", lo);
}

/* Rewrites dag_build's duplicate-id message with the places both came from:
 * dag_build only knows task numbers. Runs on the error path only. Returns 1
 * when it found a duplicate (the first one in task order, as dag_build). */
static int explain_dup(struct ctx *c)
{
	struct workload *wl = c->wl;
	struct idx *a = malloc((wl->ntasks + 1) * sizeof *a);
	if (!a)
		return 0;
	for (uint32_t i = 0; i < wl->ntasks; i++)
		a[i] = (struct idx){wl->tasks[i].id, i};
	qsort(a, wl->ntasks, sizeof *a, idx_cmp);
	uint32_t first = 0, second = UINT32_MAX;
	for (uint32_t i = 1; i < wl->ntasks; i++)
		if (a[i - 1].i < a[i].i && strcmp(a[i - 1].id, a[i].id) == 0 &&
		    a[i].i < second && (i < 2 || strcmp(a[i - 2].id, a[i].id) != 0)) {
			first = a[i - 1].i;
			second = a[i].i;
		}
	free(a);
	if (second == UINT32_MAX)
		return 0;
	char p1[64], p2[64];
	size_t e1, e2;
	where(c, first, p1, sizeof p1, &e1);
	where(c, second, p2, sizeof p2, &e2);
	const char *id = wl->tasks[first].id;
	if (e1 != SIZE_MAX && e1 == e2)
		err_set(c->err, "%s: duplicate task id \"%s\": %s makes it more than once "
			"(its id template \"%s\" must use every var)",
			c->file, id, p1, c->mid[e1]);
	else
		err_set(c->err, "%s: duplicate task id \"%s\": %s and %s", c->file, id, p1, p2);
	return 1;
}

/* ---- public ---- */

int workload_load_string(const char *text, size_t len, const char *name,
			 struct workload **out, struct err *err)
{
	return workload_load_string_reg(text, len, name, NULL, out, err);
}

int workload_load_string_reg(const char *text, size_t len, const char *name,
			     const struct kind_registry *reg, struct workload **out,
			     struct err *err)
{
	*out = NULL;
	if (!name)
		name = "<string>";
	json_error_t je;
	json_t *doc = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		char msg[JSON_ERROR_TEXT_LENGTH * 4 + 1];
		sanitize(msg, sizeof msg, je.text);
		if (je.line < 1)
			return err_set(err, "%s: %s", name, msg);
		return err_set(err, "%s:%d:%d: %s", name, je.line, je.column, msg);
	}
	int rc = workload_load_json(doc, name, reg, NULL, out, err);
	json_decref(doc);
	return rc;
}

int workload_load_json(json_t *doc, const char *name, const struct kind_registry *reg,
		       const struct wl_given *given, struct workload **out, struct err *err)
{
	*out = NULL;
	if (!name)
		name = "<string>";
	json_t *empty = doc ? NULL : json_object();
	struct workload *wl = calloc(1, sizeof *wl);
	if (!wl || (!doc && !empty)) {
		free(wl);
		json_decref(empty);
		return err_set(err, "%s: out of memory", name);
	}
	arena_init(&wl->arena);
	wl->path = arena_strdup(&wl->arena, name);
	struct ctx c = {.wl = wl, .reg = reg, .file = wl->path, .err = err, .given = given,
			.ckind = -1};
	/* out of memory in the arena (a huge matrix under ulimit -v) is an
	 * error naming the file and the matrix entry, not an abort */
	jmp_buf oom;
	int rc;
	c.cur_matrix = -1;
	if (setjmp(oom)) {
		wl->arena.oom_jmp = NULL;
		if (c.cur_matrix >= 0)
			rc = err_set(err, "%s: matrix[%ld] (\"%s\"): out of memory after %u tasks",
				     wl->path, c.cur_matrix,
				     c.mid && c.mid[c.cur_matrix] ? c.mid[c.cur_matrix] : "?",
				     wl->ntasks);
		else
			rc = err_set(err, "%s: out of memory after %u tasks", wl->path, wl->ntasks);
	} else {
		wl->arena.oom_jmp = &oom;
		rc = load_doc(&c, doc ? doc : empty);
		wl->arena.oom_jmp = NULL;
	}
	if (!wl->name) {
		const char *base = strrchr(wl->path, '/');
		base = base ? base + 1 : wl->path;
		const char *dot = strrchr(base, '.');
		wl->name = arena_strndup(&wl->arena, base, dot && dot != base
							       ? (size_t)(dot - base)
							       : strlen(base));
	}
	if (rc == 0 && dag_build(wl, err) != 0) {
		explain_dup(&c);
		rc = -1;
	}
	vars_clear(&c);
	buf_free(&c.nums);
	buf_free(&c.sb);
	free(c.mstart);
	free(c.mid);
	free(c.cspec);
	json_decref(empty);
	if (rc) {
		workload_free(wl);
		return -1;
	}
	*out = wl;
	return 0;
}

int workload_load(const char *path, struct workload **out, struct err *err)
{
	return workload_load_reg(path, NULL, out, err);
}

int workload_load_reg(const char *path, const struct kind_registry *reg,
		      struct workload **out, struct err *err)
{
	*out = NULL;
	/* not blocking on a FIFO with no writer (it reads as empty then), and
	 * never reading a device such as /dev/zero until memory runs out */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(err, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
		close(fd);
		return err_set(err, "%s: a device, expected a workload file", path);
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		int en = errno;
		close(fd);
		return err_set(err, "%s: %s", path, strerror(en));
	}
	size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
	size_t len = 0;
	char *text = malloc(cap);
	int e = 0;
	for (;;) {
		if (!text)
			break;
		if (len == cap) {
			char *np = realloc(text, cap * 2);
			if (!np) {
				free(text);
				text = NULL;
				break;
			}
			text = np;
			cap *= 2;
		}
		size_t n = fread(&text[len], 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				e = errno ? errno : EIO;
			break;
		}
	}
	fclose(f);
	if (!text)
		return err_set(err, "%s: out of memory", path);
	if (e) {
		free(text);
		return err_set(err, "%s: %s", path, strerror(e));
	}
	int rc = workload_load_string_reg(text, len, path, reg, out, err);
	free(text);
	return rc;
}

/* ---- the quick form ---- */

/* If s starts a replacement string ({} {.} {/} {//} {/.} {#}, or one of the
 * first five with a source number: {2} {2.} ...), returns its length and sets
 * *src (0: every source) and *op; else returns 0. */
static size_t rpl_at(const char *s, long *src, enum rop *op)
{
	if (s[0] != '{')
		return 0;
	const char *q = s + 1;
	long n = 0;
	if (q[0] == '#' && q[1] == '}') {
		*src = 0;
		*op = R_SEQ;
		return 3;
	}
	if (q[0] == '%' && q[1] == '}') { /* the slot: put in when the attempt starts */
		*src = 0;
		*op = R_SLOT;
		return 3;
	}
	while (*q >= '0' && *q <= '9' && n < 1000000)
		n = n * 10 + (*q++ - '0');
	if (q > s + 1 && n == 0)
		return 0;
	static const struct {
		const char *t;
		enum rop op;
	} ops[] = {{"}", R_NONE}, {".}", R_EXT}, {"/}", R_BASE}, {"//}", R_DIR}, {"/.}", R_BASEEXT}};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t l = strlen(ops[i].t);
		if (strncmp(q, ops[i].t, l) == 0) {
			*src = n;
			*op = ops[i].op;
			return (size_t)(q - s) + l;
		}
	}
	return 0;
}

/* The quick form's implicit inputs: an argument that names an existing
 * regular file (relative to the directory gearbox runs in) is an input, so
 * that the cache hashes it (`wc -l {} ::: d` misses after d changed). For
 * argv, every argument after the program; for a shell line, the values
 * taken from the ::: sources. */
static void quick_inputs(struct ctx *c, struct spec *sp, int nsources, char **const *sources,
			 const size_t *cur)
{
	const char *cand[64];
	size_t n = 0, nc = 0;
	if (sp->argv)
		for (size_t i = 1; sp->argv[i] && nc < 64; i++)
			cand[nc++] = sp->argv[i];
	else
		for (int s = 0; s < nsources && nc < 64; s++)
			cand[nc++] = sources[s][cur[s]];
	const char *hit[64];
	for (size_t i = 0; i < nc; i++) {
		struct stat st;
		int dup = 0;
		for (size_t j = 0; j < n; j++)
			dup |= !strcmp(hit[j], cand[i]);
		if (!dup && cand[i][0] && stat(cand[i], &st) == 0 && S_ISREG(st.st_mode))
			hit[n++] = cand[i];
	}
	if (!n)
		return;
	char **l = arena_alloc(&c->wl->arena, (n + 1) * sizeof *l);
	for (size_t i = 0; i < n; i++)
		l[i] = pool_strndup(c, hit[i], strlen(hit[i]));
	l[n] = NULL;
	sp->inputs = l;
}

static int is_shell(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	return !strcmp(b, "sh") || !strcmp(b, "bash") || !strcmp(b, "dash") ||
	       !strcmp(b, "zsh") || !strcmp(b, "ksh");
}

int workload_quick(char *const *cmd, int nsources, char **const *sources,
		   struct workload **out, struct err *err)
{
	*out = NULL;
	const char *file = QUICK_PATH;
	if (nsources <= 0 || !sources)
		return err_set(err, "%s: no arguments (give them after :::)", file);
	size_t ncmd = list_len(cmd);
	int has_rpl = 0;
	for (size_t i = 0; i < ncmd; i++)
		for (const char *s = cmd[i]; (s = strchr(s, '{')); s++) {
			long src;
			enum rop op;
			if (!rpl_at(s, &src, &op))
				continue;
			has_rpl = 1;
			if (src > nsources)
				return err_set(err, "%s: %.*s refers to argument source %ld, but there %s only %d",
					       file, (int)rpl_at(s, &src, &op), s, src,
					       nsources == 1 ? "is" : "are", nsources);
		}
	uint64_t total = 1;
	size_t *n = calloc((size_t)nsources, sizeof *n), *cur = calloc((size_t)nsources, sizeof *cur);
	if (!n || !cur) {
		free(n);
		free(cur);
		return err_set(err, "%s: out of memory", file);
	}
	for (int s = 0; s < nsources; s++) {
		n[s] = list_len(sources[s]);
		if (n[s] && total > WORKLOAD_MAX_TASKS / n[s]) {
			free(n);
			free(cur);
			return err_set(err, "%s: more than %u tasks (the limit)", file,
				       (unsigned)WORKLOAD_MAX_TASKS);
		}
		total *= n[s];
	}
	struct workload *wl = calloc(1, sizeof *wl);
	if (wl)
		wl->tasks = calloc(total ? total : 1, sizeof *wl->tasks);
	if (!wl || !wl->tasks) {
		free(wl);
		free(n);
		free(cur);
		return err_set(err, "%s: out of memory", file);
	}
	arena_init(&wl->arena);
	wl->path = arena_strdup(&wl->arena, file);
	wl->name = wl->path;
	struct ctx c = {.wl = wl, .file = wl->path, .err = err, .cap = (uint32_t)total};
	struct buf b = {0};
	int rc = 0;
	char **pcmd = arena_alloc(&wl->arena, (ncmd + 1) * sizeof *pcmd);
	for (size_t i = 0; i < ncmd; i++)
		pcmd[i] = pool_strndup(&c, cmd[i], strlen(cmd[i]));
	for (uint64_t k = 0; k < total && rc == 0; k++) {
		struct spec *sp = arena_alloc(&wl->arena, sizeof *sp);
		spec_init(sp);
		sp->kind = KIND_EXEC;
		if (ncmd == 0) { /* as parallel: the arguments are the command */
			b.len = 0;
			for (int s = 0; s < nsources; s++) {
				if (s)
					buf_add(&b, " ", 1);
				buf_adds(&b, sources[s][cur[s]]);
			}
			sp->sh = pool_strndup(&c, b.p, b.len);
		} else if (has_rpl) {
			sp->argv = arena_alloc(&wl->arena, (ncmd + 1) * sizeof *sp->argv);
			for (size_t i = 0; i < ncmd; i++) {
				const char *s = cmd[i], *run = s;
				int quote = i >= 2 && !strcmp(cmd[i - 1], "-c") && is_shell(cmd[0]);
				b.len = 0;
				buf_add(&b, "", 0);
				for (; (s = strchr(s, '{'));) {
					long src;
					enum rop op;
					size_t l = rpl_at(s, &src, &op);
					if (!l) {
						s++;
						continue;
					}
					buf_add(&b, run, (size_t)(s - run));
					if (op == R_SEQ) {
						buf_addf(&b, "%llu", (unsigned long long)k + 1);
					} else if (op == R_SLOT) {
						buf_adds(&b, SLOT_MARK);
						sp->slot_rpl = 1;
					} else if (src > 0) {
						par_modify(&b, sources[src - 1][cur[src - 1]], op, quote);
					} else {
						for (int j = 0; j < nsources; j++) {
							if (j)
								buf_add(&b, " ", 1);
							par_modify(&b, sources[j][cur[j]], op, quote);
						}
					}
					s = run = s + l;
				}
				if (run == cmd[i]) {
					sp->argv[i] = pcmd[i];
					continue;
				}
				buf_adds(&b, run);
				sp->argv[i] = pool_strndup(&c, b.p, b.len);
			}
		} else {
			sp->argv = arena_alloc(&wl->arena,
					       (ncmd + (size_t)nsources + 1) * sizeof *sp->argv);
			memcpy(sp->argv, pcmd, ncmd * sizeof *pcmd);
			for (int s = 0; s < nsources; s++)
				sp->argv[ncmd + (size_t)s] = pool_strndup(
					&c, sources[s][cur[s]], strlen(sources[s][cur[s]]));
		}
		quick_inputs(&c, sp, nsources, sources, cur);
		if ((sp->argv && !sp->argv[0][0]) || (sp->sh && !sp->sh[0])) {
			rc = err_set(err, "%s: task %llu: the command is empty", file,
				     (unsigned long long)k + 1);
			break;
		}
		char id[24];
		int idn = snprintf(id, sizeof id, "%llu", (unsigned long long)k + 1);
		rc = commit(&c, pool_strndup(&c, id, (size_t)idn), sp, 1);
		for (int s = nsources; s-- > 0;) { /* the last source runs fastest */
			if (++cur[s] < n[s])
				break;
			cur[s] = 0;
		}
	}
	buf_free(&b);
	buf_free(&c.sb);
	free(n);
	free(cur);
	if (rc == 0)
		rc = dag_build(wl, err);
	if (rc) {
		workload_free(wl);
		return -1;
	}
	*out = wl;
	return 0;
}

void workload_free(struct workload *wl)
{
	if (!wl)
		return;
	const struct spec *prev = NULL;
	for (uint32_t i = 0; i < wl->ntasks; i++) { /* shared specs are consecutive */
		if (wl->c_index && wl->c_index[i] != UINT32_MAX)
			continue; /* a C task's spec holds no reference */
		const struct spec *sp = wl->tasks[i].spec;
		if (sp && sp != prev && sp->meta)
			json_decref(sp->meta);
		if (sp && sp != prev && sp->extra)
			json_decref(sp->extra);
		prev = sp;
	}
	free(wl->tasks);
	free(wl->deps);
	free(wl->outs);
	free(wl->index);
	free(wl->c_index);
	free(wl->task_deps);
	json_decref(wl->json);
	arena_free(&wl->arena);
	free(wl);
}

const char *task_class_name(int cls)
{
	return cls >= 0 && cls < 5 ? class_names[cls] : "unknown";
}
