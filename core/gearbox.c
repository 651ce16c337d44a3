/* gearbox.c - the embedding API (sdk/include/gearbox/gearbox.h).
 *
 * An engine collects tasks (a workload file, JSON tasks, C callbacks), then
 * runs them once through the same session (config, plugins, policies) and
 * engine the CLI uses. C callbacks are a task kind of the engine's own,
 * "c-function", whose field "fn" indexes the engine's callback table; so they
 * get deps, retries, events and policies like any other task. Nothing here is
 * global: each engine owns its session, workload and callbacks.
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
	json_t *tasks;              /* submitted tasks (array) */
	struct cb *cbs;
	size_t ncbs;
	int ran;
	struct session ss;
	struct workload *wl;
	struct gbx_kind cb_kind;
};

static const char *const cb_fields[] = {"fn", NULL};

static int fail(char *err, size_t errlen, int code, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return code;
}

/* The c-function kind: calls the callback whose index is in the task's "fn". */
static int cb_run(void *self, const gbx_task *t, struct gbx_result *res)
{
	struct gbx_engine *e = self;
	const struct task *task = (const struct task *)(const void *)t;
	json_t *fn = task->spec->extra ? json_object_get(task->spec->extra, "fn") : NULL;
	json_int_t i = json_is_integer(fn) ? json_integer_value(fn) : -1;
	if (i < 0 || (size_t)i >= e->ncbs) {
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
	e->tasks = json_array();
	e->cb_kind.name = "c-function";
	e->cb_kind.fields = cb_fields;
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
	if (!t || !json_is_object(t)) {
		char msg[400];
		snprintf(msg, sizeof msg, "submitted task %zu:%d:%d: %s", json_array_size(e->tasks) + 1,
			 je.line, je.column, t ? "a task must be a JSON object" : je.text);
		json_decref(t);
		return fail(err, errlen, GBX_EINVAL, msg);
	}
	json_array_append_new(e->tasks, t);
	return GBX_OK;
}

int gbx_engine_submit_fn(gbx_engine *e, const char *id, const char *const *deps,
			 int retries, gbx_task_fn fn, void *data, char *err, size_t errlen)
{
	if (e->ran)
		return fail(err, errlen, GBX_ESTATE, "the engine has already run");
	if (!id || !fn || retries < 0)
		return fail(err, errlen, GBX_EINVAL, "gbx_engine_submit_fn: needs an id, a function and retries >= 0");
	struct cb *n = realloc(e->cbs, (e->ncbs + 1) * sizeof *n);
	if (!n)
		return fail(err, errlen, GBX_ENOMEM, "out of memory");
	e->cbs = n;
	e->cbs[e->ncbs].fn = fn;
	e->cbs[e->ncbs].data = data;
	json_t *t = json_pack("{s:s, s:s, s:I, s:i}", "id", id, "kind", "c-function", "fn",
			      (json_int_t)e->ncbs, "retries", retries);
	if (deps) {
		json_t *d = json_array();
		for (; *deps; deps++)
			json_array_append_new(d, json_string(*deps));
		json_object_set_new(t, "deps", d);
	}
	e->ncbs++;
	json_array_append_new(e->tasks, t);
	return GBX_OK;
}

/* The workload: the file's document with the submitted tasks appended to its
 * "tasks", so messages about the file's own tasks keep their indexes. */
static int build(gbx_engine *e, struct err *er)
{
	json_t *doc;
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
	} else {
		doc = json_object();
	}
	json_t *tasks = json_object_get(doc, "tasks");
	if (!tasks) {
		tasks = json_array();
		json_object_set_new(doc, "tasks", tasks);
	}
	if (!json_is_array(tasks)) {
		json_decref(doc);
		return err_set(er, "%s: tasks: expected an array", name);
	}
	json_array_extend(tasks, e->tasks);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text)
		return err_set(er, "out of memory");
	int rc = workload_load_string_reg(text, strlen(text), name, &e->ss.hc.reg, &e->wl, er);
	free(text);
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

int gbx_engine_result(const gbx_engine *e, const char *id, struct gbx_task_result *out)
{
	if (!e->wl)
		return GBX_ESTATE;
	int64_t i = workload_find(e->wl, id);
	if (i < 0)
		return GBX_ENOENT;
	const struct task *t = &e->wl->tasks[i];
	switch (t->state) {
	case ST_OK:
	case ST_RESUMED: out->state = GBX_TASK_OK; break;
	case ST_FAILED: out->state = GBX_TASK_FAILED; break;
	case ST_SKIPPED: out->state = GBX_TASK_SKIPPED; break;
	default: out->state = GBX_TASK_PENDING;
	}
	out->exit_code = t->last_exit;
	out->attempts = t->attempts;
	return GBX_OK;
}

int64_t gbx_engine_count(const gbx_engine *e, int state)
{
	int64_t n = 0;
	struct gbx_task_result r;
	for (uint32_t i = 0; e->wl && i < e->wl->ntasks; i++)
		if (gbx_engine_result(e, e->wl->tasks[i].id, &r) == 0 && r.state == state)
			n++;
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
	json_decref(e->tasks);
	free(e->cbs);
	free(e->config);
	free(e->profile);
	free(e->path);
	free(e);
}
