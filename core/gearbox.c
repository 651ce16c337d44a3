/* gearbox.c - the embedding API (sdk/include/gearbox/gearbox.h).
 *
 * An engine collects tasks (a workload file, JSON tasks, C callbacks), then
 * runs them once through the same session (config, plugins, policies) and
 * engine the CLI uses. C callbacks are a task kind of the engine's own,
 * "c-function"; so they get deps, retries, events and policies like any other
 * task. They never become JSON: each is a struct wl_ctask (its id and deps in
 * the engine's string arena, which outlives the workload) handed to
 * workload_load_json, and a task finds its callback through wl->c_index.
 * Submitted JSON tasks are parsed once and handed over as parsed. Nothing
 * here is global: each engine owns its session, workload and callbacks.
 */
#include "gearbox/gearbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "session.h"

struct cb {
	gbx_task_fn fn;
	void *data;
};

struct gbx_engine {
	char *config, *profile;
	char **enable, **disable;   /* NULL-terminated */
	size_t nenable, ndisable;
	char *policy[POL_NKINDS];
	int jobs;
	char *path;                 /* workload file, or NULL */
	json_t *json;               /* submitted JSON tasks (array) */
	uint32_t *json_at;          /* C tasks submitted before each of them */
	size_t json_cap;
	struct wl_ctask *ct;        /* submitted C tasks */
	struct cb *cbs;             /* and their callbacks, same index */
	size_t nct, ct_cap;
	struct arena strs;          /* the C tasks' ids and deps */
	char *pool;                 /* unaligned string space carved from strs */
	size_t pool_left;
	int ran;
	struct session ss;
	struct workload *wl;
	struct gbx_kind cb_kind;
};

static int fail(char *err, size_t errlen, int code, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return code;
}

/* The callback index of a task, or UINT32_MAX when it was not submitted as a
 * C task. Tasks handed to the kind are the workload's own (wl->tasks[i]). */
static uint32_t cb_of(const struct gbx_engine *e, const struct task *task)
{
	const struct workload *wl = e->wl;
	return wl && wl->c_index ? wl->c_index[task - wl->tasks] : UINT32_MAX;
}

/* The c-function kind: calls the task's callback. */
static int cb_run(void *self, const gbx_task *t, struct gbx_result *res)
{
	struct gbx_engine *e = self;
	const struct task *task = (const struct task *)(const void *)t;
	uint32_t i = cb_of(e, task);
	if (i >= e->nct) {
		res->ok = 0;
		res->failure = "error";
		return 0;
	}
	int rc = e->cbs[i].fn(e->cbs[i].data, task->id, task->attempts);
	res->ok = rc == 0;
	res->exit_code = rc;
	res->failure = rc == 0 ? NULL : "exit";
	return 0;
}

int gbx_engine_new(const char *config, const char *profile, gbx_engine **out, char *err,
		   size_t errlen)
{
	*out = NULL;
	gbx_engine *e = calloc(1, sizeof *e);
	if (!e)
		return fail(err, errlen, GBX_ENOMEM, "out of memory");
	e->config = strdup(config ? config : ""); /* "": no implicit ./gearbox.json */
	e->profile = profile ? strdup(profile) : NULL;
	if (!e->config || (profile && !e->profile)) {
		gbx_engine_free(e);
		return fail(err, errlen, GBX_ENOMEM, "out of memory");
	}
	e->json = json_array();
	arena_init(&e->strs);
	e->cb_kind.name = "c-function";
	e->cb_kind.run = cb_run;
	/* a bad config is reported now, not at run time */
	struct err er = {{0}};
	struct config probe;
	if (config_load(e->config, e->profile, NULL, &probe, &er)) {
		config_free(&probe);
		gbx_engine_free(e);
		return fail(err, errlen, GBX_EINVAL, er.msg);
	}
	config_free(&probe);
	*out = e;
	return GBX_OK;
}

static int push(char ***list, size_t *n, const char *s)
{
	char **l = realloc(*list, (*n + 2) * sizeof *l);
	if (!l)
		return GBX_ENOMEM;
	l[(*n)++] = strdup(s);
	l[*n] = NULL;
	*list = l;
	return GBX_OK;
}

int gbx_engine_plugin(gbx_engine *e, const char *name, int on)
{
	if (e->ran)
		return GBX_ESTATE;
	return on ? push(&e->enable, &e->nenable, name) : push(&e->disable, &e->ndisable, name);
}

