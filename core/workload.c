/* workload.c - loads workload files and the quick form into struct workload.
 *
 * Owns the JSON workload format (DESIGN.md, "Workload file"): validation with
 * messages that name the file, the place and the problem; defaults; matrix
 * expansion; and the GNU parallel quick form. This file holds the document,
 * the helpers and the public entry points; a task's fields are in
 * workload_fields.c, "matrix" in workload_matrix.c, the quick form in
 * workload_quick.c (their shared internals: workload_int.h). Invariants once
 * loaded:
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

static const char *const top_names[] = {"name", "defaults", "tasks", "matrix"};
const char *const task_kind_names[2] = {"exec", "sim"};

/* ---- small helpers ---- */

/* wl_pool_take's slow path: a fresh 64 KB of string space */
char *wl_pool_refill(struct ctx *c, size_t n)
{
	c->pool_left = 64 * 1024;
	c->pool = arena_alloc(&c->wl->arena, c->pool_left);
	return wl_pool_take(c, n);
}

char *wl_strndup(struct ctx *c, const char *s, size_t n)
{
	if (n >= 1024)
		return arena_strndup(&c->wl->arena, s, n);
	char *p = wl_pool_take(c, n);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

const char *wl_jtype(const json_t *v)
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
const char *wl_dym(char *out, size_t sz, const char *guess)
{
	if (guess)
		snprintf(out, sz, " (did you mean \"%s\"?)", guess);
	else
		out[0] = 0;
	return out;
}

int wl_lookup(const char *s, const char *const *names, int lo, int n)
{
	for (int i = lo; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

size_t wl_list_len(char *const *l)
{
	size_t n = 0;
	while (l && l[n])
		n++;
	return n;
}

int wl_perr(struct ctx *c, const struct place *p, const char *fmt, ...)
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

const char *wl_id_problem(const char *id, size_t len)
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

void wl_spec_init(struct spec *sp)
{
	memset(sp, 0, sizeof *sp);
	sp->cache = -1;
	sp->deadline_ms = -1;
	sp->est_ms = -1;
	sp->enforce = -1;
}

/* wl_commit's error: more tasks than were counted */
int wl_commit_err(struct ctx *c)
{
	return err_set(c->err, "%s: internal error: task count changed while loading",
		       c->file);
}

/* ---- out of memory ---- */

_Noreturn void wl_oom(struct ctx *c)
{
	if (c->wl->arena.oom_jmp)
		longjmp(*(jmp_buf *)c->wl->arena.oom_jmp, 1);
	fprintf(stderr, "gearbox: out of memory\n"); /* not reached: loading sets it */
	abort();
}

void wl_buf_add(struct ctx *c, struct buf *b, const void *p, size_t n)
{
	if (buf_try_add(b, p, n))
		wl_oom(c);
}

void wl_buf_adds(struct ctx *c, struct buf *b, const char *s)
{
	wl_buf_add(c, b, s, strlen(s));
}

/* An allocation outside an entry's expansion failed (the task array, the
 * id index, the DAG): what names the file, the entry that makes the most
 * tasks, and what could not be allocated (what: "out of memory for ..."). */
static int oom_err(struct ctx *c, const char *what)
{
	if (c->big >= 0)
		return err_set(c->err,
			       "%s: matrix[%ld] (\"%s\"): %s (%llu tasks in all, %llu from this entry)",
			       c->file, c->big, c->big_id ? c->big_id : "?", what,
			       (unsigned long long)c->total, (unsigned long long)c->big_n);
	return err_set(c->err, "%s: %s (%llu tasks)", c->file, what, (unsigned long long)c->total);
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
		if (prod > c->big_n) {
			json_t *id = json_object_get(json_array_get(matrix, k), "id");
			c->big = (long)k;
			c->big_n = prod;
			c->big_id = json_string_value(id); /* NULL when not a string */
		}
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
	const char *why = wl_id_problem(id, strlen(id));
	if (why)
		return wl_perr(c, &p, "%s", why);
	p.id = id;
	int64_t hi = RETRIES_MAX;
	if (ct->retries < 0)
		return wl_perr(c, &p, "retries is negative (%d)", ct->retries);
	if (ct->retries > hi)
		return wl_perr(c, &p, "retries %d is absurd (the limit is %lld)", ct->retries,
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
	if (wl_commit(c, id, sp, 0))
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
	c->cspec = calloc((size_t)RETRIES_MAX + 1, sizeof *c->cspec);
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
			       c->file, wl_jtype(doc));
	json_object_foreach(doc, key, v) {
		int k = wl_lookup(key, top_names, 0, 4);
		static const char *const want[] = {"a string", "an object", "an array", "an array"};
		if (k < 0)
			return err_set(c->err, "%s: unknown top-level field \"%.200s\"%s",
				       c->file, key,
				       wl_dym(h, sizeof h, nearest_name(key, top_names, 4, NULL)));
		int ok = k == 0 ? json_is_string(v) : k == 1 ? json_is_object(v) : json_is_array(v);
		if (!ok)
			return err_set(c->err, "%s: \"%s\" must be %s, got %s", c->file,
				       key, want[k], wl_jtype(v));
		json_t **slot[] = {&name, &defaults, &tasks, &matrix};
		*slot[k] = v;
	}
	if (name)
		wl->name = wl_strndup(c, json_string_value(name), json_string_length(name));
	wl_spec_init(&c->dflt);
	if (defaults) {
		struct place p = {"defaults", -1, NULL};
		if (wl_parse_fields(c, &p, defaults, &c->dflt, M_DEFAULTS))
			return -1;
	}
	uint64_t total = 0;
	if (count_tasks(c, tasks, matrix, &total))
		return -1;
	wl->tasks = calloc(total ? total : 1, sizeof *wl->tasks);
	c->nmatrix = json_array_size(matrix);
	c->mstart = calloc(c->nmatrix + 1, sizeof *c->mstart);
	c->mid = calloc(c->nmatrix + 1, sizeof *c->mid);
	c->total = total;
	if (!wl->tasks || !c->mstart || !c->mid)
		return oom_err(c, "out of memory for the task array");
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
		if (wl_parse_fields(c, &p, t, sp, M_TASK))
			return -1;
		if (sp->kind == KIND_PLUGIN && (int)sp->pkind == c->ckind)
			return wl_perr(c, &p, "kind \"%s\" is only for C tasks (gbx_engine_submit_fn)",
				    sp->kind_name);
		const json_t *idv = json_object_get(t, "id");
		char *id = wl_strndup(c, json_string_value(idv), json_string_length(idv));
		if (wl_commit(c, id, sp, 1))
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
		if (wl_parse_fields(c, &p, e, tsp, M_TEMPLATE))
			return -1;
		if (tsp->kind == KIND_PLUGIN && (int)tsp->pkind == c->ckind)
			return wl_perr(c, &p, "kind \"%s\" is only for C tasks (gbx_engine_submit_fn)",
				    tsp->kind_name);
		if (wl_parse_vars(c, &p, json_object_get(e, "vars"), &count))
			return -1;
		c->mstart[k] = wl->ntasks;
		c->mid[k] = json_string_value(json_object_get(e, "id"));
		if (wl_expand(c, &p, tsp, c->mid[k], count))
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
	c.big = -1;
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
	if (rc == 0 && !wl->name) { /* not after an error: memory may be out */
		const char *base = strrchr(wl->path, '/');
		base = base ? base + 1 : wl->path;
		const char *dot = strrchr(base, '.');
		wl->name = arena_strndup(&wl->arena, base, dot && dot != base
							       ? (size_t)(dot - base)
							       : strlen(base));
	}
	if (rc == 0 && dag_build(wl, err) != 0) {
		/* dag.c's "FILE: out of memory ...": name the matrix entry too */
		size_t fl = strlen(wl->path);
		if (err && !strncmp(err->msg, wl->path, fl) && !strncmp(err->msg + fl, ": out of memory", 15)) {
			char what[256];
			snprintf(what, sizeof what, "%s", err->msg + fl + 2);
			oom_err(&c, what);
		} else {
			explain_dup(&c);
		}
		rc = -1;
	}
	wl_vars_clear(&c);
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
