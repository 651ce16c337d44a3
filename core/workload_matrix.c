/* workload_matrix.c - a workload file's "matrix": its vars rendered as strings,
 * ${var} substitution, and the expansion of a template into tasks (one spec
 * shared by the instances when only the id is templated). */
#include "workload_int.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- matrix ---- */

void wl_vars_clear(struct ctx *c)
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

static void render_number(struct ctx *c, struct buf *b, const json_t *v)
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
	wl_buf_add(c, b, tmp, strlen(tmp) + 1);
}

/* Validates and renders the vars of a matrix entry; *count is the product. */
int wl_parse_vars(struct ctx *c, const struct place *p, json_t *vars,
		  uint64_t *count)
{
	wl_vars_clear(c);
	if (!vars)
		return wl_perr(c, p, "missing vars (a matrix entry needs \"vars\": {\"name\": [values...]})");
	if (!json_is_object(vars))
		return wl_type_err(c, p, "vars", "an object", vars);
	size_t nv = json_object_size(vars);
	if (nv == 0)
		return wl_perr(c, p, "vars is empty");
	c->vars = calloc(nv, sizeof *c->vars);
	c->cur = calloc(nv, sizeof *c->cur);
	if (!c->vars || !c->cur)
		return wl_perr(c, p, "out of memory");
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
			return wl_perr(c, p, "vars has an empty name");
		if (strpbrk(k, "{}"))
			return wl_perr(c, p, "var name \"%s\" contains a brace", k);
		if (v->nlen > c->maxnlen)
			c->maxnlen = v->nlen;
		if (!json_is_array(a))
			return wl_perr(c, p, "vars.%s must be an array of strings or numbers, got %s",
				    k, wl_jtype(a));
		v->n = json_array_size(a);
		if (v->n == 0)
			return wl_perr(c, p, "vars.%s is empty", k);
		if (prod > WORKLOAD_MAX_TASKS / v->n)
			return wl_perr(c, p, "expands to more than %u tasks (the limit)",
				    (unsigned)WORKLOAD_MAX_TASKS);
		prod *= v->n;
		v->val = malloc(v->n * sizeof *v->val);
		v->len = malloc(v->n * sizeof *v->len);
		if (!v->val || !v->len)
			return wl_perr(c, p, "out of memory");
		for (size_t j = 0; j < v->n; j++) {
			const json_t *e = json_array_get(a, j);
			if (json_is_string(e)) {
				v->val[j] = json_string_value(e);
				v->len[j] = json_string_length(e);
			} else if (json_is_number(e)) {
				size_t at = c->nums.len;
				render_number(c, &c->nums, e);
				v->val[j] = NULL; /* set below: nums may move */
				v->len[j] = c->nums.len - at - 1;
			} else {
				return wl_perr(c, p, "vars.%s[%zu] must be a string or a number, got %s",
					    k, j, wl_jtype(e));
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
	wl_buf_add(c, &c->sb, "", 0);
	while ((at = next_var(c, s, &v, &end))) {
		const struct var *var = &c->vars[v];
		wl_buf_add(c, &c->sb, s, (size_t)(at - s));
		wl_buf_add(c, &c->sb, var->val[c->cur[v]], var->len[c->cur[v]]);
		s = end;
		nsub++;
	}
	wl_buf_adds(c, &c->sb, s);
	return nsub;
}

static char *subst_str(struct ctx *c, char *s)
{
	if (!s || !subst(c, s, 0))
		return s;
	return wl_strndup(c, c->sb.p, c->sb.len);
}

/* A list with each element substituted; the template's list when none changes.
 * For env only the value after '=' is substituted. */
static char **subst_list(struct ctx *c, char **l, int env)
{
	size_t n = wl_list_len(l);
	char **out = l;
	for (size_t i = 0; i < n; i++) {
		size_t keep = 0;
		if (env) {
			keep = (size_t)(strchr(l[i], '=') - l[i]) + 1;
			c->sb.len = 0;
			wl_buf_add(c, &c->sb, l[i], keep);
		}
		if (!subst(c, l[i] + keep, keep))
			continue;
		if (out == l) {
			out = arena_alloc(&c->wl->arena, (n + 1) * sizeof *out);
			memcpy(out, l, n * sizeof *out);
		}
		out[i] = wl_strndup(c, c->sb.p, c->sb.len);
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

/* The id template cut once per entry into literal runs and vars, so that an
 * instance's id is its pieces copied (no scan per task). Usable only when no
 * literal and no value of a var it names has a control character; then an
 * id's only possible problem is its length. */
#define ID_PIECES 32
struct idtpl {
	size_t n, lit;          /* pieces; bytes of literal text */
	const char *s[ID_PIECES];
	size_t len[ID_PIECES];
	int var[ID_PIECES];     /* -1: literal */
};

static int has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* 0 when tid cannot be compiled (too many pieces, a control character) */
static int id_compile(const struct ctx *c, const char *tid, struct idtpl *t)
{
	const char *at, *end;
	int v;
	t->n = t->lit = 0;
	for (;;) {
		at = next_var(c, tid, &v, &end);
		size_t n = at ? (size_t)(at - tid) : strlen(tid);
		if (n) {
			if (t->n == ID_PIECES || has_ctl(tid, n))
				return 0;
			t->s[t->n] = tid;
			t->len[t->n] = n;
			t->var[t->n++] = -1;
			t->lit += n;
		}
		if (!at)
			return 1;
		if (t->n == ID_PIECES)
			return 0;
		const struct var *var = &c->vars[v];
		for (size_t j = 0; j < var->n; j++)
			if (has_ctl(var->val[j], var->len[j]))
				return 0;
		t->var[t->n++] = v;
		tid = end;
	}
}

/* The id of the current instance from t, or NULL when its length is a
 * problem (the caller's general path then names it). */
static char *id_make(struct ctx *c, const struct idtpl *t)
{
	size_t len = t->lit;
	for (size_t i = 0; i < t->n; i++)
		if (t->var[i] >= 0)
			len += c->vars[t->var[i]].len[c->cur[t->var[i]]];
	if (len == 0 || len > ID_MAX)
		return NULL;
	char *id = wl_pool_take(c, len), *o = id;
	for (size_t i = 0; i < t->n; i++) {
		int v = t->var[i];
		const char *s = v < 0 ? t->s[i] : c->vars[v].val[c->cur[v]];
		size_t n = v < 0 ? t->len[i] : c->vars[v].len[c->cur[v]];
		memcpy(o, s, n);
		o += n;
	}
	*o = 0;
	return id;
}

int wl_expand(struct ctx *c, struct place *p, struct spec *tsp,
	      const char *tid, uint64_t count)
{
	int own = needs_own_spec(c, tsp);
	struct idtpl it;
	int fast = id_compile(c, tid, &it);
	for (uint64_t k = 0; k < count; k++) {
		char *id = fast ? id_make(c, &it) : NULL;
		if (!id) {
			subst(c, tid, 0);
			const char *why = wl_id_problem(c->sb.p, c->sb.len);
			if (why) {
				p->id = NULL;
				return wl_perr(c, p, "instance %llu: %s",
					       (unsigned long long)k + 1, why);
			}
			id = wl_strndup(c, c->sb.p, c->sb.len);
		}
		struct spec *sp = tsp;
		if (own) {
			p->id = id;
			sp = arena_alloc(&c->wl->arena, sizeof *sp);
			*sp = *tsp;
			sp->from = tsp;
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
				return wl_perr(c, p, "argv[0] is empty");
			if (sp->sh && !sp->sh[0])
				return wl_perr(c, p, "sh is empty");
			if (sp->cwd && !sp->cwd[0])
				return wl_perr(c, p, "cwd is empty");
		}
		if (wl_commit(c, id, sp, own || k == 0))
			return -1;
		for (size_t v = c->nvars; v-- > 0;) { /* the last var runs fastest */
			if (++c->cur[v] < c->vars[v].n)
				break;
			c->cur[v] = 0;
		}
	}
	return 0;
}