int gbx_engine_set_jobs(gbx_engine *e, int jobs)
{
	if (jobs < 1 || jobs > 4096)
		return GBX_EINVAL;
	e->jobs = jobs;
	return GBX_OK;
}

int gbx_engine_policy(gbx_engine *e, const char *kind, const char *file)
{
	int k = kind ? policy_kind_of(kind, strlen(kind)) : -1;
	if (k < 0 || !file)
		return GBX_EINVAL;
	free(e->policy[k]);
	e->policy[k] = strdup(file);
	return GBX_OK;
}

int gbx_engine_load(gbx_engine *e, const char *path, char *err, size_t errlen)
{
	if (e->ran || e->path)
		return fail(err, errlen, GBX_ESTATE, e->ran ? "the engine has already run"
							    : "a workload file was already loaded");
	e->path = strdup(path);
	return GBX_OK;
}

int gbx_engine_submit_json(gbx_engine *e, const char *task_json, char *err, size_t errlen)
{
	if (e->ran)
		return fail(err, errlen, GBX_ESTATE, "the engine has already run");
	json_error_t je;
	json_t *t = json_loads(task_json, JSON_REJECT_DUPLICATES, &je);
	size_t n = json_array_size(e->json);
	if (!t || !json_is_object(t)) {
		char msg[400];
		snprintf(msg, sizeof msg, "submitted task %zu:%d:%d: %s", n + e->nct + 1,
			 je.line, je.column, t ? "a task must be a JSON object" : je.text);
		json_decref(t);
		return fail(err, errlen, GBX_EINVAL, msg);
	}
	if (n == e->json_cap) {
		size_t cap = e->json_cap ? e->json_cap * 2 : 64;
		uint32_t *at = realloc(e->json_at, cap * sizeof *at);
		if (!at) {
			json_decref(t);
			return fail(err, errlen, GBX_ENOMEM, "out of memory");
		}
		e->json_at = at;
		e->json_cap = cap;
	}
	if (json_array_append_new(e->json, t))
		return fail(err, errlen, GBX_ENOMEM, "out of memory");
	e->json_at[n] = (uint32_t)e->nct;
	return GBX_OK;
}

/* A copy of s in the engine's string arena, packed (ids are short). */
static const char *str_copy(gbx_engine *e, const char *s)
{
	size_t n = strlen(s);
	if (n >= 1024)
		return arena_strndup(&e->strs, s, n);
	if (n + 1 > e->pool_left) {
		e->pool_left = 64 * 1024;
		e->pool = arena_alloc(&e->strs, e->pool_left);
	}
	char *p = e->pool;
	memcpy(p, s, n + 1);
	e->pool += n + 1;
	e->pool_left -= n + 1;
	return p;
}

int gbx_engine_submit_fn(gbx_engine *e, const char *id, const char *const *deps,
			 int retries, gbx_task_fn fn, void *data, char *err, size_t errlen)
{
	if (e->ran)
		return fail(err, errlen, GBX_ESTATE, "the engine has already run");
	if (!id || !fn || retries < 0)
		return fail(err, errlen, GBX_EINVAL, "gbx_engine_submit_fn: needs an id, a function and retries >= 0");
	if (e->nct == e->ct_cap) {
		if (e->ct_cap >= UINT32_MAX / 2)
			return fail(err, errlen, GBX_EINVAL, "gbx_engine_submit_fn: too many tasks");
		size_t cap = e->ct_cap ? e->ct_cap * 2 : 1024;
		struct wl_ctask *ct = realloc(e->ct, cap * sizeof *ct);
		if (ct)
			e->ct = ct;
		struct cb *cbs = ct ? realloc(e->cbs, cap * sizeof *cbs) : NULL;
		if (!cbs)
			return fail(err, errlen, GBX_ENOMEM, "out of memory");
		e->cbs = cbs;
		e->ct_cap = cap;
	}
	struct wl_ctask *t = &e->ct[e->nct];
	t->id = str_copy(e, id);
	t->deps = NULL;
	t->retries = retries;
	if (deps) {
		size_t n = 0;
		while (deps[n])
			n++;
		const char **d = arena_alloc(&e->strs, (n + 1) * sizeof *d);
		for (size_t k = 0; k < n; k++)
			d[k] = str_copy(e, deps[k]);
		t->deps = d;
	}
	e->cbs[e->nct].fn = fn;
	e->cbs[e->nct].data = data;
	e->nct++;
	return GBX_OK;
}

/* The workload: the file's document, then the submitted tasks as if appended
 * to its "tasks", so messages about the file's own tasks keep their indexes. */
static int build(gbx_engine *e, struct err *er)
{
	json_t *doc = NULL;
	const char *name = "<submitted tasks>";
	if (e->path) {
		json_error_t je;
		doc = json_load_file(e->path, JSON_REJECT_DUPLICATES, &je);
		if (!doc)
			return err_set(er, "%s:%d:%d: %s", e->path, je.line, je.column, je.text);
		if (!json_is_object(doc)) {
			json_decref(doc);
			return err_set(er, "%s: a workload must be a JSON object", e->path);
		}
		name = e->path;
		json_t *tasks = json_object_get(doc, "tasks");
		if (tasks && !json_is_array(tasks)) {
			json_decref(doc);
			return err_set(er, "%s: tasks: expected an array", name);
		}
	}
	struct wl_given given = {e->json, e->json_at, e->ct, (uint32_t)e->nct, e->cb_kind.name};
	int rc = workload_load_json(doc, name, &e->ss.hc.reg, &given, &e->wl, er);
	json_decref(doc);
	/* the workload copied what it needs from the JSON tasks (the C tasks'
	 * strings it borrows: those stay) */
	json_decref(e->json);
	e->json = NULL;
	return rc;
}

int gbx_engine_run(gbx_engine *e, char *err, size_t errlen)
{
	if (e->ran)
		return fail(err, errlen, GBX_ESTATE, "the engine has already run");
	e->ran = 1;
	struct err er = {{0}};
	if (session_open(&e->ss, e->config, e->profile, NULL, e->enable, e->disable, 1, &er) ||
	    host_add_kind(&e->ss.hc, &e->cb_kind, e, "gearbox") || build(e, &er) ||
	    host_validate(&e->ss.hc, e->wl, &er) ||
	    session_policies(&e->ss, (const char *const *)e->policy, e->wl, 0, &er))
		return fail(err, errlen, GBX_EINVAL, er.msg[0] ? er.msg : "out of memory");
	struct run_opts o;
	run_opts_init(&o);
	session_run_opts(&e->ss, &o);
	o.policy = e->ss.pol;
	if (e->jobs)
		o.jobs = e->jobs;
	o.silent = 1;
	o.quiet = 1;
	o.progress = 0;
	o.handle_signals = 0;
	int rc = engine_run(e->wl, &o, &er);
	if (rc == 2)
		return fail(err, errlen, GBX_EINVAL, er.msg);
	return rc == 0 ? 0 : 1;
}

static int state_of(const struct task *t)
{
	switch (t->state) {
	case ST_OK:
	case ST_RESUMED: return GBX_TASK_OK;
	case ST_FAILED: return GBX_TASK_FAILED;
	case ST_SKIPPED: return GBX_TASK_SKIPPED;
	default: return GBX_TASK_PENDING;
	}
}

int gbx_engine_result(const gbx_engine *e, const char *id, struct gbx_task_result *out)
{
	if (!e->wl)
		return GBX_ESTATE;
	int64_t i = workload_find(e->wl, id);
	if (i < 0)
		return GBX_ENOENT;
	const struct task *t = &e->wl->tasks[i];
	out->state = state_of(t);
	out->exit_code = t->last_exit;
	out->attempts = t->attempts;
	return GBX_OK;
}

int64_t gbx_engine_count(const gbx_engine *e, int state)
{
	int64_t n = 0;
	for (uint32_t i = 0; e->wl && i < e->wl->ntasks; i++)
		n += state_of(&e->wl->tasks[i]) == state;
	return n;
}

void gbx_engine_free(gbx_engine *e)
{
	if (!e)
		return;
	workload_free(e->wl);
	session_close(&e->ss);
	for (size_t i = 0; i < e->nenable; i++)
		free(e->enable[i]);
	for (size_t i = 0; i < e->ndisable; i++)
		free(e->disable[i]);
	free(e->enable);
	free(e->disable);
	for (int k = 0; k < POL_NKINDS; k++)
		free(e->policy[k]);
	json_decref(e->json);
	free(e->json_at);
	free(e->ct);
	free(e->cbs);
	arena_free(&e->strs);
	free(e->config);
	free(e->profile);
	free(e->path);
	free(e);
}
